/**
 * Text → one concatenated token stream → fixed-length chunks (the official method). Each line
 * (paragraph) is encoded as `line + "\n"` without special tokens, so the stream is the same
 * whether read at once or line by line; the last partial chunk is dropped.
 */
import { LapeError } from '../errors.js';
import type { LapeTokenizer } from '../tokenizer/tokenizer.js';
import { readLines } from './text-files.js';

export interface ChunkOptions {
  seqLen: number;
  /** Stop after this many chunks (undefined = all). */
  maxChunks?: number;
  /** Prepend the BOS token to every chunk (it counts in seqLen). */
  bosId?: number | null;
}

/** Token ids of the files' lines, in order. */
export async function* tokenStream(tokenizer: LapeTokenizer, files: string[]): AsyncGenerator<number[]> {
  for (const file of files) {
    for await (const line of readLines(file)) yield tokenizer.encode(`${line}\n`);
  }
}

/** Fixed-length chunks of the concatenated token stream. */
export async function* tokenChunks(tokenizer: LapeTokenizer, files: string[], opts: ChunkOptions): AsyncGenerator<number[]> {
  const bos = opts.bosId ?? null;
  const body = bos === null ? opts.seqLen : opts.seqLen - 1;
  if (!Number.isInteger(opts.seqLen) || body < 1) throw new LapeError(`sequence length ${opts.seqLen} is too short`);
  let buf: number[] = [];
  let emitted = 0;
  for await (const ids of tokenStream(tokenizer, files)) {
    for (const id of ids) buf.push(id);
    while (buf.length >= body) {
      if (opts.maxChunks !== undefined && emitted >= opts.maxChunks) return;
      const chunk = buf.slice(0, body);
      buf = buf.slice(body);
      yield bos === null ? chunk : [bos, ...chunk];
      emitted++;
    }
  }
}

/** All chunks in memory (evaluation sets are small); errors if there is not even one. */
export async function collectChunks(tokenizer: LapeTokenizer, files: string[], opts: ChunkOptions): Promise<number[][]> {
  const out: number[][] = [];
  for await (const c of tokenChunks(tokenizer, files, opts)) out.push(c);
  if (out.length === 0) {
    throw new LapeError(`corpus too short for one chunk of ${opts.seqLen} tokens`, files.join(', '));
  }
  return out;
}

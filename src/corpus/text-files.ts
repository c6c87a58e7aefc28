/**
 * Text inputs, one rule for all of them (corpora, evaluation sets, prompt files, parallel sets):
 * UTF-8 (optionally .gz), strictly decoded — a binary or Latin-1 file, a bad byte at the very end,
 * a truncated .gz are errors naming the file, never U+FFFD text and never a stream error after the
 * result was written. Corpora are read as a stream of non-empty lines so memory does not grow with
 * the corpus; a line longer than MAX_LINE_CHARS is cut (at whitespace where there is some) into
 * pieces, so one 30 MB line costs what 30 MB of paragraphs cost.
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createGunzip, gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { LapeError } from '../errors.js';
import { fsError } from '../util/fs-errors.js';

/** Longest line handed to the tokenizer at once (characters). */
export const MAX_LINE_CHARS = 1 << 16;

export function checkCorpusFile(path: string, what = 'corpus'): void {
  if (!existsSync(path)) throw new LapeError(`${what} file does not exist`, path);
  if (!statSync(path).isFile()) throw new LapeError(`${what} path is not a file`, path);
}

function utf8Error(path: string, e: unknown): LapeError {
  const msg = (e as Error).message ?? String(e);
  if (/unexpected end of file|incorrect header check|invalid (block type|distance|stored block)|too far back/i.test(msg)) {
    return new LapeError(`cannot read: the .gz file is truncated or damaged (${msg})`, path);
  }
  return new LapeError(`cannot read as UTF-8 text (${msg}); lape reads UTF-8 only — convert the file (e.g. iconv -f latin1 -t utf-8)`, path);
}

/** A whole small text file (prompts, parallel sets), strictly decoded. */
export function readTextFile(path: string, what = 'text'): string {
  checkCorpusFile(path, what);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw fsError(e, path, 'read');
  }
  try {
    if (path.endsWith('.gz')) bytes = gunzipSync(bytes);
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch (e) {
    throw utf8Error(path, e);
  }
}

/** Cuts a long line into pieces of at most `max` characters, at the last whitespace where possible. */
export function* splitLongLine(line: string, max = MAX_LINE_CHARS): Generator<string> {
  let rest = line;
  while (rest.length > max) {
    let cut = rest.lastIndexOf(' ', max);
    if (cut < max / 2) cut = max;
    // Never split a surrogate pair.
    const c = rest.charCodeAt(cut - 1);
    if (c >= 0xd800 && c <= 0xdbff) cut--;
    const head = rest.slice(0, cut).trimEnd();
    if (head.length > 0) yield head;
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length > 0) yield rest;
}

/** Non-empty lines of a text file (.gz decompressed), in order; invalid UTF-8 is an error. */
export async function* readLines(path: string): AsyncGenerator<string> {
  checkCorpusFile(path);
  const raw = createReadStream(path);
  const gz = path.endsWith('.gz') ? createGunzip() : null;
  let failure: unknown = null;
  raw.on('error', (e) => {
    failure ??= fsError(e, path, 'read');
    gz?.destroy();
  });
  if (gz) {
    gz.on('error', (e) => void (failure ??= utf8Error(path, e)));
    raw.pipe(gz);
  }
  const input = gz ?? raw;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pending = '';
  const emit = function* (line: string): Generator<string> {
    const trimmed = line.replace(/\r$/, '').trimEnd();
    if (trimmed.length === 0) return;
    if (trimmed.length <= MAX_LINE_CHARS) yield trimmed;
    else yield* splitLongLine(trimmed);
  };
  try {
    try {
      for await (const chunk of input) {
        let text: string;
        try {
          text = decoder.decode(chunk as Buffer, { stream: true });
        } catch (e) {
          throw utf8Error(path, e);
        }
        pending += text;
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          yield* emit(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
        }
        // A line without a newline for a long stretch: hand over all but the last piece.
        if (pending.length > 2 * MAX_LINE_CHARS) {
          const pieces = [...splitLongLine(pending)];
          pending = pieces.pop() ?? '';
          for (const p of pieces) yield p;
        }
      }
    } catch (e) {
      throw failure ?? (e instanceof LapeError ? e : gz ? utf8Error(path, e) : fsError(e, path, 'read'));
    }
    if (failure) throw failure;
    try {
      pending += decoder.decode();
    } catch (e) {
      throw utf8Error(path, e);
    }
    yield* emit(pending);
  } finally {
    // Stopped early (enough chunks) or failed: close the file; later stream errors are already handled.
    raw.destroy();
    gz?.destroy();
  }
}

/** sha256 of the files' bytes in order (provenance for statistics). */
export async function filesSha256(paths: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const p of paths) {
    checkCorpusFile(p);
    try {
      for await (const chunk of createReadStream(p)) h.update(chunk as Buffer);
    } catch (e) {
      throw fsError(e, p, 'read');
    }
    h.update('\0');
  }
  return h.digest('hex');
}

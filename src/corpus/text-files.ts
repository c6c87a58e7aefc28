/**
 * Corpus text files: UTF-8 (optionally .gz), one paragraph per line. Read as a stream of
 * non-empty lines so memory does not grow with corpus size.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { createInterface } from 'node:readline';
import { createHash } from 'node:crypto';
import { LapeError } from '../errors.js';

export function checkCorpusFile(path: string): void {
  if (!existsSync(path)) throw new LapeError('corpus file does not exist', path);
  if (!statSync(path).isFile()) throw new LapeError('corpus path is not a file', path);
}

/** Non-empty lines of a text file (.gz decompressed), in order; invalid UTF-8 is an error. */
export async function* readLines(path: string): AsyncGenerator<string> {
  checkCorpusFile(path);
  const raw = createReadStream(path);
  const input = path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  // Decode ourselves (fatal) so a binary or mis-encoded file is reported, not silently mangled.
  const text = async function* (): AsyncGenerator<string> {
    try {
      for await (const chunk of input) yield decoder.decode(chunk as Buffer, { stream: true });
      yield decoder.decode();
    } catch (e) {
      throw new LapeError(`cannot read as UTF-8 text (${(e as Error).message})`, path);
    }
  };
  const rl = createInterface({ input: (await import('node:stream')).Readable.from(text()), crlfDelay: Infinity });
  for await (const line of rl) {
    const trimmed = line.trimEnd();
    if (trimmed.length > 0) yield trimmed;
  }
}

/** sha256 of the files' bytes in order (provenance for statistics). */
export async function filesSha256(paths: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const p of paths) {
    checkCorpusFile(p);
    for await (const chunk of createReadStream(p)) h.update(chunk as Buffer);
    h.update('\0');
  }
  return h.digest('hex');
}

/**
 * The judge's cache and resume state, one JSON line per reply received, appended as it arrives:
 * a rerun (after a kill, a failure, or with more answers) asks only for what is not there, and
 * never pays twice for the same request. The key is a hash of the endpoint URL and the request
 * body (model, messages, temperature, max_tokens). A torn last line (killed mid-write) is ignored.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { LapeError } from '../errors.js';

export interface CachedReply {
  key: string;
  model: string;
  content: string;
}

export function requestKey(url: string, body: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify({ url, body })).digest('hex');
}

export class ReplyCache {
  private readonly replies = new Map<string, CachedReply>();
  /** A killed run left a torn last line: the next record starts on a new line. */
  private torn = false;

  constructor(readonly path: string) {
    if (!existsSync(path)) return;
    const text = readFileSync(path, 'utf8');
    this.torn = text.length > 0 && !text.endsWith('\n');
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      let o: CachedReply;
      try {
        o = JSON.parse(line) as CachedReply;
      } catch {
        if (i >= lines.length - 2) return; // the torn last line of a killed run
        throw new LapeError(`line ${i + 1} is not valid JSON (delete the file to ask the judge again)`, path);
      }
      if (typeof o.key !== 'string' || typeof o.content !== 'string') throw new LapeError(`line ${i + 1} is not a cached judge reply`, path);
      this.replies.set(o.key, o);
    });
  }

  get size(): number {
    return this.replies.size;
  }

  get(key: string): CachedReply | undefined {
    return this.replies.get(key);
  }

  /** Records a reply: in memory and as one appended line (a torn last line is tolerated on read). */
  add(r: CachedReply): void {
    appendFileSync(this.path, (this.torn ? '\n' : '') + JSON.stringify(r) + '\n');
    this.torn = false;
    this.replies.set(r.key, r);
  }
}

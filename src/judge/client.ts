/**
 * A small OpenAI-compatible chat-completions client (POST {endpoint}/chat/completions) with the
 * retry rules a judge run needs: network errors, timeouts, HTTP 408/429/5xx and malformed replies
 * are retried with exponential backoff (and Retry-After when the server sends one); other HTTP
 * errors (400, 401, 403, 404, …) stop at once. The API key goes only into the Authorization
 * header: it is scrubbed from every message this module produces.
 */
import { LapeError } from '../errors.js';
import type { ChatMessage } from './prompt.js';

export interface ChatClientOptions {
  /** Base URL (…/v1) or the full …/chat/completions URL. */
  endpoint: string;
  model: string;
  apiKey?: string;
  /** Per-request limit. */
  timeoutMs: number;
  /** Retries after the first attempt. */
  retries: number;
  /** First backoff delay; doubles per retry (with jitter), capped at maxDelayMs. */
  backoffMs: number;
  maxDelayMs?: number;
  temperature: number;
  maxTokens: number;
  /** Told about each retry (for the progress line). */
  onRetry?: (problem: string, attempt: number, delayMs: number) => void;
}

/** A failure that retrying will not fix (the command stops). */
export class PermanentJudgeError extends LapeError {}

export function completionsUrl(endpoint: string): string {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new LapeError(`--endpoint ${endpoint} is not a URL (e.g. https://api.openai.com/v1 or http://127.0.0.1:8080/v1)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new LapeError(`--endpoint ${endpoint}: only http and https are supported`);
  const path = u.pathname.replace(/\/+$/, '');
  u.pathname = path.endsWith('/chat/completions') ? path : `${path}/chat/completions`;
  return u.toString();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Retry-After (seconds or an HTTP date) in milliseconds, or null. */
function retryAfterMs(h: string | null): number | null {
  if (!h) return null;
  const s = Number(h);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const t = Date.parse(h);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : null;
}

type Attempt = { ok: true; content: string } | { ok: false; permanent: boolean; problem: string; retryAfter?: number | null };

export class ChatClient {
  readonly url: string;

  constructor(private readonly opts: ChatClientOptions) {
    this.url = completionsUrl(opts.endpoint);
  }

  private scrub(s: string): string {
    const k = this.opts.apiKey;
    return k ? s.split(k).join('***') : s;
  }

  /** The request body (also the cache key's content). */
  body(messages: ChatMessage[]): Record<string, unknown> {
    return { model: this.opts.model, messages, temperature: this.opts.temperature, max_tokens: this.opts.maxTokens };
  }

  private async attempt(messages: ChatMessage[]): Promise<Attempt> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.url, { method: 'POST', headers, body: JSON.stringify(this.body(messages)), signal: AbortSignal.timeout(this.opts.timeoutMs) });
      text = await res.text();
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const cause = err.cause?.code ?? err.cause?.message; // ECONNREFUSED, ENOTFOUND, "bad port", …
      const what = err.name === 'TimeoutError' || err.name === 'AbortError' ? `no reply within ${this.opts.timeoutMs / 1000} s` : `${err.message}${cause ? ` (${cause})` : ''}`;
      return { ok: false, permanent: false, problem: what };
    }
    if (!res.ok) {
      const transient = res.status === 408 || res.status === 429 || res.status >= 500;
      const snippet = text.replace(/\s+/g, ' ').slice(0, 200);
      return { ok: false, permanent: !transient, problem: `HTTP ${res.status} ${res.statusText}${snippet ? `: ${snippet}` : ''}`, retryAfter: retryAfterMs(res.headers.get('retry-after')) };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, permanent: false, problem: `the reply is not JSON: ${text.slice(0, 80)}` };
    }
    const content = (json as { choices?: Array<{ message?: { content?: unknown } }> })?.choices?.[0]?.message?.content;
    if (typeof content !== 'string') return { ok: false, permanent: false, problem: 'the reply has no choices[0].message.content string' };
    return { ok: true, content };
  }

  /** The assistant's reply to `messages`; throws LapeError (PermanentJudgeError for non-retryable HTTP errors). */
  async complete(messages: ChatMessage[]): Promise<string> {
    const max = this.opts.maxDelayMs ?? 60_000;
    for (let attempt = 0; ; attempt++) {
      const r = await this.attempt(messages);
      if (r.ok) return r.content;
      const problem = this.scrub(r.problem);
      if (r.permanent) throw new PermanentJudgeError(`the judge endpoint ${this.url} refused the request: ${problem}`);
      if (attempt >= this.opts.retries) throw new LapeError(`the judge endpoint ${this.url} failed ${attempt + 1} time${attempt ? 's' : ''}; last: ${problem}`);
      const backoff = Math.min(max, this.opts.backoffMs * 2 ** attempt) * (0.5 + 0.5 * Math.random());
      const delay = Math.min(max, Math.max(backoff, r.retryAfter ?? 0));
      this.opts.onRetry?.(problem, attempt + 1, delay);
      await sleep(delay);
    }
  }
}

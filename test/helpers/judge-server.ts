/**
 * A small server on loopback that speaks the OpenAI chat-completions schema, for the judge tests.
 * What it does with a request depends on the answer being judged (the text between the judge
 * prompt's answer markers): `score=N` → "Rating: [[N]]"; `flaky429` → HTTP 429 once;
 * `flaky500` → HTTP 500 twice; `malformed` → a body that is not JSON, then one without choices;
 * `slow` → the first reply after `slowMs`; `noscore` → a reply without a rating; `odd` →
 * "Score: 8/10"; `always500` → HTTP 500 every time. Anything else: a rating from a hash of the
 * answer (deterministic). Requests are counted per answer.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface JudgeServer {
  url: string;
  /** Requests received per answer text. */
  requests: Map<string, number>;
  total(): number;
  /** Called on each authorised request's arrival (before the reply), with the running total (refused ones included). */
  onRequest?: (total: number) => void;
  /** Delay of every reply (ms). */
  delayMs: number;
  /** Most requests in flight at once so far. */
  maxInFlight: number;
  close(): Promise<void>;
}

const body = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });

export function hashScore(answer: string): number {
  return 1 + (createHash('sha256').update(answer).digest()[0]! % 10);
}

export async function startJudgeServer(opts: { key?: string; slowMs?: number } = {}): Promise<JudgeServer> {
  const requests = new Map<string, number>();
  let total = 0;
  const state: JudgeServer = {
    url: '',
    requests,
    total: () => total,
    delayMs: 0,
    maxInFlight: 0,
    close: () => new Promise((r) => server.close(() => r())),
  };
  const chat = (content: string): string => JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] });
  let inFlight = 0;
  const server: Server = createServer(async (req, res) => {
    inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, inFlight);
    res.on('close', () => void inFlight--);
    const text = await body(req);
    if (req.url !== '/v1/chat/completions' || req.method !== 'POST') {
      res.writeHead(404).end('not found');
      return;
    }
    total++;
    if (opts.key && req.headers.authorization !== `Bearer ${opts.key}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'Incorrect API key provided' } }));
      return;
    }
    const msg = JSON.parse(text) as { messages: Array<{ content: string }> };
    const user = msg.messages.at(-1)!.content;
    const answer = /\[Start of the assistant's answer\]\n([\s\S]*)\n\[End of the assistant's answer\]/.exec(user)?.[1] ?? '';
    const n = (requests.get(answer) ?? 0) + 1;
    requests.set(answer, n);
    state.onRequest?.(total);
    if (state.delayMs) await new Promise((r) => setTimeout(r, state.delayMs));
    const ok = (content: string): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(chat(content));
    const m = /score=(\d+)/.exec(answer);
    if (m) return ok(`The answer is fine. Rating: [[${m[1]}]]`);
    if (answer.includes('flaky429') && n === 1) return void res.writeHead(429, { 'retry-after': '0' }).end('slow down');
    if (answer.includes('flaky500') && n <= 2) return void res.writeHead(500).end('oops');
    if (answer.includes('always500')) return void res.writeHead(500).end('down');
    if (answer.includes('malformed') && n === 1) return void res.writeHead(200, { 'content-type': 'application/json' }).end('not json{');
    if (answer.includes('malformed') && n === 2) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices":[]}');
    if (answer.includes('slow') && n === 1) await new Promise((r) => setTimeout(r, opts.slowMs ?? 1500));
    if (answer.includes('noscore')) return ok('I cannot decide about this one.');
    if (answer.includes('odd')) return ok('Reasonable. Score: 8/10');
    return ok(`Explanation. Rating: [[${hashScore(answer)}]]`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return state;
}

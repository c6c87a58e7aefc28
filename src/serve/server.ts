/**
 * lape serve's HTTP server, on node:http: the OpenAI routes (GET /v1/models, POST /v1/completions,
 * POST /v1/chat/completions, streaming as server-sent events ending in `data: [DONE]`), GET
 * /health, and the explorer (GET / and its /api/ routes, explorer-routes.ts).
 *
 * node:http rather than a framework: the server has six routes, streams by writing to the
 * response, cancels by listening to the response's close, and needs nothing a framework adds;
 * no dependency to keep up with.
 *
 * Security: an API key, when set, is required as `Authorization: Bearer KEY` on every route but
 * the explorer's static page, compared in constant time (SHA-256 of both, timingSafeEqual).
 * Binding elsewhere than loopback needs a key (checked by the command); without a key, requests
 * whose Host header is not a loopback name are refused (403: DNS rebinding from a web page).
 * Shutdown (SIGTERM/SIGINT, or close()): stop accepting, let running and queued requests finish
 * within the grace period, cancel what is left, release the model.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LapeError } from '../errors.js';
import { CancelledError, ContinuousBatcher, QueueFullError } from '../runtime/continuous-batch.js';
import { generationSettings, type Generation } from '../runtime/generate.js';
import type { Model } from '../runtime/model.js';
import type { ChatTemplate } from '../tokenizer/chat-template.js';
import type { LapeTokenizer } from '../tokenizer/tokenizer.js';
import { ApiError, badRequest } from './openai-errors.js';
import { parseRequest, type ParsedRequest } from './openai-schema.js';
import type { RequestSteering } from './request-steering.js';
import { TextStream } from './text-stream.js';

export interface Engine {
  model: Model;
  tokenizer: LapeTokenizer;
  chat: ChatTemplate;
  steering: RequestSteering;
  /** The model's name in the API (GET /v1/models, the `model` field). */
  id: string;
  batcher: ContinuousBatcher;
  /** Most new tokens one request may ask for. */
  maxTokens: number;
}

/** Extra routes (the explorer): return true when the request was answered. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

export interface ServerOptions {
  engine: Engine | null;
  host: string;
  port: number;
  apiKey?: string;
  /** Routes served without the API key (the explorer's static page). */
  publicRoutes?: RouteHandler;
  routes?: RouteHandler;
  /** How long shutdown waits for requests in flight before cancelling them (ms). */
  graceMs: number;
  log: (line: string) => void;
}

export interface RunningServer {
  url: string;
  server: Server;
  /** Starts the graceful shutdown; resolves when everything is closed. */
  close(): Promise<void>;
  /** Resolves when the server has shut down (by close() or a signal). */
  closed: Promise<void>;
}

const MAX_BODY = 4 << 20;

/** Host headers of loopback addresses (with an optional port). */
const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d+)?$/i;

const FINISH: Record<Generation['stopReason'], 'stop' | 'length'> = { eos: 'stop', stop: 'stop', length: 'length', context: 'length' };

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

export function sendError(res: ServerResponse, e: unknown): void {
  const err = e instanceof ApiError ? e : e instanceof LapeError ? badRequest(e.message) : new ApiError(500, `internal error: ${(e as Error).message}`);
  if (res.headersSent) {
    // Mid-stream: the error goes in the event stream, as OpenAI sends it.
    if (!res.writableEnded) res.end(`data: ${JSON.stringify(err.body())}\n\n`);
    return;
  }
  if (err.status === 429) res.setHeader('retry-after', '1');
  sendJson(res, err.status, err.body());
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(413, `the request body is larger than ${MAX_BODY >> 20} MiB`);
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw badRequest(`the request body is not valid JSON (${(e as Error).message})`);
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Constant-time check of `Authorization: Bearer KEY` (hashes make the lengths equal). */
export function authorized(header: string | undefined, key: string): boolean {
  const m = /^Bearer (.+)$/.exec(header ?? '');
  return timingSafeEqual(digest(m ? m[1]! : ''), digest(key)) && m !== null;
}

function modelCard(e: Engine): Record<string, unknown> {
  const s = e.model.spec;
  return {
    id: e.id,
    object: 'model',
    created: 0,
    owned_by: 'lape',
    lape: { architecture: s.architecture, layers: s.numLayers, neurons: s.intermediateSize, context: s.maxPositionEmbeddings, chat_template: e.chat.source, ...e.steering.languages() },
  };
}

/** One generation request from validation to the last byte of its response. */
async function generate(e: Engine, kind: 'completion' | 'chat', req: IncomingMessage, res: ServerResponse): Promise<void> {
  const p: ParsedRequest = parseRequest(kind, await readJson(req));
  if (p.model !== e.id) throw new ApiError(404, `The model '${p.model}' does not exist (this server serves '${e.id}')`, 'model', 'model_not_found');
  const prompt = kind === 'chat' ? e.chat.encode(p.messages!) : e.tokenizer.encode(p.prompt!, { addSpecialTokens: true });
  const context = e.model.spec.maxPositionEmbeddings;
  if (prompt.length === 0) throw badRequest('the prompt encodes to no tokens', kind === 'chat' ? 'messages' : 'prompt');
  if (prompt.length > context) {
    throw badRequest(`the prompt has ${prompt.length} tokens; the model's context is ${context}`, kind === 'chat' ? 'messages' : 'prompt', 'context_length_exceeded');
  }
  if (p.maxTokens !== undefined && p.maxTokens > e.maxTokens) throw badRequest(`max_tokens is at most ${e.maxTokens} on this server, got ${p.maxTokens}`, 'max_tokens');
  // OpenAI's defaults: 16 tokens for completions; for chat, as many as fit (capped by the server).
  const maxNewTokens = p.maxTokens ?? (kind === 'completion' ? Math.min(16, e.maxTokens) : Math.max(1, Math.min(e.maxTokens, context - prompt.length + 1)));
  const settings = generationSettings(e.model, {
    maxNewTokens,
    temperature: p.temperature,
    topP: p.topP,
    seed: p.seed ?? randomInt(2 ** 47),
    stop: p.stop,
    repetitionPenalty: p.lape.repetitionPenalty,
  });
  const vectors = e.steering.vectors(p.lape);

  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('hex')}`;
  const created = Math.floor(Date.now() / 1000);
  const object = kind === 'chat' ? 'chat.completion' : 'text_completion';
  const decode = (ids: number[]): string => e.tokenizer.decode(ids, { skipSpecialTokens: true });
  const usage = (g: Generation) => ({ prompt_tokens: prompt.length, completion_tokens: g.ids.length, total_tokens: prompt.length + g.ids.length });
  const ac = new AbortController();
  res.on('error', () => ac.abort()); // a write to a closed socket: the client is gone
  res.on('close', () => {
    if (!res.writableEnded) ac.abort(); // the client went away: its rows leave the batch
  });

  const stream = p.stream ? new TextStream(p.stop) : null;
  const chunk = (text: string | null, finish: string | null): string => {
    const choice = kind === 'chat'
      ? { index: 0, delta: text === null ? {} : { ...(started ? {} : { role: 'assistant' }), content: text }, logprobs: null, finish_reason: finish }
      : { index: 0, text: text ?? '', logprobs: null, finish_reason: finish };
    return `data: ${JSON.stringify({ id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model: e.id, choices: [choice] })}\n\n`;
  };
  let started = false;
  const send = (text: string): void => {
    if (!started) res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(chunk(text, null));
    started = true;
  };

  const g = await e.batcher.submit({
    prompt,
    settings,
    vectors,
    signal: ac.signal,
    onToken: stream
      ? (row) => {
          if (row.done || res.destroyed) return; // the final text (cut before a stop string) is sent below
          const delta = stream.next(decode(row.gen));
          if (delta || !started) send(delta);
        }
      : undefined,
  });
  const finish = FINISH[g.stopReason];
  if (!stream) {
    const choice = kind === 'chat'
      ? { index: 0, message: { role: 'assistant', content: g.text }, logprobs: null, finish_reason: finish }
      : { index: 0, text: g.text, logprobs: null, finish_reason: finish };
    sendJson(res, 200, { id, object, created, model: e.id, choices: [choice], usage: usage(g) });
    return;
  }
  const rest = stream.finish(g.text);
  if (rest || !started) send(rest);
  res.write(chunk(null, finish));
  if (p.includeUsage) res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: e.id, choices: [], usage: usage(g) })}\n\n`);
  res.end('data: [DONE]\n\n');
}

export function startServer(o: ServerOptions): Promise<RunningServer> {
  let shuttingDown = false;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const e = o.engine;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Without a key the server trusts loopback; a Host header naming anything else is a web page
    // elsewhere reaching it through DNS rebinding, not a local client.
    if (o.apiKey === undefined && !LOOPBACK_HOST.test(req.headers.host ?? '')) {
      throw new ApiError(403, `Host ${JSON.stringify(req.headers.host ?? '')} is not a loopback name; without --api-key lape serve answers only 127.0.0.1, localhost and [::1]`);
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = `${req.method} ${url.pathname}`;
    if (o.publicRoutes && (await o.publicRoutes(req, res, url))) return;
    if (o.apiKey !== undefined && !authorized(req.headers.authorization, o.apiKey)) {
      throw new ApiError(401, 'Incorrect or missing API key: send Authorization: Bearer KEY (lape serve --api-key)', null, 'invalid_api_key');
    }
    if (route === 'GET /health') {
      sendJson(res, 200, { status: shuttingDown ? 'shutting_down' : 'ok', model: e?.id ?? null, ...(e ? e.batcher.stats() : {}) });
      return;
    }
    if (url.pathname.startsWith('/v1/')) {
      if (!e) throw new ApiError(404, 'this server has no model (lape explore without --model)', null, 'model_not_found');
      if (shuttingDown) throw new ApiError(503, 'the server is shutting down');
      if (route === 'GET /v1/models') return sendJson(res, 200, { object: 'list', data: [modelCard(e)] });
      if (route === `GET /v1/models/${e.id}` || route === `GET /v1/models/${encodeURIComponent(e.id)}`) return sendJson(res, 200, modelCard(e));
      if (url.pathname.startsWith('/v1/models/')) throw new ApiError(404, `The model '${decodeURIComponent(url.pathname.slice(11))}' does not exist`, 'model', 'model_not_found');
      if (route === 'POST /v1/completions') return generate(e, 'completion', req, res);
      if (route === 'POST /v1/chat/completions') return generate(e, 'chat', req, res);
    }
    if (o.routes && (await o.routes(req, res, url))) return;
    throw new ApiError(404, `no route ${route}`, null, 'not_found');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof QueueFullError) return sendError(res, new ApiError(429, err.message, null, 'queue_full'));
      if (err instanceof CancelledError) {
        if (!res.writableEnded && !res.destroyed) sendError(res, new ApiError(503, `the request was cancelled: ${err.message}`));
        return;
      }
      if (!(err instanceof ApiError) && !(err instanceof LapeError)) o.log(`lape serve: ${(err as Error).stack ?? err}`);
      sendError(res, err);
    });
  });
  server.keepAliveTimeout = 5000;

  const close = async (): Promise<void> => {
    if (shuttingDown) return closed;
    shuttingDown = true;
    o.log('lape serve: shutting down (finishing requests in flight)');
    const stopped = new Promise<void>((r) => server.close(() => r()));
    server.closeIdleConnections();
    if (e) {
      const timer = setTimeout(() => void e.batcher.close(true), o.graceMs);
      await e.batcher.close(false);
      clearTimeout(timer);
    }
    server.closeAllConnections();
    await stopped;
    resolveClosed();
  };

  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new LapeError(err.code === 'EADDRINUSE' ? `port ${o.port} on ${o.host} is in use` : `cannot listen on ${o.host}:${o.port}: ${err.message}`)),
    );
    server.listen(o.port, o.host, () => {
      const a = server.address() as AddressInfo;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({ url: `http://${host}:${a.port}`, server, close, closed });
    });
  });
}

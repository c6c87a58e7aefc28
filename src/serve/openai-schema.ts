/**
 * Request validation for POST /v1/completions and /v1/chat/completions, following the OpenAI API
 * reference: what lape implements (model, prompt / messages, max_tokens / max_completion_tokens,
 * temperature, top_p, seed, stop, stream, stream_options.include_usage, user), the standard
 * fields it accepts when they ask for the default behaviour (n = 1, logprobs false/null,
 * presence/frequency penalty 0, echo false, best_of 1, empty logit_bias, response_format text,
 * no tools, …) and refuses otherwise with a 400 that names the field, unknown fields (a 400, as
 * OpenAI answers them), and the `lape` extension object: {activate, deactivate, mode, alpha,
 * layers, repetition_penalty}, in which an unknown field is a 400 too.
 */
import { STEERING_MODES, type SteeringMode } from '../experiments/steering.js';
import type { ChatMessage } from '../tokenizer/chat-template.js';
import { badRequest } from './openai-errors.js';

export interface LapeParams {
  activate: string[];
  deactivate: string[];
  mode: SteeringMode;
  alpha: number;
  /** Layer indices, or the CLI's syntax ("0-3,28-31", "bottom:2"); null = all layers. */
  layers: number[] | string | null;
  /** HF repetition penalty (lape's extension; default 1 = off, as the OpenAI API has none). */
  repetitionPenalty: number;
}

export interface ParsedRequest {
  kind: 'completion' | 'chat';
  model: string;
  /** completion: the prompt text. */
  prompt?: string;
  /** chat: the conversation. */
  messages?: ChatMessage[];
  /** Requested new tokens (undefined = the endpoint's default). */
  maxTokens: number | undefined;
  temperature: number;
  topP: number;
  seed: number | undefined;
  stop: string[];
  stream: boolean;
  includeUsage: boolean;
  lape: LapeParams;
}

type Body = Record<string, unknown>;
const isObj = (v: unknown): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);
const absent = (v: unknown): boolean => v === undefined || v === null;

function num(body: Body, key: string, dflt: number, ok: (x: number) => boolean, range: string, param = key): number {
  const v = body[key];
  if (absent(v)) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw badRequest(`${param} must be ${range}, got ${JSON.stringify(v)}`, param);
  return v;
}

function int(body: Body, key: string, min: number, param = key): number | undefined {
  const v = body[key];
  if (absent(v)) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw badRequest(`${param} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`, param);
  return v;
}

function bool(body: Body, key: string): boolean {
  const v = body[key];
  if (absent(v)) return false;
  if (typeof v !== 'boolean') throw badRequest(`${key} must be a boolean`, key);
  return v;
}

function stringList(v: unknown, param: string, max = Infinity): string[] {
  if (absent(v)) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) throw badRequest(`${param} must be a string or a list of strings`, param);
  if (list.length > max) throw badRequest(`${param} takes at most ${max} entries, got ${list.length}`, param);
  return list as string[];
}

/** Standard fields accepted only with their default (harmless) value: the test says whether a value is that. */
const HARMLESS: Record<string, { ok: (v: unknown) => boolean; why: string }> = {
  n: { ok: (v) => absent(v) || v === 1, why: 'lape serve returns one choice per request (n = 1)' },
  best_of: { ok: (v) => absent(v) || v === 1, why: 'best_of > 1 is not implemented' },
  logprobs: { ok: (v) => absent(v) || v === false || v === 0, why: 'log-probabilities are not returned' },
  top_logprobs: { ok: (v) => absent(v) || v === 0, why: 'log-probabilities are not returned' },
  echo: { ok: (v) => absent(v) || v === false, why: 'echo is not implemented' },
  suffix: { ok: (v) => absent(v) || v === '', why: 'suffix (insertion) is not implemented' },
  presence_penalty: { ok: (v) => absent(v) || v === 0, why: 'use lape.repetition_penalty (Hugging Face semantics) instead' },
  frequency_penalty: { ok: (v) => absent(v) || v === 0, why: 'use lape.repetition_penalty (Hugging Face semantics) instead' },
  logit_bias: { ok: (v) => absent(v) || (isObj(v) && Object.keys(v).length === 0), why: 'logit_bias is not implemented' },
  response_format: { ok: (v) => absent(v) || (isObj(v) && v.type === 'text'), why: 'only response_format {"type": "text"} is implemented' },
  tools: { ok: (v) => absent(v) || (Array.isArray(v) && v.length === 0), why: 'tool calls are not implemented' },
  tool_choice: { ok: (v) => absent(v) || v === 'none', why: 'tool calls are not implemented' },
  functions: { ok: (v) => absent(v) || (Array.isArray(v) && v.length === 0), why: 'function calls are not implemented' },
  function_call: { ok: (v) => absent(v) || v === 'none', why: 'function calls are not implemented' },
  parallel_tool_calls: { ok: () => true, why: '' },
  modalities: { ok: (v) => absent(v) || (Array.isArray(v) && v.every((m) => m === 'text')), why: 'only text output is implemented' },
  audio: { ok: absent, why: 'audio output is not implemented' },
  prediction: { ok: absent, why: 'predicted outputs are not implemented' },
  reasoning_effort: { ok: absent, why: 'reasoning effort is not implemented' },
  service_tier: { ok: (v) => absent(v) || v === 'auto' || v === 'default', why: 'there is one service tier' },
  store: { ok: (v) => absent(v) || v === false, why: 'completions are not stored' },
  metadata: { ok: (v) => absent(v) || isObj(v), why: 'metadata must be an object' },
  user: { ok: (v) => absent(v) || typeof v === 'string', why: 'user must be a string' },
};

const COMMON = ['model', 'max_tokens', 'temperature', 'top_p', 'seed', 'stop', 'stream', 'stream_options', 'lape'];
const FIELDS = {
  completion: new Set([...COMMON, 'prompt']),
  chat: new Set([...COMMON, 'messages', 'max_completion_tokens']),
};

const LAPE_FIELDS = ['activate', 'deactivate', 'mode', 'alpha', 'layers', 'repetition_penalty'];

function parseLape(v: unknown): LapeParams {
  const none: LapeParams = { activate: [], deactivate: [], mode: 'set', alpha: 1, layers: null, repetitionPenalty: 1 };
  if (absent(v)) return none;
  if (!isObj(v)) throw badRequest('lape must be an object: {activate, deactivate, mode, alpha, layers, repetition_penalty}', 'lape');
  for (const k of Object.keys(v)) {
    if (!LAPE_FIELDS.includes(k)) throw badRequest(`unknown field lape.${k} (lape takes ${LAPE_FIELDS.join(', ')})`, `lape.${k}`);
  }
  const mode = absent(v.mode) ? 'set' : v.mode;
  if (typeof mode !== 'string' || !(STEERING_MODES as readonly string[]).includes(mode)) {
    throw badRequest(`lape.mode must be one of ${STEERING_MODES.join(', ')}, got ${JSON.stringify(v.mode)}`, 'lape.mode');
  }
  const alpha = num(v, 'alpha', 1, () => true, 'a finite number', 'lape.alpha');
  if (mode === 'set' && alpha !== 1) throw badRequest('lape.alpha applies to modes add and diffmean, not set', 'lape.alpha');
  let layers: LapeParams['layers'] = null;
  if (!absent(v.layers)) {
    if (typeof v.layers === 'string') layers = v.layers;
    else if (Array.isArray(v.layers) && v.layers.length > 0 && v.layers.every((l) => Number.isSafeInteger(l) && (l as number) >= 0)) layers = v.layers as number[];
    else throw badRequest('lape.layers must be a non-empty list of layer indices or a string like "0-3,28-31", "bottom:2"', 'lape.layers');
  }
  return {
    activate: stringList(v.activate, 'lape.activate'),
    deactivate: stringList(v.deactivate, 'lape.deactivate'),
    mode: mode as SteeringMode,
    alpha,
    layers,
    repetitionPenalty: num(v, 'repetition_penalty', 1, (x) => x > 0, 'a number > 0', 'lape.repetition_penalty'),
  };
}

function textContent(v: unknown, param: string): string {
  if (typeof v === 'string') return v;
  // Content parts: text parts are joined; any other part type (images, audio) is refused.
  if (Array.isArray(v)) {
    return v
      .map((p, i) => {
        if (isObj(p) && p.type === 'text' && typeof p.text === 'string') return p.text;
        throw badRequest(`${param}[${i}]: only text content parts are supported`, param);
      })
      .join('');
  }
  throw badRequest(`${param} must be a string or a list of text parts`, param);
}

function parseMessages(v: unknown): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0) throw badRequest('messages must be a non-empty list', 'messages');
  return v.map((m, i) => {
    const p = `messages[${i}]`;
    if (!isObj(m)) throw badRequest(`${p} must be an object with role and content`, p);
    if (!['system', 'developer', 'user', 'assistant'].includes(m.role as string)) {
      throw badRequest(`${p}.role must be system, developer, user or assistant, got ${JSON.stringify(m.role)}`, `${p}.role`);
    }
    if (m.tool_calls !== undefined || m.function_call !== undefined) throw badRequest(`${p}: tool calls are not implemented`, p);
    // A developer message is the newer name of a system message; templates know "system".
    return { role: m.role === 'developer' ? 'system' : (m.role as string), content: textContent(m.content, `${p}.content`) };
  });
}

export function parseRequest(kind: 'completion' | 'chat', body: unknown): ParsedRequest {
  if (!isObj(body)) throw badRequest('the request body must be a JSON object');
  for (const k of Object.keys(body)) {
    const h = HARMLESS[k];
    if (h) {
      if (!h.ok(body[k])) throw badRequest(`${k} = ${JSON.stringify(body[k])} is not supported: ${h.why}`, k, 'unsupported_parameter');
    } else if (!FIELDS[kind].has(k)) {
      throw badRequest(`Unrecognized request argument supplied: ${k}`, k, 'unknown_parameter');
    }
  }
  if (typeof body.model !== 'string' || body.model === '') throw badRequest('model is required (GET /v1/models lists it)', 'model');
  let prompt: string | undefined;
  let messages: ChatMessage[] | undefined;
  if (kind === 'completion') {
    const p = body.prompt;
    if (typeof p === 'string') prompt = p;
    else if (Array.isArray(p) && p.length === 1 && typeof p[0] === 'string') prompt = p[0];
    else throw badRequest('prompt must be a string (or a list of one string; batches of prompts and token arrays are not implemented)', 'prompt');
  } else messages = parseMessages(body.messages);
  const maxTokens = int(body, 'max_tokens', 1) ?? (kind === 'chat' ? int(body, 'max_completion_tokens', 1, 'max_completion_tokens') : undefined);
  const so = body.stream_options;
  if (!absent(so) && !(isObj(so) && Object.keys(so).every((k) => k === 'include_usage'))) {
    throw badRequest('stream_options takes only include_usage', 'stream_options');
  }
  const stream = bool(body, 'stream');
  if (!absent(so) && !stream) throw badRequest('stream_options needs stream: true', 'stream_options');
  const stop = stringList(body.stop, 'stop', 4);
  if (stop.some((s) => s === '')) throw badRequest('stop strings must be non-empty', 'stop');
  return {
    kind,
    model: body.model,
    ...(prompt !== undefined ? { prompt } : {}),
    ...(messages ? { messages } : {}),
    maxTokens,
    temperature: num(body, 'temperature', 1, (x) => x >= 0 && x <= 2, 'between 0 and 2'),
    topP: num(body, 'top_p', 1, (x) => x > 0 && x <= 1, 'in (0, 1]'),
    seed: int(body, 'seed', -(2 ** 53) + 1),
    stop,
    stream,
    includeUsage: isObj(so) && so.include_usage === true,
    lape: parseLape(body.lape),
  };
}

/**
 * Text generation on a loaded Model, with optional neuron patches (steering) at every position.
 *
 * Incremental decoding: one prefill run of the whole (left-padded) batch with the kvCache plan,
 * then one run per new token that feeds only that token and the previous run's present keys and
 * values, so T new tokens cost T forward steps of one token each. The uncached path (every step
 * re-runs the full sequences) exists as the reference the cached path is tested against.
 *
 * Choice of the next token follows Hugging Face: repetition penalty over every token already in
 * the sequence (prompt + generated; default 1.1), then greedy arg-max (temperature 0, default) or
 * temperature / top-k / top-p sampling from a seeded PRNG (see sampling.ts). A sequence ends at an
 * EOS token, when its decoded text contains a stop string (the text is cut before it), after
 * maxNewTokens tokens, or when the next position would exceed the model's context.
 */
import { LapeError } from '../errors.js';
import type { LapeTokenizer } from '../tokenizer/tokenizer.js';
import type { HookPlan } from '../graph/hook-plan.js';
import type { TokenBatch } from './batch.js';
import type { KvCache, Model, RunResult } from './model.js';
import type { NeuronPatch } from './patches.js';
import { Prng, applyRepetitionPenalty, argmax, sampleToken } from './sampling.js';

export const DEFAULT_REPETITION_PENALTY = 1.1;

export interface GenerateOptions {
  /** Most tokens to generate per prompt (a positive integer). */
  maxNewTokens: number;
  /** HF repetition penalty (≥ 1 in practice; 1 = off). Default 1.1. */
  repetitionPenalty?: number;
  /** 0 (default) = greedy; > 0 = sampling at this temperature. */
  temperature?: number;
  /** Sampling only: nucleus mass (0 < p ≤ 1, default 1 = off). */
  topP?: number;
  /** Sampling only: keep the k most probable tokens (default 0 = off). */
  topK?: number;
  /** Sampling only: PRNG seed (default 0). Prompt i of a call draws from its own stream (seed, i). */
  seed?: number;
  /** Strings that end a generation; the output text stops before the first occurrence. */
  stop?: string[];
  /** Token ids that end a generation (default: the model's eos_token_id; [] = never). */
  eosTokenIds?: number[];
  /** Neuron patches on hook_act, applied at every position, prompt and generated. */
  patches?: NeuronPatch[];
  /** Incremental decoding with a KV cache (default true); false re-runs full sequences each step. */
  useCache?: boolean;
  /** Prompts per batch (default 8). */
  batchSize?: number;
  /** Called after each batch with the number of prompts done and the total. */
  onProgress?: (done: number, total: number) => void;
}

export type StopReason = 'eos' | 'stop' | 'length' | 'context';

export interface Generation {
  /** Prompt token ids as fed (after the tokenizer's special tokens, if any). */
  promptIds: number[];
  /** Generated token ids, including the EOS or stop-string token that ended the generation. */
  ids: number[];
  /** Decoded generated text (special tokens skipped), cut before a stop string; '' without a tokenizer. */
  text: string;
  stopReason: StopReason;
}

export interface TextGeneration extends Generation {
  prompt: string;
}

export interface Settings {
  maxNewTokens: number;
  penalty: number;
  temperature: number;
  topP: number;
  topK: number;
  seed: number;
  stop: string[];
  eos: Set<number>;
  patches: NeuronPatch[];
  useCache: boolean;
  batchSize: number;
}

/** Validated generation settings with defaults (shared with lape serve's batcher). */
export function generationSettings(model: Model, opts: GenerateOptions): Settings {
  const s: Settings = {
    maxNewTokens: opts.maxNewTokens,
    penalty: opts.repetitionPenalty ?? DEFAULT_REPETITION_PENALTY,
    temperature: opts.temperature ?? 0,
    topP: opts.topP ?? 1,
    topK: opts.topK ?? 0,
    seed: opts.seed ?? 0,
    stop: opts.stop ?? [],
    eos: new Set(opts.eosTokenIds ?? model.spec.eosTokenIds),
    patches: opts.patches ?? [],
    useCache: opts.useCache ?? true,
    batchSize: opts.batchSize ?? 8,
  };
  if (!Number.isInteger(s.maxNewTokens) || s.maxNewTokens <= 0) {
    throw new LapeError(`max new tokens must be a positive integer, got ${s.maxNewTokens}`);
  }
  if (!(Number.isFinite(s.penalty) && s.penalty > 0)) throw new LapeError(`repetition penalty must be > 0, got ${s.penalty}`);
  if (!(Number.isFinite(s.temperature) && s.temperature >= 0)) throw new LapeError(`temperature must be ≥ 0, got ${s.temperature}`);
  if (!(s.topP > 0 && s.topP <= 1)) throw new LapeError(`top-p must be in (0, 1], got ${s.topP}`);
  if (!(Number.isInteger(s.topK) && s.topK >= 0)) throw new LapeError(`top-k must be a non-negative integer, got ${s.topK}`);
  if (!Number.isSafeInteger(s.seed)) throw new LapeError(`seed must be an integer, got ${s.seed}`);
  if (!(Number.isInteger(s.batchSize) && s.batchSize > 0)) throw new LapeError(`batch size must be a positive integer, got ${s.batchSize}`);
  for (const st of s.stop) if (typeof st !== 'string' || st.length === 0) throw new LapeError('stop strings must be non-empty');
  return s;
}

/** Distinct layers the patches touch, ascending (the hook plan's patchLayers). */
export function layersOf(patches: NeuronPatch[]): number[] {
  return [...new Set(patches.map((p) => p.layer))].sort((a, b) => a - b);
}

/** Generates from token-id prompts. `decode` (ids → text) is needed for stop strings and `text`. */
export async function generateIds(
  model: Model,
  prompts: number[][],
  opts: GenerateOptions,
  decode?: (ids: number[]) => string,
): Promise<Generation[]> {
  const s = generationSettings(model, opts);
  if (s.stop.length > 0 && !decode) throw new LapeError('stop strings need a tokenizer to decode the output');
  const maxPos = model.spec.maxPositionEmbeddings;
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new LapeError(`prompt ${i} is empty (no tokens)`);
    if (p.length > maxPos) {
      throw new LapeError(`prompt ${i} has ${p.length} tokens, longer than the model's context (max_position_embeddings = ${maxPos})`);
    }
  });
  const out: Generation[] = [];
  for (let start = 0; start < prompts.length; start += s.batchSize) {
    const chunk = prompts.slice(start, start + s.batchSize);
    out.push(...(await generateBatch(model, chunk, start, s, decode)));
    opts.onProgress?.(out.length, prompts.length);
  }
  return out;
}

/**
 * Generates from text prompts, encoded with the tokenizer's special tokens (e.g. BOS), or by
 * `encode` (a chat template's, for --chat).
 */
export async function generateText(
  model: Model,
  tokenizer: LapeTokenizer,
  prompts: string[],
  opts: GenerateOptions,
  encode: (prompt: string) => number[] = (p) => tokenizer.encode(p, { addSpecialTokens: true }),
): Promise<TextGeneration[]> {
  const ids = prompts.map(encode);
  ids.forEach((row, i) => {
    if (row.length === 0) throw new LapeError(`prompt ${i} encodes to no tokens`);
  });
  const gens = await generateIds(model, ids, opts, (g) => tokenizer.decode(g, { skipSpecialTokens: true }));
  return gens.map((g, i) => ({ prompt: prompts[i]!, ...g }));
}

/** One sequence being decoded (generateIds' batches and the continuous batcher share it). */
export interface DecodeRow {
  prompt: number[];
  gen: number[];
  seen: Set<number>;
  rng: Prng | null;
  done: StopReason | null;
  /** The output text cut before a stop string (set when done = 'stop'). */
  text: string;
}

/** What decides a row's next token and its end. */
export type RowSettings = Pick<Settings, 'maxNewTokens' | 'penalty' | 'temperature' | 'topP' | 'topK' | 'stop' | 'eos'>;

export function newRow(prompt: number[], s: Pick<Settings, 'temperature' | 'seed'>, stream: number): DecodeRow {
  return { prompt, gen: [], seen: new Set(prompt), rng: s.temperature > 0 ? new Prng(s.seed, stream) : null, done: null, text: '' };
}

/**
 * Chooses a row's next token from its logits (modified in place by the repetition penalty) and
 * decides whether the row ends: EOS, a stop string in the decoded text, maxNewTokens, or context.
 */
export function advanceRow(r: DecodeRow, logits: Float32Array, s: RowSettings, maxPos: number, decode?: (ids: number[]) => string): number {
  applyRepetitionPenalty(logits, r.seen, s.penalty);
  const tok = r.rng ? sampleToken(logits, s, r.rng) : argmax(logits);
  r.gen.push(tok);
  r.seen.add(tok);
  if (s.eos.has(tok)) r.done = 'eos';
  else if (s.stop.length > 0) {
    const text = decode!(r.gen);
    let cut = -1;
    for (const st of s.stop) {
      const k = text.indexOf(st);
      if (k >= 0 && (cut < 0 || k < cut)) cut = k;
    }
    if (cut >= 0) {
      r.done = 'stop';
      r.text = text.slice(0, cut);
    }
  }
  if (!r.done && r.gen.length >= s.maxNewTokens) r.done = 'length';
  // Feeding the k-th new token needs position prompt + k - 1 < max_position_embeddings.
  if (!r.done && r.prompt.length + r.gen.length > maxPos) r.done = 'context';
  return tok;
}

/** Sequences of different lengths as one left-padded batch with its mask. */
export function leftPadded(seqs: number[][]): TokenBatch {
  const T = Math.max(...seqs.map((q) => q.length));
  const ids: number[][] = [];
  const mask: number[][] = [];
  for (const seq of seqs) {
    const pad = T - seq.length;
    ids.push([...new Array<number>(pad).fill(0), ...seq]);
    mask.push([...new Array<number>(pad).fill(0), ...new Array<number>(seq.length).fill(1)]);
  }
  return { ids, mask };
}

/** A finished row as a Generation. */
export function rowGeneration(r: DecodeRow, decode?: (ids: number[]) => string): Generation {
  return { promptIds: r.prompt, ids: r.gen, text: r.done === 'stop' ? r.text : decode ? decode(r.gen) : '', stopReason: r.done! };
}

async function generateBatch(
  model: Model,
  prompts: number[][],
  firstIndex: number,
  s: Settings,
  decode?: (ids: number[]) => string,
): Promise<Generation[]> {
  const V = model.spec.vocabSize;
  const maxPos = model.spec.maxPositionEmbeddings;
  const patchLayers = layersOf(s.patches);
  const plan: HookPlan = s.useCache ? { kvCache: true, logits: 'last', patchLayers } : { logits: 'last', patchLayers };
  const rows: DecodeRow[] = prompts.map((p, i) => newRow(p, s, firstIndex + i));

  // Left-padded full sequences (prefill, and every step of the uncached path).
  const fullBatch = (): TokenBatch => leftPadded(rows.map((r) => [...r.prompt, ...r.gen]));

  let result: RunResult = await model.run(fullBatch(), plan, { patches: s.patches });
  for (;;) {
    const logits = result.logitsLast!;
    for (let b = 0; b < rows.length; b++) {
      const r = rows[b]!;
      if (r.done) continue;
      advanceRow(r, logits.slice(b * V, (b + 1) * V), s, maxPos, decode);
    }
    if (rows.every((r) => r.done)) break;
    if (s.useCache) {
      const ids = rows.map((r) => [r.done ? 0 : r.gen[r.gen.length - 1]!]);
      const mask = rows.map((r) => [r.done ? 0 : 1]);
      const past: KvCache = result.cache!;
      result = await model.run({ ids, mask }, plan, { patches: s.patches, past });
    } else {
      result = await model.run(fullBatch(), plan, { patches: s.patches });
    }
  }
  return rows.map((r) => rowGeneration(r, decode));
}

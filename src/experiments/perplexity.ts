/**
 * Perplexity of fixed-length chunks: mean next-token negative log-likelihood over every predicted
 * position (position t predicts token t+1 of the same chunk), PPL = exp(mean NLL).
 *
 * Sums are float64, taken chunk by chunk and position by position in the order given, so the
 * result does not depend on how chunks are grouped into runs once the per-token log-probabilities
 * are fixed (the log-probabilities themselves come from f32 runs; the same batch size gives
 * bit-identical results).
 *
 * Every evaluation uses the plan `pplPlan(spec)` — token log-probabilities with hook_act of every
 * layer patchable — so one ORT session serves the baseline and every deactivation: patch values
 * are run inputs, and no patch is an identity map (act · 1 + 0), which leaves activations exact.
 */
import type { ModelSpec } from '../archs/model-spec.js';
import { LapeError } from '../errors.js';
import type { HookPlan } from '../graph/hook-plan.js';
import type { Model } from '../runtime/model.js';
import type { NeuronPatch } from '../runtime/patches.js';

/** Aim for about this many tokens per run. */
export const TARGET_BATCH_TOKENS = 2048;
/**
 * Cap on B·T·vocab (f32 logits inside the graph, before LogSoftmax and the gather): 2^26 floats =
 * 256 MiB per [B·T × vocab] tensor. Large vocabularies (Qwen2 151 936) get fewer tokens per run.
 */
export const LOGITS_BUDGET = 2 ** 26;

export interface PerplexityOptions {
  /** Patches on hook_act (see src/runtime/patches.ts); none = the unmodified model. */
  patches?: NeuronPatch[];
  /** Chunks per run (default: defaultBatchSize). */
  batchSize?: number;
  /** Called after each run with the chunks done so far. */
  onBatch?: (done: number, total: number) => void;
}

export interface PerplexityResult {
  /** Mean next-token NLL (nats) over all predicted positions. */
  nll: number;
  /** Number of predicted positions (Σ over chunks of length − 1). */
  tokens: number;
  /** exp(nll). */
  ppl: number;
  chunks: number;
}

/** The one hook plan of every perplexity run: token log-probabilities, all layers patchable. */
export function pplPlan(spec: ModelSpec): HookPlan {
  return { tokenLogprobs: true, patchLayers: Array.from({ length: spec.numLayers }, (_, i) => i) };
}

/**
 * Chunks per run: about TARGET_BATCH_TOKENS tokens, but never more than LOGITS_BUDGET / vocab
 * tokens of logits; at least 1.
 */
export function defaultBatchSize(seqLen: number, vocabSize: number): number {
  if (!(Number.isInteger(seqLen) && seqLen > 0)) throw new LapeError(`sequence length must be a positive integer, got ${seqLen}`);
  const tokens = Math.min(TARGET_BATCH_TOKENS, Math.floor(LOGITS_BUDGET / Math.max(1, vocabSize)));
  return Math.max(1, Math.floor(tokens / seqLen));
}

/** Mean next-token NLL and perplexity of `chunks` under `model` (optionally patched). */
export async function evaluatePerplexity(
  model: Model,
  chunks: readonly (readonly number[])[],
  opts: PerplexityOptions = {},
): Promise<PerplexityResult> {
  if (chunks.length === 0) throw new LapeError('perplexity: no chunks to evaluate');
  let maxLen = 0;
  for (const c of chunks) maxLen = Math.max(maxLen, c.length);
  const batchSize = opts.batchSize ?? defaultBatchSize(maxLen, model.spec.vocabSize);
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new LapeError(`batch size must be a positive integer, got ${batchSize}`);
  const plan = pplPlan(model.spec);
  const patches = opts.patches ?? [];
  let sum = 0;
  let tokens = 0;
  for (let start = 0; start < chunks.length; start += batchSize) {
    const rows = chunks.slice(start, start + batchSize);
    const r = await model.run({ ids: rows as number[][] }, plan, { patches });
    const lp = r.tokenLogprobs!;
    const mask = r.logprobMask!;
    for (let b = 0; b < rows.length; b++) {
      const base = b * r.seq;
      for (let t = 0; t < r.seq; t++) {
        if (mask[base + t]) {
          sum -= lp[base + t]!;
          tokens++;
        }
      }
    }
    opts.onBatch?.(Math.min(chunks.length, start + batchSize), chunks.length);
  }
  if (tokens === 0) throw new LapeError('perplexity: the chunks have no predicted positions (every chunk has fewer than 2 tokens)');
  const nll = sum / tokens;
  return { nll, tokens, ppl: Math.exp(nll), chunks: chunks.length };
}

/** Zero (mode 'zero' on hook_act) the neurons masks[layer] of every layer that has any. */
export function zeroPatches(perLayer: readonly (readonly number[])[]): NeuronPatch[] {
  const out: NeuronPatch[] = [];
  perLayer.forEach((indices, layer) => {
    if (indices.length > 0) out.push({ layer, indices, mode: 'zero' });
  });
  return out;
}

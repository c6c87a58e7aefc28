/**
 * Next-token choice for generation, with Hugging Face transformers semantics: repetition penalty
 * (a logits processor, applied first), then temperature, top-k and top-p (warpers, in that order),
 * then greedy arg-max or a draw from a seeded PRNG. Everything is deterministic: same logits, same
 * settings, same seed → same token.
 */
import { LapeError } from '../errors.js';

/**
 * A small seeded PRNG (xoshiro128**, seeded through splitmix32), uniform floats in [0, 1) with
 * 32 random bits each. Not cryptographic; reproducible across platforms.
 */
export class Prng {
  private s: Uint32Array;
  /** `stream` selects an independent sequence for the same seed (e.g. one per prompt). */
  constructor(seed: number, stream = 0) {
    if (!Number.isSafeInteger(seed)) throw new LapeError(`seed must be an integer, got ${seed}`);
    if (!Number.isSafeInteger(stream) || stream < 0) throw new LapeError(`stream must be a non-negative integer, got ${stream}`);
    // splitmix32 absorbs both 32-bit halves of seed and stream, then yields the four state words.
    let x = 0;
    const mix = (v: number): number => {
      x = (x + 0x9e3779b9 + v) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    for (const w of [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, stream >>> 0, Math.floor(stream / 2 ** 32) >>> 0]) x = mix(w);
    this.s = new Uint32Array([mix(0), mix(0), mix(0), mix(0)]);
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2] = s[2]! ^ s[0]!;
    s[3] = s[3]! ^ s[1]!;
    s[1] = s[1]! ^ s[2]!;
    s[0] = s[0]! ^ s[3]!;
    s[2] = s[2]! ^ t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 2 ** 32;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * HF RepetitionPenaltyLogitsProcessor, in place: for every distinct token id in `seen`, a positive
 * logit is divided by `penalty`, a negative one multiplied by it. penalty 1 = no change.
 */
export function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  const done = new Set<number>();
  for (const id of seen) {
    if (done.has(id) || id < 0 || id >= logits.length) continue;
    done.add(id);
    const v = logits[id]!;
    logits[id] = v < 0 ? v * penalty : v / penalty;
  }
}

/** Index of the largest value; ties go to the lowest index (as torch.argmax). NaN never wins. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > bestV) {
      bestV = v;
      best = i;
    }
  }
  return best;
}

export interface SamplingOptions {
  /** > 0. Logits are divided by it before top-k/top-p and the draw. */
  temperature: number;
  /** Keep the smallest set of most probable tokens whose probability reaches topP (0 < p ≤ 1). */
  topP: number;
  /** Keep only the k most probable tokens (0 = off). */
  topK: number;
}

/**
 * Candidate tokens with their renormalised probabilities after temperature, top-k and top-p (HF
 * semantics: a token is dropped when the probability mass of the more probable tokens before it
 * already reaches top_p; at least one token is kept). Sorted by probability, ties by id.
 */
export function samplingDistribution(logits: ArrayLike<number>, opts: SamplingOptions): { ids: number[]; probs: number[] } {
  const n = logits.length;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => logits[b]! - logits[a]! || a - b);
  let keep = opts.topK > 0 ? Math.min(opts.topK, n) : n;
  const maxL = logits[order[0]!]! / opts.temperature;
  const w = new Float64Array(keep);
  let z = 0;
  for (let r = 0; r < keep; r++) {
    const e = Math.exp(logits[order[r]!]! / opts.temperature - maxL);
    w[r] = e;
    z += e;
  }
  if (opts.topP < 1) {
    let cum = 0;
    let r = 0;
    for (; r < keep; r++) {
      cum += w[r]! / z;
      if (cum >= opts.topP) {
        r++;
        break;
      }
    }
    keep = Math.max(1, Math.min(r, keep));
  }
  let kept = 0;
  for (let r = 0; r < keep; r++) kept += w[r]!;
  const ids: number[] = [];
  const probs: number[] = [];
  for (let r = 0; r < keep; r++) {
    ids.push(order[r]!);
    probs.push(w[r]! / kept);
  }
  return { ids, probs };
}

/** One draw from samplingDistribution with the given PRNG. */
export function sampleToken(logits: ArrayLike<number>, opts: SamplingOptions, rng: Prng): number {
  const { ids, probs } = samplingDistribution(logits, opts);
  const u = rng.next();
  let cum = 0;
  for (let r = 0; r < ids.length; r++) {
    cum += probs[r]!;
    if (u < cum) return ids[r]!;
  }
  return ids[ids.length - 1]!;
}

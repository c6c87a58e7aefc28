/**
 * Turns token sequences into the decoder graph's inputs: padded ids, positions, one additive
 * attention bias per distinct window (causal + padding + window), key positions (ALiBi), token
 * mask, next-token targets.
 */
import type { ModelSpec } from '../archs/model-spec.js';
import { attentionWindows, maskInputName } from '../graph/decoder.js';
import { LapeError } from '../errors.js';

export interface TokenBatch {
  /** Token ids per sequence. Without `mask`, rows may differ in length and are right-padded. */
  ids: ArrayLike<number>[];
  /** Optional validity mask (1 = real token, 0 = padding), same shape as ids. */
  mask?: ArrayLike<number>[];
}

/** What a kvCache run needs to know about the keys already cached. */
export interface PastKeys {
  length: number;
  /** Per sequence, positions of the cached keys (-1 = padding slot). */
  keyPositions: Int32Array[];
}

export interface PreparedBatch {
  B: number;
  T: number;
  /** Keys per query row: past + T. */
  total: number;
  ids: BigInt64Array;
  positions: BigInt64Array;
  /** Mask input name → [B, 1, 1, T, total] additive bias. */
  attnBiases: Map<string, Float32Array>;
  /** [B, total] position of each key (-1 = padding slot). */
  keyPositions: Float32Array;
  tokenMask: Float32Array;
  targets: BigInt64Array;
  targetMask: Uint8Array;
  lastIndex: BigInt64Array;
  /** Per sequence, positions of all keys after this run (for the next step's PastKeys). */
  keyPositionsAfter: Int32Array[];
}

const MASKED = -1e9; // finite, so fully masked (padding) rows stay NaN-free

export function prepareBatch(batch: TokenBatch, spec: ModelSpec, past?: PastKeys): PreparedBatch {
  const B = batch.ids.length;
  if (B === 0) throw new LapeError('empty batch: no sequences to run');
  let T = 0;
  for (const row of batch.ids) T = Math.max(T, row.length);
  if (T === 0) throw new LapeError('empty batch: every sequence has zero tokens');
  if (batch.mask) {
    if (batch.mask.length !== B) throw new LapeError(`mask has ${batch.mask.length} rows, ids has ${B}`);
    for (let b = 0; b < B; b++) {
      if (batch.ids[b]!.length !== T || batch.mask[b]!.length !== T) {
        throw new LapeError('with an explicit mask, every ids and mask row must have the same length');
      }
    }
  }
  const P = past?.length ?? 0;
  if (past && past.keyPositions.length !== B) throw new LapeError(`cache holds ${past.keyPositions.length} sequences, batch has ${B}`);
  const S = P + T;
  const ids = new BigInt64Array(B * T);
  const positions = new BigInt64Array(B * T);
  const tokenMask = new Float32Array(B * T);
  const targets = new BigInt64Array(B * T);
  const targetMask = new Uint8Array(B * T);
  const lastIndex = new BigInt64Array(B);
  const windows = attentionWindows(spec);
  const biases = windows.map(() => new Float32Array(B * T * S).fill(MASKED));
  const keyPositions = new Float32Array(B * S);
  const keyPositionsAfter: Int32Array[] = [];

  for (let b = 0; b < B; b++) {
    const row = batch.ids[b]!;
    const keyPos = new Int32Array(S).fill(-1);
    let next = 0;
    if (past) {
      keyPos.set(past.keyPositions[b]!);
      for (const p of past.keyPositions[b]!) if (p >= 0) next = Math.max(next, p + 1);
    }
    let last = -1;
    for (let t = 0; t < T; t++) {
      const valid = t < row.length && (batch.mask ? batch.mask[b]![t] !== 0 : true);
      const id = t < row.length ? row[t]! : 0;
      if (valid) {
        if (!Number.isInteger(id) || id < 0 || id >= spec.vocabSize) {
          throw new LapeError(
            `token id ${id} at sequence ${b}, position ${t} is outside the vocabulary (size ${spec.vocabSize})`,
          );
        }
        if (next >= spec.maxPositionEmbeddings) {
          throw new LapeError(
            `sequence ${b} is longer than the model's context (max_position_embeddings = ${spec.maxPositionEmbeddings})`,
          );
        }
        keyPos[P + t] = next;
        positions[b * T + t] = BigInt(next);
        tokenMask[b * T + t] = 1;
        next++;
        last = t;
      }
      ids[b * T + t] = BigInt(valid ? id : 0);
    }
    if (last < 0 && !past) throw new LapeError(`sequence ${b} has no valid tokens`);
    lastIndex[b] = BigInt(b * T + Math.max(last, 0));
    for (let t = 0; t + 1 < T; t++) {
      if (tokenMask[b * T + t] && tokenMask[b * T + t + 1]) {
        targets[b * T + t] = ids[b * T + t + 1]!;
        targetMask[b * T + t] = 1;
      }
    }
    // Query t sees key s iff the key is real, not in its future, and (windowed layers) i - j < window.
    // Plain loops: B·T·S entries per window (a closure per entry took 67 ms for 8 × 256 tokens).
    for (let n = 0; n < windows.length; n++) {
      const w = windows[n] ?? Infinity;
      const bias = biases[n]!;
      for (let t = 0; t < T; t++) {
        const q = keyPos[P + t]!;
        if (q < 0) continue;
        const base = (b * T + t) * S;
        for (let s = 0; s < S; s++) {
          const k = keyPos[s]!;
          if (k >= 0 && k <= q && q - k < w) bias[base + s] = 0;
        }
      }
    }
    keyPositions.set(keyPos, b * S);
    keyPositionsAfter.push(keyPos);
  }
  const attnBiases = new Map(windows.map((w, n) => [maskInputName(w), biases[n]!]));
  return { B, T, total: S, ids, positions, attnBiases, keyPositions, tokenMask, targets, targetMask, lastIndex, keyPositionsAfter };
}

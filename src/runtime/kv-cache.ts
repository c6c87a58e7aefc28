/**
 * Re-stacking KV caches so the batch of a running generation can change between decoding steps
 * (lape serve's continuous batching): sequences that finished leave, newly prefilled ones join.
 *
 * A cache holds per layer [B, nKV, past, hd] keys and values, left-padded: slot s of sequence b is
 * real when keyPositions[b][s] ≥ 0. Padding slots are masked by the attention bias whatever their
 * contents, so a sequence's cached keys can be moved right-aligned into a longer or shorter past
 * as long as their order and key positions travel with them.
 */
import * as ort from 'onnxruntime-node';
import { LapeError } from '../errors.js';
import type { KvCache } from './model.js';

/** One sequence of a cache: row `row` of `cache`. */
export interface CacheRow {
  cache: KvCache;
  row: number;
}

/** Slots before a row's first real key (its left padding). */
function leadingPadding(positions: Int32Array): number {
  let s = 0;
  while (s < positions.length && positions[s]! < 0) s++;
  return s;
}

/**
 * A new cache whose sequence b is rows[b] (from any caches of the same model), right-aligned in
 * the shortest past that holds every row's real keys: padding that no row needs is dropped.
 */
export function gatherCacheRows(rows: readonly CacheRow[]): KvCache {
  if (rows.length === 0) throw new LapeError('cannot build a KV cache of zero sequences');
  const first = rows[0]!.cache;
  const layers = first.keys.length;
  const [, nKV, , hd] = first.keys[0]!.dims as number[];
  const used = rows.map(({ cache, row }) => cache.length - leadingPadding(cache.keyPositions[row]!));
  const S = Math.max(...used);
  const B = rows.length;
  const keyPositions = rows.map(({ cache, row }, b) => {
    const out = new Int32Array(S).fill(-1);
    out.set(cache.keyPositions[row]!.subarray(cache.length - used[b]!), S - used[b]!);
    return out;
  });
  const restack = (pick: (c: KvCache) => ort.Tensor[], layer: number): ort.Tensor => {
    const dst = new Float32Array(B * nKV * S * hd);
    rows.forEach(({ cache, row }, b) => {
      const t = pick(cache)[layer]!;
      const dims = t.dims as number[];
      if (dims[1] !== nKV || dims[3] !== hd || dims[2] !== cache.length) throw new LapeError('KV caches of different shapes cannot be stacked');
      const src = t.data as Float32Array;
      const P = cache.length;
      const n = used[b]!;
      for (let h = 0; h < nKV; h++) {
        const from = ((row * nKV + h) * P + (P - n)) * hd;
        dst.set(src.subarray(from, from + n * hd), ((b * nKV + h) * S + (S - n)) * hd);
      }
    });
    return new ort.Tensor('float32', dst, [B, nKV, S, hd]);
  };
  return {
    keys: Array.from({ length: layers }, (_, l) => restack((c) => c.keys, l)),
    values: Array.from({ length: layers }, (_, l) => restack((c) => c.values, l)),
    length: S,
    keyPositions,
  };
}

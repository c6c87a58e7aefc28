/**
 * RS — random selection (paper §3.1 baseline): for each language and layer, as many neurons as a
 * given selection has there, drawn uniformly without replacement, independently per (language,
 * layer), from a seeded xoshiro128** stream (prng.ts). Draw order: languages in order, layers in
 * order, partial Fisher–Yates over 0..neurons−1 restarted from the identity for every draw.
 */
import { LapeError } from '../errors.js';
import type { NeuronMasks } from './types.js';
import { Xoshiro128 } from './prng.js';

export interface RandomOptions {
  /** Default 0. */
  seed?: number;
}

/** counts[lang][layer] neurons per language and layer, drawn from 0..neurons−1. */
export function randomMasks(
  languages: readonly string[],
  layers: number,
  neurons: number,
  counts: readonly (readonly number[])[],
  options: RandomOptions = {},
): NeuronMasks {
  const seed = options.seed ?? 0;
  if (counts.length !== languages.length) {
    throw new LapeError(`random selection: ${languages.length} languages but ${counts.length} count rows`);
  }
  const rng = new Xoshiro128(seed);
  const perm = new Int32Array(neurons);
  const masks = counts.map((row, k) => {
    if (row.length !== layers) {
      throw new LapeError(`random selection: language "${languages[k]}" has ${row.length} layer counts, expected ${layers}`);
    }
    return row.map((c, l) => {
      if (!(Number.isSafeInteger(c) && c >= 0 && c <= neurons)) {
        throw new LapeError(`random selection: language "${languages[k]}" layer ${l} asks for ${c} of ${neurons} neurons`);
      }
      for (let j = 0; j < neurons; j++) perm[j] = j;
      for (let i = 0; i < c; i++) {
        const r = i + rng.below(neurons - i);
        const t = perm[i]!;
        perm[i] = perm[r]!;
        perm[r] = t;
      }
      return Array.from(perm.subarray(0, c)).sort((a, b) => a - b);
    });
  });
  return {
    method: 'rs',
    languages: [...languages],
    layers,
    neurons,
    settings: { seed },
    masks,
  };
}

/** Random neurons with the same per-language per-layer sizes as `like`. */
export function selectRandom(like: NeuronMasks, options: RandomOptions = {}): NeuronMasks {
  const counts = like.masks.map((perLayer) => perLayer.map((idx) => idx.length));
  const out = randomMasks(like.languages, like.layers, like.neurons, counts, options);
  out.settings.sizesFrom = like.method;
  return out;
}

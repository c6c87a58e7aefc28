/**
 * NeuronMasks validation and summaries: per-layer counts, language totals, overlap, union size.
 * Neuron identity everywhere is the pair (layer, neuron index).
 */
import { LapeError } from '../errors.js';
import type { NeuronMasks } from './types.js';

/**
 * Checks that `value` is a well-formed NeuronMasks: a method name, ≥ 1 unique non-empty
 * language codes, positive integer layers and neurons, settings of numbers/strings/booleans,
 * masks[lang][layer] strictly ascending integers in [0, neurons). Returns it typed; errors name
 * `file`.
 */
export function validateMasks(value: unknown, file?: string): NeuronMasks {
  const fail = (msg: string): never => {
    throw new LapeError(msg, file);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('masks are not an object');
  const m = value as Partial<NeuronMasks>;
  if (typeof m.method !== 'string' || m.method.length === 0) fail('masks have no method name');
  if (!Array.isArray(m.languages) || m.languages.length === 0) fail('masks have no languages');
  const languages = m.languages as unknown[];
  const seen = new Set<string>();
  for (const lang of languages) {
    if (typeof lang !== 'string' || lang.length === 0) fail(`invalid language code ${JSON.stringify(lang)}`);
    if (seen.has(lang as string)) fail(`language "${lang}" appears twice`);
    seen.add(lang as string);
  }
  const { layers, neurons } = m;
  if (!Number.isSafeInteger(layers) || (layers as number) <= 0) fail(`invalid layer count ${JSON.stringify(layers)}`);
  if (!Number.isSafeInteger(neurons) || (neurons as number) <= 0) fail(`invalid neuron count ${JSON.stringify(neurons)}`);
  const settings = m.settings;
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) fail('masks have no settings object');
  for (const [k, v] of Object.entries(settings as object)) {
    if (!(typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)))) {
      fail(`setting "${k}" must be a finite number, a string or a boolean, got ${JSON.stringify(v) ?? String(v)}`);
    }
  }
  if (!Array.isArray(m.masks) || m.masks.length !== languages.length) {
    fail(`masks have ${Array.isArray(m.masks) ? m.masks.length : 'no'} language entries for ${languages.length} languages`);
  }
  m.masks!.forEach((perLayer, k) => {
    const lang = languages[k] as string;
    if (!Array.isArray(perLayer) || perLayer.length !== layers) {
      fail(`language "${lang}" has ${Array.isArray(perLayer) ? perLayer.length : 'no'} layers, expected ${layers}`);
    }
    perLayer.forEach((idx, l) => {
      if (!Array.isArray(idx)) fail(`language "${lang}" layer ${l} is not an array of neuron indices`);
      checkIndices(idx, neurons as number, `language "${lang}" layer ${l}`, file);
    });
  });
  return m as NeuronMasks;
}

/** Indices must be integers in [0, neurons), strictly ascending (sorted, no duplicates). */
export function checkIndices(idx: ArrayLike<number>, neurons: number, where: string, file?: string): void {
  let prev = -1;
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= neurons) {
      throw new LapeError(`${where}: neuron index ${JSON.stringify(v)} is not an integer in [0, ${neurons})`, file);
    }
    if (v <= prev) {
      throw new LapeError(
        `${where}: neuron indices must be strictly ascending (${prev} is followed by ${v}${v === prev ? ', a duplicate' : ''})`,
        file,
      );
    }
    prev = v;
  }
}

/** Throws when masks were made for a model of another shape. */
export function checkMasksFit(masks: NeuronMasks, layers: number, neurons: number, file?: string): void {
  if (masks.layers !== layers || masks.neurons !== neurons) {
    throw new LapeError(
      `masks are for a model with ${masks.layers} layers × ${masks.neurons} FFN neurons, but this model has ${layers} layers × ${neurons} FFN neurons`,
      file,
    );
  }
}

/** counts[lang][layer] = number of neurons of that language in that layer. */
export function layerCounts(masks: NeuronMasks): number[][] {
  return masks.masks.map((perLayer) => perLayer.map((idx) => idx.length));
}

/** Neurons per language (over all layers). */
export function languageTotals(masks: NeuronMasks): number[] {
  return masks.masks.map((perLayer) => perLayer.reduce((a, idx) => a + idx.length, 0));
}

/** Number of distinct (layer, neuron) pairs over all languages. */
export function uniqueNeuronCount(masks: NeuronMasks): number {
  let total = 0;
  const mark = new Uint8Array(masks.neurons);
  for (let l = 0; l < masks.layers; l++) {
    mark.fill(0);
    for (const perLayer of masks.masks) {
      for (const j of perLayer[l]!) {
        if (!mark[j]) {
          mark[j] = 1;
          total++;
        }
      }
    }
  }
  return total;
}

/** |A ∩ B| for two sorted index arrays. */
function intersectSize(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  let j = 0;
  let n = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x === y) {
      n++;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  return n;
}

/** inter[a][b] = |A ∩ B| (neurons shared by languages a and b; the diagonal is |A|). */
export function intersectionMatrix(masks: NeuronMasks): number[][] {
  const K = masks.languages.length;
  const out: number[][] = [];
  for (let a = 0; a < K; a++) {
    const row: number[] = [];
    for (let b = 0; b < K; b++) {
      let n = 0;
      for (let l = 0; l < masks.layers; l++) n += intersectSize(masks.masks[a]![l]!, masks.masks[b]![l]!);
      row.push(n);
    }
    out.push(row);
  }
  return out;
}

/**
 * overlap[a][b] = |A ∩ B| / |A| — the share of language a's neurons that language b also has
 * (the paper's overlap; not symmetric). NaN when language a has no neurons.
 */
export function overlapMatrix(masks: NeuronMasks): number[][] {
  const inter = intersectionMatrix(masks);
  return inter.map((row, a) => row.map((n) => (inter[a]![a]! > 0 ? n / inter[a]![a]! : NaN)));
}

/**
 * The same masks with every layer outside `layers` emptied (layer-restricted interventions: zero
 * or steer only the bottom or only the top layers' neurons). `layers` = sorted layer indices.
 */
export function restrictToLayers(masks: NeuronMasks, layers: readonly number[]): NeuronMasks {
  const keep = new Set(layers);
  return {
    ...masks,
    settings: { ...masks.settings, layers: layers.join(',') },
    masks: masks.masks.map((perLayer) => perLayer.map((idx, l) => (keep.has(l) ? idx : []))),
  };
}

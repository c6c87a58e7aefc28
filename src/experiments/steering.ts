/**
 * Intervention specs → neuron patches on hook_act (used by generate, steer-eval, ppl and the
 * library). The paper's steering (Tang et al. 2024, Tables 4–5) sets a target language's neurons
 * to that language's mean activation value at every position; lape also offers additive steering
 * and a difference-of-means variant, and zeroing (deactivating) a language's neurons.
 *
 * For a language L: neurons(L) = masks[L] (per layer), mean(L) = sum / tokens per neuron from L's
 * activation statistics (meanActivation).
 *   deactivate L              act[neurons(L)] = 0
 *   activate T, mode set      act[neurons(T)] = mean(T)                        (the paper)
 *   activate T, mode add      act[neurons(T)] += alpha · mean(T)
 *   activate T, mode diffmean act[neurons(T)] += alpha · (mean(T) − mean of mean(K) over the
 *                                                  other languages K with statistics)
 * Deactivations are applied before activations, so on a neuron in both sets the activation wins
 * (set → mean(T); add/diffmean → 0 + the added value). Several activated languages compose in
 * the order given.
 */
import { LapeError } from '../errors.js';
import type { NeuronPatch } from '../runtime/patches.js';
import type { NeuronMasks } from '../select/types.js';
import { meanActivation } from '../stats/stats-file.js';
import type { LangStats } from '../stats/types.js';

export type SteeringMode = 'set' | 'add' | 'diffmean';
export const STEERING_MODES: readonly SteeringMode[] = ['set', 'add', 'diffmean'];

export interface InterventionSpec {
  /** Languages whose neurons are zeroed. */
  deactivate?: string[];
  /** Languages whose neurons are steered towards their mean activation. */
  activate?: string[];
  /** How activation writes the neurons (default 'set', the paper's method). */
  mode?: SteeringMode;
  /** Scale of the added vector for 'add' and 'diffmean' (default 1); must be 1 for 'set'. */
  alpha?: number;
}

/** True when the spec changes nothing. */
export function isEmptySpec(spec: InterventionSpec): boolean {
  return (spec.activate?.length ?? 0) === 0 && (spec.deactivate?.length ?? 0) === 0;
}

/** A short human label, e.g. "-en +zh" or "+zh(add×2)". */
export function describeSpec(spec: InterventionSpec): string {
  const parts = [...(spec.deactivate ?? []).map((l) => `-${l}`)];
  const mode = spec.mode ?? 'set';
  const suffix = mode === 'set' ? '' : `(${mode}×${spec.alpha ?? 1})`;
  parts.push(...(spec.activate ?? []).map((l) => `+${l}${suffix}`));
  return parts.length ? parts.join(' ') : 'none';
}

function neuronsOf(masks: NeuronMasks, lang: string, what: string): number[][] {
  const k = masks.languages.indexOf(lang);
  if (k < 0) {
    throw new LapeError(`cannot ${what} "${lang}": the masks have no language "${lang}" (they have ${masks.languages.join(', ')})`);
  }
  const perLayer = masks.masks[k]!;
  if (perLayer.every((idx) => idx.length === 0)) {
    throw new LapeError(`cannot ${what} "${lang}": the masks give it no neurons (method ${masks.method})`);
  }
  return perLayer;
}

function statsOf(stats: LangStats[], lang: string, masks: NeuronMasks): LangStats {
  const s = stats.find((x) => x.lang === lang);
  if (!s) {
    const have = stats.map((x) => x.lang);
    throw new LapeError(
      `cannot activate "${lang}": no activation statistics for it (${have.length ? `statistics are for ${have.join(', ')}` : 'no statistics given'})`,
    );
  }
  if (s.tokens <= 0) throw new LapeError(`cannot activate "${lang}": its statistics hold zero tokens`);
  if (s.layers !== masks.layers || s.neurons !== masks.neurons) {
    throw new LapeError(
      `statistics for "${lang}" are for ${s.layers} layers × ${s.neurons} neurons, the masks for ${masks.layers} × ${masks.neurons}`,
    );
  }
  return s;
}

/** Checks a spec's shape (modes, alpha, duplicates); data-dependent checks happen in interventionPatches. */
export function validateSpec(spec: InterventionSpec): Required<InterventionSpec> {
  const mode = spec.mode ?? 'set';
  if (!STEERING_MODES.includes(mode)) throw new LapeError(`unknown steering mode "${mode}" (use ${STEERING_MODES.join(', ')})`);
  const alpha = spec.alpha ?? 1;
  if (!Number.isFinite(alpha)) throw new LapeError(`alpha must be a finite number, got ${alpha}`);
  if (mode === 'set' && alpha !== 1) throw new LapeError('alpha applies to modes add and diffmean, not set');
  const activate = spec.activate ?? [];
  const deactivate = spec.deactivate ?? [];
  for (const [name, list] of [['activate', activate], ['deactivate', deactivate]] as const) {
    if (new Set(list).size !== list.length) throw new LapeError(`a language is listed twice in ${name}: ${list.join(', ')}`);
  }
  return { activate, deactivate, mode, alpha };
}

/**
 * The patches that realise `spec` (deactivations first, then activations, layer by layer).
 * Errors name the language when it is missing from the masks, has no neurons, or (activation)
 * has no statistics.
 */
export function interventionPatches(spec: InterventionSpec, masks: NeuronMasks, stats: LangStats[] = []): NeuronPatch[] {
  const { activate, deactivate, mode, alpha } = validateSpec(spec);
  const I = masks.neurons;
  const patches: NeuronPatch[] = [];
  for (const lang of deactivate) {
    neuronsOf(masks, lang, 'deactivate').forEach((idx, layer) => {
      if (idx.length) patches.push({ layer, indices: idx, mode: 'zero' });
    });
  }
  for (const lang of activate) {
    const perLayer = neuronsOf(masks, lang, 'activate');
    const mean = meanActivation(statsOf(stats, lang, masks));
    let vector = mean;
    if (mode === 'diffmean') {
      const others = stats.filter((s) => s.lang !== lang);
      if (others.length === 0) throw new LapeError(`diffmean steering towards "${lang}" needs statistics of at least one other language`);
      const otherMean = new Float64Array(mean.length);
      for (const o of others) {
        const m = meanActivation(statsOf(stats, o.lang, masks));
        for (let i = 0; i < m.length; i++) otherMean[i] = otherMean[i]! + m[i]! / others.length;
      }
      vector = mean.map((v, i) => v - otherMean[i]!);
    }
    perLayer.forEach((idx, layer) => {
      if (!idx.length) return;
      const values = idx.map((j) => vector[layer * I + j]! * (mode === 'set' ? 1 : alpha));
      patches.push({ layer, indices: idx, mode: mode === 'set' ? 'set' : 'add', values });
    });
  }
  return patches;
}

/**
 * LAVE — language activation value entropy (paper §3.1 baseline): the LAPE pipeline with the
 * mean activation value of each neuron per language, v_k = sum_k / tokens_k (sum of hook_act,
 * i.e. after act_fn), in place of the activation probability.
 *
 * Negative means: SiLU/GELU outputs can be negative (SiLU ≥ −0.279), so a neuron that is mostly
 * off in a language can have a slightly negative mean. An entropy needs non-negative masses, so
 * lape clamps each mean to max(0, v_k) before the pipeline: a negative mean counts as "no
 * activation mass" in that language. The quantile bars are taken over the clamped values, and
 * settings.clampedMeans records how many (language, neuron) means were clamped.
 */
import { LapeError } from '../errors.js';
import type { LangStats } from '../stats/types.js';
import type { NeuronMasks } from './types.js';
import {
  checkScores,
  entropySettings,
  resolveEntropyOptions,
  selectByEntropy,
  type EntropySelectOptions,
  type EntropySelection,
} from './entropy.js';
import { checkStats } from './lape.js';

export type LaveOptions = EntropySelectOptions;

export interface LaveResult extends EntropySelection {
  result: NeuronMasks;
  languages: string[];
  /** Clamped mean activation per language (row-major [layer][neuron]). */
  means: Float64Array[];
}

/** max(0, sum_k / tokens_k) per language, and how many means were negative. */
export function clampedMeanActivations(stats: readonly LangStats[]): { means: Float64Array[]; clamped: number } {
  const { layers, neurons } = checkStats(stats, ['sum']);
  const n = layers * neurons;
  let clamped = 0;
  const means = stats.map((s) => {
    const m = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      const v = s.sum[j]! / s.tokens;
      if (!Number.isFinite(v)) {
        const layer = Math.floor(j / neurons);
        throw new LapeError(
          `statistics of language "${s.lang}": activation sum ${s.sum[j]} at layer ${layer}, neuron ${j - layer * neurons} is not finite`,
        );
      }
      if (v < 0) clamped++;
      m[j] = v > 0 ? v : 0;
    }
    return m;
  });
  return { means, clamped };
}

export function laveSelection(stats: readonly LangStats[], options: LaveOptions = {}): LaveResult {
  const opts = resolveEntropyOptions(options);
  const { means, clamped } = clampedMeanActivations(stats);
  const { layers, neurons } = stats[0]!;
  const languages = stats.map((s) => s.lang);
  checkScores(languages, means, layers, neurons, 'mean activations');
  const sel = selectByEntropy(means, layers, neurons, opts);
  const settings = entropySettings(opts, sel);
  settings.clampedMeans = clamped;
  for (const s of stats) settings[`tokens.${s.lang}`] = s.tokens;
  return {
    ...sel,
    languages,
    means,
    result: { method: 'lave', languages, layers, neurons, settings, masks: sel.masks },
  };
}

export function selectLave(stats: readonly LangStats[], options: LaveOptions = {}): NeuronMasks {
  return laveSelection(stats, options).result;
}

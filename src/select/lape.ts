/**
 * LAPE — language activation probability entropy (Tang et al., ACL 2024), as in DESIGN.md
 * "LAPE, exactly":
 *   P[i,j,k] = count_k[i,j] / tokens_k;  P' = P / Σ_k P (0/0 → 0);  H = −Σ_k P' ln P';
 *   filterBar = rank round(filterRate·L·I·K) (1-based) of all P ascending;  H = +∞ where max_k P ≤ filterBar;
 *   keep the round(L·I·topRate) lowest H of the whole model (ties → lower layer, then lower neuron);
 *   a kept neuron belongs to every language k with P[i,j,k] > activationBar (rank round(barRatio·L·I·K)).
 * See entropy.ts for the shared pipeline and its documented differences from the official code.
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

export type LapeOptions = EntropySelectOptions;

export interface LapeResult extends EntropySelection {
  /** The masks (method "lape"), with the knobs, bars and the threshold entropy in settings. */
  result: NeuronMasks;
  languages: string[];
}

/**
 * Validates a set of per-language statistics for selection: at least one language, unique
 * codes, the same layers × neurons everywhere, the named arrays of that length, tokens > 0.
 * Errors name the language.
 */
export function checkStats(
  stats: readonly LangStats[],
  fields: ReadonlyArray<'count' | 'sum'> = ['count'],
): { layers: number; neurons: number } {
  if (!Array.isArray(stats) || stats.length === 0) throw new LapeError('no language statistics given');
  const first = stats[0]!;
  const { layers, neurons } = first;
  if (!Number.isSafeInteger(layers) || layers <= 0 || !Number.isSafeInteger(neurons) || neurons <= 0) {
    throw new LapeError(`statistics of language "${first.lang}" have an invalid shape ${layers} × ${neurons}`);
  }
  const seen = new Set<string>();
  for (const s of stats) {
    if (typeof s.lang !== 'string' || s.lang.length === 0) throw new LapeError('statistics with an empty language code');
    if (seen.has(s.lang)) throw new LapeError(`language "${s.lang}" is given twice`);
    seen.add(s.lang);
    if (s.layers !== layers || s.neurons !== neurons) {
      throw new LapeError(
        `statistics of language "${s.lang}" are for ${s.layers} layers × ${s.neurons} neurons, but "${first.lang}" has ${layers} × ${neurons}`,
      );
    }
    if (!(typeof s.tokens === 'number' && s.tokens > 0 && Number.isFinite(s.tokens))) {
      throw new LapeError(`statistics of language "${s.lang}" have ${s.tokens} tokens (need > 0)`);
    }
    for (const name of fields) {
      const arr = s[name];
      if (!(arr instanceof Float64Array) || arr.length !== layers * neurons) {
        throw new LapeError(
          `statistics of language "${s.lang}": ${name} has ${arr?.length} values, expected ${layers} × ${neurons}`,
        );
      }
    }
  }
  return { layers, neurons };
}

/** P[k] = count_k / tokens_k per language (row-major [layer][neuron]); counts must lie in [0, tokens]. */
export function activationProbabilities(stats: readonly LangStats[]): Float64Array[] {
  const { layers, neurons } = checkStats(stats);
  const n = layers * neurons;
  return stats.map((s) => {
    const p = new Float64Array(n);
    const t = s.tokens;
    for (let j = 0; j < n; j++) {
      const c = s.count[j]!;
      if (!(c >= 0 && c <= t)) {
        const layer = Math.floor(j / neurons);
        throw new LapeError(
          `statistics of language "${s.lang}": count ${c} at layer ${layer}, neuron ${j - layer * neurons} is outside [0, ${t} tokens]`,
        );
      }
      p[j] = c / t;
    }
    return p;
  });
}

/** LAPE with everything the report needs: entropy per neuron (+∞ = filtered out), bars, cut. */
export function lapeSelection(stats: readonly LangStats[], options: LapeOptions = {}): LapeResult {
  const opts = resolveEntropyOptions(options);
  const probs = activationProbabilities(stats);
  const { layers, neurons } = stats[0]!;
  const languages = stats.map((s) => s.lang);
  checkScores(languages, probs, layers, neurons, 'activation probabilities');
  const sel = selectByEntropy(probs, layers, neurons, opts);
  const settings = entropySettings(opts, sel);
  for (const s of stats) settings[`tokens.${s.lang}`] = s.tokens;
  return {
    ...sel,
    languages,
    result: { method: 'lape', languages, layers, neurons, settings, masks: sel.masks },
  };
}

/** LAPE language-specific neurons (DESIGN.md "LAPE, exactly"). */
export function selectLape(stats: readonly LangStats[], options: LapeOptions = {}): NeuronMasks {
  return lapeSelection(stats, options).result;
}

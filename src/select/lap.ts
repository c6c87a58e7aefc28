/**
 * LAP — language activation probability (paper §3.1 baseline): a neuron is specific to language k
 * when its activation probability in k is above an absolute threshold, p = count_k / tokens_k >
 * threshold (default 0.95). A neuron may belong to several languages; no entropy, no quantiles.
 */
import { ParamError } from '../errors.js';
import type { LangStats } from '../stats/types.js';
import type { NeuronMasks } from './types.js';
import { activationProbabilities } from './lape.js';

export interface LapOptions {
  /** Absolute activation-probability threshold in [0, 1); a neuron needs p > threshold. Default 0.95. */
  threshold?: number;
}

export function selectLap(stats: readonly LangStats[], options: LapOptions = {}): NeuronMasks {
  const threshold = options.threshold ?? 0.95;
  if (typeof threshold !== 'number' || !(threshold >= 0 && threshold < 1)) {
    throw new ParamError(`LAP threshold must be a number in [0, 1), got ${String(threshold)}`, 'threshold');
  }
  const probs = activationProbabilities(stats);
  const { layers, neurons } = stats[0]!;
  const masks = probs.map((p) => {
    const perLayer: number[][] = [];
    for (let l = 0; l < layers; l++) {
      const row: number[] = [];
      const base = l * neurons;
      for (let j = 0; j < neurons; j++) if (p[base + j]! > threshold) row.push(j);
      perLayer.push(row);
    }
    return perLayer;
  });
  const settings: Record<string, number | string | boolean> = { threshold };
  for (const s of stats) settings[`tokens.${s.lang}`] = s.tokens;
  return { method: 'lap', languages: stats.map((s) => s.lang), layers, neurons, settings, masks };
}

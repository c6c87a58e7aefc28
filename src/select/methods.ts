/**
 * The selection methods that work from statistics alone, by name: one dispatch for lape identify
 * and lape stability, so both select with the same code and knobs.
 */
import type { LangStats } from '../stats/types.js';
import type { EntropySelectOptions } from './entropy.js';
import { selectLap } from './lap.js';
import { selectLape } from './lape.js';
import { selectLave } from './lave.js';
import type { NeuronMasks } from './types.js';

export const STATS_METHODS = ['lape', 'lap', 'lave'] as const;
export type StatsMethod = (typeof STATS_METHODS)[number];

export interface MethodOptions extends EntropySelectOptions {
  /** LAP's absolute activation-probability threshold (default 0.95). */
  threshold?: number;
}

/** LAPE, LAP or LAVE on per-language statistics. */
export function selectWithMethod(method: StatsMethod, stats: readonly LangStats[], opts: MethodOptions = {}): NeuronMasks {
  if (method === 'lap') return selectLap(stats, { threshold: opts.threshold });
  const entropy = { topRate: opts.topRate, filterRate: opts.filterRate, barRatio: opts.barRatio };
  return method === 'lave' ? selectLave(stats, entropy) : selectLape(stats, entropy);
}

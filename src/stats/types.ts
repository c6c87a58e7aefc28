import type { StatsBlocks } from './blocks.js';

/**
 * Activation statistics of one language over the FFN neurons of a model.
 * Arrays are row-major [layer][neuron], length layers * neurons. Float64 so that sums over
 * billions of tokens stay exact for counts (integers up to 2^53) and accurate for sums.
 */
export interface LangStats {
  lang: string;
  layers: number;
  neurons: number;
  /** Number of tokens recorded (the denominator of p). */
  tokens: number;
  /** count(hook_act > 0) per neuron. */
  count: Float64Array;
  /** sum(hook_act) per neuron. */
  sum: Float64Array;
  /** sum(hook_act^2) per neuron. */
  sumSq: Float64Array;
  /** Provenance (model config hash, tokenizer hash, corpus sha256, seq len, lape version, ...). */
  meta: Record<string, string>;
  /** The same statistics per block of chunks (blocks.ts), when recorded with blocks and loaded with them. */
  blocks?: StatsBlocks;
}

/** Neuron-selection knobs (identify, sweep, demo), validated by the library (src/select/entropy.ts). */
import { DEFAULT_BAR_RATIO, DEFAULT_FILTER_RATE, DEFAULT_TOP_RATE } from '../../select/entropy.js';
import { opt } from '../options/option.js';

export const TOP_RATE = opt.float('top-rate', { default: DEFAULT_TOP_RATE, help: 'share of all neurons to select, in (0, 1]', param: 'topRate' });
export const FILTER_RATE = opt.float('filter-rate', { default: DEFAULT_FILTER_RATE, help: 'quantile a neuron must exceed in some language (LAPE filter_rate)', param: 'filterRate' });
export const BAR_RATIO = opt.float('bar-ratio', {
  default: DEFAULT_BAR_RATIO,
  help: 'quantile a language must exceed to own a selected neuron (LAPE activation_bar_ratio)',
  param: 'barRatio',
});
export const LAP_THRESHOLD = opt.float('threshold', { default: 0.95, help: 'absolute activation probability a language needs', param: 'threshold' });
export const RESAMPLES = opt.int('resamples', { min: 2, default: 20, help: 'bootstrap resamples of blocks per budget' });

/**
 * Recording options shared by lape record and lape slurm (which passes them on to the record
 * tasks it writes): declared once here.
 */
import { BATCH_SIZE, BOS } from './common.js';
import { DEFAULT_MAX_BLOCKS } from '../../stats/blocks.js';
import { opt, variant } from '../options/option.js';

export const TOKENS = opt.int('tokens', { help: 'use the first N tokens of the corpus', defaultText: 'all' });
export const RECORD_BOS = variant(BOS, {});
export const RECORD_BATCH = variant(BATCH_SIZE, { help: 'chunks per forward pass', defaultText: '2048 tokens per pass' });
export const BLOCKS = opt.int('blocks', {
  min: 0,
  default: DEFAULT_MAX_BLOCKS,
  help: 'keep the statistics also per block of chunks, at most N blocks (even, ≥ 4; 0 = totals only), for lape stability',
});

/**
 * Recording options shared by lape record and lape slurm (which passes them on to the record
 * tasks it writes): declared once here.
 */
import { BATCH_SIZE, BOS } from './common.js';
import { opt, variant } from '../options/option.js';

export const TOKENS = opt.int('tokens', { help: 'use the first N tokens of the corpus', defaultText: 'all' });
export const RECORD_BOS = variant(BOS, {});
export const RECORD_BATCH = variant(BATCH_SIZE, { help: 'chunks per forward pass', defaultText: '2048 tokens per pass' });

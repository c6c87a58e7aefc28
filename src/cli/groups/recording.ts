/**
 * Recording options shared by lape record and lape slurm (which passes them on to the record
 * tasks it writes): declared once here.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LapeError } from '../../errors.js';
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

/** A corpus folder with one file per language and split (lape slurm, lape record-langs). */
export const CORPUS_DIR = opt.path('corpus-dir', { metavar: 'DIR', required: true, io: { role: 'in', reads: ['.txt', '.gz'] }, help: 'corpus folder with LANG.SPLIT.txt (or .txt.gz) per language' });
export const SPLIT = opt.string('split', { metavar: 'NAME', default: 'train', help: 'the SPLIT of the corpus file names' });

/** DIR/LANG.SPLIT.txt or .txt.gz; a clear error naming the folder when neither exists. */
export function corpusFileFor(dir: string, lang: string, split: string): string {
  const f = [`${lang}.${split}.txt`, `${lang}.${split}.txt.gz`].map((n) => join(dir, n)).find((p) => existsSync(p));
  if (!f) throw new LapeError(`no ${split} text for language "${lang}" (${lang}.${split}.txt or .txt.gz)`, dir);
  return f;
}

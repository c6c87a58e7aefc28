/** `lape stability`: how stable the selected neurons are at each token budget, from statistics with blocks. */
import { LapeError, usageError } from '../../errors.js';
import { STATS_METHODS, type StatsMethod } from '../../select/methods.js';
import { STABILITY_CSV_HEADER, STABILITY_TARGETS, selectionStability, stabilityCsvRows, checkBlocked } from '../../select/stability.js';
import { expandStatsPaths, loadStatsSet } from '../../stats/stats-file.js';
import { toCsv } from '../../util/csv.js';
import type { Command } from '../command.js';
import { SEED, STATS } from '../groups/common.js';
import { outputGroup, writeResults } from '../groups/output.js';
import { BAR_RATIO, FILTER_RATE, LAP_THRESHOLD, RESAMPLES, TOP_RATE } from '../groups/selection.js';
import { OptionValueError, group, opt, requiredOption, variant } from '../options/option.js';
import { Progress } from '../progress.js';

const ST_STATS = variant(requiredOption(STATS), { help: 'statistics with blocks (lape record, record-langs, merge): a folder of LANG.safetensors, or files' });
const METHODS = opt.list<StatsMethod>('methods', {
  metavar: 'M,...',
  default: [...STATS_METHODS],
  defaultText: STATS_METHODS.join(','),
  help: `selection methods, of ${STATS_METHODS.join(', ')} (the same code and knobs as lape identify)`,
  item: (raw) => {
    if (!(STATS_METHODS as readonly string[]).includes(raw)) throw new OptionValueError(`must be one of ${STATS_METHODS.join(', ')}`);
    return raw as StatsMethod;
  },
});
const ST_SEED = variant(SEED, { help: 'seed of the bootstrap resamples' });
const ST_THRESHOLD = variant(LAP_THRESHOLD, { help: 'LAP: absolute activation probability a language needs' });
const { group: OUTPUT, out: OUT } = outputGroup([
  { name: 'stability.json', format: 'lape-stability' },
  { name: 'stability.csv', format: 'csv:method,' },
]);

export const stabilityCommand: Command = {
  name: 'stability',
  summary: 'Selection stability against the token budget: bootstrap resamples of recorded blocks, Jaccard with the full selection',
  options: [group('Stability', ST_STATS, METHODS, RESAMPLES, ST_SEED, TOP_RATE, FILTER_RATE, BAR_RATIO, ST_THRESHOLD), OUTPUT],
  notes: [
    'Budgets: powers of two tokens per language, from the largest block up to the shortest language\'s recording, and that recording.',
    'Per budget: B resamples of blocks drawn with replacement until the budget is reached, selected like lape identify; Jaccard',
    'over (language, layer, neuron) with the selection on everything recorded, and between resamples; neurons per language.',
  ],
  examples: [
    'lape stability --stats out/stats --out out',
    'lape stability --stats out/stats --methods lape --resamples 50 --top-rate 0.05 --out out',
  ],
  async run(ctx) {
    const paths = ctx.get(ST_STATS);
    const files = expandStatsPaths(paths);
    const stats = loadStatsSet(paths, { blocks: true });
    if (stats.length < 2) throw new LapeError(`stability needs statistics of at least two languages, got ${stats.length}`, files.join(', '));
    checkBlocked(stats, files);
    const methods = [...new Set(ctx.get(METHODS))];
    if (methods.length === 0) throw usageError('--methods names no method');
    const progress = new Progress({ label: 'stability', unit: 'budgets', quiet: ctx.quiet });
    const result = selectionStability(stats, {
      methods,
      selection: { topRate: ctx.get(TOP_RATE), filterRate: ctx.get(FILTER_RATE), barRatio: ctx.get(BAR_RATIO), ...(methods.includes('lap') ? { threshold: ctx.get(ST_THRESHOLD) } : {}) },
      resamples: ctx.get(RESAMPLES),
      seed: ctx.get(ST_SEED),
      onBudget: (done) => progress.update(done),
    });
    progress.finish();
    for (const m of methods) {
      const parts = STABILITY_TARGETS.map((t) => {
        const b = result.reached[m][String(t)]!.mean;
        return `Jaccard ${t}: ${b === null ? `not reached within ${result.shortest.tokens} tokens (${result.shortest.lang} ran out first)` : `${b} tokens per language`}`;
      });
      ctx.log(`${m}: ${parts.join('; ')}`);
    }
    const dir = ctx.get(OUT);
    const written = await writeResults(ctx, dir, {
      'stability.json': JSON.stringify(result, null, 2) + '\n',
      'stability.csv': toCsv([...STABILITY_CSV_HEADER], stabilityCsvRows(result)),
    });
    return { out: dir, files: written.paths, report: written.report, reached: result.reached, shortest: result.shortest, budgets: [...new Set(result.rows.map((r) => r.budget))] };
  },
};

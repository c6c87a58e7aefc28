/**
 * `lape sweep`: PPL change as a function of the LAPE selection ratio for one language's neurons
 * (paper Fig. 4) → sweep.json + sweep.csv (docs/outputs.md).
 */
import { REPORT_DETAIL, REPORT_FLAGS, refreshReport } from '../report-refresh.js';
import { toCsv } from '../../util/csv.js';
import { textTable } from '../tables.js';
import { join } from 'node:path';
import { usageError } from '../../errors.js';
import { checkLanguageSets } from '../../experiments/ppl-eval-sets.js';
import { checkRatios, ratioSweep, type SweepResult } from '../../experiments/sweep.js';
import { DEFAULT_BAR_RATIO, DEFAULT_FILTER_RATE } from '../../select/entropy.js';
import { loadStatsSet } from '../../stats/stats-file.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { LAPE_VERSION } from '../../version.js';
import type { Command } from '../command.js';
import { bool, list, num, required, str } from '../flags.js';
import {
  DEFAULT_OUT,
  EVAL_DETAILS,
  EVAL_FLAGS,
  evalFacts,
  evalFlags,
  evalSettings,
  evalSpecsFromFlags,
  loadEvalSetsFor,
  modelFacts,
  openModel,
  chunkProgress,
  seedFromFlags,
} from './ppl.js';

export const DEFAULT_RATIOS = [0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1];

export const SWEEP_FORMAT = 'lape-sweep';
export const SWEEP_VERSION = 1;

export function sweepCsv(r: SweepResult): string {
  const L = r.evalLanguages;
  const header: string[] = ['ratio', 'selected', 'neurons_deactivated', ...L.map((l) => `ppl_${l}`), ...L.map((l) => `change_${l}`)];
  if (r.randomControl) header.push('random_neurons', ...L.map((l) => `random_ppl_${l}`), ...L.map((l) => `random_change_${l}`));
  const rows: Array<Array<string | number | null>> = [header];
  for (const row of r.rows) {
    const line: Array<string | number | null> = [
      row.ratio,
      row.selected,
      row.neuronsDeactivated,
      ...L.map((l) => row.ppl[l]!),
      ...L.map((l) => row.change[l]!),
    ];
    if (r.randomControl) {
      const rnd = row.random!;
      line.push(rnd.neuronsDeactivated, ...L.map((l) => rnd.ppl[l]!), ...L.map((l) => rnd.change[l]!));
    }
    rows.push(line);
  }
  return toCsv(rows[0]!.map(String), rows.slice(1));
}

export function sweepTable(r: SweepResult): string[] {
  const L = r.evalLanguages;
  const body: string[][] = [['none (PPL)', '0', ...L.map((l) => r.baseline.ppl[l]!.toFixed(3))]];
  const sgn = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(3)}` : String(x));
  for (const row of r.rows) {
    body.push([String(row.ratio), String(row.neuronsDeactivated), ...L.map((l) => sgn(row.change[l]!))]);
    if (row.random) body.push([`  random`, String(row.random.neuronsDeactivated), ...L.map((l) => sgn(row.random!.change[l]!))]);
  }
  return [
    `PPL change when the "${r.lang}" LAPE neurons selected at each ratio are zeroed; columns: evaluated language`,
    ...textTable(['ratio', 'neurons', ...L], body),
  ];
}

export const sweepCommand: Command = {
  name: 'sweep',
  summary: 'Ratio sweep: PPL change vs LAPE selection ratio for one language\'s neurons (sweep.json, sweep.csv)',
  usage: 'lape sweep --model DIR --stats DIR|FILES --lang LANG (--eval LANG=FILE ... | --eval-dir DIR) [options]',
  details: [
    '--model DIR                  Hugging Face checkpoint folder',
    '--stats DIR|FILE,...         statistics recorded by lape record (a folder of <lang>.safetensors, or files)',
    '--lang LANG                  the language whose neurons are deactivated',
    `--ratios 0,0.01,...          selection ratios (LAPE top_rate; 0 = nothing; default ${DEFAULT_RATIOS.join(',')})`,
    `--filter-rate F              LAPE filter_rate (default ${DEFAULT_FILTER_RATE})`,
    `--bar-ratio F                LAPE activation_bar_ratio (default ${DEFAULT_BAR_RATIO})`,
    ...EVAL_DETAILS,
    REPORT_DETAIL,
  ],
  examples: [
    'lape sweep --model models/tiny-multilingual --stats lape-out/stats --lang fr --eval-dir data/corpus',
    'lape sweep --model DIR --stats stats/ --lang zh --ratios 0,0.005,0.01,0.02 --eval zh=zh.txt --eval en=en.txt --random-control',
  ],
  flags: {
    ...EVAL_FLAGS,
    ...REPORT_FLAGS,
    stats: { type: 'string', multiple: true },
    lang: { type: 'string' },
    ratios: { type: 'string', multiple: true },
    'filter-rate': { type: 'string' },
    'bar-ratio': { type: 'string' },
  },
  async run(ctx) {
    const statsPaths = list(ctx, 'stats');
    if (statsPaths.length === 0) throw usageError('--stats is required');
    const lang = required(ctx, 'lang');
    const ratioTexts = list(ctx, 'ratios');
    const ratios = ratioTexts.length
      ? ratioTexts.map((t) => {
          const n = Number(t);
          if (t.trim() === '' || !Number.isFinite(n)) throw usageError(`--ratios must be numbers, got "${t}"`);
          return n;
        })
      : DEFAULT_RATIOS;
    checkRatios(ratios);
    const rate = (name: string, fallback: number): number =>
      num(ctx, name, fallback, (n) => (n >= 0 && n < 1 ? null : 'must be in [0, 1)'));
    const filterRate = rate('filter-rate', DEFAULT_FILTER_RATE);
    const barRatio = rate('bar-ratio', DEFAULT_BAR_RATIO);
    const out = str(ctx, 'out') ?? DEFAULT_OUT;
    const randomControl = bool(ctx, 'random-control');
    const seed = seedFromFlags(ctx);
    const flags = evalFlags(ctx);
    required(ctx, 'model');
    const stats = loadStatsSet(statsPaths);
    const statsWhat = statsPaths.join(', ');
    const statsLangs = stats.map((s) => s.lang);
    const specs = evalSpecsFromFlags(ctx, statsLangs);
    checkLanguageSets(statsLangs, specs.map((s) => s.lang), [lang], statsWhat);
    const model = openModel(ctx);
    try {
      const settings = evalSettings(flags, model.spec);
      const sets = await loadEvalSetsFor(model, specs, settings);
      const t0 = Date.now();
      const bar = chunkProgress(ctx, `sweep ${lang}`, sets, 1 + ratios.length * (randomControl ? 2 : 1));
      const r = await ratioSweep(model, stats, sets, {
        lang,
        ratios,
        filterRate,
        barRatio,
        batchSize: settings.batchSize,
        randomControl,
        seed,
        statsWhat,
        onChunks: (n) => bar.add(n),
      });
      bar.finish();
      const doc = {
        format: SWEEP_FORMAT,
        version: SWEEP_VERSION,
        lape_version: LAPE_VERSION,
        model: modelFacts(model),
        stats: stats.map((s) => ({ lang: s.lang, tokens: s.tokens })),
        statsFiles: statsPaths,
        settings: { ...settings, lang, ratios, filterRate, barRatio, randomControl, seed: randomControl ? seed : null },
        eval: evalFacts(sets, r.baseline.tokens),
        evalLanguages: r.evalLanguages,
        baseline: { nll: r.baseline.nll, ppl: r.baseline.ppl },
        rows: r.rows,
      };
      const jsonPath = join(out, 'sweep.json');
      const csvPath = join(out, 'sweep.csv');
      const jsonText = JSON.stringify(doc, null, 2) + '\n';
      const csvText = sweepCsv(r);
      writeFileAtomic(jsonPath, jsonText);
      writeFileAtomic(csvPath, csvText);
      for (const line of sweepTable(r)) ctx.log(line);
      ctx.log(`wrote ${jsonPath}, ${csvPath} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      await refreshReport(ctx, out);
      return { files: [jsonPath, csvPath], ...doc };
    } finally {
      await model.release();
    }
  },
};

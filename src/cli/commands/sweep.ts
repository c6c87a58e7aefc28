/**
 * `lape sweep`: PPL change as a function of the LAPE selection ratio for one language's neurons
 * (paper Fig. 4) → sweep.json + sweep.csv (docs/outputs.md).
 */
import { toCsv } from '../../util/csv.js';
import { textTable } from '../tables.js';
import { checkLanguageSets } from '../../experiments/ppl-eval-sets.js';
import { checkRatios, ratioSweep, type SweepResult } from '../../experiments/sweep.js';
import { resolveEntropyOptions } from '../../select/entropy.js';
import { loadStatsSet } from '../../stats/stats-file.js';
import { LAPE_VERSION } from '../../version.js';
import type { Command } from '../command.js';
import { LAYERS, STATS, layersText, resolveLayers } from '../groups/common.js';
import { EVAL_GROUP, EVAL_ONE_OF, RANDOM_GROUP, chunkProgress, controlSeed, evalFacts, evalSettings, evalSpecsFromFlags, loadEvalSetsFor } from '../groups/eval.js';
import { MODEL_GROUP, modelFacts, withModel } from '../groups/model.js';
import { outputGroup, writeResults } from '../groups/output.js';
import { BAR_RATIO, FILTER_RATE } from '../groups/selection.js';
import { OptionValueError, group, opt, requiredOption } from '../options/option.js';

const { group: OUTPUT_GROUP, out: OUT_DIR } = outputGroup([{ name: 'sweep.json', format: 'lape-sweep' }, { name: 'sweep.csv', format: 'csv:ratio,' }]);

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

const SWEEP_STATS = requiredOption(STATS);
const SWEEP_LANG = opt.string('lang', { metavar: 'LANG', required: true, help: 'the language whose neurons are deactivated' });
const RATIOS = opt.list<number>('ratios', {
  metavar: 'R,...',
  help: 'selection ratios (LAPE top_rate; 0 = nothing)',
  default: DEFAULT_RATIOS,
  param: 'ratios',
  item: (raw) => {
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new OptionValueError('must be numbers');
    return n;
  },
});

export const sweepCommand: Command = {
  name: 'sweep',
  summary: 'Ratio sweep: PPL change vs LAPE selection ratio for one language\'s neurons (sweep.json, sweep.csv)',
  options: [group('Selection', SWEEP_STATS, SWEEP_LANG, RATIOS, FILTER_RATE, BAR_RATIO, LAYERS), MODEL_GROUP, EVAL_GROUP, RANDOM_GROUP, OUTPUT_GROUP],
  oneOf: [EVAL_ONE_OF],
  examples: [
    'lape sweep --model models/tiny-multilingual --stats lape-out/stats --lang fr --eval-dir data/corpus',
    'lape sweep --model DIR --stats stats/ --lang zh --ratios 0,0.005,0.01,0.02 --eval zh=zh.txt --eval en=en.txt --random-control',
  ],
  async run(ctx) {
    const statsPaths = ctx.get(SWEEP_STATS);
    const lang = ctx.get(SWEEP_LANG);
    const ratios = ctx.get(RATIOS);
    checkRatios(ratios);
    const { filterRate, barRatio } = resolveEntropyOptions({ filterRate: ctx.get(FILTER_RATE), barRatio: ctx.get(BAR_RATIO) });
    const out = ctx.get(OUT_DIR);
    const { randomControl, seed } = controlSeed(ctx);
    const stats = loadStatsSet(statsPaths);
    const statsWhat = statsPaths.join(', ');
    const statsLangs = stats.map((s) => s.lang);
    const specs = evalSpecsFromFlags(ctx, statsLangs);
    checkLanguageSets(statsLangs, specs.map((s) => s.lang), [lang], statsWhat);
    return withModel(ctx, async (model) => {
      const settings = evalSettings(ctx, model.spec);
      const layerSel = ctx.get(LAYERS);
      const layers = layerSel ? resolveLayers(layerSel, model.spec.numLayers) : undefined;
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
        layers,
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
        settings: { ...settings, lang, ratios, filterRate, barRatio, randomControl, seed: randomControl ? seed : null, layers: layers ?? null, layerSpec: layerSel ? layersText(layerSel) : null },
        eval: evalFacts(sets, r.baseline.tokens),
        evalLanguages: r.evalLanguages,
        baseline: { nll: r.baseline.nll, ppl: r.baseline.ppl },
        rows: r.rows,
      };
      for (const line of sweepTable(r)) ctx.log(line);
      const { paths } = await writeResults(ctx, out, { 'sweep.json': JSON.stringify(doc, null, 2) + '\n', 'sweep.csv': sweepCsv(r) }, ` (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      return { files: paths, ...doc };
    });
  },
};

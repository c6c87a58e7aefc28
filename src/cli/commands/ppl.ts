/**
 * `lape ppl`: the deactivation perplexity matrix → ppl.json + ppl.csv (docs/outputs.md).
 */
import { toCsv } from '../../util/csv.js';
import { textTable } from '../tables.js';
import { diagonalDominance, pplMatrix, type PplMatrix } from '../../experiments/deactivation.js';
import { checkLanguageSets } from '../../experiments/ppl-eval-sets.js';
import { loadMasks } from '../../select/masks-io.js';
import { checkMasksFit } from '../../select/masks.js';
import { LAPE_VERSION } from '../../version.js';
import type { Command } from '../command.js';
import { EVAL_GROUP, EVAL_ONE_OF, RANDOM_GROUP, chunkProgress, controlSeed, evalFacts, evalSettings, evalSpecsFromFlags, loadEvalSetsFor } from '../groups/eval.js';
import { MODEL_GROUP, modelFacts, withModel } from '../groups/model.js';
import { outputGroup, writeResults } from '../groups/output.js';
import { MASKS } from '../groups/common.js';
import { group, opt, requiredOption } from '../options/option.js';

const { group: OUTPUT_GROUP, out: OUT_DIR } = outputGroup([{ name: 'ppl.json', format: 'lape-ppl' }, { name: 'ppl.csv', format: 'csv:row,' }]);

const PPL_MASKS = requiredOption(MASKS);
const DEACTIVATE_ROWS = opt.list('deactivate', { metavar: 'L,...', help: 'languages whose neurons get a row', defaultText: 'every masks language' });

const signed = (x: number, digits: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(digits)}` : String(x));

export function pplTable(m: PplMatrix): string[] {
  const header = ['deactivated', 'neurons', ...m.evalLanguages];
  const none = m.rows.find((r) => r.kind === 'none')!;
  const body: string[][] = [['none (PPL)', '0', ...m.evalLanguages.map((l) => none.ppl[l]!.toFixed(3))]];
  for (const r of m.rows) {
    if (r.kind === 'none') continue;
    body.push([r.id, String(r.neurons), ...m.evalLanguages.map((l) => signed(r.change[l]!, 3))]);
  }
  return [
    'PPL change (PPL − PPL without deactivation); rows: deactivated neurons, columns: evaluated language',
    ...textTable(header, body),
  ];
}

export const PPL_FORMAT = 'lape-ppl';
export const PPL_VERSION = 1;

export function pplCsv(m: PplMatrix): string {
  const none = m.rows.find((r) => r.kind === 'none')!;
  const rows: Array<Array<string | number | null>> = [
    ['row', 'kind', 'deactivated', 'neurons', 'eval_lang', 'tokens', 'nll', 'ppl', 'ppl_none', 'change', 'ppl_ratio'],
  ];
  for (const r of m.rows) {
    for (const l of m.evalLanguages) {
      rows.push([r.id, r.kind, r.lang, r.neurons, l, m.tokens[l]!, r.nll[l]!, r.ppl[l]!, none.ppl[l]!, r.change[l]!, r.pplRatio[l]!]);
    }
  }
  return toCsv(rows[0]!.map(String), rows.slice(1));
}

export const pplCommand: Command = {
  name: 'ppl',
  summary: 'Perplexity matrix: zero each language\'s neurons, measure PPL on every language (ppl.json, ppl.csv)',
  options: [group('Neurons', PPL_MASKS, DEACTIVATE_ROWS), MODEL_GROUP, EVAL_GROUP, RANDOM_GROUP, OUTPUT_GROUP],
  oneOf: [EVAL_ONE_OF],
  examples: [
    'lape ppl --model models/tiny-multilingual --masks lape-out/masks.json --eval-dir data/corpus --random-control',
    'lape ppl --model ~/models/Qwen2.5-0.5B --masks masks.json --eval en=en.valid.txt --eval zh=zh.valid.txt --seq-len 512 --max-chunks 20',
  ],
  async run(ctx) {
    const masksFile = ctx.get(PPL_MASKS);
    const out = ctx.get(OUT_DIR);
    const { randomControl, seed } = controlSeed(ctx);
    const masks = loadMasks(masksFile);
    const specs = evalSpecsFromFlags(ctx, masks.languages);
    return withModel(ctx, async (model) => {
      const settings = evalSettings(ctx, model.spec);
      checkMasksFit(masks, model.spec.numLayers, model.spec.intermediateSize, masksFile);
      const rows = ctx.get(DEACTIVATE_ROWS);
      const deactivate = rows.length ? rows : [...masks.languages];
      checkLanguageSets(masks.languages, specs.map((s) => s.lang), deactivate, masksFile);
      const sets = await loadEvalSetsFor(model, specs, settings);
      const t0 = Date.now();
      const bar = chunkProgress(ctx, 'ppl', sets, 1 + deactivate.length * (randomControl ? 2 : 1));
      const m = await pplMatrix(model, masks, sets, {
        batchSize: settings.batchSize,
        randomControl,
        seed,
        deactivate,
        masksFile,
        onChunks: (n) => bar.add(n),
      });
      bar.finish();
      const doc = {
        format: PPL_FORMAT,
        version: PPL_VERSION,
        lape_version: LAPE_VERSION,
        model: modelFacts(model),
        masks: { file: masksFile, method: masks.method, languages: masks.languages, settings: masks.settings },
        settings: { ...settings, randomControl, seed: randomControl ? seed : null },
        eval: evalFacts(sets, m.tokens),
        evalLanguages: m.evalLanguages,
        deactivated: m.deactivated,
        rows: m.rows,
        dominance: diagonalDominance(m),
      };
      for (const line of pplTable(m)) ctx.log(line);
      const { paths } = await writeResults(ctx, out, { 'ppl.json': JSON.stringify(doc, null, 2) + '\n', 'ppl.csv': pplCsv(m) }, ` (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      return { files: paths, ...doc };
    });
  },
};

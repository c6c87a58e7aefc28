/**
 * `lape ppl`: the deactivation perplexity matrix → ppl.json + ppl.csv (docs/outputs.md).
 */
import { basename } from 'node:path';
import { toCsv } from '../../util/csv.js';
import { textTable } from '../tables.js';
import { diagonalDominance, pplMatrix, type PplMatrix } from '../../experiments/deactivation.js';
import { checkLanguageSets, columnsWithoutRows } from '../../experiments/ppl-eval-sets.js';
import { loadMasks } from '../../select/masks-io.js';
import { checkMasksFit } from '../../select/masks.js';
import type { NeuronMasks } from '../../select/types.js';
import { LAPE_VERSION } from '../../version.js';
import { usageError } from '../../errors.js';
import type { Command } from '../command.js';
import { EVAL_GROUP, EVAL_ONE_OF, MEASURE, PPL_RANDOM_GROUP, RANDOM_SEEDS, chunkProgress, controlSeed, evalFacts, evalSettings, evalSpecsFromFlags, loadEvalSetsFor, type Measure } from '../groups/eval.js';
import { MODEL_GROUP, modelFacts, withModel } from '../groups/model.js';
import { outputGroup, writeResults } from '../groups/output.js';
import { LAYERS, MASKS, layersTag, layersText, resolveLayers } from '../groups/common.js';
import { group, opt, requiredOption, variant } from '../options/option.js';

const { group: OUTPUT_GROUP, out: OUT_DIR } = outputGroup([{ name: 'ppl.json', format: 'lape-ppl' }, { name: 'ppl.csv', format: 'csv:row,' }]);

const PPL_MASKS = requiredOption(MASKS);
const COMPARE = opt.list('compare', {
  metavar: 'FILE,...',
  help: 'more masks files (other methods: lap, lave, rs, pv …) evaluated on the same sets, one\nppl.NAME.json each (NAME: masks.NAME.json → NAME); the paper\'s Fig. 2 side by side',
});
const DEACTIVATE_ROWS = opt.list('deactivate', { metavar: 'L,...', help: 'languages whose neurons get a row', defaultText: 'every masks language' });
const PPL_LAYERS = variant(LAYERS, { help: 'zero only the neurons in these layers: 0-3,28-31 | bottom:K | top:K\n(the file gets the suffix .layers-bottomK …; the report compares them)' });

const signed = (x: number, digits: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(digits)}` : String(x));

export function pplTable(m: PplMatrix, measure: Measure = 'relative'): string[] {
  const header = ['deactivated', 'neurons', ...m.evalLanguages];
  const none = m.rows.find((r) => r.kind === 'none')!;
  const body: string[][] = [['none (PPL)', '0', ...m.evalLanguages.map((l) => none.ppl[l]!.toFixed(3))]];
  for (const r of m.rows) {
    if (r.kind === 'none') continue;
    const cell = (l: string): string => (measure === 'relative' ? `${signed((r.pplRatio[l]! - 1) * 100, 2)}%` : signed(r.change[l]!, 3));
    body.push([r.id, String(r.neurons), ...m.evalLanguages.map(cell)]);
  }
  const what = measure === 'relative' ? 'PPL change in % of the unmodified PPL (relative; --measure absolute: PPL points)' : 'PPL change (PPL − PPL without deactivation; absolute)';
  const notes = [
    ...(m.layers ? [`only layers ${m.layers.join(', ')} deactivated`] : []),
    ...(m.randomSeeds && m.randomSeeds > 1 ? [`random rows: mean of ${m.randomSeeds} seeds`] : []),
    ...(m.columnsOnly.length ? [`${m.columnsOnly.join(', ')}: evaluated, no neurons in the masks (column only)`] : []),
  ];
  return [`${what}; rows: deactivated neurons, columns: evaluated language${notes.length ? `; ${notes.join('; ')}` : ''}`, ...textTable(header, body)];
}

/** The NAME of a compared masks file: masks.NAME.json → NAME; masks.json → its method; else the base name. */
export function masksTag(file: string, masks: NeuronMasks): string {
  const base = basename(file).replace(/\.(json|safetensors|pth|pt)$/i, '');
  if (base === 'masks') return masks.method;
  return base.startsWith('masks.') ? base.slice('masks.'.length) : base;
}

/** ppl.json, or ppl.<parts>.json for compared masks and layer-restricted runs. */
export function pplFileName(parts: string[], ext: 'json' | 'csv'): string {
  return parts.length ? `ppl.${parts.join('.')}.${ext}` : `ppl.${ext}`;
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
  options: [group('Neurons', PPL_MASKS, COMPARE, DEACTIVATE_ROWS, PPL_LAYERS), MODEL_GROUP, EVAL_GROUP, PPL_RANDOM_GROUP, group('Output', MEASURE, ...OUTPUT_GROUP.options)],
  oneOf: [EVAL_ONE_OF],
  notes: [
    'Rows and columns follow the evaluation order. An evaluated language without neurons in the masks',
    '(e.g. one held out of identification) is a column without a row.',
    'The random control (and --random-seeds) applies to --masks; --compare files get their own rows only.',
  ],
  examples: [
    'lape ppl --model models/tiny-multilingual --masks lape-out/masks.json --eval-dir data/corpus --random-control --random-seeds 5',
    'lape ppl --model M --masks out/masks.json --compare out/masks.lap.json,out/masks.lave.json,out/masks.rs.json --eval-dir data/corpus',
    'lape ppl --model M --masks out/masks.json --layers bottom:4 --eval-dir data/corpus',
    'lape ppl --model ~/models/Qwen2.5-0.5B --masks masks.json --eval en=en.valid.txt --eval zh=zh.valid.txt --seq-len 512 --max-chunks 20',
  ],
  async run(ctx) {
    const masksFile = ctx.get(PPL_MASKS);
    const out = ctx.get(OUT_DIR);
    const measure = ctx.get(MEASURE);
    const { randomControl, seed } = controlSeed(ctx);
    const randomSeeds = ctx.get(RANDOM_SEEDS);
    const masks = loadMasks(masksFile);
    const compared = ctx.get(COMPARE).map((file) => ({ file, masks: loadMasks(file) }));
    const tags = compared.map((c) => masksTag(c.file, c.masks));
    const dup = tags.find((t, i) => tags.indexOf(t) !== i);
    if (dup !== undefined) throw usageError(`--compare: two masks files get the name "${dup}" (name them masks.NAME.json)`);
    const layerSel = ctx.get(PPL_LAYERS);
    const specs = evalSpecsFromFlags(ctx, masks.languages);
    return withModel(ctx, async (model) => {
      const settings = evalSettings(ctx, model.spec);
      const layers = layerSel ? resolveLayers(layerSel, model.spec.numLayers) : undefined;
      const all = [{ file: masksFile, masks }, ...compared];
      const rowsFlag = ctx.get(DEACTIVATE_ROWS);
      const plans = all.map((c, i) => {
        checkMasksFit(c.masks, model.spec.numLayers, model.spec.intermediateSize, c.file);
        const deactivate = rowsFlag.length ? rowsFlag : [...c.masks.languages];
        checkLanguageSets(c.masks.languages, specs.map((s) => s.lang), deactivate, c.file);
        const parts = [...(i > 0 ? [tags[i - 1]!] : []), ...(layerSel ? [`layers-${layersTag(layerSel)}`] : [])];
        return { ...c, deactivate, parts, random: i === 0 && randomControl };
      });
      const held = columnsWithoutRows(masks.languages, specs.map((s) => s.lang));
      if (held.length) ctx.log(`note: ${held.join(', ')} ${held.length > 1 ? 'have' : 'has'} no neurons in ${masksFile}: evaluated as column${held.length > 1 ? 's' : ''} without a row`);
      const sets = await loadEvalSetsFor(model, specs, settings);
      const t0 = Date.now();
      const runs = 1 + plans.reduce((a, p) => a + p.deactivate.length * (p.random ? 1 + randomSeeds : 1), 0);
      const bar = chunkProgress(ctx, 'ppl', sets, runs);
      const files: Record<string, string> = {};
      const docs: Array<Record<string, unknown>> = [];
      let first: PplMatrix | null = null;
      for (const p of plans) {
        const m = await pplMatrix(model, p.masks, sets, {
          batchSize: settings.batchSize,
          randomControl: p.random,
          seed,
          randomSeeds,
          deactivate: p.deactivate,
          layers,
          masksFile: p.file,
          onChunks: (n) => bar.add(n),
          ...(first ? { baseline: first.rows[0]!, baselineTokens: first.tokens, baselineChunks: first.chunks } : {}),
        });
        first ??= m;
        const doc = {
          format: PPL_FORMAT,
          version: PPL_VERSION,
          lape_version: LAPE_VERSION,
          model: modelFacts(model),
          masks: { file: p.file, method: p.masks.method, languages: p.masks.languages, settings: p.masks.settings },
          settings: { ...settings, randomControl: p.random, seed: p.random ? seed : null, randomSeeds: p.random ? randomSeeds : null, layers: layers ?? null, layerSpec: layerSel ? layersText(layerSel) : null },
          eval: evalFacts(sets, m.tokens),
          evalLanguages: m.evalLanguages,
          deactivated: m.deactivated,
          columnsOnly: m.columnsOnly,
          rows: m.rows,
          dominance: diagonalDominance(m),
          dominanceChange: diagonalDominance(m, 'change'),
        };
        docs.push(doc);
        files[pplFileName(p.parts, 'json')] = JSON.stringify(doc, null, 2) + '\n';
        files[pplFileName(p.parts, 'csv')] = pplCsv(m);
        if (plans.length > 1) ctx.log(`${p.file} (${p.masks.method}):`);
        for (const line of pplTable(m, measure)) ctx.log(line);
      }
      bar.finish();
      const { paths } = await writeResults(ctx, out, files, ` (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      return { files: paths, ...docs[0]!, ...(docs.length > 1 ? { compared: docs.slice(1) } : {}) };
    });
  },
};

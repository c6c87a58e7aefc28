/**
 * Ratio sweep (paper Fig. 4): for each selection ratio r, LAPE selects round(L·I·r) neurons of the
 * whole model from the given statistics (top_rate = r; r = 0 selects nothing), the chosen
 * language's share of them is zeroed on hook_act, and PPL is measured on every evaluation set.
 * Changes are relative to the unmodified model (evaluated once, also when 0 is not a ratio).
 * With randomControl each ratio also gets a seeded random set of the same per-layer sizes.
 */
import { LapeError, ParamError } from '../errors.js';
import type { Model } from '../runtime/model.js';
import { DEFAULT_BAR_RATIO, DEFAULT_FILTER_RATE } from '../select/entropy.js';
import { checkStats, selectLape } from '../select/lape.js';
import { randomMasks } from '../select/rs.js';
import type { LangStats } from '../stats/types.js';
import { evaluateRow, makeRow, type PerLang } from './deactivation.js';
import { checkLanguageSets, type EvalSet } from './ppl-eval-sets.js';

export interface SweepOptions {
  /** Language whose neurons are deactivated. */
  lang: string;
  /** Selection ratios in [0, 1] (top_rate), evaluated in the order given. */
  ratios: number[];
  filterRate?: number;
  barRatio?: number;
  batchSize?: number;
  randomControl?: boolean;
  /** Seed of the random control (default 0). */
  seed?: number;
  /** Zero only the selected neurons in these layers (sorted indices; default every layer). */
  layers?: number[];
  /** Names the statistics in errors (paths). */
  statsWhat?: string;
  /** Called after the baseline (index −1, ratio null) and after each ratio. */
  onRow?: (row: SweepRow | null, index: number, total: number) => void;
  /** Called after each run with the number of chunks it evaluated. */
  onChunks?: (n: number) => void;
}

export interface SweepCells {
  neuronsDeactivated: number;
  neuronsPerLayer: number[];
  nll: PerLang;
  ppl: PerLang;
  change: PerLang;
  pplRatio: PerLang;
}

export interface SweepRow extends SweepCells {
  ratio: number;
  /** Neurons LAPE selected over the whole model at this ratio (all languages). */
  selected: number;
  /** Random neurons of the same per-layer sizes (with randomControl). */
  random?: SweepCells;
}

export interface SweepResult {
  lang: string;
  evalLanguages: string[];
  statsLanguages: string[];
  filterRate: number;
  barRatio: number;
  randomControl: boolean;
  seed?: number;
  /** Layers the deactivations were restricted to (absent: every layer). */
  layers?: number[];
  baseline: { nll: PerLang; ppl: PerLang; tokens: PerLang; chunks: PerLang };
  rows: SweepRow[];
}

/** Ratios must be numbers in [0, 1], without duplicates. */
export function checkRatios(ratios: readonly number[]): void {
  if (ratios.length === 0) throw new ParamError('no ratios given', 'ratios');
  const seen = new Set<number>();
  for (const r of ratios) {
    if (typeof r !== 'number' || !(r >= 0 && r <= 1)) throw new ParamError(`every ratio must be a number in [0, 1], got ${r}`, 'ratios');
    if (seen.has(r)) throw new ParamError(`ratio ${r} is given twice`, 'ratios');
    seen.add(r);
  }
}

/** The chosen language's LAPE neurons at one ratio, plus the model-wide selection size. */
export function sweepSelection(
  stats: readonly LangStats[],
  lang: string,
  ratio: number,
  opts: { filterRate?: number; barRatio?: number } = {},
): { perLayer: number[][]; selected: number } {
  const { layers, neurons } = checkStats(stats);
  const k = stats.findIndex((s) => s.lang === lang);
  if (k < 0) throw new LapeError(`language "${lang}" has no statistics (statistics for: ${stats.map((s) => s.lang).join(', ')})`);
  if (ratio === 0) return { perLayer: Array.from({ length: layers }, () => []), selected: 0 };
  const masks = selectLape(stats, { topRate: ratio, filterRate: opts.filterRate, barRatio: opts.barRatio });
  const union = new Set<number>();
  for (const perLayer of masks.masks) perLayer.forEach((idx, l) => idx.forEach((j) => union.add(l * neurons + j)));
  return { perLayer: masks.masks[k]!.map((idx) => [...idx]), selected: union.size };
}

export async function ratioSweep(model: Model, stats: readonly LangStats[], evalSets: readonly EvalSet[], opts: SweepOptions): Promise<SweepResult> {
  const what = opts.statsWhat ?? 'the statistics';
  const { layers, neurons } = checkStats(stats);
  if (layers !== model.spec.numLayers || neurons !== model.spec.intermediateSize) {
    throw new LapeError(
      `statistics are for a model with ${layers} layers × ${neurons} FFN neurons, but this model has ${model.spec.numLayers} layers × ${model.spec.intermediateSize} FFN neurons`,
      opts.statsWhat,
    );
  }
  checkRatios(opts.ratios);
  const statsLangs = stats.map((s) => s.lang);
  const evalLangs = evalSets.map((s) => s.lang);
  if (new Set(evalLangs).size !== evalLangs.length) throw new LapeError('an evaluation language is given twice');
  checkLanguageSets(statsLangs, evalLangs, [opts.lang], what);
  const seed = opts.seed ?? 0;
  // Select everything first, so bad knobs fail before any model run.
  if (opts.layers) {
    for (const l of opts.layers) if (!(Number.isInteger(l) && l >= 0 && l < layers)) throw new LapeError(`layer ${l} does not exist (the model has layers 0-${layers - 1})`);
  }
  const keep = opts.layers ? new Set(opts.layers) : null;
  const selections = opts.ratios.map((r) => {
    const sel = sweepSelection(stats, opts.lang, r, opts);
    return keep ? { ...sel, perLayer: sel.perLayer.map((idx, l) => (keep.has(l) ? idx : [])) } : sel;
  });
  const total = opts.ratios.length;

  const base = await evaluateRow(model, Array.from({ length: layers }, () => []), evalSets, opts.batchSize, opts.onChunks);
  opts.onRow?.(null, -1, total);
  const cells = async (perLayer: number[][]): Promise<SweepCells> => {
    const n = perLayer.reduce((a, idx) => a + idx.length, 0);
    // Nothing to zero: the baseline (progress still counts the chunks this row stands for).
    if (n === 0) opts.onChunks?.(evalSets.reduce((a, s) => a + s.chunks.length, 0));
    const r = n === 0 ? base : await evaluateRow(model, perLayer, evalSets, opts.batchSize, opts.onChunks);
    const row = makeRow({ id: '', kind: 'masks', lang: opts.lang, perLayer }, evalLangs, r.nll, r.ppl, base.ppl);
    return { neuronsDeactivated: row.neurons, neuronsPerLayer: row.neuronsPerLayer, nll: row.nll, ppl: row.ppl, change: row.change, pplRatio: row.pplRatio };
  };
  const rows: SweepRow[] = [];
  for (let i = 0; i < total; i++) {
    const sel = selections[i]!;
    const row: SweepRow = { ratio: opts.ratios[i]!, selected: sel.selected, ...(await cells(sel.perLayer)) };
    if (opts.randomControl) {
      const counts = [sel.perLayer.map((idx) => idx.length)];
      const rnd = randomMasks([opts.lang], layers, neurons, counts, { seed });
      row.random = await cells(rnd.masks[0]!);
    }
    rows.push(row);
    opts.onRow?.(row, i, total);
  }
  const out: SweepResult = {
    lang: opts.lang,
    evalLanguages: evalLangs,
    statsLanguages: statsLangs,
    filterRate: opts.filterRate ?? DEFAULT_FILTER_RATE,
    barRatio: opts.barRatio ?? DEFAULT_BAR_RATIO,
    randomControl: !!opts.randomControl,
    baseline: base,
    rows,
  };
  if (opts.randomControl) out.seed = seed;
  if (opts.layers) out.layers = [...opts.layers];
  return out;
}

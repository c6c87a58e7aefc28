/**
 * The deactivation perplexity matrix (paper §4, Fig. 2–3): rows = the unmodified model ("none"),
 * then each language whose neurons are zeroed on hook_act in all their layers, then (with
 * randomControl) for each language a seeded random neuron set of the same per-layer sizes
 * ("random:<lang>", src/select/rs.ts); columns = evaluated languages. Each cell holds the mean NLL,
 * the PPL, the change ppl − ppl_none and the ratio ppl / ppl_none.
 *
 * One order everywhere: rows follow the evaluation order (a language with neurons but no
 * evaluation set cannot be a row; an evaluated language without neurons is a column only).
 * With randomSeeds N > 1 a random row holds the mean over N seeded sets (seeds seed … seed+N−1)
 * and, per cell, the 95 % interval of a random set's value (src/util/interval.ts).
 * With `layers`, every row zeroes only its neurons in those layers.
 *
 * All rows run through one session (pplPlan: every layer patchable); only patch values change.
 */
import { LapeError } from '../errors.js';
import type { Model } from '../runtime/model.js';
import { checkMasksFit, restrictToLayers } from '../select/masks.js';
import { selectRandom } from '../select/rs.js';
import type { NeuronMasks } from '../select/types.js';
import { evaluatePerplexity, zeroPatches } from './perplexity.js';
import { checkLanguageSets, inEvalOrder, type EvalSet } from './ppl-eval-sets.js';
import { predictionInterval95 } from '../util/interval.js';

export type PplRowKind = 'none' | 'masks' | 'random';

/** Per evaluated language (keys in evaluation order). */
export type PerLang = Record<string, number>;

export interface PplRow {
  /** "none", the language code, or "random:<lang>". */
  id: string;
  kind: PplRowKind;
  /** Language whose neurons (or whose random stand-ins) are zeroed; null for "none". */
  lang: string | null;
  /** Neurons zeroed, in total and per layer. */
  neurons: number;
  neuronsPerLayer: number[];
  nll: PerLang;
  ppl: PerLang;
  /** ppl − ppl of row "none". */
  change: PerLang;
  /** ppl / ppl of row "none". */
  pplRatio: PerLang;
  /** Random rows: the seeds whose sets were evaluated (the row holds their mean). */
  seeds?: number[];
  /** Random rows: PPL per seed, per evaluated language. */
  seedPpl?: Array<PerLang>;
  /** Random rows with ≥ 2 seeds: 95 % interval of a random set's change and ratio, per language. */
  interval?: { change: Record<string, [number, number]>; pplRatio: Record<string, [number, number]> };
}

export interface PplMatrix {
  /** Method of the masks (lape, lap, rs, tang2024, ...). */
  method: string;
  evalLanguages: string[];
  /** Languages with a deactivation row, in row order. */
  deactivated: string[];
  /** Predicted positions and chunks per evaluated language. */
  tokens: PerLang;
  chunks: PerLang;
  randomControl: boolean;
  /** Seed of the random control sets (present when randomControl). */
  seed?: number;
  /** Random sets per language (present when randomControl). */
  randomSeeds?: number;
  /** Layers the deactivations were restricted to (absent: every layer). */
  layers?: number[];
  /** Evaluated languages with no neurons in the masks (columns without a row). */
  columnsOnly: string[];
  rows: PplRow[];
}

export interface PplMatrixOptions {
  batchSize?: number;
  /** Add one random row per language (same per-layer sizes). */
  randomControl?: boolean;
  /** Seed of the random control (default 0). */
  seed?: number;
  /** Random sets per language, seeds seed … seed+N−1 (default 1). */
  randomSeeds?: number;
  /** Languages to deactivate (default: every language of the masks); rows follow the evaluation order. */
  deactivate?: string[];
  /** Zero only the neurons in these layers (sorted indices; default every layer). */
  layers?: number[];
  /** The unmodified model's row from an earlier matrix on the same sets (saves one pass). */
  baseline?: PplRow;
  baselineTokens?: PerLang;
  baselineChunks?: PerLang;
  /** Names the masks in errors (a path). */
  masksFile?: string;
  /** Called after each row with its index and the number of rows. */
  onRow?: (row: PplRow, index: number, total: number) => void;
  /** Called after each run with the number of chunks it evaluated. */
  onChunks?: (n: number) => void;
}

interface RowPlan {
  id: string;
  kind: PplRowKind;
  lang: string | null;
  perLayer: number[][];
}

function perLangNumbers(langs: readonly string[], f: (lang: string, i: number) => number): PerLang {
  const out: PerLang = {};
  langs.forEach((l, i) => (out[l] = f(l, i)));
  return out;
}

/** Evaluates every eval set under a list of zeroed neurons; returns NLL and PPL per language. */
export async function evaluateRow(
  model: Model,
  perLayer: readonly (readonly number[])[],
  evalSets: readonly EvalSet[],
  batchSize?: number,
  onChunks?: (n: number) => void,
): Promise<{ nll: PerLang; ppl: PerLang; tokens: PerLang; chunks: PerLang }> {
  const nll: PerLang = {};
  const ppl: PerLang = {};
  const tokens: PerLang = {};
  const chunks: PerLang = {};
  const patches = zeroPatches(perLayer);
  for (const set of evalSets) {
    let prev = 0;
    const onBatch = onChunks
      ? (done: number): void => {
          onChunks(done - prev);
          prev = done;
        }
      : undefined;
    const r = await evaluatePerplexity(model, set.chunks, { patches, batchSize, onBatch });
    nll[set.lang] = r.nll;
    ppl[set.lang] = r.ppl;
    tokens[set.lang] = r.tokens;
    chunks[set.lang] = r.chunks;
  }
  return { nll, ppl, tokens, chunks };
}

/** Builds a row from evaluated NLL/PPL and the baseline PPL. */
export function makeRow(
  plan: { id: string; kind: PplRowKind; lang: string | null; perLayer: readonly (readonly number[])[] },
  evalLangs: readonly string[],
  nll: PerLang,
  ppl: PerLang,
  basePpl: PerLang,
): PplRow {
  const neuronsPerLayer = plan.perLayer.map((idx) => idx.length);
  return {
    id: plan.id,
    kind: plan.kind,
    lang: plan.lang,
    neurons: neuronsPerLayer.reduce((a, b) => a + b, 0),
    neuronsPerLayer,
    nll: perLangNumbers(evalLangs, (l) => nll[l]!),
    ppl: perLangNumbers(evalLangs, (l) => ppl[l]!),
    change: perLangNumbers(evalLangs, (l) => ppl[l]! - basePpl[l]!),
    pplRatio: perLangNumbers(evalLangs, (l) => ppl[l]! / basePpl[l]!),
  };
}

/** The deactivation PPL matrix of `masks` on `evalSets`. */
export async function pplMatrix(
  model: Model,
  masks: NeuronMasks,
  evalSets: readonly EvalSet[],
  opts: PplMatrixOptions = {},
): Promise<PplMatrix> {
  const what = opts.masksFile ?? 'the masks';
  checkMasksFit(masks, model.spec.numLayers, model.spec.intermediateSize, opts.masksFile);
  const evalLangs = evalSets.map((s) => s.lang);
  if (new Set(evalLangs).size !== evalLangs.length) throw new LapeError('an evaluation language is given twice');
  const requested = opts.deactivate ?? [...masks.languages];
  if (new Set(requested).size !== requested.length) throw new LapeError('a language to deactivate is given twice');
  checkLanguageSets(masks.languages, evalLangs, requested, what);
  const deactivated = inEvalOrder(requested, evalLangs);
  if (opts.layers) {
    for (const l of opts.layers) {
      if (!(Number.isInteger(l) && l >= 0 && l < masks.layers)) throw new LapeError(`layer ${l} does not exist (the masks have layers 0-${masks.layers - 1})`);
    }
  }
  const used = opts.layers ? restrictToLayers(masks, opts.layers) : masks;
  const seed = opts.seed ?? 0;
  const nSeeds = opts.randomSeeds ?? 1;
  if (!(Number.isInteger(nSeeds) && nSeeds >= 1)) throw new LapeError(`random seeds must be a positive integer, got ${nSeeds}`);
  const seeds = Array.from({ length: nSeeds }, (_, i) => seed + i);
  const randoms = opts.randomControl ? seeds.map((s) => selectRandom(used, { seed: s })) : [];

  const plans: RowPlan[] = [{ id: 'none', kind: 'none', lang: null, perLayer: masks.masks[0]!.map(() => []) }];
  for (const lang of deactivated) {
    plans.push({ id: lang, kind: 'masks', lang, perLayer: used.masks[used.languages.indexOf(lang)]! });
  }
  const rowCount = 1 + deactivated.length * (randoms.length ? 2 : 1);

  const rows: PplRow[] = [];
  let basePpl: PerLang = {};
  let tokens: PerLang = {};
  let chunks: PerLang = {};
  for (let i = 0; i < plans.length; i++) {
    const plan = plans[i]!;
    const reuse = i === 0 && opts.baseline ? opts.baseline : null;
    const r = reuse ? { nll: reuse.nll, ppl: reuse.ppl, tokens: opts.baselineTokens!, chunks: opts.baselineChunks! } : await evaluateRow(model, plan.perLayer, evalSets, opts.batchSize, opts.onChunks);
    if (i === 0) {
      basePpl = r.ppl;
      tokens = r.tokens;
      chunks = r.chunks;
    }
    const row = makeRow(plan, evalLangs, r.nll, r.ppl, basePpl);
    rows.push(row);
    opts.onRow?.(row, i, rowCount);
  }
  if (randoms.length) {
    for (const lang of deactivated) {
      const perSeed: Array<{ nll: PerLang; ppl: PerLang }> = [];
      for (const rnd of randoms) perSeed.push(await evaluateRow(model, rnd.masks[rnd.languages.indexOf(lang)]!, evalSets, opts.batchSize, opts.onChunks));
      const mean = (k: 'nll' | 'ppl'): PerLang => perLangNumbers(evalLangs, (l) => perSeed.reduce((a, x) => a + x[k][l]!, 0) / perSeed.length);
      const first = randoms[0]!;
      const row = makeRow({ id: `random:${lang}`, kind: 'random', lang, perLayer: first.masks[first.languages.indexOf(lang)]! }, evalLangs, mean('nll'), mean('ppl'), basePpl);
      row.seeds = [...seeds];
      row.seedPpl = perSeed.map((x) => perLangNumbers(evalLangs, (l) => x.ppl[l]!));
      if (perSeed.length >= 2) {
        const change: Record<string, [number, number]> = {};
        const ratio: Record<string, [number, number]> = {};
        for (const l of evalLangs) {
          const c = predictionInterval95(perSeed.map((x) => x.ppl[l]! - basePpl[l]!))!;
          const q = predictionInterval95(perSeed.map((x) => x.ppl[l]! / basePpl[l]!))!;
          change[l] = [c.lo, c.hi];
          ratio[l] = [q.lo, q.hi];
        }
        row.interval = { change, pplRatio: ratio };
      }
      rows.push(row);
      opts.onRow?.(row, rows.length - 1, rowCount);
    }
  }
  const out: PplMatrix = {
    method: masks.method,
    evalLanguages: evalLangs,
    deactivated: [...deactivated],
    tokens,
    chunks,
    randomControl: randoms.length > 0,
    columnsOnly: evalLangs.filter((l) => !masks.languages.includes(l)),
    rows,
  };
  if (randoms.length) {
    out.seed = seed;
    out.randomSeeds = nSeeds;
  }
  if (opts.layers) out.layers = [...opts.layers];
  return out;
}

export type DominanceMeasure = 'change' | 'pplRatio';

export interface LanguageMargin {
  lang: string;
  /** The measure at (deactivate lang, evaluate lang). */
  diagonal: number;
  /** Largest measure of the same row at another evaluated language (null if there is none). */
  rowOther: number | null;
  /** diagonal − rowOther: deactivating lang hurts lang more than any other language. */
  rowMargin: number | null;
  /** Largest measure of the same column under another language's deactivation (null if none). */
  columnOther: number | null;
  /** diagonal − columnOther: lang suffers most from its own neurons. */
  columnMargin: number | null;
  /** The measure at (random:lang, evaluate lang), when the matrix has random rows. */
  random: number | null;
  /** diagonal − random. */
  randomMargin: number | null;
  /** Upper end of the random sets' 95 % interval at the diagonal cell (≥ 2 seeds), else null. */
  randomHigh: number | null;
  /** diagonal > randomHigh (null without an interval). */
  exceedsRandom: boolean | null;
}

/**
 * Diagonal dominance of a PPL matrix, per deactivated language that is also evaluated: the
 * margins by which its own cell exceeds the rest of its row, the rest of its column (other
 * languages' neuron rows only) and its random-control cell. Measure: 'pplRatio' (default; fair
 * across languages of different base PPL) or 'change'.
 */
export function diagonalDominance(
  matrix: { evalLanguages: string[]; rows: Array<Pick<PplRow, 'kind' | 'lang' | 'change' | 'pplRatio' | 'interval'>> },
  measure: DominanceMeasure = 'pplRatio',
): LanguageMargin[] {
  const evalLangs = matrix.evalLanguages;
  const langRows = matrix.rows.filter((r) => r.kind === 'masks' && r.lang !== null && evalLangs.includes(r.lang));
  const out: LanguageMargin[] = [];
  for (const row of langRows) {
    const lang = row.lang!;
    const value = (r: Pick<PplRow, 'change' | 'pplRatio'>, l: string): number => {
      const v = r[measure][l];
      if (typeof v !== 'number') throw new LapeError(`the matrix has no ${measure} for evaluated language "${l}"`);
      return v;
    };
    const diagonal = value(row, lang);
    const others = evalLangs.filter((l) => l !== lang).map((l) => value(row, l));
    const rowOther = others.length ? Math.max(...others) : null;
    const col = langRows.filter((r) => r !== row).map((r) => value(r, lang));
    const columnOther = col.length ? Math.max(...col) : null;
    const rnd = matrix.rows.find((r) => r.kind === 'random' && r.lang === lang);
    const random = rnd ? value(rnd, lang) : null;
    const randomHigh = rnd?.interval ? (measure === 'change' ? rnd.interval.change[lang]![1] : rnd.interval.pplRatio[lang]![1]) : null;
    out.push({
      lang,
      diagonal,
      rowOther,
      rowMargin: rowOther === null ? null : diagonal - rowOther,
      columnOther,
      columnMargin: columnOther === null ? null : diagonal - columnOther,
      random,
      randomMargin: random === null ? null : diagonal - random,
      randomHigh,
      exceedsRandom: randomHigh === null ? null : diagonal > randomHigh,
    });
  }
  return out;
}

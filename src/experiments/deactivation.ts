/**
 * The deactivation perplexity matrix (paper §4, Fig. 2–3): rows = the unmodified model ("none"),
 * then each language whose neurons are zeroed on hook_act in all their layers, then (with
 * randomControl) for each language a seeded random neuron set of the same per-layer sizes
 * ("random:<lang>", src/select/rs.ts); columns = evaluated languages. Each cell holds the mean NLL,
 * the PPL, the change ppl − ppl_none and the ratio ppl / ppl_none.
 *
 * All rows run through one session (pplPlan: every layer patchable); only patch values change.
 */
import { LapeError } from '../errors.js';
import type { Model } from '../runtime/model.js';
import { checkMasksFit } from '../select/masks.js';
import { selectRandom } from '../select/rs.js';
import type { NeuronMasks } from '../select/types.js';
import { evaluatePerplexity, zeroPatches } from './perplexity.js';
import { checkLanguageSets, type EvalSet } from './ppl-eval-sets.js';

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
  rows: PplRow[];
}

export interface PplMatrixOptions {
  batchSize?: number;
  /** Add one random row per language (same per-layer sizes). */
  randomControl?: boolean;
  /** Seed of the random control (default 0). */
  seed?: number;
  /** Languages to deactivate (default: every language of the masks), in row order. */
  deactivate?: string[];
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
  const deactivated = opts.deactivate ?? [...masks.languages];
  if (new Set(deactivated).size !== deactivated.length) throw new LapeError('a language to deactivate is given twice');
  checkLanguageSets(masks.languages, evalLangs, deactivated, what);
  const seed = opts.seed ?? 0;
  const random = opts.randomControl ? selectRandom(masks, { seed }) : null;

  const plans: RowPlan[] = [{ id: 'none', kind: 'none', lang: null, perLayer: masks.masks[0]!.map(() => []) }];
  for (const lang of deactivated) {
    plans.push({ id: lang, kind: 'masks', lang, perLayer: masks.masks[masks.languages.indexOf(lang)]! });
  }
  if (random) {
    for (const lang of deactivated) {
      plans.push({ id: `random:${lang}`, kind: 'random', lang, perLayer: random.masks[random.languages.indexOf(lang)]! });
    }
  }

  const rows: PplRow[] = [];
  let basePpl: PerLang = {};
  let tokens: PerLang = {};
  let chunks: PerLang = {};
  for (let i = 0; i < plans.length; i++) {
    const plan = plans[i]!;
    const r = await evaluateRow(model, plan.perLayer, evalSets, opts.batchSize, opts.onChunks);
    if (i === 0) {
      basePpl = r.ppl;
      tokens = r.tokens;
      chunks = r.chunks;
    }
    const row = makeRow(plan, evalLangs, r.nll, r.ppl, basePpl);
    rows.push(row);
    opts.onRow?.(row, i, plans.length);
  }
  const out: PplMatrix = {
    method: masks.method,
    evalLanguages: evalLangs,
    deactivated: [...deactivated],
    tokens,
    chunks,
    randomControl: !!random,
    rows,
  };
  if (random) out.seed = seed;
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
}

/**
 * Diagonal dominance of a PPL matrix, per deactivated language that is also evaluated: the
 * margins by which its own cell exceeds the rest of its row, the rest of its column (other
 * languages' neuron rows only) and its random-control cell. Measure: 'pplRatio' (default; fair
 * across languages of different base PPL) or 'change'.
 */
export function diagonalDominance(
  matrix: Pick<PplMatrix, 'evalLanguages' | 'rows'>,
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
    out.push({
      lang,
      diagonal,
      rowOther,
      rowMargin: rowOther === null ? null : diagonal - rowOther,
      columnOther,
      columnMargin: columnOther === null ? null : diagonal - columnOther,
      random,
      randomMargin: random === null ? null : diagonal - random,
    });
  }
  return out;
}

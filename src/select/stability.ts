/**
 * Selection stability against the token budget, from statistics with blocks (src/stats/blocks.ts),
 * without another forward pass.
 *
 * For each budget b (tokens per language; powers of two from the largest block up to the
 * shortest language's recording, and that recording itself), B bootstrap resamples: for every
 * language, blocks drawn uniformly with replacement until at least b tokens are drawn; their
 * counts and sums added up stand for a recording of that size. Each resample is selected with the
 * same code and knobs as lape identify (methods.ts), and compared with the selection on everything
 * recorded ("full"): Jaccard |A∩B| / |A∪B| over (language, layer, neuron) triples, mean and 95 %
 * percentile interval; also the mean Jaccard of all pairs of resamples (how much two recordings of
 * that size agree with each other) and per-language neuron counts with intervals.
 * Resamples are seeded (xoshiro128**), drawn in a fixed order (budget, resample, language) and
 * shared by the methods, so one seed gives the same result on every machine.
 *
 * The stop rule of lape record-langs compares the selection at a budget with the selection at half
 * of it (stopRuleJaccard), optionally with a bootstrap interval at the current budget.
 */
import { LapeError } from '../errors.js';
import { sumBlocks } from '../stats/blocks.js';
import type { LangStats } from '../stats/types.js';
import { percentileInterval95 } from '../util/interval.js';
import { selectWithMethod, type MethodOptions, type StatsMethod } from './methods.js';
import { Xoshiro128 } from './prng.js';
import type { NeuronMasks } from './types.js';

export const STABILITY_FORMAT = 'lape-stability';
export const STABILITY_TARGETS = [0.9, 0.95] as const;

export interface StabilityOptions {
  methods: readonly StatsMethod[];
  selection: MethodOptions;
  /** Bootstrap resamples per budget (B ≥ 2). */
  resamples: number;
  seed: number;
  /** Called after each budget (progress). */
  onBudget?: (done: number, total: number) => void;
}

export interface Stat95 {
  mean: number;
  lo: number;
  hi: number;
}

export interface StabilityRow {
  method: StatsMethod;
  /** Tokens per language asked for. */
  budget: number;
  /** Mean tokens drawn per language (a draw ends at a block boundary, at or above the budget). */
  tokens: Record<string, number>;
  /** Jaccard of each resample's selection with the full selection. */
  jaccardFull: Stat95;
  /** Jaccard of the resamples' selections with each other (all pairs). */
  jaccardPairwise: Stat95;
  /** Neurons per language over the resamples. */
  counts: Record<string, Stat95>;
}

export interface StabilityResult {
  format: typeof STABILITY_FORMAT;
  methods: StatsMethod[];
  languages: string[];
  /** Tokens recorded per language (the full selection uses all of them). */
  recorded: Record<string, number>;
  blocks: Record<string, number>;
  /** The language with the fewest tokens: no budget beyond its recording can be resampled. */
  shortest: { lang: string; tokens: number };
  resamples: number;
  seed: number;
  settings: MethodOptions;
  /** Neurons per language in the full selection. */
  fullCounts: Record<StatsMethod, Record<string, number>>;
  rows: StabilityRow[];
  /**
   * Per method and target Jaccard: the smallest budget from which on the mean Jaccard with the
   * full selection stays at or above it (every larger budget too), and likewise for the interval's
   * lower end; null = not reached within the recording (the corpus or the recording ran out first).
   */
  reached: Record<StatsMethod, Record<string, { mean: number | null; lower: number | null }>>;
}

/** Budgets: powers of two from the largest block's tokens up to `limit`, and `limit` itself. */
export function stabilityBudgets(largestBlock: number, limit: number): number[] {
  const out: number[] = [];
  for (let b = 2 ** Math.ceil(Math.log2(Math.max(1, largestBlock))); b < limit; b *= 2) out.push(b);
  out.push(limit);
  return out;
}

/** The (language, layer, neuron) triples of a selection as sorted flat keys. */
export function selectionKeys(m: NeuronMasks): Float64Array {
  const keys: number[] = [];
  m.masks.forEach((perLayer, k) => perLayer.forEach((idx, l) => {
    for (const j of idx) keys.push((k * m.layers + l) * m.neurons + j);
  }));
  return Float64Array.from(keys).sort();
}

/** |A ∩ B| / |A ∪ B| of two sorted key sets; two empty selections agree (1). */
export function jaccard(a: Float64Array, b: Float64Array): number {
  let i = 0;
  let j = 0;
  let both = 0;
  while (i < a.length && j < b.length) {
    if (a[i]! === b[j]!) {
      both++;
      i++;
      j++;
    } else if (a[i]! < b[j]!) i++;
    else j++;
  }
  const union = a.length + b.length - both;
  return union === 0 ? 1 : both / union;
}

function tokensPerChunk(s: LangStats): number {
  const seqLen = Number(s.meta.seq_len);
  if (!(Number.isInteger(seqLen) && seqLen > 0)) throw new LapeError(`statistics of "${s.lang}" have no valid seq_len`);
  return seqLen;
}

/** One bootstrap draw of `s`'s blocks reaching `budget` tokens, as statistics. */
function resample(s: LangStats, budget: number, rng: Xoshiro128): LangStats {
  const b = s.blocks!;
  const seqLen = tokensPerChunk(s);
  const idx: number[] = [];
  let tokens = 0;
  while (tokens < budget) {
    const i = rng.below(b.chunks.length);
    idx.push(i);
    tokens += b.chunks[i]! * seqLen;
  }
  const sum = sumBlocks(b, idx);
  return { lang: s.lang, layers: s.layers, neurons: s.neurons, tokens, count: sum.count, sum: sum.sum, sumSq: new Float64Array(0), meta: s.meta };
}

function countsOf(m: NeuronMasks): number[] {
  return m.masks.map((perLayer) => perLayer.reduce((a, idx) => a + idx.length, 0));
}

export function checkBlocked(stats: readonly LangStats[], files?: readonly string[]): void {
  stats.forEach((s, i) => {
    if (!s.blocks) {
      throw new LapeError(`statistics of "${s.lang}" have no blocks: record them with blocks (lape record keeps 64 by default), or merge shards that have blocks`, files?.[i]);
    }
  });
}

/** The stability analysis (see the file comment). */
export function selectionStability(stats: readonly LangStats[], opts: StabilityOptions): StabilityResult {
  if (stats.length < 2) throw new LapeError(`stability needs statistics of at least two languages, got ${stats.length}`);
  if (!(Number.isInteger(opts.resamples) && opts.resamples >= 2)) throw new LapeError(`resamples must be an integer ≥ 2, got ${opts.resamples}`);
  if (opts.methods.length === 0) throw new LapeError('no selection method given');
  checkBlocked(stats);
  const languages = stats.map((s) => s.lang);
  const shortest = stats.reduce((a, s) => (s.tokens < a.tokens ? s : a));
  const largestBlock = Math.max(...stats.map((s) => Math.max(...s.blocks!.chunks) * tokensPerChunk(s)));
  const budgets = stabilityBudgets(largestBlock, shortest.tokens);
  const full = new Map(opts.methods.map((m) => [m, selectWithMethod(m, stats, opts.selection)]));
  const fullKeys = new Map(opts.methods.map((m) => [m, selectionKeys(full.get(m)!)]));
  const rng = new Xoshiro128(opts.seed);
  const rows: StabilityRow[] = [];
  budgets.forEach((budget, bi) => {
    const perMethod = new Map(opts.methods.map((m) => [m, { keys: [] as Float64Array[], counts: [] as number[][] }]));
    const drawn = new Map(languages.map((l) => [l, 0]));
    for (let r = 0; r < opts.resamples; r++) {
      const sample = stats.map((s) => resample(s, budget, rng));
      sample.forEach((s) => drawn.set(s.lang, drawn.get(s.lang)! + s.tokens));
      for (const m of opts.methods) {
        const sel = selectWithMethod(m, sample, opts.selection);
        perMethod.get(m)!.keys.push(selectionKeys(sel));
        perMethod.get(m)!.counts.push(countsOf(sel));
      }
    }
    for (const m of opts.methods) {
      const { keys, counts } = perMethod.get(m)!;
      const pairs: number[] = [];
      for (let i = 0; i < keys.length; i++) for (let j = i + 1; j < keys.length; j++) pairs.push(jaccard(keys[i]!, keys[j]!));
      rows.push({
        method: m,
        budget,
        tokens: Object.fromEntries(languages.map((l) => [l, drawn.get(l)! / opts.resamples])),
        jaccardFull: percentileInterval95(keys.map((k) => jaccard(k, fullKeys.get(m)!))),
        jaccardPairwise: percentileInterval95(pairs),
        counts: Object.fromEntries(languages.map((l, k) => [l, percentileInterval95(counts.map((c) => c[k]!))])),
      });
    }
    opts.onBudget?.(bi + 1, budgets.length);
  });
  const reached = {} as StabilityResult['reached'];
  for (const m of opts.methods) {
    const mine = rows.filter((r) => r.method === m);
    // The smallest budget from which on every larger budget stays at or above the target.
    const from = (ok: (r: StabilityRow) => boolean): number | null => {
      let b: number | null = null;
      for (let i = mine.length - 1; i >= 0 && ok(mine[i]!); i--) b = mine[i]!.budget;
      return b;
    };
    reached[m] = Object.fromEntries(STABILITY_TARGETS.map((t) => [String(t), {
      mean: from((r) => r.jaccardFull.mean >= t),
      lower: from((r) => r.jaccardFull.lo >= t),
    }]));
  }
  return {
    format: STABILITY_FORMAT,
    methods: [...opts.methods],
    languages,
    recorded: Object.fromEntries(stats.map((s) => [s.lang, s.tokens])),
    blocks: Object.fromEntries(stats.map((s) => [s.lang, s.blocks!.chunks.length])),
    shortest: { lang: shortest.lang, tokens: shortest.tokens },
    resamples: opts.resamples,
    seed: opts.seed,
    settings: { ...opts.selection },
    fullCounts: Object.fromEntries(opts.methods.map((m) => [m, Object.fromEntries(languages.map((l, k) => [l, countsOf(full.get(m)!)[k]!]))])) as StabilityResult['fullCounts'],
    rows,
    reached,
  };
}

/** The CSV of a stability result: one row per method, budget and language. */
export function stabilityCsvRows(r: StabilityResult): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [];
  for (const row of r.rows) {
    for (const l of r.languages) {
      const c = row.counts[l]!;
      out.push([row.method, row.budget, l, row.tokens[l]!, row.jaccardFull.mean, row.jaccardFull.lo, row.jaccardFull.hi,
        row.jaccardPairwise.mean, row.jaccardPairwise.lo, row.jaccardPairwise.hi, c.mean, c.lo, c.hi]);
    }
  }
  return out;
}
export const STABILITY_CSV_HEADER = ['method', 'budget', 'lang', 'tokens_drawn', 'jaccard_full', 'jaccard_full_lo', 'jaccard_full_hi',
  'jaccard_pairwise', 'jaccard_pairwise_lo', 'jaccard_pairwise_hi', 'neurons', 'neurons_lo', 'neurons_hi'] as const;

/** The stop rule's comparison: Jaccard of the LAPE selections at the current budget and at half of it. */
export function stopRuleJaccard(current: readonly LangStats[], half: readonly LangStats[], selection: MethodOptions): number {
  return jaccard(selectionKeys(selectWithMethod('lape', current, selection)), selectionKeys(selectWithMethod('lape', half, selection)));
}

/** The bootstrap interval of the stop rule: Jaccard of `resamples` resamples at the current tokens with the current selection. */
export function currentInterval(current: readonly LangStats[], selection: MethodOptions, resamples: number, seed: number): Stat95 {
  checkBlocked(current);
  const ref = selectionKeys(selectWithMethod('lape', current, selection));
  const rng = new Xoshiro128(seed);
  const js: number[] = [];
  for (let r = 0; r < resamples; r++) {
    js.push(jaccard(selectionKeys(selectWithMethod('lape', current.map((s) => resample(s, s.tokens, rng)), selection)), ref));
  }
  return percentileInterval95(js);
}

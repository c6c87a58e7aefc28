/**
 * The selection pipeline shared by LAPE, LAVE and PV: per-language non-negative scores for every
 * FFN neuron (LAPE: activation probabilities, LAVE: mean activation values, PV: parameter change
 * magnitudes) → normalise across languages → entropy → drop neurons that are not high for any
 * language → keep the lowest-entropy neurons of the whole model → assign each kept neuron to the
 * languages whose score is above a bar.
 *
 * Semantics follow the official `identify.py` of Tang et al. (2024), with three documented
 * differences: ties at the selection boundary are broken by flat index (the official
 * `torch.topk` leaves the order of ties unspecified and in practice is not stable), neurons with
 * entropy +∞ are never selected (the official top-k takes +∞ neurons when there are fewer finite
 * ones than asked for), and languages that receive no neuron are kept (the official `bincount`
 * split drops trailing empty languages).
 */
import { LapeError, ParamError } from '../errors.js';

export interface EntropySelectOptions {
  /** Share of all L·I neurons to select, in (0, 1]. Default 0.01. */
  topRate?: number;
  /** Quantile (over all L·I·K scores) a neuron must exceed in some language to be eligible, in [0, 1). Default 0.95. */
  filterRate?: number;
  /** Quantile a selected neuron's score must exceed for a language to get it, in [0, 1). Default 0.95. */
  barRatio?: number;
}

export interface ResolvedEntropyOptions {
  topRate: number;
  filterRate: number;
  barRatio: number;
}

export interface EntropySelection {
  layers: number;
  neurons: number;
  /**
   * Entropy per neuron, row-major [layer][neuron], natural log; +∞ for neurons whose score is at
   * or below `filterBar` in every language (they are never selected).
   */
  entropy: Float64Array;
  /** Score at rank round(filterRate · L·I·K) of all scores sorted ascending (1-based rank). */
  filterBar: number;
  /** Score at rank round(barRatio · L·I·K) likewise; a selected neuron joins language k iff score_k > activationBar. */
  activationBar: number;
  /** round(L·I·topRate) (Python rounding, half to even). */
  requested: number;
  /** Neurons with finite entropy (eligible). */
  candidates: number;
  /** Ascending flat indices (layer·neurons + neuron) of the selected neurons: min(requested, candidates) of them. */
  selected: Int32Array;
  /** Largest entropy among the selected neurons (the cut); undefined when nothing is selected. */
  thresholdEntropy: number | undefined;
  /** masks[lang][layer] = ascending neuron indices. */
  masks: number[][][];
}

export const DEFAULT_TOP_RATE = 0.01;
export const DEFAULT_FILTER_RATE = 0.95;
export const DEFAULT_BAR_RATIO = 0.95;

/** Python 3 `round(x)` for a float: nearest integer, exact halves to the even neighbour. */
export function pyRound(x: number): number {
  const r = Math.round(x); // halves go up
  if (r - x === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/**
 * The official code's quantile: `tensor.kthvalue(round(numel · rate))`, where kthvalue's k is
 * 1-based, i.e. the element at 0-based position round(numel · rate) − 1 of the ascending sort.
 * torch rejects k = 0 (rate 0, or numel · rate < 0.5); lape clamps the rank to [1, numel], so
 * such a rate gives the minimum.
 */
export function quantileRank(numel: number, rate: number): number {
  return Math.min(numel, Math.max(1, pyRound(numel * rate)));
}

export function resolveEntropyOptions(opts: EntropySelectOptions = {}): ResolvedEntropyOptions {
  const topRate = opts.topRate ?? DEFAULT_TOP_RATE;
  const filterRate = opts.filterRate ?? DEFAULT_FILTER_RATE;
  const barRatio = opts.barRatio ?? DEFAULT_BAR_RATIO;
  if (typeof topRate !== 'number' || !(topRate > 0 && topRate <= 1)) {
    throw new ParamError(`top rate must be a number in (0, 1], got ${String(topRate)}`, 'topRate');
  }
  if (typeof filterRate !== 'number' || !(filterRate >= 0 && filterRate < 1)) {
    throw new ParamError(`filter rate must be a number in [0, 1), got ${String(filterRate)}`, 'filterRate');
  }
  if (typeof barRatio !== 'number' || !(barRatio >= 0 && barRatio < 1)) {
    throw new ParamError(`activation bar ratio must be a number in [0, 1), got ${String(barRatio)}`, 'barRatio');
  }
  return { topRate, filterRate, barRatio };
}

/** Checks the shape and the languages of a score set; `what` names it in errors. */
export function checkScores(
  languages: readonly string[],
  scores: readonly Float64Array[],
  layers: number,
  neurons: number,
  what: string,
): void {
  if (languages.length === 0) throw new LapeError(`${what}: no languages given`);
  if (languages.length !== scores.length) {
    throw new LapeError(`${what}: ${languages.length} languages but ${scores.length} score arrays`);
  }
  if (!Number.isSafeInteger(layers) || layers <= 0 || !Number.isSafeInteger(neurons) || neurons <= 0) {
    throw new LapeError(`${what}: invalid shape ${layers} layers × ${neurons} neurons`);
  }
  const seen = new Set<string>();
  for (const lang of languages) {
    if (typeof lang !== 'string' || lang.length === 0) throw new LapeError(`${what}: empty language code`);
    if (seen.has(lang)) throw new LapeError(`${what}: language "${lang}" appears twice`);
    seen.add(lang);
  }
  const n = layers * neurons;
  for (let k = 0; k < scores.length; k++) {
    const s = scores[k]!;
    if (s.length !== n) {
      throw new LapeError(
        `${what}: language "${languages[k]}" has ${s.length} values, expected ${layers} × ${neurons} = ${n}`,
      );
    }
    for (let j = 0; j < n; j++) {
      const v = s[j]!;
      if (!(v >= 0) || v === Infinity) {
        const layer = Math.floor(j / neurons);
        throw new LapeError(
          `${what}: language "${languages[k]}" has an invalid value ${v} at layer ${layer}, neuron ${j - layer * neurons} (must be finite and ≥ 0)`,
        );
      }
    }
  }
}

/**
 * Runs the entropy selection on per-language score arrays (row-major [layer][neuron], finite,
 * ≥ 0; call `checkScores` first). Memory: one Float64Array of L·I·K for the quantiles (freed
 * before the entropy pass), L·I for the entropy and at most L·I for the cut.
 */
export function selectByEntropy(
  scores: readonly Float64Array[],
  layers: number,
  neurons: number,
  options: EntropySelectOptions = {},
): EntropySelection {
  const { topRate, filterRate, barRatio } = resolveEntropyOptions(options);
  const K = scores.length;
  const N = layers * neurons;

  // Steps 4 and 7's bars: global quantiles over all L·I·K scores.
  let all: Float64Array | null = new Float64Array(N * K);
  for (let k = 0; k < K; k++) all.set(scores[k]!, k * N);
  all.sort();
  const filterBar = all[quantileRank(all.length, filterRate) - 1]!;
  const activationBar = all[quantileRank(all.length, barRatio) - 1]!;
  all = null;

  // Steps 2, 3, 5: normalise across languages, entropy, +∞ unless some language exceeds the bar.
  const entropy = new Float64Array(N);
  let candidates = 0;
  for (let j = 0; j < N; j++) {
    let sum = 0;
    let max = 0;
    for (let k = 0; k < K; k++) {
      const v = scores[k]![j]!;
      sum += v;
      if (v > max) max = v;
    }
    if (!(max > filterBar)) {
      entropy[j] = Infinity;
      continue;
    }
    if (!Number.isFinite(sum)) throw new LapeError(`scores overflow at flat index ${j}`);
    let h = 0;
    for (let k = 0; k < K; k++) {
      const p = scores[k]![j]! / sum;
      if (p > 0) h -= p * Math.log(p);
    }
    entropy[j] = h; // ≥ +0 (0 − 0 is +0)
    candidates++;
  }

  // Step 6: the `requested` lowest entropies; ties at the cut go to the lower flat index.
  const requested = pyRound(N * topRate);
  const take = Math.min(requested, candidates);
  const selected = new Int32Array(take);
  let thresholdEntropy: number | undefined;
  if (take > 0) {
    const finite = new Float64Array(candidates);
    for (let j = 0, c = 0; j < N; j++) if (entropy[j] !== Infinity) finite[c++] = entropy[j]!;
    finite.sort();
    const cut = finite[take - 1]!;
    thresholdEntropy = cut;
    let below = 0;
    for (let j = 0; j < N; j++) if (entropy[j]! < cut) below++;
    let atCut = take - below;
    for (let j = 0, s = 0; j < N; j++) {
      const h = entropy[j]!;
      if (h < cut || (h === cut && atCut-- > 0)) selected[s++] = j;
    }
  }

  // Steps 7 and 8: every language whose score exceeds the activation bar gets the neuron.
  const masks: number[][][] = [];
  for (let k = 0; k < K; k++) {
    const perLayer: number[][] = [];
    for (let l = 0; l < layers; l++) perLayer.push([]);
    masks.push(perLayer);
  }
  for (let s = 0; s < selected.length; s++) {
    const j = selected[s]!;
    const layer = Math.floor(j / neurons);
    const neuron = j - layer * neurons;
    for (let k = 0; k < K; k++) {
      if (scores[k]![j]! > activationBar) masks[k]![layer]!.push(neuron);
    }
  }

  return {
    layers,
    neurons,
    entropy,
    filterBar,
    activationBar,
    requested,
    candidates,
    selected,
    thresholdEntropy,
    masks,
  };
}

/** The settings an entropy selection records in NeuronMasks.settings. */
export function entropySettings(
  opts: ResolvedEntropyOptions,
  sel: EntropySelection,
): Record<string, number | string | boolean> {
  const out: Record<string, number | string | boolean> = {
    topRate: opts.topRate,
    filterRate: opts.filterRate,
    barRatio: opts.barRatio,
    filterBar: sel.filterBar,
    activationBar: sel.activationBar,
    requested: sel.requested,
    candidates: sel.candidates,
    selected: sel.selected.length,
  };
  if (sel.thresholdEntropy !== undefined) out.thresholdEntropy = sel.thresholdEntropy;
  return out;
}

/**
 * The paper's effects as single figures, computed from the demo's output files (ppl.json rows,
 * layers.csv totals, steering.json rows). bench/targets.ts reports them for any model and
 * test/demo.test.ts asserts the levels the embedded model reaches; both read them from here so the
 * figures in the READMEs and the tested levels are the same quantities.
 */

export interface PplRowRatios {
  id: string;
  pplRatio: Record<string, number>;
}

export interface OwnLanguageDamage {
  /** ℓ(k, k) = ln(PPL with language k's neurons zeroed / PPL unmodified) on k's text. */
  own: number;
  /** Mean ℓ(k, c) over the other languages c. */
  others: number;
  /** ℓ of the random control row `random:k` on k's text. */
  random: number;
  vsOthers: number;
  vsRandom: number;
}

/** Per language: how much zeroing its neurons hurts it, against the other languages and random neurons. */
export function ownLanguageDamage(rows: PplRowRatios[], langs: string[]): Record<string, OwnLanguageDamage> {
  const ell = (row: string, c: string): number => {
    const r = rows.find((x) => x.id === row);
    if (!r || r.pplRatio[c] === undefined) throw new Error(`ppl rows: no ratio for row ${row} on ${c}`);
    return Math.log(r.pplRatio[c]!);
  };
  const out: Record<string, OwnLanguageDamage> = {};
  for (const k of langs) {
    const own = ell(k, k);
    const rest = langs.filter((c) => c !== k).map((c) => ell(k, c));
    const others = rest.reduce((a, b) => a + b, 0) / rest.length;
    const random = ell(`random:${k}`, k);
    out[k] = { own, others, random, vsOthers: own / Math.max(others, 1e-9), vsRandom: own / Math.max(random, 1e-9) };
  }
  return out;
}

/** Neurons per layer averaged over the first ⌈L/4⌉, the middle and the last ⌈L/4⌉ layers (the paper's U). */
export function layerQuarters(perLayer: number[]): { q: number; first: number; middle: number; last: number } {
  const q = Math.ceil(perLayer.length / 4);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  return { q, first: mean(perLayer.slice(0, q)), middle: mean(perLayer.slice(q, perLayer.length - q)), last: mean(perLayer.slice(perLayer.length - q)) };
}

export interface SteeringRowShares {
  kind: string;
  source: string;
  target: string;
  normal: number;
  steered: number;
  normalSource: number;
  steeredSource: number;
}

/**
 * Activation rows (source ≠ target): the target-language share, steered minus normal, in points,
 * averaged per target over its sources, then over the targets; deactivation rows: the change of the
 * source's own share, in points, per language and averaged.
 */
export function steeringShareChanges(rows: SteeringRowShares[]): {
  pairs: number;
  perTarget: Record<string, number>;
  activate: number;
  raised: number;
  zeroPerLang: Record<string, number>;
  zeroOwn: number;
} {
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const act = rows.filter((r) => r.kind === 'activate' && r.source !== r.target);
  const perTarget: Record<string, number> = {};
  for (const t of new Set(act.map((r) => r.target))) perTarget[t] = 100 * mean(act.filter((r) => r.target === t).map((r) => r.steered - r.normal));
  const zeroPerLang = Object.fromEntries(rows.filter((r) => r.kind === 'deactivate').map((r) => [r.source, 100 * (r.steeredSource - r.normalSource)]));
  const targetValues = Object.values(perTarget);
  return {
    pairs: act.length,
    perTarget,
    activate: targetValues.length ? mean(targetValues) : NaN,
    raised: targetValues.filter((x) => x > 0).length,
    zeroPerLang,
    zeroOwn: Object.keys(zeroPerLang).length ? mean(Object.values(zeroPerLang)) : NaN,
  };
}

/**
 * The 95 % interval of the random controls: where a further random neuron set of the same sizes
 * is expected to fall, from N seeded sets (Student t prediction interval, N − 1 degrees of
 * freedom): mean ± t(0.975, N−1) · sd · √(1 + 1/N). A language's own cell above its upper end
 * is beyond what random neurons of the same per-layer sizes do. Needs N ≥ 2.
 */

const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** t quantile 0.975 for `df` degrees of freedom (table to 30, then 40/60/120/∞ steps). */
export function t975(df: number): number {
  if (!(Number.isInteger(df) && df >= 1)) throw new RangeError(`degrees of freedom must be a positive integer, got ${df}`);
  if (df <= 30) return T975[df - 1]!;
  if (df <= 40) return 2.021;
  if (df <= 60) return 2.0;
  if (df <= 120) return 1.98;
  return 1.96;
}

export interface Interval {
  mean: number;
  sd: number;
  lo: number;
  hi: number;
}

/** Mean, sample sd and the 95 % prediction interval of `xs` (null for fewer than 2 values). */
export function predictionInterval95(xs: readonly number[]): Interval | null {
  const n = xs.length;
  if (n < 2) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const half = t975(n - 1) * sd * Math.sqrt(1 + 1 / n);
  return { mean, sd, lo: mean - half, hi: mean + half };
}

/**
 * Mean and the 2.5 % / 97.5 % percentiles of `xs` (linear interpolation between order statistics,
 * numpy's default): the bootstrap percentile interval. Needs at least one value.
 */
export function percentileInterval95(xs: readonly number[]): { mean: number; lo: number; hi: number } {
  if (xs.length === 0) throw new RangeError('no values');
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => {
    const pos = p * (s.length - 1);
    const i = Math.floor(pos);
    return i + 1 < s.length ? s[i]! + (s[i + 1]! - s[i]!) * (pos - i) : s[i]!;
  };
  return { mean: xs.reduce((a, b) => a + b, 0) / xs.length, lo: q(0.025), hi: q(0.975) };
}

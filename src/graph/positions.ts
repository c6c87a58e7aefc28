/** Position encodings that are constants of the graph: rotary frequencies and ALiBi slopes. */
import type { RopeSpec } from '../archs/model-spec.js';

const f = Math.fround;

/**
 * RoPE inverse frequencies (dim / 2 values) with HF's scaling variants, rounded to float32 step
 * by step as HF computes them in float32. `dim` is the rotated part of a head (partial rotary).
 */
export function ropeInverseFrequencies(rope: RopeSpec): Float32Array {
  const half = rope.dim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    inv[i] = f(1 / f(Math.pow(rope.theta, f(f(2 * i) / rope.dim))));
  }
  const rs = rope.scaling;
  if (rs.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] = f(inv[i]! / rs.factor);
  } else if (rs.type === 'factors') {
    if (rs.factors.length !== half) throw new Error(`rope has ${half} frequencies but ${rs.factors.length} factors`);
    for (let i = 0; i < half; i++) inv[i] = f(inv[i]! / rs.factors[i]!);
  } else if (rs.type === 'llama3') {
    // Long wavelengths are divided by `factor`, short ones kept, the band between interpolated.
    const lowWavelen = rs.originalMaxPositionEmbeddings / rs.lowFreqFactor;
    const highWavelen = rs.originalMaxPositionEmbeddings / rs.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const freq = inv[i]!;
      const wavelen = f((2 * Math.PI) / freq);
      if (wavelen > lowWavelen) {
        inv[i] = f(freq / rs.factor);
      } else if (wavelen >= highWavelen) {
        const smooth = f((rs.originalMaxPositionEmbeddings / wavelen - rs.lowFreqFactor) / (rs.highFreqFactor - rs.lowFreqFactor));
        inv[i] = f(f((1 - smooth) * f(freq / rs.factor)) + f(smooth * freq));
      }
    }
  }
  return inv;
}

/**
 * ALiBi head slopes (Press et al.; BLOOM's build_alibi_tensor): a geometric sequence for the
 * largest power of two ≤ heads, the remaining heads interleaved from the next power's sequence.
 */
export function alibiSlopes(heads: number): Float32Array {
  const pow2 = 2 ** Math.floor(Math.log2(heads));
  const base = 2 ** -(2 ** -(Math.log2(pow2) - 3));
  const slopes: number[] = [];
  for (let p = 1; p <= pow2; p++) slopes.push(f(base ** p));
  if (pow2 !== heads) {
    const extraBase = 2 ** -(2 ** -(Math.log2(2 * pow2) - 3));
    const remaining = Math.min(pow2, heads - pow2);
    for (let p = 1; p < 1 + 2 * remaining; p += 2) slopes.push(f(extraBase ** p));
  }
  return Float32Array.from(slopes);
}

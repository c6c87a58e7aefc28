import type { ModelSpec } from '../checkpoint/model-spec.js';

const f = Math.fround;

/**
 * RoPE inverse frequencies (head_dim / 2 values) with HF's scaling variants, rounded to float32
 * step by step as HF computes them in float32.
 */
export function ropeInverseFrequencies(spec: Pick<ModelSpec, 'headDim' | 'ropeTheta' | 'ropeScaling'>): Float32Array {
  const half = spec.headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    inv[i] = f(1 / f(Math.pow(spec.ropeTheta, f(f(2 * i) / spec.headDim))));
  }
  const rs = spec.ropeScaling;
  if (rs.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] = f(inv[i]! / rs.factor);
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

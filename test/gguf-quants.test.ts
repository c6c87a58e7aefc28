/**
 * ggml block formats: lape's decoders against gguf-py's own `gguf.quants.dequantize` (reference
 * vectors written by tools/make_gguf_fixtures.py into quant-blocks.gguf), the quantisation error
 * against the source matrix, and the Q8_0 / Q4_0 / Q5_0 / Q3_K / Q6_K → MatMulNBits repack run by ONNX Runtime's
 * com.microsoft MatMulNBits kernel against a float32 matmul of the decoded weights (also for Q5_0,
 * Q3_K and Q6_K, whose sub-blocks are MatMulNBits blocks exactly).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { readGgufHeader, readGgufTensorBytes } from '../src/checkpoint/gguf.js';
import { dequantize, toMatMulNBits, QUANT_TYPES, type ExactNBitsType, type QuantType } from '../src/checkpoint/gguf-quants.js';
import { bytesToFloat32, halfToFloat } from '../src/checkpoint/safetensors.js';
import { repoPath } from './helpers/paths.js';

const { onnx } = onnxProto;
const header = readGgufHeader(repoPath('test/fixtures/gguf/quant-blocks.gguf'));
const f32 = (name: string): Float32Array => bytesToFloat32(readGgufTensorBytes(header, name), 'F32');
const quant = (type: QuantType): { bytes: Buffer; shape: number[] } => {
  const t = header.tensors.get(`${type}.q`)!;
  assert.equal(t.type, type);
  return { bytes: readGgufTensorBytes(header, t.name), shape: t.shape };
};

for (const type of QUANT_TYPES) {
  test(`${type} blocks decode exactly as gguf-py's dequantize`, () => {
    const { bytes, shape } = quant(type);
    const got = dequantize(type, bytes, shape[0]! * shape[1]!);
    const ref = f32(`${type}.ref`);
    assert.equal(got.length, ref.length);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!) / Math.max(1e-30, Math.abs(ref[i]!)));
    // gguf-py computes in numpy float32 like ggml; products of an f16 scale and a small integer are exact.
    assert.ok(worst <= 1e-6, `${type}: worst relative difference ${worst}`);
  });
}

/**
 * Per-block bound of |decoded − source| for gguf-py's reference quantisers: rounding to the grid
 * (half a step, a whole step at the clamped end of the symmetric 4/5-bit grids) plus the f16
 * rounding of the stored scale (relative 2^-11, times the largest |q|) and of the stored min.
 */
const ERROR_BOUND: Partial<Record<QuantType, { step: number; qmax: number; hasMin: boolean }>> = {
  Q8_0: { step: 0.5, qmax: 127, hasMin: false }, Q4_0: { step: 1, qmax: 8, hasMin: false }, Q4_1: { step: 0.5, qmax: 15, hasMin: true },
  Q5_0: { step: 1, qmax: 16, hasMin: false }, Q5_1: { step: 0.5, qmax: 31, hasMin: true },
};

test('quantisation error of Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 stays within the block step (measured)', (t) => {
  for (const [type, { step, qmax, hasMin }] of Object.entries(ERROR_BOUND) as Array<[QuantType, { step: number; qmax: number; hasMin: boolean }]>) {
    const { bytes, shape } = quant(type);
    const src = f32(`${type}.src`);
    const got = dequantize(type, bytes, src.length);
    const blockBytes = bytes.byteLength / (src.length / 32);
    let sq = 0;
    let ref = 0;
    for (let b = 0; b < src.length / 32; b++) {
      const d = Math.abs(halfToFloat(bytes.readUInt16LE(b * blockBytes)));
      const m = hasMin ? Math.abs(halfToFloat(bytes.readUInt16LE(b * blockBytes + 2))) : 0;
      const bound = (step + qmax * 2 ** -11) * d + m * 2 ** -11 + 1e-12;
      for (let j = 0; j < 32; j++) {
        const e = Math.abs(got[b * 32 + j]! - src[b * 32 + j]!);
        assert.ok(e <= bound, `${type} block ${b}: error ${e} > bound ${bound} (d ${d})`);
        sq += e * e;
        ref += src[b * 32 + j]! ** 2;
      }
    }
    // Relative RMS error, for the README (Q8_0 ≈ 0.4 %, Q4_0 ≈ 7 % on Gaussian data).
    const rel = Math.sqrt(sq / ref);
    t.diagnostic(`${type}: relative RMS quantisation error ${(100 * rel).toFixed(2)} %`);
    assert.ok(rel < (type === 'Q8_0' ? 0.01 : 0.15), `${type}: relative RMS error ${rel}`);
    assert.ok(shape[1]! % 32 === 0);
  }
});

/** One com.microsoft MatMulNBits node: Y[M, N] = A[M, K] · dequant(B)ᵀ. */
async function runMatMulNBits(type: ExactNBitsType, a: Float32Array, M: number, accuracyLevel: number): Promise<Float32Array> {
  const { bytes, shape } = quant(type);
  const [N, K] = shape as [number, number];
  const w = toMatMulNBits(type, bytes, N, K);
  const nb = K / w.blockSize;
  const T = onnx.TensorProto.DataType;
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'lape-test',
    opsetImport: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
    graph: {
      name: 'mmnb',
      node: [{
        opType: 'MatMulNBits', domain: 'com.microsoft', input: ['A', 'B', 'scales'], output: ['Y'],
        attribute: [
          { name: 'K', type: onnx.AttributeProto.AttributeType.INT, i: K },
          { name: 'N', type: onnx.AttributeProto.AttributeType.INT, i: N },
          { name: 'bits', type: onnx.AttributeProto.AttributeType.INT, i: w.bits },
          { name: 'block_size', type: onnx.AttributeProto.AttributeType.INT, i: w.blockSize },
          { name: 'accuracy_level', type: onnx.AttributeProto.AttributeType.INT, i: accuracyLevel },
        ],
      }],
      initializer: [
        { name: 'B', dataType: T.UINT8, dims: [N, nb, (w.blockSize * w.bits) / 8], rawData: w.B },
        { name: 'scales', dataType: T.FLOAT, dims: [N, nb], rawData: new Uint8Array(w.scales.buffer) },
      ],
      input: [{ name: 'A', type: { tensorType: { elemType: T.FLOAT, shape: { dim: [{ dimValue: M }, { dimValue: K }] } } } }],
      output: [{ name: 'Y', type: { tensorType: { elemType: T.FLOAT, shape: { dim: [{ dimValue: M }, { dimValue: N }] } } } }],
    },
  });
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ A: new ort.Tensor('float32', a, [M, K]) });
    return out.Y!.data as Float32Array;
  } finally {
    await session.release();
  }
}

for (const type of ['Q8_0', 'Q4_0', 'Q5_0', 'Q3_K', 'Q6_K'] as const) {
  test(`${type} repacked for MatMulNBits: ONNX Runtime's kernel equals the float32 matmul of the decoded blocks`, async (t) => {
    const { bytes, shape } = quant(type);
    const [N, K] = shape as [number, number];
    const W = dequantize(type, bytes, N * K);
    const M = 5;
    const a = new Float32Array(M * K);
    let s = 7;
    for (let i = 0; i < a.length; i++) {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      a[i] = s / 2 ** 31 - 0.5;
    }
    const want = new Float64Array(M * N);
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += a[m * K + k]! * W[n * K + k]!;
      want[m * N + n] = acc;
    }
    const scale = Math.max(...want.map(Math.abs));
    const exact = await runMatMulNBits(type, a, M, 0);
    const err0 = Math.max(...Array.from(exact, (v, i) => Math.abs(v - want[i]!)));
    // accuracy_level 0: float32 compute on exactly the same weights, only summation order differs.
    assert.ok(err0 <= 1e-5 * scale, `${type} acc 0: max error ${err0} vs scale ${scale}`);
    const int8 = await runMatMulNBits(type, a, M, 4);
    const err4 = Math.max(...Array.from(int8, (v, i) => Math.abs(v - want[i]!)));
    // accuracy_level 4 quantises A to int8 per block (step ≈ max|a|/127 → relative error ≲ 1 %).
    assert.ok(err4 <= 2e-2 * scale, `${type} acc 4: max error ${err4} vs scale ${scale}`);
    t.diagnostic(`${type}: MatMulNBits max error / output scale: acc 0 ${(err0 / scale).toExponential(2)}, acc 4 ${(err4 / scale).toExponential(2)}`);
  });
}

test('MatMulNBits repack refuses rows that are not whole blocks', () => {
  assert.throws(() => toMatMulNBits('Q8_0', new Uint8Array(34), 1, 16), /whole blocks/);
});

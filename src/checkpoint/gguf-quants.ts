/**
 * ggml's block-quantised tensor types: decoding to float32 (the arithmetic of ggml's
 * dequantize_row_* in float32, checked against gguf-py's `gguf.quants.dequantize`), and repacking
 * the symmetric types (x = s · v, v a small integer, s one float per sub-block: Q8_0, Q4_0, Q5_0,
 * Q3_K, Q6_K) into ONNX Runtime's MatMulNBits layout without going through float.
 *
 * Block layouts (little-endian; d, m, dmin are float16):
 *   Q8_0  [d][32 × int8 q]                       x = q·d
 *   Q4_0  [d][16 bytes]                          byte j: low nibble = q_j, high = q_{j+16}; x = (q − 8)·d
 *   Q4_1  [d][m][16 bytes]                       as Q4_0 without the 8; x = q·d + m
 *   Q5_0  [d][u32 qh][16 bytes]                  5th bit of q_j in qh bit j; x = (q − 16)·d
 *   Q5_1  [d][m][u32 qh][16 bytes]               x = q·d + m
 *   K-quants: 256-element super-blocks with 6-bit (Q4_K, Q5_K), 4-bit (Q2_K) or 8-bit (Q6_K)
 *   sub-block scales; see each decoder.
 */
import { LapeError } from '../errors.js';
import { halfToFloat } from './safetensors.js';

const f = Math.fround;

export const QUANT_TYPES = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K'] as const;
export type QuantType = (typeof QUANT_TYPES)[number];

const BLOCK: Record<QuantType, [number, number]> = {
  Q8_0: [32, 34], Q4_0: [32, 18], Q4_1: [32, 20], Q5_0: [32, 22], Q5_1: [32, 24],
  Q2_K: [256, 84], Q3_K: [256, 110], Q4_K: [256, 144], Q5_K: [256, 176], Q6_K: [256, 210],
};

export function isQuantType(t: string): t is QuantType {
  return (QUANT_TYPES as readonly string[]).includes(t);
}

/** Decodes `count` elements of a quantised tensor to float32. */
export function dequantize(type: QuantType, bytes: Uint8Array, count: number): Float32Array {
  const [qk, size] = BLOCK[type];
  if (count % qk !== 0) throw new LapeError(`${type}: ${count} elements are not a whole number of ${qk}-element blocks`);
  const blocks = count / qk;
  if (bytes.byteLength < blocks * size) throw new LapeError(`${type}: ${blocks} blocks need ${blocks * size} bytes, got ${bytes.byteLength}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  const decode = DECODERS[type];
  for (let b = 0; b < blocks; b++) decode(bytes, view, b * size, out, b * qk);
  return out;
}

type Decoder = (u8: Uint8Array, dv: DataView, o: number, y: Float32Array, yo: number) => void;

const half = (dv: DataView, o: number): number => halfToFloat(dv.getUint16(o, true));

/** Q4_K / Q5_K: 8 pairs of 6-bit (scale, min) packed in 12 bytes. */
function scaleMinK4(u8: Uint8Array, o: number, j: number): [number, number] {
  if (j < 4) return [u8[o + j]! & 63, u8[o + j + 4]! & 63];
  return [(u8[o + j + 4]! & 0xf) | ((u8[o + j - 4]! >> 6) << 4), (u8[o + j + 4]! >> 4) | ((u8[o + j]! >> 6) << 4)];
}

/**
 * The symmetric types: x = f32(s_j · v) with v an integer and s_j = f32 scale of sub-block j
 * (`sub` consecutive elements). `ints` writes the block's v, `scales` its sub-block scales, both
 * exactly as ggml's dequantize_row_* forms them; decoding and the MatMulNBits repack share them.
 */
interface Symmetric {
  sub: number;
  /** MatMulNBits code width holding v + 2^(bits−1): v ∈ [−2^(bits−1), 2^(bits−1)). */
  bits: 4 | 8;
  ints(u8: Uint8Array, dv: DataView, o: number, v: Int8Array): void;
  scales(u8: Uint8Array, dv: DataView, o: number, s: Float32Array): void;
}

/** Q3_K's 16 six-bit scales (minus 32), unpacked from 12 bytes as ggml does. */
function scalesQ3K(dv: DataView, o: number): Int8Array {
  const a = [dv.getUint32(o + 96, true), dv.getUint32(o + 100, true), dv.getUint32(o + 104, true)];
  const k1 = 0x03030303;
  const k2 = 0x0f0f0f0f;
  const aux = [
    ((a[0]! & k2) | (((a[2]! >>> 0) & k1) << 4)) >>> 0,
    ((a[1]! & k2) | (((a[2]! >>> 2) & k1) << 4)) >>> 0,
    (((a[0]! >>> 4) & k2) | (((a[2]! >>> 4) & k1) << 4)) >>> 0,
    (((a[1]! >>> 4) & k2) | (((a[2]! >>> 6) & k1) << 4)) >>> 0,
  ];
  return new Int8Array(new Uint32Array(aux).buffer);
}

export const SYMMETRIC: Partial<Record<QuantType, Symmetric>> = {
  // [d][32 × int8 q]
  Q8_0: {
    sub: 32, bits: 8,
    ints(u8, dv, o, v) { for (let j = 0; j < 32; j++) v[j] = dv.getInt8(o + 2 + j); },
    scales(u8, dv, o, s) { s[0] = half(dv, o); },
  },
  // [d][16 bytes]: byte j holds q_j (low nibble) and q_{j+16}; v = q − 8
  Q4_0: {
    sub: 32, bits: 4,
    ints(u8, dv, o, v) {
      for (let j = 0; j < 16; j++) {
        v[j] = (u8[o + 2 + j]! & 0xf) - 8;
        v[j + 16] = (u8[o + 2 + j]! >> 4) - 8;
      }
    },
    scales(u8, dv, o, s) { s[0] = half(dv, o); },
  },
  // [d][u32 qh][16 bytes]: 5th bit of q_j in qh bit j; v = q − 16 (8-bit codes: 5 bits do not fit 4)
  Q5_0: {
    sub: 32, bits: 8,
    ints(u8, dv, o, v) {
      const qh = dv.getUint32(o + 2, true);
      for (let j = 0; j < 16; j++) {
        const b = u8[o + 6 + j]!;
        v[j] = ((b & 0xf) | (((qh >>> j) << 4) & 0x10)) - 16;
        v[j + 16] = ((b >> 4) | ((qh >>> (j + 12)) & 0x10)) - 16;
      }
    },
    scales(u8, dv, o, s) { s[0] = half(dv, o); },
  },
  // [32 bytes hmask][64 bytes 2-bit q][12 bytes of 6-bit scales][d]; v = q − 4 where the hmask bit is clear
  Q3_K: {
    sub: 16, bits: 4,
    ints(u8, dv, o, v) {
      let q = o + 32;
      let m = 1;
      let k = 0;
      for (let n = 0; n < 256; n += 128) {
        for (let shift = 0; shift < 8; shift += 2) {
          for (const off of [0, 16]) {
            for (let l = 0; l < 16; l++) v[k++] = ((u8[q + off + l]! >> shift) & 3) - (u8[o + off + l]! & m ? 0 : 4);
          }
          m <<= 1;
        }
        q += 32;
      }
    },
    scales(u8, dv, o, s) {
      const d = half(dv, o + 108);
      const sc = scalesQ3K(dv, o);
      for (let j = 0; j < 16; j++) s[j] = f(d * (sc[j]! - 32));
    },
  },
  // [128 bytes low 4 bits][64 bytes high 2 bits][16 × int8 scales][d]; v = q − 32, element e scaled by scale e >> 4
  Q6_K: {
    sub: 16, bits: 8,
    ints(u8, dv, o, v) {
      let ql = o;
      let qh = o + 128;
      for (let k = 0; k < 256; k += 128) {
        for (let l = 0; l < 32; l++) {
          const h = u8[qh + l]!;
          v[k + l] = ((u8[ql + l]! & 0xf) | ((h & 3) << 4)) - 32;
          v[k + l + 32] = ((u8[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4)) - 32;
          v[k + l + 64] = ((u8[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
          v[k + l + 96] = ((u8[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
        }
        ql += 64;
        qh += 32;
      }
    },
    scales(u8, dv, o, s) {
      const d = half(dv, o + 208);
      for (let j = 0; j < 16; j++) s[j] = f(d * dv.getInt8(o + 192 + j));
    },
  },
};

/** Decoder of a symmetric type: y = f32(s_j · v). */
function symmetricDecoder(t: Symmetric, qk: number): Decoder {
  const v = new Int8Array(qk);
  const s = new Float32Array(qk / t.sub);
  return (u8, dv, o, y, yo) => {
    t.ints(u8, dv, o, v);
    t.scales(u8, dv, o, s);
    for (let j = 0; j < qk; j++) y[yo + j] = f(s[(j / t.sub) | 0]! * v[j]!);
  };
}

const DECODERS: Record<QuantType, Decoder> = {
  Q8_0: symmetricDecoder(SYMMETRIC.Q8_0!, 32),
  Q4_0: symmetricDecoder(SYMMETRIC.Q4_0!, 32),
  Q5_0: symmetricDecoder(SYMMETRIC.Q5_0!, 32),
  Q3_K: symmetricDecoder(SYMMETRIC.Q3_K!, 256),
  Q6_K: symmetricDecoder(SYMMETRIC.Q6_K!, 256),
  Q4_1(u8, dv, o, y, yo) {
    const d = half(dv, o);
    const m = half(dv, o + 2);
    for (let j = 0; j < 16; j++) {
      const b = u8[o + 4 + j]!;
      y[yo + j] = f(f((b & 0xf) * d) + m);
      y[yo + j + 16] = f(f((b >> 4) * d) + m);
    }
  },
  Q5_1(u8, dv, o, y, yo) {
    const d = half(dv, o);
    const m = half(dv, o + 2);
    const qh = dv.getUint32(o + 4, true);
    for (let j = 0; j < 16; j++) {
      const b = u8[o + 8 + j]!;
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      y[yo + j] = f(f(((b & 0xf) | h0) * d) + m);
      y[yo + j + 16] = f(f(((b >> 4) | h1) * d) + m);
    }
  },
  // [16 scale bytes: low nibble scale, high nibble min][64 bytes of 2-bit q][d][dmin]
  Q2_K(u8, dv, o, y, yo) {
    const d = half(dv, o + 80);
    const dmin = half(dv, o + 82);
    let q = o + 16;
    let is = 0;
    let k = yo;
    for (let n = 0; n < 256; n += 128) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (const off of [0, 16]) {
          const sc = u8[o + is++]!;
          const dl = f(d * (sc & 0xf));
          const ml = f(dmin * (sc >> 4));
          for (let l = 0; l < 16; l++) y[k++] = f(f(dl * ((u8[q + off + l]! >> shift) & 3)) - ml);
        }
      }
      q += 32;
    }
  },
  // [d][dmin][12 bytes scales/mins][128 bytes 4-bit q]
  Q4_K(u8, dv, o, y, yo) {
    const d = half(dv, o);
    const dmin = half(dv, o + 2);
    let q = o + 16;
    let k = yo;
    for (let is = 0; is < 8; is += 2) {
      const [s1, m1] = scaleMinK4(u8, o + 4, is);
      const [s2, m2] = scaleMinK4(u8, o + 4, is + 1);
      const d1 = f(d * s1), mm1 = f(dmin * m1), d2 = f(d * s2), mm2 = f(dmin * m2);
      for (let l = 0; l < 32; l++) y[k++] = f(f(d1 * (u8[q + l]! & 0xf)) - mm1);
      for (let l = 0; l < 32; l++) y[k++] = f(f(d2 * (u8[q + l]! >> 4)) - mm2);
      q += 32;
    }
  },
  // [d][dmin][12 bytes scales/mins][32 bytes qh][128 bytes 4-bit q]
  Q5_K(u8, dv, o, y, yo) {
    const d = half(dv, o);
    const dmin = half(dv, o + 2);
    const qh = o + 16;
    let ql = o + 48;
    let k = yo;
    let u1 = 1;
    let u2 = 2;
    for (let is = 0; is < 8; is += 2) {
      const [s1, m1] = scaleMinK4(u8, o + 4, is);
      const [s2, m2] = scaleMinK4(u8, o + 4, is + 1);
      const d1 = f(d * s1), mm1 = f(dmin * m1), d2 = f(d * s2), mm2 = f(dmin * m2);
      for (let l = 0; l < 32; l++) y[k++] = f(f(d1 * ((u8[ql + l]! & 0xf) + (u8[qh + l]! & u1 ? 16 : 0))) - mm1);
      for (let l = 0; l < 32; l++) y[k++] = f(f(d2 * ((u8[ql + l]! >> 4) + (u8[qh + l]! & u2 ? 16 : 0))) - mm2);
      ql += 32;
      u1 <<= 2;
      u2 <<= 2;
    }
  },
};

/** A weight in ONNX Runtime's MatMulNBits layout (com.microsoft; B is [N, K] row-major, blocks along K). */
export interface MatMulNBitsWeight {
  bits: 4 | 8;
  blockSize: number;
  /** K (input features) and N (output features): a GGUF [N, K] matrix. */
  K: number;
  N: number;
  /** uint8 [N][K / blockSize][blockSize · bits / 8]. */
  B: Uint8Array;
  /** float32 [N][K / blockSize]. */
  scales: Float32Array;
  /** None: every block uses the default zero point 2^(bits−1). */
  zeroPoints: null;
}

export type ExactNBitsType = 'Q8_0' | 'Q4_0' | 'Q5_0' | 'Q3_K' | 'Q6_K';

/** The types whose blocks are MatMulNBits blocks exactly, with the MatMulNBits bits and block size. */
export function exactNBits(type: string): { bits: 4 | 8; blockSize: number } | null {
  const t = isQuantType(type) ? SYMMETRIC[type] : undefined;
  return t ? { bits: t.bits, blockSize: t.sub } : null;
}

/**
 * Repacks a matrix of a symmetric type, `rows` × `cols` (GGUF's [N, K]), into MatMulNBits blocks
 * of the type's sub-block size, exactly (no rounding): code = v + 2^(bits−1) with the default zero
 * point, so the kernel's (code − zero point) · scale is ggml's s · v; scale = ggml's sub-block
 * scale (the f16 d widened, or the f32 product d · sub-scale ggml forms). Q8_0: the int8 byte
 * XOR 0x80; Q4_0: nibbles reordered from ggml's (j, j+16) pairs to MatMulNBits' consecutive
 * (2i, 2i+1) pairs; Q5_0 and Q6_K: 8-bit codes; Q3_K: 4-bit codes, blocks of 16. The types with a
 * per-block minimum (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K: x = s·q + m) would need a float zero point
 * −m/s, which is not exact in float32, so they are not offered here.
 */
export function toMatMulNBits(type: ExactNBitsType, bytes: Uint8Array, rows: number, cols: number): MatMulNBitsWeight {
  const [qk, size] = BLOCK[type];
  const t = SYMMETRIC[type]!;
  if (cols % qk !== 0) throw new LapeError(`${type}: rows of ${cols} are not whole blocks of ${qk}`);
  const nb = cols / qk;
  if (bytes.byteLength < rows * nb * size) throw new LapeError(`${type}: ${rows} × ${nb} blocks need ${rows * nb * size} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const per = qk / t.sub;
  const zero = 1 << (t.bits - 1);
  const B = new Uint8Array((rows * cols * t.bits) / 8);
  const scales = new Float32Array(rows * nb * per);
  const v = new Int8Array(qk);
  for (let blk = 0; blk < rows * nb; blk++) {
    const o = blk * size;
    t.ints(bytes, dv, o, v);
    t.scales(bytes, dv, o, scales.subarray(blk * per, (blk + 1) * per));
    const out = (blk * qk * t.bits) / 8;
    if (t.bits === 8) for (let j = 0; j < qk; j++) B[out + j] = v[j]! + zero;
    else for (let i = 0; i < qk / 2; i++) B[out + i] = (v[2 * i]! + zero) | ((v[2 * i + 1]! + zero) << 4);
  }
  return { bits: t.bits, blockSize: t.sub, K: cols, N: rows, B, scales, zeroPoints: null };
}

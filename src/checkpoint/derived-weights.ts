/**
 * Weights in another type than stored (--weights bf16 | int8 | int4), or a quantised GGUF file's
 * weights in a form ONNX Runtime runs, written once into a cache folder and memory-mapped from
 * there like a checkpoint's own files. The user's checkpoint is only read. int8/int4 are ONNX
 * Runtime MatMulNBits blocks (com.microsoft): per output row, blocks of `blockSize` input weights,
 * symmetric (w ≈ (q − 2^(bits−1)) · scale, scale = max|w| / (2^(bits−1) − 1)), uint8 codes, two
 * 4-bit codes per byte (even index in the low nibble), one f32 scale per block. Only the
 * projections of the blocks are quantised; embeddings, norms, biases and the LM head keep their
 * stored type (bf16 converts every tensor). w8a8 holds the projections as int8 per output channel
 * (scale = max|w| / 127 over the whole input row), transposed to [k, n] for MatMulInteger; the graph
 * quantises the activations per token, so the matmuls run on int8 kernels (decoder.ts).
 *
 * Quantised GGUF tensors: with the default `stored`, a projection of a type whose blocks are
 * MatMulNBits blocks exactly (Q8_0, Q4_0, Q5_0, Q3_K, Q6_K; gguf-quants.ts) is repacked without
 * rounding; every other quantised tensor (other types, embeddings, LM head) is decoded to f32,
 * exactly as ggml decodes it. `f32` decodes all of them, `bf16` rounds the decoded values to bf16,
 * int8/int4 re-quantise the projections from the decoded values. Plain tensors (F32/F16 norms,
 * fallbacks) are copied: the session reads external data from one folder, ORT refuses symlinks
 * that leave it, and a hard link would pin the user's file (and fails across file systems).
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, statfsSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LapeError } from '../errors.js';
import type { LayerRole } from '../archs/family.js';
import type { Checkpoint } from './checkpoint.js';
import type { TensorLocation, WeightLocation } from '../archs/tensor-locations.js';
import { readSafetensorsHeader, readFileRange, bytesToFloat32, type DType } from './safetensors.js';
import { dequantize, exactNBits, isQuantType, toMatMulNBits, type ExactNBitsType } from './gguf-quants.js';

export type WeightType = 'stored' | 'f32' | 'bf16' | 'int8' | 'int4' | 'w8a8';
export const WEIGHT_TYPES: readonly WeightType[] = ['stored', 'f32', 'bf16', 'int8', 'int4', 'w8a8'];
/** Types whose projections are written into the cache quantised. */
export const QUANTISED_TYPES: readonly WeightType[] = ['int8', 'int4', 'w8a8'];

/** Block sizes: 32 for int4 (as GGUF Q4_0), 128 for int8 (scales cost 3 % instead of 12 %; measured faster). */
export const BLOCK_SIZE = { int8: 128, int4: 32 } as const;

const FORMAT = 'lape-derived-weights-1';
const PROJECTIONS: readonly LayerRole[] = ['q', 'k', 'v', 'qkv', 'o', 'gate', 'up', 'down'];

export interface DerivedWeights {
  dir: string;
  type: WeightType;
  bytes: number;
  /** The weights in words, e.g. "MatMulNBits 8-bit (exact Q8_0) + F32". */
  label: string;
  /** Some plain tensors are f16/bf16 (cast per run when mapped). */
  halfWeights: boolean;
  locate(name: string): TensorLocation;
}

/** How the used tensors of one stored type are held in memory. */
export interface Holding {
  stored: string;
  held: string;
  tensors: number;
  parameters: number;
  storedBytes: number;
  heldBytes: number;
}

export function cacheRoot(): string {
  if (process.env.LAPE_CACHE_DIR) return process.env.LAPE_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lape');
}

/** The checkpoint's identity for the cache: its identity hash, each weight file's size and mtime, every used tensor. */
function cacheKey(ck: Checkpoint, type: WeightType): string {
  const h = createHash('sha256').update(FORMAT).update(type).update(ck.identitySha256);
  for (const file of [...new Set([...ck.weights.values()].map((w) => w.file))].sort()) {
    const st = statSync(join(ck.folder, file));
    h.update(`${file}:${st.size}:${st.mtimeMs}`);
  }
  for (const name of ck.tensors.shapes.keys()) {
    const w = ck.weights.get(name)!;
    h.update(`${name}:${w.dtype}:${w.shape.join('x')}:${w.file}:${w.fileOffset}`);
  }
  return h.digest('hex').slice(0, 24);
}

interface Planned {
  /** Name in the derived file. */
  key: string;
  source: string;
  dtype: DType;
  shape: number[];
  bytes: number;
  /** What encode needs of the source: its stored bytes, its values as f32, or nothing (reuses the previous entry's work). */
  needs: 'raw' | 'f32' | 'none';
  encode: (f32: Float32Array, raw: Buffer) => Uint8Array;
  /** How the source tensor is held (set on its first entry). */
  held?: string;
  /** MatMulNBits codes entry: the block parameters. */
  nbits?: { bits: 4 | 8; blockSize: number };
  /** MatMulInteger codes entry (w8a8). */
  int8?: true;
}

const f32ToBf16 = (src: Float32Array): Uint8Array => {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const x = u[i]!;
    // Round to nearest even; NaN stays NaN.
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return new Uint8Array(out.buffer);
};

/** W [n, k] row-major → MatMulNBits codes [n, blocks, blockSize·bits/8] and scales [n·blocks]. */
export function quantizeBlocks(w: Float32Array, n: number, k: number, bits: 4 | 8, blockSize: number): { codes: Uint8Array; scales: Float32Array } {
  const blocks = Math.ceil(k / blockSize);
  const blob = (blockSize * bits) / 8;
  const codes = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const zero = 1 << (bits - 1);
  const qmax = zero - 1;
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < blocks; b++) {
      const start = r * k + b * blockSize;
      const len = Math.min(blockSize, k - b * blockSize);
      let amax = 0;
      for (let j = 0; j < len; j++) amax = Math.max(amax, Math.abs(w[start + j]!));
      const scale = amax / qmax;
      scales[r * blocks + b] = scale;
      const inv = scale > 0 ? 1 / scale : 0;
      const base = (r * blocks + b) * blob;
      for (let j = 0; j < blockSize; j++) {
        const q = j < len ? Math.min(2 * zero - 1, Math.max(0, Math.round(w[start + j]! * inv) + zero)) : zero;
        if (bits === 8) codes[base + j] = q;
        else codes[base + (j >> 1)]! |= (j & 1) ? q << 4 : q;
      }
    }
  }
  return { codes, scales };
}

/** W [n, k] row-major → int8 codes [k, n] (transposed, for MatMulInteger) and one scale per output row. */
export function quantizePerChannel(w: Float32Array, n: number, k: number): { codes: Int8Array; scales: Float32Array } {
  const codes = new Int8Array(k * n);
  const scales = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    let amax = 0;
    for (let j = 0; j < k; j++) amax = Math.max(amax, Math.abs(w[r * k + j]!));
    const scale = amax / 127;
    scales[r] = scale;
    const inv = scale > 0 ? 1 / scale : 0;
    for (let j = 0; j < k; j++) codes[j * n + r] = Math.round(w[r * k + j]! * inv);
  }
  return { codes, scales };
}

function plan(ck: Checkpoint, type: WeightType): Planned[] {
  const projections = new Set<string>();
  for (const layer of ck.tensors.layers) for (const r of PROJECTIONS) if (layer[r]) projections.add(layer[r]!.weight);
  const inOut = ck.spec.weightLayout === 'in-out';
  const out: Planned[] = [];
  for (const [name, shape] of ck.tensors.shapes) {
    const stored = ck.weights.get(name)!;
    const numel = shape.reduce((a, b) => a * b, 1);
    const exact = type === 'stored' && projections.has(name) && !inOut && shape.length === 2 ? exactNBits(stored.dtype) : null;
    if (projections.has(name) && type === 'w8a8') {
      const [n, k] = inOut ? [shape[1]!, shape[0]!] : [shape[0]!, shape[1]!];
      let last: { codes: Int8Array; scales: Float32Array } | null = null;
      out.push({
        key: `${name}::codes`, source: name, dtype: 'I8', shape: [k, n], bytes: n * k, needs: 'f32',
        encode: (f32) => {
          last = quantizePerChannel(inOut ? transpose(f32, k, n) : f32, n, k);
          return new Uint8Array(last.codes.buffer);
        },
        held: `int8 per channel, W8A8 (MatMulInteger)${isQuantType(stored.dtype) ? ' (re-quantised from the decoded values)' : ''}`, int8: true,
      });
      out.push({
        key: `${name}::scales`, source: name, dtype: 'F32', shape: [n], bytes: n * 4, needs: 'none',
        encode: () => new Uint8Array(last!.scales.buffer),
      });
    } else if (projections.has(name) && (type === 'int8' || type === 'int4')) {
      const bits = type === 'int8' ? 8 : 4;
      const blockSize = BLOCK_SIZE[type];
      const [n, k] = inOut ? [shape[1]!, shape[0]!] : [shape[0]!, shape[1]!];
      const blocks = Math.ceil(k / blockSize);
      let last: { codes: Uint8Array; scales: Float32Array } | null = null;
      const quantize = (f32: Float32Array): { codes: Uint8Array; scales: Float32Array } => {
        const w = inOut ? transpose(f32, k, n) : f32;
        return quantizeBlocks(w, n, k, bits, blockSize);
      };
      out.push({
        key: `${name}::codes`, source: name, dtype: 'U8', shape: [n, blocks, (blockSize * bits) / 8], bytes: (n * blocks * blockSize * bits) / 8, needs: 'f32',
        encode: (f32) => (last = quantize(f32)).codes,
        held: `MatMulNBits ${bits}-bit, block ${blockSize}${isQuantType(stored.dtype) ? ' (re-quantised from the decoded values)' : ''}`, nbits: { bits, blockSize },
      });
      out.push({
        key: `${name}::scales`, source: name, dtype: 'F32', shape: [n * blocks], bytes: n * blocks * 4, needs: 'none',
        encode: () => new Uint8Array(last!.scales.buffer),
      });
    } else if (exact) {
      const { bits, blockSize } = exact;
      const [n, k] = [shape[0]!, shape[1]!];
      const blocks = k / blockSize;
      let last: { B: Uint8Array; scales: Float32Array } | null = null;
      out.push({
        key: `${name}::codes`, source: name, dtype: 'U8', shape: [n, blocks, (blockSize * bits) / 8], bytes: (n * k * bits) / 8, needs: 'raw',
        encode: (_f, raw) => (last = toMatMulNBits(stored.dtype as ExactNBitsType, raw, n, k)).B,
        held: `MatMulNBits ${bits}-bit, block ${blockSize}, exact`, nbits: { bits, blockSize },
      });
      out.push({
        key: `${name}::scales`, source: name, dtype: 'F32', shape: [n * blocks], bytes: n * blocks * 4, needs: 'none',
        encode: () => new Uint8Array(last!.scales.buffer),
      });
    } else if (type === 'bf16' && stored.dtype !== 'BF16') {
      out.push({ key: name, source: name, dtype: 'BF16', shape, bytes: numel * 2, needs: 'f32', encode: (f32) => f32ToBf16(f32), held: isQuantType(stored.dtype) ? 'BF16 (decoded, rounded)' : 'BF16' });
    } else if (isQuantType(stored.dtype)) {
      out.push({ key: name, source: name, dtype: 'F32', shape, bytes: numel * 4, needs: 'f32', encode: (f32) => new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength), held: 'F32 (decoded exactly)' });
    } else {
      out.push({ key: name, source: name, dtype: stored.dtype, shape, bytes: stored.byteLength, needs: 'raw', encode: (_f, raw) => raw, held: stored.dtype });
    }
  }
  return out;
}

/** Per stored type and holding: tensors, parameters, bytes stored and held (what `lape info` shows). */
export function weightHoldings(ck: Checkpoint, type: WeightType): Holding[] {
  const rows = new Map<string, Holding>();
  const held = new Map<string, string>();
  const bytes = new Map<string, number>();
  for (const p of plan(ck, type)) {
    if (p.held) held.set(p.source, p.held);
    bytes.set(p.source, (bytes.get(p.source) ?? 0) + p.bytes);
  }
  for (const [name, shape] of ck.tensors.shapes) {
    const w = ck.weights.get(name)!;
    const h = held.get(name)!;
    const key = `${w.dtype}\0${h}`;
    const r = rows.get(key) ?? { stored: w.dtype, held: h, tensors: 0, parameters: 0, storedBytes: 0, heldBytes: 0 };
    r.tensors++;
    r.parameters += shape.reduce((a, b) => a * b, 1);
    r.storedBytes += w.byteLength;
    r.heldBytes += bytes.get(name)!;
    rows.set(key, r);
  }
  return [...rows.values()].sort((a, b) => b.parameters - a.parameters);
}

/** A tensor's values as f32 from its stored bytes (quantised blocks decoded as ggml does). */
function valuesF32(raw: Buffer, dtype: string, count: number): Float32Array {
  return isQuantType(dtype) ? dequantize(dtype, raw, count) : bytesToFloat32(raw, dtype as DType);
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c]!;
  return t;
}

/**
 * The checkpoint's weights in `type`, from the cache or written now (atomically: a folder renamed
 * into place when complete). `onProgress` is told about a write, which can take minutes on 7B.
 */
export function derivedWeights(ck: Checkpoint, type: WeightType, onProgress?: (m: string) => void): DerivedWeights {
  const root = cacheRoot();
  const dir = join(root, 'weights', `${cacheKey(ck, type)}-${type}`);
  const file = 'weights.safetensors';
  const planned = plan(ck, type);
  if (!existsSync(join(dir, file))) write(ck, planned, root, dir, file, type, onProgress);
  const header = readSafetensorsHeader(join(dir, file));
  const at = (key: string): { offset: number; length: number } => {
    const t = header.tensors.get(key);
    if (!t) throw new LapeError(`derived weights lack "${key}" (delete the folder to rebuild it)`, dir);
    return { offset: t.fileOffset, length: t.byteLength };
  };
  const nbits = new Map(planned.filter((p) => p.nbits).map((p) => [p.source, p.nbits!]));
  const int8 = new Set(planned.filter((p) => p.int8).map((p) => p.source));
  const holdings = weightHoldings(ck, type);
  return {
    dir,
    type,
    bytes: planned.reduce((a, p) => a + p.bytes, 0),
    label: !ck.dtypes.some(isQuantType) ? type : [...new Set(holdings.map((h) => (h.held.startsWith('MatMulNBits') ? `${h.held.replace(/, block \d+/, '')} ${h.stored}` : h.held.replace(/ \(.*\)$/, ''))))].join(' + '),
    halfWeights: planned.some((p) => !p.key.includes('::') && (p.dtype === 'F16' || p.dtype === 'BF16')),
    locate(name) {
      const codes = header.tensors.get(`${name}::codes`);
      if (codes && int8.has(name)) {
        const [k, n] = codes.shape as [number, number];
        if (codes.dtype !== 'I8' || codes.shape.length !== 2) throw new LapeError(`derived weights of "${name}" are not int8 [k, n] (delete the folder to rebuild it)`, dir);
        return { kind: 'w8a8', file, n, k, codes: at(`${name}::codes`), scales: at(`${name}::scales`) };
      }
      const nb = nbits.get(name);
      if (codes && nb) {
        const [n, blocks, blob] = codes.shape as [number, number, number];
        const { bits, blockSize } = nb;
        if (blob !== (blockSize * bits) / 8) throw new LapeError(`derived weights of "${name}" have ${blob}-byte blocks, expected ${(blockSize * bits) / 8} (delete the folder to rebuild it)`, dir);
        const shape = ck.tensors.shapes.get(name)!;
        const k = ck.spec.weightLayout === 'in-out' ? shape[0]! : shape[1]!;
        if (blocks !== Math.ceil(k / blockSize)) throw new LapeError(`derived weights of "${name}" have ${blocks} blocks, expected ${Math.ceil(k / blockSize)}`, dir);
        return { kind: 'nbits', file, bits, blockSize, n, k, codes: at(`${name}::codes`), scales: at(`${name}::scales`) };
      }
      const t = header.tensors.get(name);
      if (!t) throw new LapeError(`derived weights lack "${name}" (delete the folder to rebuild it)`, dir);
      return { kind: 'plain', file, dtype: t.dtype as WeightLocation['dtype'], shape: t.shape, ...at(name) };
    },
  };
}

function write(ck: Checkpoint, planned: Planned[], root: string, dir: string, file: string, type: WeightType, onProgress?: (m: string) => void): void {
  const total = planned.reduce((a, p) => a + p.bytes, 0);
  mkdirSync(join(root, 'weights'), { recursive: true });
  const fs = statfsSync(join(root, 'weights'));
  const free = fs.bavail * fs.bsize;
  if (free < total * 1.02 + 2 ** 26) {
    throw new LapeError(
      `not enough disk space for the ${type} weights: ${(total / 2 ** 30).toFixed(2)} GiB needed, ${(free / 2 ** 30).toFixed(2)} GiB free (set LAPE_CACHE_DIR to another folder)`,
      join(root, 'weights'),
    );
  }
  const header: Record<string, unknown> = { __metadata__: { format: FORMAT, type, source: ck.dir } };
  let offset = 0;
  for (const p of planned) {
    header[p.key] = { dtype: p.dtype, shape: p.shape, data_offsets: [offset, offset + p.bytes] };
    offset += p.bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const tmp = `${dir}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const fd = openSync(join(tmp, file), 'w');
  const started = Date.now();
  try {
    let pos = 0;
    const put = (b: Uint8Array): void => {
      let done = 0;
      while (done < b.byteLength) done += writeSync(fd, b, done, b.byteLength - done, pos + done);
      pos += b.byteLength;
    };
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    put(len);
    put(Buffer.from(json, 'utf8'));
    let lastReport = 0;
    for (const [i, p] of planned.entries()) {
      const ref = ck.weights.get(p.source)!;
      const raw = p.needs === 'none' ? Buffer.alloc(0) : readFileRange(join(ck.folder, ref.file), ref.fileOffset, ref.byteLength, `tensor "${p.source}"`);
      const bytes = p.encode(p.needs === 'f32' ? valuesF32(raw, ref.dtype, ref.shape.reduce((a, b) => a * b, 1)) : new Float32Array(0), raw);
      if (bytes.byteLength !== p.bytes) throw new LapeError(`internal: "${p.key}" encoded to ${bytes.byteLength} bytes, planned ${p.bytes}`);
      put(bytes);
      if (onProgress && Date.now() - lastReport > 5000) {
        lastReport = Date.now();
        onProgress(`writing ${type} weights: ${i + 1}/${planned.length} tensors, ${(pos / 2 ** 30).toFixed(2)} of ${(total / 2 ** 30).toFixed(2)} GiB, ${((Date.now() - started) / 1000).toFixed(0)} s`);
      }
    }
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(dir, file))) throw e; // another process finished the same folder first
  }
  onProgress?.(`wrote ${type} weights (${(total / 2 ** 30).toFixed(2)} GiB) to ${dir} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

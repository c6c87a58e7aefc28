/**
 * safetensors: 8-byte little-endian header length, a JSON header, then raw little-endian data.
 * Reading validates the header completely (so later offsets are trusted) and reads tensors
 * lazily by byte range; writing goes to a temporary name and is renamed into place, so a crash
 * never leaves a half-written file.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { LapeError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<DType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte offset of the data in the file (8 + header length + data_offsets[0]). */
  fileOffset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  path: string;
  headerLength: number;
  fileSize: number;
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

/** Largest header we accept; real headers are far below this (protects against garbage). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Reads and validates the header of a safetensors file. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new LapeError(`cannot open safetensors file (${(e as NodeJS.ErrnoException).code ?? e})`, path);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new LapeError('is a folder (or another non-file), expected a safetensors file', path);
    const fileSize = st.size;
    if (fileSize < 8) throw new LapeError(`file is ${fileSize} bytes, too short for a safetensors header`, path);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLength = Number(lenBuf.readBigUInt64LE(0));
    if (headerLength > fileSize - 8 || headerLength > MAX_HEADER_BYTES) {
      throw new LapeError(
        `header length ${headerLength} runs past the end of the file (${fileSize} bytes): not a safetensors file or truncated`,
        path,
      );
    }
    const headerBuf = Buffer.alloc(headerLength);
    readSync(fd, headerBuf, 0, headerLength, 8);
    let raw: unknown;
    try {
      raw = JSON.parse(headerBuf.toString('utf8'));
    } catch (e) {
      throw new LapeError(`header is not valid JSON (${(e as Error).message})`, path);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new LapeError('header is not a JSON object', path);
    }
    const dataStart = 8 + headerLength;
    const dataSize = fileSize - dataStart;
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    const ranges: Array<[number, number, string]> = [];
    for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
      if (name === '__metadata__') {
        metadata = parseMetadata(value, path);
        continue;
      }
      const info = parseEntry(name, value, path);
      const [begin, end] = info.offsets;
      if (end > dataSize) {
        throw new LapeError(
          `tensor "${name}" byte range [${begin}, ${end}) lies outside the data section (${dataSize} bytes)`,
          path,
        );
      }
      ranges.push([begin, end, name]);
      tensors.set(name, {
        name,
        dtype: info.dtype,
        shape: info.shape,
        fileOffset: dataStart + begin,
        byteLength: end - begin,
      });
    }
    ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (let i = 1; i < ranges.length; i++) {
      const prev = ranges[i - 1]!;
      const cur = ranges[i]!;
      if (cur[0] < prev[1] && cur[1] > cur[0] && prev[1] > prev[0]) {
        throw new LapeError(`tensors "${prev[2]}" and "${cur[2]}" have overlapping byte ranges`, path);
      }
    }
    return { path, headerLength, fileSize, tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

function parseMetadata(value: unknown, path: string): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LapeError('__metadata__ is not an object of strings', path);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new LapeError(`__metadata__ entry "${k}" is not a string`, path);
    out[k] = v;
  }
  return out;
}

function parseEntry(
  name: string,
  value: unknown,
  path: string,
): { dtype: DType; shape: number[]; offsets: [number, number] } {
  if (typeof value !== 'object' || value === null) {
    throw new LapeError(`tensor "${name}" has no header entry object`, path);
  }
  const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof v.dtype !== 'string' || !(v.dtype in DTYPE_BYTES)) {
    throw new LapeError(
      `tensor "${name}" has unknown dtype ${JSON.stringify(v.dtype)} (known: ${Object.keys(DTYPE_BYTES).join(', ')})`,
      path,
    );
  }
  const dtype = v.dtype as DType;
  if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new LapeError(`tensor "${name}" has an invalid shape ${JSON.stringify(v.shape)}`, path);
  }
  const shape = v.shape as number[];
  const off = v.data_offsets;
  if (
    !Array.isArray(off) || off.length !== 2 ||
    !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[1] < off[0]
  ) {
    throw new LapeError(`tensor "${name}" has invalid data_offsets ${JSON.stringify(off)}`, path);
  }
  const expected = numel(shape) * DTYPE_BYTES[dtype];
  if (off[1] - off[0] !== expected) {
    throw new LapeError(
      `tensor "${name}" (${dtype} ${JSON.stringify(shape)}) needs ${expected} bytes but data_offsets span ${off[1] - off[0]}`,
      path,
    );
  }
  return { dtype, shape, offsets: [off[0], off[1]] };
}

/** Reads the raw bytes of one tensor. */
export function readTensorBytes(header: SafetensorsHeader, name: string): Buffer {
  const info = header.tensors.get(name);
  if (!info) throw new LapeError(`no tensor named "${name}"`, header.path);
  return readFileRange(header.path, info.fileOffset, info.byteLength, name);
}

/** Reads [offset, offset + length) of a file (`what` names the data in messages). */
export function readFileRange(path: string, offset: number, length: number, what: string): Buffer {
  const buf = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, buf, done, length - done, offset + done);
      if (n === 0) throw new LapeError(`unexpected end of file reading "${what}"`, path);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

/** Converts raw little-endian bytes of a floating dtype to Float32Array (f16/bf16 exactly). */
export function bytesToFloat32(bytes: Buffer, dtype: DType): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const out = new Float32Array(n);
  // Typed-array views (little-endian hosts) are ~20× faster than Buffer.read*: copy unaligned input first.
  const width = DTYPE_BYTES[dtype];
  const src = bytes.byteOffset % width === 0 ? bytes : Buffer.from(bytes);
  switch (dtype) {
    case 'F32':
      out.set(new Float32Array(src.buffer, src.byteOffset, n));
      return out;
    case 'F64':
      out.set(new Float64Array(src.buffer, src.byteOffset, n));
      return out;
    case 'BF16': {
      const u16 = new Uint16Array(src.buffer, src.byteOffset, n);
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u32[i] = u16[i]! << 16;
      return out;
    }
    case 'F16': {
      const u16 = new Uint16Array(src.buffer, src.byteOffset, n);
      const table = halfTable();
      for (let i = 0; i < n; i++) out[i] = table[u16[i]!]!;
      return out;
    }
    default:
      throw new LapeError(`tensor of dtype ${dtype} is not floating point`);
  }
}

let HALF_TABLE: Float32Array | undefined;
/** Every f16 bit pattern as f32 (256 KiB, built once). */
function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfToFloat(h);
  }
  return HALF_TABLE;
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Reads a tensor of any numeric dtype as a JS array type fitting it (integers as Float64 when 64-bit). */
export function readTensorF32(header: SafetensorsHeader, name: string): Float32Array {
  const info = header.tensors.get(name);
  if (!info) throw new LapeError(`no tensor named "${name}"`, header.path);
  return bytesToFloat32(readTensorBytes(header, name), info.dtype);
}

export function readTensorF64(header: SafetensorsHeader, name: string): Float64Array {
  const info = header.tensors.get(name);
  if (!info) throw new LapeError(`no tensor named "${name}"`, header.path);
  const bytes = readTensorBytes(header, name);
  const size = DTYPE_BYTES[info.dtype];
  const n = bytes.byteLength / size;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * size;
    switch (info.dtype) {
      case 'F64': out[i] = bytes.readDoubleLE(o); break;
      case 'F32': out[i] = bytes.readFloatLE(o); break;
      case 'F16': out[i] = halfToFloat(bytes.readUInt16LE(o)); break;
      case 'BF16': out[i] = new Float32Array(new Uint32Array([bytes.readUInt16LE(o) << 16]).buffer)[0]!; break;
      case 'I64': out[i] = Number(bytes.readBigInt64LE(o)); break;
      case 'I32': out[i] = bytes.readInt32LE(o); break;
      case 'I16': out[i] = bytes.readInt16LE(o); break;
      case 'I8': out[i] = bytes.readInt8(o); break;
      case 'U8': case 'BOOL': out[i] = bytes.readUInt8(o); break;
    }
  }
  return out;
}

export interface TensorToWrite {
  dtype: 'F64' | 'F32' | 'I64' | 'I32' | 'U8';
  shape: number[];
  data: Float64Array | Float32Array | BigInt64Array | Int32Array | Uint8Array;
}

/** Serialises tensors (in the given order) and metadata into safetensors bytes. */
export function encodeSafetensors(
  tensors: Record<string, TensorToWrite>,
  metadata: Record<string, string> = {},
): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const chunks: Buffer[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = numel(t.shape) * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== bytes) {
      throw new LapeError(`tensor "${name}": data has ${t.data.byteLength} bytes, shape needs ${bytes}`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    chunks.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json, 'utf8'), ...chunks]);
}

/** Writes a safetensors file atomically (temporary name, then rename). */
export function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  metadata: Record<string, string> = {},
): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

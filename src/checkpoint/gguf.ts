/**
 * GGUF (llama.cpp's single-file format), versions 2 and 3, little-endian: magic "GGUF", version,
 * tensor count, metadata count, the metadata (typed key/value pairs), the tensor infos (name,
 * dims innermost first, ggml type, offset), padding to `general.alignment` (default 32), then
 * the tensor data. The header is validated completely (every tensor inside the file, aligned,
 * not overlapping, of a known type whose block size divides its rows) so later reads trust it.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { LapeError } from '../errors.js';
import { readFileRange } from './safetensors.js';

/** ggml tensor types: id → name, elements per block, bytes per block (ggml.h / gguf-py constants). */
export const GGML_TYPES: Record<number, { name: string; block: number; bytes: number }> = {
  0: { name: 'F32', block: 1, bytes: 4 },
  1: { name: 'F16', block: 1, bytes: 2 },
  2: { name: 'Q4_0', block: 32, bytes: 18 },
  3: { name: 'Q4_1', block: 32, bytes: 20 },
  6: { name: 'Q5_0', block: 32, bytes: 22 },
  7: { name: 'Q5_1', block: 32, bytes: 24 },
  8: { name: 'Q8_0', block: 32, bytes: 34 },
  9: { name: 'Q8_1', block: 32, bytes: 40 },
  10: { name: 'Q2_K', block: 256, bytes: 84 },
  11: { name: 'Q3_K', block: 256, bytes: 110 },
  12: { name: 'Q4_K', block: 256, bytes: 144 },
  13: { name: 'Q5_K', block: 256, bytes: 176 },
  14: { name: 'Q6_K', block: 256, bytes: 210 },
  15: { name: 'Q8_K', block: 256, bytes: 292 },
  16: { name: 'IQ2_XXS', block: 256, bytes: 66 },
  17: { name: 'IQ2_XS', block: 256, bytes: 74 },
  18: { name: 'IQ3_XXS', block: 256, bytes: 98 },
  19: { name: 'IQ1_S', block: 256, bytes: 50 },
  20: { name: 'IQ4_NL', block: 32, bytes: 18 },
  21: { name: 'IQ3_S', block: 256, bytes: 110 },
  22: { name: 'IQ2_S', block: 256, bytes: 82 },
  23: { name: 'IQ4_XS', block: 256, bytes: 136 },
  24: { name: 'I8', block: 1, bytes: 1 },
  25: { name: 'I16', block: 1, bytes: 2 },
  26: { name: 'I32', block: 1, bytes: 4 },
  27: { name: 'I64', block: 1, bytes: 8 },
  28: { name: 'F64', block: 1, bytes: 8 },
  29: { name: 'IQ1_M', block: 256, bytes: 56 },
  30: { name: 'BF16', block: 1, bytes: 2 },
  34: { name: 'TQ1_0', block: 256, bytes: 54 },
  35: { name: 'TQ2_0', block: 256, bytes: 66 },
  39: { name: 'MXFP4', block: 32, bytes: 17 },
};

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  /** ggml type name (F32, F16, Q8_0, …). */
  type: string;
  typeId: number;
  /** Row-major shape, outermost first (GGUF stores dims innermost first; this is reversed). */
  shape: number[];
  /** Absolute byte offset of the data in the file. */
  fileOffset: number;
  byteLength: number;
}

export interface GgufHeader {
  path: string;
  version: number;
  fileSize: number;
  alignment: number;
  dataOffset: number;
  metadata: Map<string, GgufValue>;
  /** Metadata value types as stored (for messages and identity): e.g. 'uint32', 'array<string>'. */
  metadataTypes: Map<string, string>;
  tensors: Map<string, GgufTensorInfo>;
}

const VALUE_TYPES = ['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'float32', 'bool', 'string', 'array', 'uint64', 'int64', 'float64'] as const;
const MAGIC = 0x46554747; // "GGUF" read as little-endian u32
const MAX_DIMS = 4;
/** Header strings and arrays beyond these are refused as garbage (real files are far below). */
const MAX_STRING = 64 * 1024 * 1024;
const MAX_ARRAY = 1 << 28;

/** Reads forward through the file in chunks, failing with a clear message at its end. */
class Cursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;
  constructor(private readonly fd: number, readonly size: number, private readonly path: string) {}

  private need(n: number, what: string): void {
    if (this.pos + n > this.size) {
      throw new LapeError(`file ends inside the header (reading ${what} at byte ${this.pos}, file is ${this.size} bytes): truncated or not a GGUF file`, this.path);
    }
    const end = this.bufStart + this.buf.length;
    if (this.pos >= this.bufStart && this.pos + n <= end) return;
    const len = Math.min(Math.max(n, 1 << 20), this.size - this.pos);
    const b = Buffer.alloc(len);
    let done = 0;
    while (done < len) {
      const r = readSync(this.fd, b, done, len - done, this.pos + done);
      if (r === 0) throw new LapeError(`unexpected end of file at byte ${this.pos + done}`, this.path);
      done += r;
    }
    this.buf = b;
    this.bufStart = this.pos;
  }

  /** Offset of the next n bytes in `buf` (which this may replace: read `buf` only after calling). */
  private at(n: number, what: string): number {
    this.need(n, what);
    const o = this.pos - this.bufStart;
    this.pos += n;
    return o;
  }

  u8(w: string): number { const o = this.at(1, w); return this.buf.readUInt8(o); }
  i8(w: string): number { const o = this.at(1, w); return this.buf.readInt8(o); }
  u16(w: string): number { const o = this.at(2, w); return this.buf.readUInt16LE(o); }
  i16(w: string): number { const o = this.at(2, w); return this.buf.readInt16LE(o); }
  u32(w: string): number { const o = this.at(4, w); return this.buf.readUInt32LE(o); }
  i32(w: string): number { const o = this.at(4, w); return this.buf.readInt32LE(o); }
  f32(w: string): number { const o = this.at(4, w); return this.buf.readFloatLE(o); }
  f64(w: string): number { const o = this.at(8, w); return this.buf.readDoubleLE(o); }
  u64(w: string): bigint { const o = this.at(8, w); return this.buf.readBigUInt64LE(o); }
  i64(w: string): bigint { const o = this.at(8, w); return this.buf.readBigInt64LE(o); }

  /** A u64 that must fit a JS number (counts, lengths, offsets). */
  count(w: string, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.u64(w);
    if (v > BigInt(max)) throw new LapeError(`${w} is ${v}, more than ${max}: corrupt header`, this.path);
    return Number(v);
  }

  str(w: string): string {
    const n = this.count(`length of ${w}`, MAX_STRING);
    const o = this.at(n, w);
    return this.buf.toString('utf8', o, o + n);
  }
}

/** Integers come back as numbers when safe, as bigint otherwise (64-bit values only). */
function readValue(c: Cursor, type: number, what: string, path: string): GgufValue {
  switch (VALUE_TYPES[type]) {
    case 'uint8': return c.u8(what);
    case 'int8': return c.i8(what);
    case 'uint16': return c.u16(what);
    case 'int16': return c.i16(what);
    case 'uint32': return c.u32(what);
    case 'int32': return c.i32(what);
    case 'float32': return c.f32(what);
    case 'float64': return c.f64(what);
    case 'bool': {
      const b = c.u8(what);
      if (b > 1) throw new LapeError(`${what}: bool value ${b} is neither 0 nor 1`, path);
      return b === 1;
    }
    case 'string': return c.str(what);
    case 'uint64': { const v = c.u64(what); return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
    case 'int64': { const v = c.i64(what); return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
    case 'array': {
      const elem = c.u32(`element type of ${what}`);
      if (VALUE_TYPES[elem] === undefined) throw new LapeError(`${what}: unknown array element type ${elem}`, path);
      const n = c.count(`length of ${what}`, MAX_ARRAY);
      const out: GgufValue[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readValue(c, elem, what, path);
      return out;
    }
    default:
      throw new LapeError(`${what}: unknown metadata value type ${type}`, path);
  }
}

function typeLabel(type: number): string {
  return VALUE_TYPES[type] ?? `type ${type}`;
}

/** Reads and validates the header, metadata and tensor infos of a GGUF file. */
export function readGgufHeader(path: string): GgufHeader {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new LapeError(`cannot open GGUF file (${(e as NodeJS.ErrnoException).code ?? e})`, path);
  }
  try {
    const fileSize = fstatSync(fd).size;
    const c = new Cursor(fd, fileSize, path);
    if (fileSize < 24) throw new LapeError(`file is ${fileSize} bytes, too short for a GGUF header`, path);
    const magic = c.u32('magic');
    if (magic !== MAGIC) {
      const bytes = Buffer.alloc(4);
      bytes.writeUInt32LE(magic);
      throw new LapeError(`not a GGUF file: magic is ${JSON.stringify(bytes.toString('latin1'))}, expected "GGUF"`, path);
    }
    const version = c.u32('version');
    if (version !== 2 && version !== 3) {
      throw new LapeError(`GGUF version ${version} is not supported (2 and 3 are; version 1 predates 64-bit counts)`, path);
    }
    const tensorCount = c.count('tensor count', 1 << 24);
    const kvCount = c.count('metadata count', 1 << 24);
    const metadata = new Map<string, GgufValue>();
    const metadataTypes = new Map<string, string>();
    for (let i = 0; i < kvCount; i++) {
      const key = c.str(`metadata key ${i}`);
      const type = c.u32(`type of metadata "${key}"`);
      if (metadata.has(key)) throw new LapeError(`metadata key "${key}" appears twice`, path);
      let label = typeLabel(type);
      if (label === 'array') {
        const start = c.pos;
        label = `array<${typeLabel(c.u32(`element type of "${key}"`))}>`;
        c.pos = start;
      }
      const value = readValue(c, type, `metadata "${key}"`, path);
      metadata.set(key, value);
      metadataTypes.set(key, label);
    }
    const alignValue = metadata.get('general.alignment') ?? 32;
    if (typeof alignValue !== 'number' || !Number.isInteger(alignValue) || alignValue <= 0 || (alignValue & (alignValue - 1)) !== 0) {
      throw new LapeError(`general.alignment ${String(alignValue)} is not a power of two`, path);
    }
    const alignment = alignValue;

    const raw: Array<{ name: string; dims: number[]; typeId: number; offset: number }> = [];
    const seen = new Set<string>();
    for (let i = 0; i < tensorCount; i++) {
      const name = c.str(`name of tensor ${i}`);
      if (seen.has(name)) throw new LapeError(`tensor "${name}" appears twice`, path);
      seen.add(name);
      const nDims = c.u32(`dimension count of "${name}"`);
      if (nDims < 1 || nDims > MAX_DIMS) throw new LapeError(`tensor "${name}" has ${nDims} dimensions (1 to ${MAX_DIMS} allowed)`, path);
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) {
        const n = c.count(`dimension ${d} of "${name}"`);
        if (n === 0) throw new LapeError(`tensor "${name}" has a zero dimension`, path);
        dims.push(n);
      }
      const typeId = c.u32(`type of "${name}"`);
      const offset = c.count(`offset of "${name}"`);
      raw.push({ name, dims, typeId, offset });
    }
    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    if (tensorCount > 0 && dataOffset > fileSize) throw new LapeError(`file ends before the tensor data (${fileSize} bytes, data starts at ${dataOffset}): truncated`, path);

    const tensors = new Map<string, GgufTensorInfo>();
    const ranges: Array<[number, number, string]> = [];
    for (const t of raw) {
      const ty = GGML_TYPES[t.typeId];
      if (!ty) throw new LapeError(`tensor "${t.name}" has unknown ggml type ${t.typeId}`, path);
      if (t.dims[0]! % ty.block !== 0) {
        throw new LapeError(`tensor "${t.name}" (${ty.name}) has rows of ${t.dims[0]} elements, not a multiple of its block size ${ty.block}`, path);
      }
      if (t.offset % alignment !== 0) {
        throw new LapeError(`tensor "${t.name}" data offset ${t.offset} is not a multiple of the alignment ${alignment}`, path);
      }
      const numel = t.dims.reduce((a, b) => a * b, 1);
      if (!Number.isSafeInteger(numel)) throw new LapeError(`tensor "${t.name}" is too large`, path);
      const byteLength = (numel / ty.block) * ty.bytes;
      const fileOffset = dataOffset + t.offset;
      if (fileOffset + byteLength > fileSize) {
        throw new LapeError(
          `tensor "${t.name}" data [${fileOffset}, ${fileOffset + byteLength}) lies beyond the end of the file (${fileSize} bytes): truncated`,
          path,
        );
      }
      ranges.push([fileOffset, fileOffset + byteLength, t.name]);
      tensors.set(t.name, { name: t.name, type: ty.name, typeId: t.typeId, shape: [...t.dims].reverse(), fileOffset, byteLength });
    }
    ranges.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) {
      if (ranges[i]![0] < ranges[i - 1]![1]) {
        throw new LapeError(`tensors "${ranges[i - 1]![2]}" and "${ranges[i]![2]}" have overlapping data`, path);
      }
    }
    return { path, version, fileSize, alignment, dataOffset, metadata, metadataTypes, tensors };
  } finally {
    closeSync(fd);
  }
}

/** Reads the raw bytes of one tensor. */
export function readGgufTensorBytes(header: GgufHeader, name: string): Buffer {
  const t = header.tensors.get(name);
  if (!t) throw new LapeError(`no tensor named "${name}"`, header.path);
  return readFileRange(header.path, t.fileOffset, t.byteLength, name);
}

/**
 * A minimal read-only ZIP reader for torch `save` archives: end-of-central-directory (with the
 * zip64 variants), central directory entries, local headers; entries STORED or DEFLATEd (node's
 * zlib), CRC-32 checked. No encryption, no multi-disk archives. The whole archive is held in
 * memory (the files this reads are small).
 */
import { inflateRawSync } from 'node:zlib';
import { LapeError } from '../errors.js';

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;

/** Limits checked from the central directory, before anything is inflated (zip bombs). */
export const ZIP_LIMITS = {
  /** Uncompressed bytes of all entries together. */
  totalBytes: 256 * 2 ** 20,
  /** Uncompressed / compressed size of a deflated entry larger than 1 MiB (torch stores entries uncompressed). */
  ratio: 100,
};

let crcTable: Uint32Array | undefined;

export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export class ZipArchive {
  readonly entries: Map<string, ZipEntry> = new Map();

  constructor(readonly buf: Buffer, readonly file: string) {
    this.readCentralDirectory();
  }

  private fail(msg: string): never {
    throw new LapeError(`not a readable ZIP archive: ${msg}`, this.file);
  }

  private u16(off: number): number {
    if (off + 2 > this.buf.length) this.fail(`truncated at byte ${off}`);
    return this.buf.readUInt16LE(off);
  }

  private u32(off: number): number {
    if (off + 4 > this.buf.length) this.fail(`truncated at byte ${off}`);
    return this.buf.readUInt32LE(off);
  }

  private u64(off: number): number {
    if (off + 8 > this.buf.length) this.fail(`truncated at byte ${off}`);
    const v = this.buf.readBigUInt64LE(off);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`64-bit field at byte ${off} is too large`);
    return Number(v);
  }

  private readCentralDirectory(): void {
    const buf = this.buf;
    let eocd = -1;
    for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
      if (buf.readUInt32LE(i) === SIG_EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) this.fail('no end-of-central-directory record');
    if (this.u16(eocd + 4) !== 0 || this.u16(eocd + 6) !== 0) this.fail('multi-disk archives are not supported');
    let count = this.u16(eocd + 10);
    let cdSize = this.u32(eocd + 12);
    let cdOffset = this.u32(eocd + 16);
    if (count === 0xffff || cdSize === U32_MAX || cdOffset === U32_MAX) {
      const loc = eocd - 20;
      if (loc < 0 || this.u32(loc) !== SIG_EOCD64_LOCATOR) this.fail('zip64 locator missing');
      const rec = this.u64(loc + 8);
      if (this.u32(rec) !== SIG_EOCD64) this.fail('zip64 end-of-central-directory record missing');
      count = this.u64(rec + 32);
      cdSize = this.u64(rec + 40);
      cdOffset = this.u64(rec + 48);
    }
    if (cdOffset + cdSize > buf.length) this.fail('central directory runs past the end of the file');
    let p = cdOffset;
    let total = 0;
    for (let e = 0; e < count; e++) {
      if (this.u32(p) !== SIG_CENTRAL) this.fail(`bad central directory entry ${e} at byte ${p}`);
      const flags = this.u16(p + 8);
      const method = this.u16(p + 10);
      const crc = this.u32(p + 16);
      let compressedSize = this.u32(p + 20);
      let size = this.u32(p + 24);
      const nameLen = this.u16(p + 28);
      const extraLen = this.u16(p + 30);
      const commentLen = this.u16(p + 32);
      let localHeaderOffset = this.u32(p + 42);
      if (p + 46 + nameLen + extraLen + commentLen > buf.length) this.fail(`central directory entry ${e} is truncated`);
      const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
      // zip64 extended information: only the fields that are 0xFFFFFFFF above are present, in this order.
      let x = p + 46 + nameLen;
      const xEnd = x + extraLen;
      while (x + 4 <= xEnd) {
        const id = this.u16(x);
        const len = this.u16(x + 2);
        if (id === 0x0001) {
          let q = x + 4;
          if (size === U32_MAX) (size = this.u64(q)), (q += 8);
          if (compressedSize === U32_MAX) (compressedSize = this.u64(q)), (q += 8);
          if (localHeaderOffset === U32_MAX) (localHeaderOffset = this.u64(q)), (q += 8);
        }
        x += 4 + len;
      }
      if (this.entries.has(name)) this.fail(`duplicate entry "${name}"`);
      total += size;
      if (total > ZIP_LIMITS.totalBytes) {
        this.fail(`its entries declare ${total} uncompressed bytes, more than the ${ZIP_LIMITS.totalBytes} a masks archive can need (a zip bomb?)`);
      }
      if (method === 8 && size > 2 ** 20 && size > ZIP_LIMITS.ratio * Math.max(1, compressedSize)) {
        this.fail(`entry "${name}" would inflate ${compressedSize} bytes to ${size} (more than ${ZIP_LIMITS.ratio}×: a zip bomb?)`);
      }
      this.entries.set(name, { name, method, flags, crc32: crc, compressedSize, size, localHeaderOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** The uncompressed bytes of an entry (CRC-checked). */
  read(name: string): Buffer {
    const e = this.entries.get(name);
    if (!e) throw new LapeError(`ZIP archive has no entry "${name}"`, this.file);
    if (e.flags & 1) this.fail(`entry "${name}" is encrypted`);
    const p = e.localHeaderOffset;
    if (this.u32(p) !== SIG_LOCAL) this.fail(`entry "${name}" has no local header at byte ${p}`);
    const start = p + 30 + this.u16(p + 26) + this.u16(p + 28);
    const end = start + e.compressedSize;
    if (end > this.buf.length) this.fail(`entry "${name}" runs past the end of the file`);
    const raw = this.buf.subarray(start, end);
    let data: Buffer;
    if (e.method === 0) data = raw;
    else if (e.method === 8) {
      try {
        data = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
      } catch (err) {
        this.fail(`entry "${name}" does not inflate (${(err as Error).message})`);
      }
    } else this.fail(`entry "${name}" uses compression method ${e.method} (only stored and deflate are supported)`);
    if (data.length !== e.size) this.fail(`entry "${name}" has ${data.length} bytes, the directory says ${e.size}`);
    if (crc32(data) !== e.crc32) this.fail(`entry "${name}" fails its CRC-32 check`);
    return data;
  }
}

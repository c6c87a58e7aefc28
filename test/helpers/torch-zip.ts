/** A minimal ZIP writer and pickle builder for synthetic torch `save` archives (tests of the .pth importer). */
import { deflateRawSync } from 'node:zlib';
import { crc32 } from '../../src/select/zip.js';


export function zipBytes(entries: Array<{ name: string; data: Buffer; deflate?: boolean }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const body = e.deflate ? deflateRawSync(e.data) : e.data;
    const crc = crc32(e.data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(e.deflate ? 8 : 0, 8);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(body.length, 18);
    lh.writeUInt32LE(e.data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(e.deflate ? 8 : 0, 10);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(body.length, 20);
    ch.writeUInt32LE(e.data.length, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, name, body);
    centrals.push(ch, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

export const P = {
  b: (...xs: number[]) => Buffer.from(xs),
  str(s: string): Buffer {
    const b = Buffer.from(s, 'utf8');
    const h = Buffer.alloc(5);
    h[0] = 0x58;
    h.writeUInt32LE(b.length, 1);
    return Buffer.concat([h, b]);
  },
  int(n: number): Buffer {
    const h = Buffer.alloc(5);
    h[0] = 0x4a;
    h.writeInt32LE(n, 1);
    return h;
  },
  global: (m: string, n: string) => Buffer.from(`c${m}\n${n}\n`, 'latin1'),
};
export const MARK = P.b(0x28);
export const TUPLE = P.b(0x74);
export const EMPTY_LIST = P.b(0x5d);
export const APPENDS = P.b(0x65);

export interface TensorSpec {
  key: string;
  numel: number;
  offset: number;
  size: number[];
  stride: number[];
  storageType?: [string, string];
  rebuild?: [string, string];
}

export function tensorPickle(t: TensorSpec): Buffer {
  const [rm, rn] = t.rebuild ?? ['torch._utils', '_rebuild_tensor_v2'];
  const [sm, sn] = t.storageType ?? ['torch', 'LongStorage'];
  return Buffer.concat([
    P.global(rm, rn), MARK,
    MARK, P.str('storage'), P.global(sm, sn), P.str(t.key), P.str('cpu'), P.int(t.numel), TUPLE, P.b(0x51),
    P.int(t.offset), MARK, ...t.size.map(P.int), TUPLE, MARK, ...t.stride.map(P.int), TUPLE,
    P.b(0x89), P.global('collections', 'OrderedDict'), P.b(0x29), P.b(0x52),
    TUPLE, P.b(0x52),
  ]);
}

export function masksPickle(langs: TensorSpec[][]): Buffer {
  const parts: Buffer[] = [P.b(0x80, 2), EMPTY_LIST, MARK];
  for (const layers of langs) parts.push(EMPTY_LIST, MARK, ...layers.map(tensorPickle), APPENDS);
  parts.push(APPENDS, P.b(0x2e));
  return Buffer.concat(parts);
}

export function int64s(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => b.writeBigInt64LE(BigInt(v), i * 8));
  return b;
}

export function archive(folder: string, pkl: Buffer, storages: Record<string, number[]>, deflate = false): Buffer {
  return zipBytes([
    { name: `${folder}/data.pkl`, data: pkl, deflate },
    { name: `${folder}/byteorder`, data: Buffer.from('little') },
    ...Object.entries(storages).map(([k, v]) => ({ name: `${folder}/data/${k}`, data: int64s(v), deflate })),
    { name: `${folder}/version`, data: Buffer.from('3\n') },
  ]);
}


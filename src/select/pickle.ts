/**
 * A SAFE reader for the pickles inside torch `save` archives that hold integer index tensors
 * (the paper's released `.neuron.pth` masks). It never executes anything: it interprets only the
 * opcodes these files use plus a few harmless neighbours, and the only globals it accepts are
 * `torch._utils._rebuild_tensor_v2`, `torch.LongStorage` (as a persistent-id storage type) and
 * `collections.OrderedDict` (called with no arguments, for the empty backward-hooks dict).
 * Anything else — another opcode, another global, another call — is a LapeError naming the file
 * and the opcode or global.
 */
import { LapeError } from '../errors.js';

const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x29: 'EMPTY_TUPLE', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP',
  0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES', 0x46: 'FLOAT', 0x47: 'BINFLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x5d: 'EMPTY_LIST', 0x61: 'APPEND', 0x62: 'BUILD',
  0x63: 'GLOBAL', 0x64: 'DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST',
  0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x75: 'SETITEMS', 0x7d: 'EMPTY_DICT', 0x80: 'PROTO',
  0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2',
  0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE',
  0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

export const ALLOWED_GLOBALS = [
  'torch._utils._rebuild_tensor_v2',
  'torch.LongStorage',
  'collections.OrderedDict',
] as const;

export class PickleGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

export class PickleTuple {
  constructor(readonly items: PickleValue[]) {}
}

export class PickleDict {
  readonly entries = new Map<string | number | boolean | null, PickleValue>();
  constructor(readonly ordered = false) {}
}

/** A torch storage referenced by persistent id: raw data lives in the archive at data/<key>. */
export class TorchStorage {
  constructor(
    readonly key: string,
    readonly dtype: 'int64',
    readonly location: string,
    readonly numel: number,
  ) {}
}

/** A tensor view on a storage (not yet read). */
export class TorchTensor {
  constructor(
    readonly storage: TorchStorage,
    readonly storageOffset: number,
    readonly size: number[],
    readonly stride: number[],
    readonly requiresGrad: boolean,
  ) {}
}

export type PickleValue =
  | null
  | boolean
  | number
  | string
  | PickleValue[]
  | PickleTuple
  | PickleDict
  | PickleGlobal
  | TorchStorage
  | TorchTensor;

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

/** Unpickles a torch `data.pkl` restricted as described above. */
export function unpickleTorch(data: Uint8Array, file: string): PickleValue {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const stack: StackItem[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = 0;
  let opPos = 0;
  let opName = '';

  const fail = (msg: string): never => {
    throw new LapeError(`unsafe or unsupported pickle: ${msg} (opcode ${opName} at byte ${opPos})`, file);
  };
  const need = (n: number): void => {
    if (pos + n > buf.length) fail('truncated pickle');
  };
  const pop = (): PickleValue => {
    if (stack.length === 0) fail('stack underflow');
    const v = stack.pop()!;
    if (v === MARK) fail('unexpected MARK');
    return v as PickleValue;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail('stack underflow');
    return v as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail('no MARK on the stack');
    const items = stack.splice(i) as PickleValue[];
    items.shift();
    return items;
  };
  const readLine = (): string => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated line');
    const s = buf.toString('utf8', pos, end);
    pos = end + 1;
    return s;
  };
  const intArg = (v: PickleValue, what: string): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(`${what} is not an integer`);
    return v as number;
  };
  const dictKey = (k: PickleValue): string | number | boolean | null => {
    if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'boolean') return k;
    return fail('dictionary key of an unsupported type');
  };

  for (;;) {
    if (pos >= buf.length) {
      opName = 'end of data';
      opPos = pos;
      fail('pickle ends without STOP');
    }
    opPos = pos;
    const op = buf[pos++]!;
    opName = OPCODE_NAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`;
    switch (op) {
      case 0x80: // PROTO
        need(1);
        if (buf[pos]! > 5) fail(`protocol ${buf[pos]} is not supported`);
        pos += 1;
        break;
      case 0x2e: { // STOP
        const v = pop();
        if (stack.length !== 0) fail('values left on the stack at STOP');
        return v;
      }
      case 0x28: stack.push(MARK); break;
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push(new PickleTuple([])); break; // EMPTY_TUPLE
      case 0x7d: stack.push(new PickleDict()); break; // EMPTY_DICT
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4b: need(1); stack.push(buf[pos]!); pos += 1; break; // BININT1
      case 0x4d: need(2); stack.push(buf.readUInt16LE(pos)); pos += 2; break; // BININT2
      case 0x4a: need(4); stack.push(buf.readInt32LE(pos)); pos += 4; break; // BININT
      case 0x58: { // BINUNICODE
        need(4);
        const n = buf.readUInt32LE(pos);
        pos += 4;
        need(n);
        stack.push(buf.toString('utf8', pos, pos + n));
        pos += n;
        break;
      }
      case 0x8c: { // SHORT_BINUNICODE
        need(1);
        const n = buf[pos]!;
        pos += 1;
        need(n);
        stack.push(buf.toString('utf8', pos, pos + n));
        pos += n;
        break;
      }
      case 0x71: need(1); memo.set(buf[pos]!, top()); pos += 1; break; // BINPUT
      case 0x72: need(4); memo.set(buf.readUInt32LE(pos), top()); pos += 4; break; // LONG_BINPUT
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const size = op === 0x68 ? 1 : 4;
        need(size);
        const key = size === 1 ? buf[pos]! : buf.readUInt32LE(pos);
        pos += size;
        if (!memo.has(key)) fail(`memo key ${key} is not set`);
        stack.push(memo.get(key)!);
        break;
      }
      case 0x74: stack.push(new PickleTuple(popMark())); break; // TUPLE
      case 0x85: { const a = pop(); stack.push(new PickleTuple([a])); break; } // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push(new PickleTuple([a, b])); break; } // TUPLE2
      case 0x87: { // TUPLE3
        const c = pop(); const b = pop(); const a = pop();
        stack.push(new PickleTuple([a, b, c]));
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) fail('APPEND to something that is not a list');
        (list as PickleValue[]).push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) fail('APPENDS to something that is not a list');
        for (const v of items) (list as PickleValue[]).push(v);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        const d = top();
        if (!(d instanceof PickleDict)) fail('SETITEM on something that is not a dict');
        (d as PickleDict).entries.set(dictKey(k), v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        const d = top();
        if (!(d instanceof PickleDict)) fail('SETITEMS on something that is not a dict');
        if (items.length % 2) fail('SETITEMS with an odd number of items');
        for (let i = 0; i < items.length; i += 2) (d as PickleDict).entries.set(dictKey(items[i]!), items[i + 1]!);
        break;
      }
      case 0x63: { // GLOBAL
        const module = readLine();
        const name = readLine();
        const g = new PickleGlobal(module, name);
        if (!(ALLOWED_GLOBALS as readonly string[]).includes(g.qualified)) {
          fail(`global ${g.qualified} is not allowed (allowed: ${ALLOWED_GLOBALS.join(', ')})`);
        }
        stack.push(g);
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        stack.push(persistentLoad(pid, fail));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(reduce(fn, args, fail, intArg));
        break;
      }
      default:
        fail(`opcode ${opName} is not allowed`);
    }
  }
}

function persistentLoad(pid: PickleValue, fail: (msg: string) => never): TorchStorage {
  // torch: ('storage', storage_type, key, location, numel)
  if (!(pid instanceof PickleTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage') {
    return fail('persistent id is not a torch storage tuple');
  }
  const [, type, key, location, numel] = pid.items;
  if (!(type instanceof PickleGlobal) || type.qualified !== 'torch.LongStorage') {
    return fail('persistent id names a storage type other than torch.LongStorage');
  }
  if (typeof key !== 'string' || !/^[A-Za-z0-9_]+$/.test(key)) return fail('storage key is not a plain name');
  if (typeof location !== 'string') return fail('storage location is not a string');
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) return fail('storage size is not a count');
  return new TorchStorage(key, 'int64', location, numel);
}

function reduce(
  fn: PickleValue,
  args: PickleValue,
  fail: (msg: string) => never,
  intArg: (v: PickleValue, what: string) => number,
): PickleValue {
  if (!(fn instanceof PickleGlobal)) return fail('REDUCE of something that is not an allowed global');
  if (!(args instanceof PickleTuple)) return fail(`REDUCE of ${fn.qualified} without an argument tuple`);
  const a = args.items;
  switch (fn.qualified) {
    case 'collections.OrderedDict':
      if (a.length !== 0) return fail('collections.OrderedDict may only be called without arguments');
      return new PickleDict(true);
    case 'torch._utils._rebuild_tensor_v2': {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (a.length !== 6) return fail(`_rebuild_tensor_v2 with ${a.length} arguments (expected 6)`);
      const [storage, offset, size, stride, requiresGrad, hooks] = a;
      if (!(storage instanceof TorchStorage)) return fail('_rebuild_tensor_v2 without a storage');
      const dims = (v: PickleValue, what: string): number[] => {
        if (!(v instanceof PickleTuple)) return fail(`tensor ${what} is not a tuple`);
        return v.items.map((x) => intArg(x, `tensor ${what} entry`));
      };
      const sz = dims(size, 'size');
      const st = dims(stride, 'stride');
      if (sz.length !== st.length) return fail('tensor size and stride differ in length');
      if (typeof requiresGrad !== 'boolean') return fail('tensor requires_grad is not a boolean');
      if (!(hooks instanceof PickleDict) || hooks.entries.size !== 0) return fail('tensor has backward hooks');
      const off = intArg(offset, 'tensor storage offset');
      if (off < 0 || sz.some((d) => d < 0) || st.some((d) => d < 0)) return fail('negative tensor offset, size or stride');
      if (!sz.includes(0)) {
        let last = off;
        for (let i = 0; i < sz.length; i++) last += (sz[i]! - 1) * st[i]!;
        if (last >= storage.numel) return fail(`tensor view reaches element ${last} of a storage of ${storage.numel}`);
      }
      return new TorchTensor(storage, off, sz, st, requiresGrad);
    }
    default:
      return fail(`calling ${fn.qualified} is not allowed`);
  }
}

/**
 * Reads a tensor's elements in row-major order from its storage bytes (int64 little endian),
 * honouring storage offset, size and stride. Values must be safe integers.
 */
export function tensorValues(t: TorchTensor, storageBytes: Buffer, file: string): number[] {
  if (storageBytes.length !== t.storage.numel * 8) {
    throw new LapeError(
      `storage "${t.storage.key}" has ${storageBytes.length} bytes, expected ${t.storage.numel} int64 values`,
      file,
    );
  }
  const total = t.size.reduce((x, y) => x * y, 1);
  const out: number[] = new Array(total);
  const idx = new Array<number>(t.size.length).fill(0);
  for (let n = 0; n < total; n++) {
    let e = t.storageOffset;
    for (let d = 0; d < idx.length; d++) e += idx[d]! * t.stride[d]!;
    const v = storageBytes.readBigInt64LE(e * 8);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new LapeError(`storage "${t.storage.key}" holds a value too large for an index (${v})`, file);
    }
    out[n] = Number(v);
    for (let d = idx.length - 1; d >= 0; d--) {
      idx[d] = idx[d]! + 1;
      if (idx[d]! < t.size[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

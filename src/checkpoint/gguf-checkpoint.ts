/**
 * A .gguf file as a Checkpoint: metadata → ModelSpec through the GGUF family entries
 * (src/archs/gguf), tensors → roles with llama.cpp's names, weights referenced in place (F32, F16,
 * BF16 byte ranges of the .gguf file become external-data initializers). Block-quantised tensors
 * (the types src/checkpoint/gguf-quants.ts decodes) keep their ggml type name as dtype; the model
 * loads them through a derived weights file (derived-weights.ts: MatMulNBits blocks where the
 * map is exact, decoded otherwise). Other types are refused by name and number.
 */
import { createHash } from 'node:crypto';
import { basename, dirname, resolve } from 'node:path';
import { LapeError } from '../errors.js';
import { ConfigReader } from '../archs/config-reader.js';
import type { Family } from '../archs/family.js';
import { findGgufFamily, supportedGgufArchs, type GgufContext } from '../archs/gguf/families.js';
import type { ModelSpec } from '../archs/model-spec.js';
import { resolveTensors, type ResolvedTensors } from '../archs/tensors.js';
import { readGgufHeader, readGgufTensorBytes, type GgufHeader, type GgufValue } from './gguf.js';
import { bytesToFloat32, type DType } from './safetensors.js';
import { dequantize, isQuantType, QUANT_TYPES } from './gguf-quants.js';
import type { Checkpoint, WeightRef } from './checkpoint.js';
import { fileFingerprint } from './fingerprint.js';

/** Types the graph reads straight from the file. */
const PLAIN: Record<string, DType> = { F32: 'F32', F16: 'F16', BF16: 'BF16' };

/** Metadata as a plain object for ConfigReader (arrays of tokens left out: the tokenizer reads them). */
function metadataObject(h: GgufHeader): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of h.metadata) {
    if (Array.isArray(v) && k.startsWith('tokenizer.')) continue;
    o[k] = typeof v === 'bigint' ? Number(v) : v;
  }
  return o;
}

/** Identity for resume/merge: the metadata and tensor headers (names, types, shapes, offsets). */
function identity(h: GgufHeader): string {
  const hash = createHash('sha256');
  const value = (v: GgufValue): unknown => (typeof v === 'bigint' ? `${v}n` : Array.isArray(v) ? v.map(value) : v);
  for (const [k, v] of h.metadata) hash.update(JSON.stringify([k, h.metadataTypes.get(k), value(v)]));
  for (const t of h.tensors.values()) hash.update(JSON.stringify([t.name, t.type, t.shape, t.fileOffset - h.dataOffset]));
  return hash.digest('hex');
}

export function isGgufPath(path: string): boolean {
  return path.toLowerCase().endsWith('.gguf');
}

/** Reads a weight of any supported type as float32 (quantised blocks decoded exactly as ggml does). */
function readF32(h: GgufHeader, name: string): Float32Array {
  const t = h.tensors.get(name);
  if (!t) throw new LapeError(`weight "${name}" is missing`, h.path);
  const bytes = readGgufTensorBytes(h, name);
  if (PLAIN[t.type]) return bytesToFloat32(bytes, PLAIN[t.type]!);
  if (isQuantType(t.type)) return dequantize(t.type, bytes, t.shape.reduce((a, b) => a * b, 1));
  throw new LapeError(`weight "${name}" has type ${t.type}, which lape cannot read`, h.path);
}

export function openGgufCheckpoint(path: string): Checkpoint {
  const header = readGgufHeader(path);
  const file = basename(path);
  const folder = dirname(resolve(path));
  const meta = metadataObject(header);
  const c = new ConfigReader(meta, path);
  const arch = c.str('general.architecture');
  const gf = findGgufFamily(arch);
  if (!gf) throw new LapeError(`GGUF architecture "${arch}" is not supported; supported: ${supportedGgufArchs().join(', ')}`, path);

  // rope_freqs: per-frequency divisors the converter writes for llama3 scaling; read into the spec.
  const consumed = new Set<string>();
  let ropeFactors: number[] | null = null;
  if (header.tensors.has('rope_freqs.weight')) {
    ropeFactors = Array.from(readF32(header, 'rope_freqs.weight'));
    consumed.add('rope_freqs.weight');
  }
  const tokens = header.metadata.get('tokenizer.ggml.tokens');
  const vocabKey = `${arch}.vocab_size`;
  const vocabSize = c.has(vocabKey) ? c.int(vocabKey) : Array.isArray(tokens) ? tokens.length : c.int(vocabKey);
  const ctx: GgufContext = {
    k: (key) => `${arch}.${key}`,
    hasTensor: (n) => header.tensors.has(n),
    ropeFactors,
    vocabSize,
  };
  const familySpec = gf.spec(c, ctx);
  const bos = header.metadata.get('tokenizer.ggml.bos_token_id');
  const eos = header.metadata.get('tokenizer.ggml.eos_token_id');
  const eot = header.metadata.get('tokenizer.ggml.eot_token_id');
  const spec: ModelSpec = {
    architecture: `GGUF ${arch}`,
    arch: gf.key,
    ...familySpec,
    bosTokenId: typeof bos === 'number' ? bos : null,
    eosTokenIds: [...new Set([eos, eot].filter((v): v is number => typeof v === 'number'))],
    torchDtype: 'gguf',
  };
  const family: Family = { key: gf.key, classNames: [], spec: () => familySpec, names: gf.names };

  const weights = new Map<string, WeightRef>();
  for (const t of header.tensors.values()) {
    if (consumed.has(t.name)) continue;
    weights.set(t.name, {
      name: t.name,
      dtype: (PLAIN[t.type] ?? t.type) as DType,
      shape: t.shape,
      fileOffset: t.fileOffset,
      byteLength: t.byteLength,
      file,
    });
  }
  let tensors: ResolvedTensors;
  try {
    tensors = resolveTensors(spec, family, weights, 'the GGUF metadata');
  } catch (e) {
    if (e instanceof LapeError) throw new LapeError(e.message, path);
    throw e;
  }
  let parameterCount = 0;
  let weightBytes = 0;
  const dtypes = new Set<string>();
  for (const [name, shape] of tensors.shapes) {
    const w = weights.get(name)!;
    if (!PLAIN[w.dtype] && !isQuantType(w.dtype)) {
      const id = header.tensors.get(name)!.typeId;
      throw new LapeError(`weight "${name}" has ggml type ${w.dtype} (${id}), which lape cannot decode (supported: F32, F16, BF16, ${QUANT_TYPES.join(', ')})`, path);
    }
    parameterCount += shape.reduce((a, b) => a * b, 1);
    weightBytes += w.byteLength;
    dtypes.add(w.dtype);
  }
  return {
    dir: path,
    folder,
    format: 'gguf',
    identitySha256: createHash('sha256').update(`gguf:${identity(header)}:fingerprint:${fileFingerprint(path)}`).digest('hex'),
    configSha256: identity(header),
    spec,
    family,
    config: meta,
    weights,
    tensors,
    parameterCount,
    weightBytes,
    dtypes: [...dtypes].sort(),
    readF32: (name) => readF32(header, name),
  };
}

/** The header of a GGUF checkpoint (the tokenizer reads its metadata). */
export { readGgufHeader };

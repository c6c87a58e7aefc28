/**
 * A local checkpoint: a Hugging Face folder (config.json → ModelSpec, and an index of every weight
 * tensor: single model.safetensors or a sharded index) or a .gguf file (gguf-checkpoint.ts),
 * validated against the spec, read lazily.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { fileFingerprint } from './fingerprint.js';
import { join } from 'node:path';
import { LapeError } from '../errors.js';
import { specFromConfig } from '../archs/index.js';
import type { Family } from '../archs/family.js';
import type { ModelSpec } from '../archs/model-spec.js';
import { resolveTensors, type ResolvedTensors } from '../archs/tensors.js';
import { readSafetensorsHeader, readTensorF32, type SafetensorsHeader, type TensorInfo } from './safetensors.js';
import { isGgufPath, openGgufCheckpoint } from './gguf-checkpoint.js';

export interface WeightRef extends TensorInfo {
  /** File name relative to `Checkpoint.folder`. */
  file: string;
}

export interface Checkpoint {
  /** The path as given: the checkpoint folder, or the .gguf file. */
  dir: string;
  /** The folder the weight files lie in (external-data folder of the graph). */
  folder: string;
  format: 'safetensors' | 'gguf';
  /**
   * Identity for resume and merge: sha256 over config.json, tokenizer.json (+ tokenizer_config.json),
   * every weight file's safetensors header and a cheap fingerprint of its bytes (fingerprint.ts);
   * for a GGUF file, its metadata (tokenizer included), tensor headers and fingerprint.
   */
  identitySha256: string;
  /** The identity lape used before weights were fingerprinted (config.json's sha256; a GGUF file's metadata and headers), kept in statistics as model_config_sha256. */
  configSha256: string;
  spec: ModelSpec;
  family: Family;
  /** config.json, or the GGUF metadata (without the tokenizer's arrays). */
  config: Record<string, unknown>;
  /** Every stored tensor, by name. */
  weights: Map<string, WeightRef>;
  /** The tensors the model uses, by role. */
  tensors: ResolvedTensors;
  /** Reads a weight as float32 (f16/bf16 converted exactly). */
  readF32(name: string): Float32Array;
  /** Total parameters of the weights the model uses. */
  parameterCount: number;
  /** Bytes of those weights as stored. */
  weightBytes: number;
  /** Stored dtypes of the weights, e.g. ['BF16']. */
  dtypes: string[];
}

function readJson(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new LapeError(`cannot read (${(e as NodeJS.ErrnoException).code ?? e})`, path);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new LapeError(`not valid JSON (${(e as Error).message})`, path);
  }
}

/** The weights file named in messages about a tensor that is not in any file. */
function weightFileLabel(dir: string): string {
  return existsSync(join(dir, 'model.safetensors.index.json')) ? 'model.safetensors.index.json' : 'model.safetensors';
}

function weightFiles(dir: string): string[] {
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    const j = readJson(index);
    const map = j.weight_map;
    if (typeof map !== 'object' || map === null) throw new LapeError('missing "weight_map"', index);
    const files = [...new Set(Object.values(map as Record<string, unknown>))] as string[];
    for (const f of files) {
      if (typeof f !== 'string' || f.includes('/') || f.includes('\\') || f.startsWith('.')) {
        throw new LapeError(`weight_map names an invalid shard file ${JSON.stringify(f)}`, index);
      }
      if (!existsSync(join(dir, f))) throw new LapeError(`shard ${f} listed in the index is missing`, index);
    }
    return files.sort();
  }
  const single = join(dir, 'model.safetensors');
  if (existsSync(single)) return ['model.safetensors'];
  throw new LapeError(
    'no weights found: expected model.safetensors or model.safetensors.index.json (other formats are not supported)',
    dir,
  );
}

/** sha256 of a file's bytes, or "none" when it does not exist. */
function fileSha256(path: string): string {
  return existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'none';
}

/** The bytes of a safetensors file's header (length prefix + JSON). */
function headerBytes(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, 8);
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** A checkpoint folder's identity: config, tokenizer files, and per weight file its header and fingerprint. */
function folderIdentity(dir: string, configPath: string, files: string[]): string {
  const h = createHash('sha256').update('lape-model-identity-1\n');
  h.update(`config.json:${fileSha256(configPath)}\n`);
  for (const t of ['tokenizer.json', 'tokenizer_config.json']) h.update(`${t}:${fileSha256(join(dir, t))}\n`);
  for (const f of [...files].sort()) {
    const path = join(dir, f);
    h.update(`${f}:header:${createHash('sha256').update(headerBytes(path)).digest('hex')}:fingerprint:${fileFingerprint(path)}\n`);
  }
  return h.digest('hex');
}

export function openCheckpoint(dir: string): Checkpoint {
  if (isGgufPath(dir) && existsSync(dir) && statSync(dir).isFile()) return openGgufCheckpoint(dir);
  if (!existsSync(dir)) throw new LapeError(isGgufPath(dir) ? 'GGUF file does not exist' : 'checkpoint folder does not exist', dir);
  if (!statSync(dir).isDirectory()) throw new LapeError('not a checkpoint folder or a .gguf file', dir);
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new LapeError('missing config.json in the checkpoint folder', configPath);
  const config = readJson(configPath);
  const { spec, family } = specFromConfig(config, configPath);

  const headers = new Map<string, SafetensorsHeader>();
  const weights = new Map<string, WeightRef>();
  for (const file of weightFiles(dir)) {
    const header = readSafetensorsHeader(join(dir, file));
    headers.set(file, header);
    for (const info of header.tensors.values()) {
      if (weights.has(info.name)) {
        throw new LapeError(`tensor "${info.name}" appears in two files (${weights.get(info.name)!.file}, ${file})`, dir);
      }
      weights.set(info.name, { ...info, file });
    }
  }
  let tensors: ResolvedTensors;
  try {
    tensors = resolveTensors(spec, family, weights);
  } catch (e) {
    if (!(e instanceof LapeError)) throw e;
    const name = /"([^"]+)"/.exec(e.message)?.[1];
    throw new LapeError(e.message, join(dir, (name && weights.get(name)?.file) ?? weightFileLabel(dir)));
  }

  let parameterCount = 0;
  let weightBytes = 0;
  const dtypes = new Set<string>();
  for (const [name, shape] of tensors.shapes) {
    const w = weights.get(name)!;
    if (!['F32', 'F16', 'BF16'].includes(w.dtype)) {
      throw new LapeError(`weight "${name}" has dtype ${w.dtype}; supported: F32, F16, BF16`, join(dir, w.file));
    }
    parameterCount += shape.reduce((a, b) => a * b, 1);
    weightBytes += w.byteLength;
    dtypes.add(w.dtype);
  }
  return {
    dir,
    folder: dir,
    format: 'safetensors',
    identitySha256: folderIdentity(dir, configPath, [...headers.keys()]),
    configSha256: createHash('sha256').update(readFileSync(configPath)).digest('hex'),
    spec,
    family,
    config,
    weights,
    tensors,
    parameterCount,
    weightBytes,
    dtypes: [...dtypes].sort(),
    readF32(name: string): Float32Array {
      const w = weights.get(name);
      if (!w) throw new LapeError(`weight "${name}" is missing`, dir);
      return readTensorF32(headers.get(w.file)!, name);
    },
  };
}

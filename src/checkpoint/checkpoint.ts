/**
 * A local Hugging Face checkpoint folder: config.json → ModelSpec, and an index of every weight
 * tensor (single model.safetensors or a sharded index) validated against the spec, read lazily.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LapeError } from '../errors.js';
import { findArchitecture, supportedClassNames } from '../graph/archs/index.js';
import type { ArchDefinition } from '../graph/archs/arch.js';
import type { ModelSpec, RopeScaling } from './model-spec.js';
import { readSafetensorsHeader, readTensorF32, type SafetensorsHeader, type TensorInfo } from './safetensors.js';

export interface WeightRef extends TensorInfo {
  /** File name relative to the checkpoint folder. */
  file: string;
}

export interface Checkpoint {
  dir: string;
  spec: ModelSpec;
  arch: ArchDefinition;
  config: Record<string, unknown>;
  weights: Map<string, WeightRef>;
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

function num(config: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const v = config[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new LapeError(`missing required field "${key}"`, file);
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new LapeError(`field "${key}" is not a number`, file);
  return v;
}

function positiveInt(config: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const v = num(config, key, file, fallback);
  if (!Number.isInteger(v) || v <= 0) throw new LapeError(`field "${key}" must be a positive integer, got ${v}`, file);
  return v;
}

function parseRopeScaling(config: Record<string, unknown>, file: string): RopeScaling {
  const rs = config.rope_scaling as Record<string, unknown> | null | undefined;
  if (rs === undefined || rs === null) return { type: 'default' };
  const type = (rs.rope_type ?? rs.type) as string | undefined;
  switch (type) {
    case 'default':
      return { type: 'default' };
    case 'linear':
      return { type: 'linear', factor: num(rs, 'factor', file) };
    case 'llama3':
      return {
        type: 'llama3',
        factor: num(rs, 'factor', file),
        lowFreqFactor: num(rs, 'low_freq_factor', file),
        highFreqFactor: num(rs, 'high_freq_factor', file),
        originalMaxPositionEmbeddings: num(rs, 'original_max_position_embeddings', file),
      };
    default:
      throw new LapeError(
        `rope_scaling type ${JSON.stringify(type)} is not supported (supported: default, linear, llama3)`,
        file,
      );
  }
}

function parseActivation(config: Record<string, unknown>, file: string): ModelSpec['activation'] {
  const act = (config.hidden_act ?? 'silu') as string;
  switch (act) {
    case 'silu': case 'swish': return 'silu';
    case 'gelu': return 'gelu';
    case 'gelu_pytorch_tanh': case 'gelu_new': return 'gelu_tanh';
    case 'relu': return 'relu';
    default: throw new LapeError(`hidden_act "${act}" is not supported (silu, gelu, gelu_pytorch_tanh, relu)`, file);
  }
}

/** config.json → ModelSpec (throws LapeError naming config.json for anything wrong). */
export function specFromConfig(config: Record<string, unknown>, file: string): { spec: ModelSpec; arch: ArchDefinition } {
  const archs = config.architectures;
  const className = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  if (!className) throw new LapeError('missing "architectures" (e.g. ["LlamaForCausalLM"])', file);
  const arch = findArchitecture(className);
  if (!arch) {
    throw new LapeError(
      `architecture ${className} is not supported; supported: ${supportedClassNames().join(', ')}`,
      file,
    );
  }
  const hiddenSize = positiveInt(config, 'hidden_size', file);
  const numHeads = positiveInt(config, 'num_attention_heads', file);
  const numKvHeads = positiveInt(config, 'num_key_value_heads', file, numHeads);
  const headDim = positiveInt(config, 'head_dim', file, hiddenSize / numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new LapeError(`num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`, file);
  }
  let archFields: ReturnType<ArchDefinition['specFromConfig']>;
  try {
    archFields = arch.specFromConfig(config);
  } catch (e) {
    throw new LapeError((e as Error).message, file);
  }
  const eos = config.eos_token_id;
  const spec: ModelSpec = {
    architecture: className,
    arch: arch.key,
    vocabSize: positiveInt(config, 'vocab_size', file),
    hiddenSize,
    intermediateSize: positiveInt(config, 'intermediate_size', file),
    numLayers: positiveInt(config, 'num_hidden_layers', file),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num(config, 'rms_norm_eps', file, 1e-6),
    ropeTheta: num(config, 'rope_theta', file, 10000),
    ropeScaling: parseRopeScaling(config, file),
    maxPositionEmbeddings: positiveInt(config, 'max_position_embeddings', file, 2048),
    tieWordEmbeddings: config.tie_word_embeddings === true,
    gatedFfn: true,
    activation: parseActivation(config, file),
    bosTokenId: typeof config.bos_token_id === 'number' ? config.bos_token_id : null,
    eosTokenIds: Array.isArray(eos) ? eos.filter((x): x is number => typeof x === 'number') : typeof eos === 'number' ? [eos] : [],
    torchDtype: typeof config.torch_dtype === 'string' ? config.torch_dtype : 'float32',
    ...archFields,
  };
  if (spec.slidingWindow !== null && !(Number.isInteger(spec.slidingWindow) && spec.slidingWindow > 0)) {
    throw new LapeError(`sliding_window must be a positive integer, got ${spec.slidingWindow}`, file);
  }
  return { spec, arch };
}

/** Expected [out, in] (or [n]) shape of every weight the model uses. */
export function expectedShapes(spec: ModelSpec, arch: ArchDefinition): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const H = spec.hiddenSize;
  const q = spec.numHeads * spec.headDim;
  const kv = spec.numKvHeads * spec.headDim;
  const w = arch.weights;
  m.set(w.embed, [spec.vocabSize, H]);
  m.set(w.finalNorm, [H]);
  if (!spec.tieWordEmbeddings) m.set(w.lmHead, [spec.vocabSize, H]);
  for (let i = 0; i < spec.numLayers; i++) {
    const l = w.layer(i);
    m.set(l.inputNorm, [H]);
    m.set(l.postAttnNorm, [H]);
    m.set(l.q, [q, H]);
    m.set(l.k, [kv, H]);
    m.set(l.v, [kv, H]);
    m.set(l.o, [H, q]);
    if (spec.attentionQkvBias) {
      m.set(l.qBias, [q]);
      m.set(l.kBias, [kv]);
      m.set(l.vBias, [kv]);
    }
    m.set(l.gate, [spec.intermediateSize, H]);
    m.set(l.up, [spec.intermediateSize, H]);
    m.set(l.down, [H, spec.intermediateSize]);
  }
  return m;
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

export function openCheckpoint(dir: string): Checkpoint {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new LapeError('checkpoint folder does not exist', dir);
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new LapeError('missing config.json in the checkpoint folder', configPath);
  const config = readJson(configPath);
  const { spec, arch } = specFromConfig(config, configPath);

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
  // Some tied checkpoints still store lm_head.weight: then it is used as stored (as HF does when loading).
  if (spec.tieWordEmbeddings && weights.has(arch.weights.lmHead)) spec.tieWordEmbeddings = false;

  let parameterCount = 0;
  let weightBytes = 0;
  const dtypes = new Set<string>();
  for (const [name, shape] of expectedShapes(spec, arch)) {
    const w = weights.get(name);
    const where = join(dir, w?.file ?? 'model.safetensors');
    if (!w) throw new LapeError(`weight "${name}" is missing`, where);
    if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
      throw new LapeError(
        `weight "${name}" has shape [${w.shape.join(', ')}] but config.json implies [${shape.join(', ')}]`,
        where,
      );
    }
    if (!['F32', 'F16', 'BF16'].includes(w.dtype)) {
      throw new LapeError(`weight "${name}" has dtype ${w.dtype}; supported: F32, F16, BF16`, where);
    }
    parameterCount += shape.reduce((a, b) => a * b, 1);
    weightBytes += w.byteLength;
    dtypes.add(w.dtype);
  }
  return {
    dir,
    spec,
    arch,
    config,
    weights,
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

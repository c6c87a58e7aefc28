/**
 * LangStats on disk: safetensors with F64 [layers, neurons] tensors count, sum, sum_sq and
 * provenance in the metadata (see docs/outputs.md); statistics recorded with blocks also hold
 * block_count I32 [blocks, layers, neurons], block_sum F64 [blocks, layers, neurons] and
 * block_chunks I32 [blocks], with metadata blocks_max (blocks.ts).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LapeError } from '../errors.js';
import { encodeSafetensors, readSafetensorsHeader, readTensorF64 } from '../checkpoint/safetensors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { LangStats } from './types.js';
import { blockCountsInt32, checkBlocks, stackBlocks, unstackBlocks, type StatsBlocks } from './blocks.js';
import type { SafetensorsHeader, TensorToWrite } from '../checkpoint/safetensors.js';

export const STATS_FORMAT = 'lape-stats';

export function saveStats(path: string, s: LangStats): void {
  writeFileAtomic(path, encodeStats(s));
}

/** The bytes of a statistics file (to write several as one set, util/atomic-write.ts). */
export function encodeStats(s: LangStats): Buffer {
  const shape = [s.layers, s.neurons];
  const meta: Record<string, string> = { ...s.meta, format: STATS_FORMAT, lang: s.lang, tokens: String(s.tokens), layers: String(s.layers), neurons: String(s.neurons) };
  if (s.blocks) meta.blocks_max = String(s.blocks.max);
  else delete meta.blocks_max;
  return encodeSafetensors(
    {
      count: { dtype: 'F64', shape, data: s.count },
      sum: { dtype: 'F64', shape, data: s.sum },
      sum_sq: { dtype: 'F64', shape, data: s.sumSq },
      ...(s.blocks ? blockTensors(s.blocks, shape) : {}),
    },
    meta,
  );
}

/** The block tensors of a statistics or resume file. */
export function blockTensors(b: StatsBlocks, shape: number[]): Record<string, TensorToWrite> {
  const bshape = [b.chunks.length, ...shape];
  return {
    block_count: { dtype: 'I32', shape: bshape, data: blockCountsInt32(b) },
    block_sum: { dtype: 'F64', shape: bshape, data: stackBlocks(b.sum) },
    block_chunks: { dtype: 'I32', shape: [b.chunks.length], data: Int32Array.from(b.chunks) },
  };
}

/** The block tensors of a file (undefined when it has none); shapes checked against layers × neurons. */
export function readBlockTensors(h: SafetensorsHeader, layers: number, neurons: number, max: number): StatsBlocks | undefined {
  const chunksInfo = h.tensors.get('block_chunks');
  if (!chunksInfo) return undefined;
  const nb = chunksInfo.shape[0] ?? 0;
  for (const [name, dtype] of [['block_count', 'I32'], ['block_sum', 'F64']] as const) {
    const t = h.tensors.get(name);
    if (!t || t.dtype !== dtype || t.shape.length !== 3 || t.shape[0] !== nb || t.shape[1] !== layers || t.shape[2] !== neurons) {
      throw new LapeError(`tensor "${name}" must be ${dtype} [${nb}, ${layers}, ${neurons}]${t ? `, is ${t.dtype} [${t.shape.join(', ')}]` : ', is missing'}`, h.path);
    }
  }
  if (chunksInfo.dtype !== 'I32' || chunksInfo.shape.length !== 1 || nb < 1) throw new LapeError('tensor "block_chunks" must be I32 [blocks] with at least one block', h.path);
  if (!(Number.isInteger(max) && max >= 4)) throw new LapeError(`statistics metadata blocks_max ${max} is not an even number ≥ 4`, h.path);
  return {
    max,
    chunks: Array.from(readTensorF64(h, 'block_chunks')),
    count: unstackBlocks(readTensorF64(h, 'block_count'), nb),
    sum: unstackBlocks(readTensorF64(h, 'block_sum'), nb),
  };
}

export interface LoadStatsOptions {
  /** Also load and check the blocks (lape stability, merge); default false (the totals only). */
  blocks?: boolean;
}

export function loadStats(path: string, opts: LoadStatsOptions = {}): LangStats {
  const h = readSafetensorsHeader(path);
  const m = h.metadata;
  if (m.format !== STATS_FORMAT) {
    throw new LapeError(`not a lape statistics file (metadata format is ${JSON.stringify(m.format)}, expected "${STATS_FORMAT}")`, path);
  }
  const layers = Number(m.layers);
  const neurons = Number(m.neurons);
  const tokens = Number(m.tokens);
  if (!m.lang) throw new LapeError('statistics file has no language (metadata "lang")', path);
  if (!(Number.isInteger(layers) && layers > 0 && Number.isInteger(neurons) && neurons > 0)) {
    throw new LapeError('statistics metadata has invalid layers/neurons', path);
  }
  if (!(Number.isInteger(tokens) && tokens >= 0)) throw new LapeError('statistics metadata has an invalid token count', path);
  const get = (name: string): Float64Array => {
    const t = h.tensors.get(name);
    if (!t) throw new LapeError(`statistics file lacks tensor "${name}"`, path);
    if (t.dtype !== 'F64' || t.shape.length !== 2 || t.shape[0] !== layers || t.shape[1] !== neurons) {
      throw new LapeError(`tensor "${name}" must be F64 [${layers}, ${neurons}], is ${t.dtype} [${t.shape.join(', ')}]`, path);
    }
    return readTensorF64(h, name);
  };
  const s: LangStats = { lang: m.lang, layers, neurons, tokens, count: get('count'), sum: get('sum'), sumSq: get('sum_sq'), meta: m };
  checkStatsValues(s, path);
  if (opts.blocks) {
    const blocks = readBlockTensors(h, layers, neurons, Number(m.blocks_max));
    if (blocks) {
      const seqLen = Number(m.seq_len);
      if (!(Number.isInteger(seqLen) && seqLen > 0)) throw new LapeError('statistics with blocks need a valid seq_len in the metadata', path);
      checkBlocks(blocks, { count: s.count, tokens, seqLen }, path);
      s.blocks = blocks;
    }
  }
  return s;
}

/**
 * Values that cannot come from recording are refused (they made NUL generations and empty masks):
 * a count is an integer in [0, tokens]; sums are finite and |Σx| ≤ tokens × the largest float32
 * (activations are float32); Σx² ≥ 0 and, when the file has sums of squares (any non-zero),
 * (Σx)² ≤ tokens·Σx² (Cauchy–Schwarz) — which also rules out sums like 1e300.
 */
export function checkStatsValues(s: LangStats, path: string): void {
  const n = s.layers * s.neurons;
  const F32_MAX = 3.4028234663852886e38;
  const hasSumSq = s.sumSq.some((q) => q !== 0);
  for (let k = 0; k < n; k++) {
    const c = s.count[k]!;
    const x = s.sum[k]!;
    const q = s.sumSq[k]!;
    const where = (): string => `layer ${Math.floor(k / s.neurons)}, neuron ${k % s.neurons}`;
    if (!(Number.isInteger(c) && c >= 0 && c <= s.tokens)) {
      throw new LapeError(`count ${c} at ${where()} is not a count of 0..${s.tokens} tokens: the file is damaged or was not written by lape record`, path);
    }
    if (!Number.isFinite(x) || !Number.isFinite(q) || q < 0) {
      throw new LapeError(`sum ${x} / sum of squares ${q} at ${where()} cannot come from recording (not finite, or a negative sum of squares)`, path);
    }
    if (Math.abs(x) > s.tokens * F32_MAX || (hasSumSq && x * x > s.tokens * q * (1 + 1e-9) + 1e-300)) {
      throw new LapeError(`sum ${x} at ${where()} is impossible for ${s.tokens} tokens with sum of squares ${q}: the file is damaged`, path);
    }
  }
}

/** Stats files from a mix of files and folders (folders: every *.safetensors inside, sorted). */
export function expandStatsPaths(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (!existsSync(p)) throw new LapeError('statistics path does not exist', p);
    if (statSync(p).isDirectory()) {
      const files = readdirSync(p).filter((f) => f.endsWith('.safetensors')).sort();
      if (files.length === 0) throw new LapeError('folder holds no .safetensors statistics files', p);
      out.push(...files.map((f) => join(p, f)));
    } else out.push(p);
  }
  return out;
}

/** Loads statistics, one per language; refuses empty files and duplicate languages. */
export function loadStatsSet(paths: string[], opts: LoadStatsOptions = {}): LangStats[] {
  const files = expandStatsPaths(paths);
  const seen = new Map<string, string>();
  const out: LangStats[] = [];
  for (const f of files) {
    const s = loadStats(f, opts);
    if (s.tokens === 0) throw new LapeError(`statistics for "${s.lang}" hold zero tokens (empty)`, f);
    const prev = seen.get(s.lang);
    if (prev) throw new LapeError(`language "${s.lang}" appears twice (also in ${prev}); merge shards first with lape merge`, f);
    seen.set(s.lang, f);
    const first = out[0];
    if (first) {
      for (const key of ['model_sha256', 'weights'] as const) {
        if (first.meta[key] !== undefined && s.meta[key] !== undefined && first.meta[key] !== s.meta[key]) {
          throw new LapeError(`recorded with another model than ${files[0]} (${key} differs): statistics of one model are compared across languages`, f);
        }
      }
    }
    out.push(s);
  }
  return out;
}

/** Mean activation per neuron (sum / tokens), the value steering sets neurons to. */
export function meanActivation(s: LangStats): Float64Array {
  const out = new Float64Array(s.sum.length);
  if (s.tokens > 0) for (let i = 0; i < out.length; i++) out[i] = s.sum[i]! / s.tokens;
  return out;
}

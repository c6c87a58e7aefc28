/**
 * Recording: a language's corpus → fixed-length chunks → forward passes with the statistics
 * plan → float64 accumulators → stats file.
 *
 * Determinism and resume: chunks are taken in stream order, a shard keeps chunks with
 * index % n == i, and batches are consecutive groups of `batchSize` shard chunks. Every few
 * batches the accumulators and the number of chunks done go to `<out>.partial` (atomically).
 * A restarted run with the same arguments reloads that state and continues at the same batch
 * boundary, so the float64 sums see the same batches in the same order and the final file is
 * byte-identical to an uninterrupted run's.
 */
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { LapeError } from '../errors.js';
import { readSafetensorsHeader, readTensorF64, writeSafetensors } from '../checkpoint/safetensors.js';
import { tokenChunks } from '../corpus/chunks.js';
import { filesSha256 } from '../corpus/text-files.js';
import type { Model } from '../runtime/model.js';
import type { LapeTokenizer } from '../tokenizer/tokenizer.js';
import { LAPE_VERSION } from '../version.js';
import { loadStats, saveStats } from './stats-file.js';
import type { LangStats } from './types.js';

export interface RecordOptions {
  lang: string;
  files: string[];
  seqLen: number;
  /** Tokens of the whole language to use (before sharding); undefined = the whole corpus. */
  maxTokens?: number;
  batchSize: number;
  shard?: { index: number; count: number };
  /** Prepend BOS to each chunk. */
  bos?: boolean;
  out: string;
  /** Save resume state every this many batches (default 8). */
  checkpointEvery?: number;
  /** Called after each batch with tokens done so far (for progress). */
  onProgress?: (tokensDone: number) => void;
  /** Testing hook: stop (as if killed) after this many batches of this run. */
  stopAfterBatches?: number;
}

export interface RecordResult {
  stats: LangStats;
  resumedFromChunks: number;
  alreadyComplete: boolean;
  /** Tokens processed by this invocation (excluding resumed ones). */
  tokensThisRun: number;
  seconds: number;
}

const LANG_RE = /^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$/;

export function checkLangCode(lang: string): void {
  if (!LANG_RE.test(lang)) throw new LapeError(`"${lang}" is not a language code (e.g. en, zh, pt-BR)`);
}

export async function recordLanguage(model: Model, tokenizer: LapeTokenizer, opts: RecordOptions): Promise<RecordResult> {
  checkLangCode(opts.lang);
  if (opts.files.length === 0) throw new LapeError('no corpus files given');
  const shard = opts.shard ?? { index: 0, count: 1 };
  if (!(Number.isInteger(shard.count) && shard.count >= 1 && Number.isInteger(shard.index) && shard.index >= 0 && shard.index < shard.count)) {
    throw new LapeError(`invalid shard ${shard.index}/${shard.count}`);
  }
  const spec = model.spec;
  const L = spec.numLayers;
  const I = spec.intermediateSize;
  if (opts.seqLen > spec.maxPositionEmbeddings) {
    throw new LapeError(`sequence length ${opts.seqLen} exceeds the model's context (${spec.maxPositionEmbeddings})`);
  }
  const totalChunks = opts.maxTokens === undefined ? undefined : Math.floor(opts.maxTokens / opts.seqLen);
  if (totalChunks === 0) throw new LapeError(`--tokens ${opts.maxTokens} is less than one chunk of ${opts.seqLen} tokens`);

  const meta: Record<string, string> = {
    lang: opts.lang,
    model_config_sha256: model.checkpoint.configSha256,
    // config + tokenizer + weight headers + weight fingerprint (Checkpoint.identitySha256).
    model_sha256: model.checkpoint.identitySha256,
    tokenizer_sha256: tokenizer.sha256,
    corpus_sha256: await filesSha256(opts.files),
    corpus_files: opts.files.map((f) => f.split('/').pop()).join(','),
    seq_len: String(opts.seqLen),
    max_tokens: opts.maxTokens === undefined ? 'all' : String(opts.maxTokens),
    bos: String(!!opts.bos),
    batch_size: String(opts.batchSize),
    shard: `${shard.index}/${shard.count}`,
    hook: 'blocks.*.mlp.hook_act > 0',
    lape_version: LAPE_VERSION,
    // Only non-default types are named, so statistics recorded before --weights existed keep their identity.
    ...(model.weights === 'stored' ? {} : { weights: model.weights }),
    // The device changes the numbers in the last bits (another kernel's summation order).
    ...(model.device === 'cpu' ? {} : { device: model.device }),
  };
  // Identity of the job: a partial or final file from different arguments is never reused.
  const jobKey = createHash('sha256').update(JSON.stringify(meta)).digest('hex').slice(0, 16);
  meta.job = jobKey;

  const started = Date.now();
  if (existsSync(opts.out)) {
    try {
      const prev = loadStats(opts.out);
      if (prev.meta.job === jobKey) {
        return { stats: prev, resumedFromChunks: Number(prev.meta.chunks), alreadyComplete: true, tokensThisRun: 0, seconds: 0 };
      }
    } catch {
      /* not a matching stats file: recompute and replace it */
    }
  }

  const partialPath = `${opts.out}.partial`;
  const acc: { count: Float64Array; sum: Float64Array; sumSq: Float64Array } = {
    count: new Float64Array(L * I), sum: new Float64Array(L * I), sumSq: new Float64Array(L * I),
  };
  let chunksDone = 0; // shard chunks already accumulated
  if (existsSync(partialPath)) {
    const h = readSafetensorsHeader(partialPath);
    if (h.metadata.job === jobKey) {
      acc.count = readTensorF64(h, 'count');
      acc.sum = readTensorF64(h, 'sum');
      acc.sumSq = readTensorF64(h, 'sum_sq');
      chunksDone = Number(h.metadata.chunks_done);
    }
  }
  const resumedFromChunks = chunksDone;
  const savePartial = (): void => {
    const shape = [L, I];
    writeSafetensors(
      partialPath,
      { count: { dtype: 'F64', shape, data: acc.count }, sum: { dtype: 'F64', shape, data: acc.sum }, sum_sq: { dtype: 'F64', shape, data: acc.sumSq } },
      { job: jobKey, chunks_done: String(chunksDone) },
    );
  };

  const every = opts.checkpointEvery ?? 8;
  let shardIndex = 0; // index among this shard's chunks
  let globalIndex = 0;
  let batch: number[][] = [];
  let batchesThisRun = 0;
  let tokensThisRun = 0;
  const plan = { ffnStats: true };
  const flush = async (): Promise<boolean> => {
    const r = await model.run({ ids: batch }, plan);
    for (let k = 0; k < L * I; k++) {
      acc.count[k]! += r.ffnCount![k]!;
      acc.sum[k]! += r.ffnSum![k]!;
      acc.sumSq[k]! += r.ffnSumSq![k]!;
    }
    chunksDone += batch.length;
    tokensThisRun += batch.length * opts.seqLen;
    batch = [];
    batchesThisRun++;
    opts.onProgress?.(chunksDone * opts.seqLen);
    if (batchesThisRun % every === 0) savePartial();
    return opts.stopAfterBatches !== undefined && batchesThisRun >= opts.stopAfterBatches;
  };

  const bosId = opts.bos ? spec.bosTokenId ?? tokenizer.tokenToId('<s>') ?? null : null;
  if (opts.bos && bosId === null) throw new LapeError('--bos given but the model has no BOS token');
  opts.onProgress?.(chunksDone * opts.seqLen);
  for await (const chunk of tokenChunks(tokenizer, opts.files, { seqLen: opts.seqLen, maxChunks: totalChunks, bosId })) {
    const mine = globalIndex++ % shard.count === shard.index;
    if (!mine) continue;
    if (shardIndex++ < resumedFromChunks) continue;
    batch.push(chunk);
    if (batch.length === opts.batchSize && (await flush())) {
      savePartial();
      throw new LapeError(`stopped after ${batchesThisRun} batches (test hook); resume by running again`);
    }
  }
  if (batch.length > 0) await flush();
  if (chunksDone === 0) {
    throw new LapeError(`corpus too short for one chunk of ${opts.seqLen} tokens in shard ${meta.shard}`, opts.files.join(', '));
  }
  const stats: LangStats = {
    lang: opts.lang,
    layers: L,
    neurons: I,
    tokens: chunksDone * opts.seqLen,
    count: acc.count,
    sum: acc.sum,
    sumSq: acc.sumSq,
    meta: { ...meta, chunks: String(chunksDone) },
  };
  saveStats(opts.out, stats);
  rmSync(partialPath, { force: true });
  return { stats, resumedFromChunks, alreadyComplete: false, tokensThisRun, seconds: (Date.now() - started) / 1000 };
}

/** Metadata keys that must agree between shards of one language. */
const MERGE_KEYS = ['lang', 'model_config_sha256', 'tokenizer_sha256', 'seq_len', 'bos', 'layers', 'neurons', 'weights', 'device'] as const;

/** One recorded piece of a corpus: shard i of n of the chunk stream of the corpus with this sha256. */
interface Piece {
  corpus: string;
  index: number;
  count: number;
}

function parseShardText(s: string, file: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new LapeError(`statistics metadata has an invalid shard "${s}"`, file);
  return { index: Number(m[1]), count: Number(m[2]) };
}

/** The pieces a statistics file holds: its own shard, or for a merged file every shard merged into it. */
export function statsPieces(s: LangStats, file: string): Piece[] {
  const m = s.meta;
  if (m.merged_parts) {
    let parts: unknown;
    try {
      parts = JSON.parse(m.merged_parts);
    } catch {
      throw new LapeError('statistics metadata "merged_parts" is not valid JSON', file);
    }
    if (!Array.isArray(parts) || parts.length === 0) throw new LapeError('statistics metadata "merged_parts" is not a list', file);
    return parts.map((p) => {
      if (!Array.isArray(p) || typeof p[0] !== 'string' || typeof p[1] !== 'string') throw new LapeError('statistics metadata "merged_parts" has a bad entry', file);
      return { corpus: p[0], ...parseShardText(p[1], file) };
    });
  }
  const shard = m.shard ?? '0/1';
  const corpus = m.corpus_sha256 ?? '';
  if (shard.startsWith('merged:')) {
    // Merged by an older lape: the shards are listed, their corpora only when there was one.
    return shard.slice(7).split(',').map((x) => ({ corpus, ...parseShardText(x, file) }));
  }
  return [{ corpus, ...parseShardText(shard, file) }];
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Whether shards i/n and j/m of one chunk stream share a chunk (c ≡ i mod n and c ≡ j mod m is solvable). */
export function shardsOverlap(a: { index: number; count: number }, b: { index: number; count: number }): boolean {
  return (a.index - b.index) % gcd(a.count, b.count) === 0;
}

/** Sums statistics shards of one language (same model, tokenizer, sequence length); refuses overlapping shards and values that are not counts. */
export function mergeStats(parts: Array<{ file: string; stats: LangStats }>, warn: (msg: string) => void = () => {}): LangStats {
  if (parts.length === 0) throw new LapeError('nothing to merge');
  const first = parts[0]!;
  for (const p of parts) {
    for (const key of MERGE_KEYS) {
      if (p.stats.meta[key] !== first.stats.meta[key]) {
        throw new LapeError(
          `cannot merge: ${key} differs (${JSON.stringify(p.stats.meta[key])} here, ${JSON.stringify(first.stats.meta[key])} in ${first.file})`,
          p.file,
        );
      }
    }
    if (p.stats.tokens <= 0) throw new LapeError('cannot merge: the statistics hold no tokens', p.file);
    const { chunks, seq_len } = p.stats.meta;
    if (chunks !== undefined && seq_len !== undefined && Number(chunks) * Number(seq_len) !== p.stats.tokens) {
      throw new LapeError(`cannot merge: ${p.stats.tokens} tokens is not chunks × seq_len (${chunks} × ${seq_len}); the file was edited or is damaged`, p.file);
    }
  }
  // The full model identity (weights included) exists in files recorded since it was introduced.
  const withId = parts.filter((p) => p.stats.meta.model_sha256 !== undefined);
  if (withId.length > 0 && withId.length < parts.length) {
    const old = parts.find((p) => p.stats.meta.model_sha256 === undefined)!;
    throw new LapeError(
      'cannot merge: this file was recorded by an older lape that identified the model by config.json only, so it cannot be checked against ' +
        `${withId[0]!.file}'s weights; record it again with this lape`,
      old.file,
    );
  }
  for (const p of withId) {
    if (p.stats.meta.model_sha256 !== withId[0]!.stats.meta.model_sha256) {
      throw new LapeError(`cannot merge: recorded with other model weights or tokenizer than ${withId[0]!.file} (model_sha256 differs)`, p.file);
    }
  }
  if (withId.length === 0) warn('these statistics were recorded by an older lape: only config.json, not the weights, could be compared (record again to check the weights)');
  // No chunk may be counted twice: shards of one corpus must be disjoint.
  const seen: Array<Piece & { file: string }> = [];
  for (const p of parts) {
    for (const piece of statsPieces(p.stats, p.file)) {
      const clash = seen.find((q) => q.corpus === piece.corpus && shardsOverlap(q, piece));
      if (clash) {
        const same = clash.index === piece.index && clash.count === piece.count;
        throw new LapeError(
          same
            ? `cannot merge: shard ${piece.index}/${piece.count} of the same corpus is counted twice (also in ${clash.file})`
            : `cannot merge: shard ${piece.index}/${piece.count} overlaps shard ${clash.index}/${clash.count} of the same corpus in ${clash.file} (they share chunks, which would be counted twice)`,
          p.file,
        );
      }
      seen.push({ ...piece, file: p.file });
    }
  }
  const n = first.stats.count.length;
  const out: LangStats = {
    lang: first.stats.lang,
    layers: first.stats.layers,
    neurons: first.stats.neurons,
    tokens: 0,
    count: new Float64Array(n),
    sum: new Float64Array(n),
    sumSq: new Float64Array(n),
    meta: {},
  };
  // Fixed order (by shard, then file) so the merged sums do not depend on argument order.
  const ordered = [...parts].sort((a, b) =>
    (a.stats.meta.shard ?? '').localeCompare(b.stats.meta.shard ?? '', 'en', { numeric: true }) || a.file.localeCompare(b.file));
  for (const { stats } of ordered) {
    out.tokens += stats.tokens;
    for (let k = 0; k < n; k++) {
      out.count[k]! += stats.count[k]!;
      out.sum[k]! += stats.sum[k]!;
      out.sumSq[k]! += stats.sumSq[k]!;
    }
  }
  const m = first.stats.meta;
  const pieces = ordered.flatMap((p) => statsPieces(p.stats, p.file));
  out.meta = {
    lang: out.lang,
    model_config_sha256: m.model_config_sha256 ?? '',
    ...(m.model_sha256 ? { model_sha256: m.model_sha256 } : {}),
    tokenizer_sha256: m.tokenizer_sha256 ?? '',
    seq_len: m.seq_len ?? '',
    bos: m.bos ?? 'false',
    corpus_sha256: [...new Set(ordered.map((p) => p.stats.meta.corpus_sha256))].join(','),
    shard: `merged:${pieces.map((p) => `${p.index}/${p.count}`).join(',')}`,
    merged_parts: JSON.stringify(pieces.map((p) => [p.corpus, `${p.index}/${p.count}`])),
    ...(ordered.every((p) => p.stats.meta.chunks !== undefined) ? { chunks: String(ordered.reduce((s, p) => s + Number(p.stats.meta.chunks), 0)) } : {}),
    lape_version: LAPE_VERSION,
    ...(m.weights ? { weights: m.weights } : {}),
    ...(m.device ? { device: m.device } : {}),
  };
  return out;
}

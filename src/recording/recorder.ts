/**
 * Recording one language: its corpus → fixed-length chunks → forward passes with the statistics
 * plan → the accumulators of src/stats → a statistics file. This is the part that runs the model;
 * what it accumulates and writes is pure data (src/stats).
 *
 * Determinism and resume: chunks are taken in stream order, a shard keeps chunks with
 * index % n == i, and batches are consecutive groups of `batchSize` shard chunks. Every few
 * batches the accumulators (blocks included) and the number of chunks done go to `<out>.partial`
 * (atomically). A restarted run with the same arguments reloads that state and continues at the
 * same batch boundary, so the float64 sums see the same batches in the same order and the final
 * file is byte-identical to an uninterrupted run's. Recording in steps (advanceTo, used by the
 * round-robin of several languages) forms the same batches as recording at once.
 */
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { LapeError } from '../errors.js';
import { tokenChunks } from '../corpus/chunks.js';
import { filesSha256 } from '../corpus/text-files.js';
import type { Model } from '../runtime/model.js';
import type { LapeTokenizer } from '../tokenizer/tokenizer.js';
import { LAPE_VERSION } from '../version.js';
import { StatsAccumulator } from '../stats/accumulator.js';
import { DEFAULT_MAX_BLOCKS, checkMaxBlocks } from '../stats/blocks.js';
import { checkLangCode } from '../stats/lang-code.js';
import { loadStats, saveStats } from '../stats/stats-file.js';
import type { LangStats } from '../stats/types.js';

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
  /** Keep at most this many blocks (stats/blocks.ts); 0 = totals only. Default 64. */
  maxBlocks?: number;
  /** Further settings that decide the result (part of the job identity), e.g. a stop rule. */
  jobMeta?: Record<string, string>;
  /** Save resume state every this many batches (default 8). */
  checkpointEvery?: number;
  /** Called after each batch with tokens done so far (for progress). */
  onProgress?: (tokensDone: number) => void;
  /** Testing hook: stop (as if killed) after this many batches of this run. */
  stopAfterBatches?: number;
}

export class LanguageRecorder {
  readonly shape: [number, number];
  readonly acc: StatsAccumulator;
  /** Chunks restored from the resume file. */
  readonly resumedFromChunks: number;
  /** The final file of these arguments exists already. */
  readonly complete: LangStats | null;
  /** The corpus (or --tokens) has no more chunks. */
  exhausted = false;
  tokensThisRun = 0;
  secondsThisRun = 0;
  private readonly partialPath: string;
  private readonly it: AsyncIterator<number[]>;
  private readonly shard: { index: number; count: number };
  private batch: number[][] = [];
  private batchesThisRun = 0;
  private globalIndex = 0;
  private shardIndex = 0;

  private constructor(
    private readonly model: Model,
    tokenizer: LapeTokenizer,
    private readonly opts: RecordOptions,
    readonly meta: Record<string, string>,
    bosId: number | null,
  ) {
    const spec = model.spec;
    this.shape = [spec.numLayers, spec.intermediateSize];
    this.shard = opts.shard ?? { index: 0, count: 1 };
    this.partialPath = `${opts.out}.partial`;
    this.complete = completeFile(opts.out, meta.job!);
    this.acc = new StatsAccumulator(this.shape[0] * this.shape[1], opts.maxBlocks ?? DEFAULT_MAX_BLOCKS, opts.batchSize);
    this.acc.loadPartial(this.partialPath, meta.job!, this.shape);
    this.resumedFromChunks = this.acc.chunks;
    const totalChunks = opts.maxTokens === undefined ? undefined : Math.floor(opts.maxTokens / opts.seqLen);
    this.it = tokenChunks(tokenizer, opts.files, { seqLen: opts.seqLen, maxChunks: totalChunks, bosId })[Symbol.asyncIterator]();
    if (this.complete) this.exhausted = true;
  }

  /** Checks the arguments, names the job (its metadata hash) and restores resume state. */
  static async open(model: Model, tokenizer: LapeTokenizer, opts: RecordOptions): Promise<LanguageRecorder> {
    checkLangCode(opts.lang);
    if (opts.files.length === 0) throw new LapeError('no corpus files given');
    const shard = opts.shard ?? { index: 0, count: 1 };
    if (!(Number.isInteger(shard.count) && shard.count >= 1 && Number.isInteger(shard.index) && shard.index >= 0 && shard.index < shard.count)) {
      throw new LapeError(`invalid shard ${shard.index}/${shard.count}`);
    }
    const maxBlocks = opts.maxBlocks ?? DEFAULT_MAX_BLOCKS;
    checkMaxBlocks(maxBlocks);
    const spec = model.spec;
    if (opts.seqLen > spec.maxPositionEmbeddings) {
      throw new LapeError(`sequence length ${opts.seqLen} exceeds the model's context (${spec.maxPositionEmbeddings})`);
    }
    if (opts.maxTokens !== undefined && Math.floor(opts.maxTokens / opts.seqLen) === 0) {
      throw new LapeError(`--tokens ${opts.maxTokens} is less than one chunk of ${opts.seqLen} tokens`);
    }
    const bosId = opts.bos ? spec.bosTokenId ?? tokenizer.tokenToId('<s>') ?? null : null;
    if (opts.bos && bosId === null) throw new LapeError('--bos given but the model has no BOS token');
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
      // Without blocks the metadata (and so the file) is what lape wrote before blocks existed.
      ...(maxBlocks > 0 ? { blocks_max: String(maxBlocks) } : {}),
      ...opts.jobMeta,
    };
    // Identity of the job: a partial or final file from different arguments is never reused.
    meta.job = createHash('sha256').update(JSON.stringify(meta)).digest('hex').slice(0, 16);
    return new LanguageRecorder(model, tokenizer, opts, meta, bosId);
  }

  get lang(): string {
    return this.opts.lang;
  }

  get tokens(): number {
    return this.complete ? this.complete.tokens : this.acc.chunks * this.opts.seqLen;
  }

  /** Records until `target` chunks of this shard are done (at a batch boundary) or the corpus ends. */
  async advanceTo(target = Infinity): Promise<void> {
    const t0 = Date.now();
    try {
      while (!this.exhausted && this.acc.chunks < target) {
        const next = await this.it.next();
        if (next.done) {
          this.exhausted = true;
          break;
        }
        if (this.globalIndex++ % this.shard.count !== this.shard.index) continue;
        if (this.shardIndex++ < this.resumedFromChunks) continue;
        this.batch.push(next.value);
        if (this.batch.length === this.opts.batchSize) await this.flush();
      }
      if (this.exhausted && this.batch.length > 0) await this.flush();
    } finally {
      this.secondsThisRun += (Date.now() - t0) / 1000;
    }
  }

  private async flush(): Promise<void> {
    const r = await this.model.run({ ids: this.batch }, { ffnStats: true });
    this.acc.add({ count: r.ffnCount!, sum: r.ffnSum!, sumSq: r.ffnSumSq! }, this.batch.length);
    this.tokensThisRun += this.batch.length * this.opts.seqLen;
    this.batch = [];
    this.batchesThisRun++;
    this.opts.onProgress?.(this.tokens);
    if (this.batchesThisRun % (this.opts.checkpointEvery ?? 8) === 0) this.savePartial();
    if (this.opts.stopAfterBatches !== undefined && this.batchesThisRun >= this.opts.stopAfterBatches) {
      this.savePartial();
      throw new LapeError(`stopped after ${this.batchesThisRun} batches (test hook); resume by running again`);
    }
  }

  /** Writes the resume state now (also between the rounds of several languages). */
  savePartial(): void {
    if (this.complete) return;
    this.acc.savePartial(this.partialPath, this.shape, { job: this.meta.job! });
  }

  /** The statistics so far (blocks included); `extraMeta` goes into the metadata (not the job identity). */
  stats(extraMeta: Record<string, string> = {}): LangStats {
    if (this.complete) return this.complete;
    const blocks = this.acc.blockSet();
    return {
      lang: this.opts.lang,
      layers: this.shape[0],
      neurons: this.shape[1],
      tokens: this.tokens,
      count: this.acc.count,
      sum: this.acc.sum,
      sumSq: this.acc.sumSq,
      meta: { ...this.meta, chunks: String(this.acc.chunks), ...extraMeta },
      ...(blocks ? { blocks } : {}),
    };
  }

  /** The final statistics (after the last batch); refuses an empty recording. */
  final(extraMeta: Record<string, string> = {}): LangStats {
    if (this.complete) return this.complete;
    if (this.batch.length > 0) throw new Error('final statistics with a batch pending');
    if (this.acc.chunks === 0) {
      throw new LapeError(`corpus too short for one chunk of ${this.opts.seqLen} tokens in shard ${this.meta.shard}`, this.opts.files.join(', '));
    }
    return this.stats(extraMeta);
  }

  /** Removes the resume state (after the final file is written). */
  removePartial(): void {
    rmSync(this.partialPath, { force: true });
  }

  /** Writes the final file and removes the resume state. */
  finish(): LangStats {
    if (this.complete) return this.complete;
    const s = this.final();
    saveStats(this.opts.out, s);
    this.removePartial();
    return s;
  }
}

/** The final file at `out` when it is this job's (a rerun is then a no-op). */
function completeFile(out: string, job: string): LangStats | null {
  if (!existsSync(out)) return null;
  try {
    const prev = loadStats(out, { blocks: true });
    return prev.meta.job === job ? prev : null;
  } catch {
    return null; // not a matching stats file: recompute and replace it
  }
}

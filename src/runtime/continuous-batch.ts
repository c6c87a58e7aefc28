/**
 * Continuous batching for lape serve: requests with their own decoding settings and their own
 * steering share one KV-cached batch and one ONNX session (a sequencePatches plan: every layer
 * patched with per-sequence vectors).
 *
 * The loop, one iteration per decoding step:
 *   1. cancelled rows leave (their client went away);
 *   2. waiting requests, up to maxBatch rows in all, are prefilled together (left-padded) and
 *      their caches stacked beside the running rows' (kv-cache.ts) — a request that arrives while
 *      a batch decodes joins it at the next step instead of waiting for the batch to end;
 *   3. one decoding step feeds every running row its last token; finished rows leave.
 * Between steps the loop yields to the event loop, so new requests, disconnects and health checks
 * are handled while a batch runs. A queue bound refuses work beyond maxQueue waiting requests.
 */
import { LapeError } from '../errors.js';
import type { HookPlan } from '../graph/hook-plan.js';
import { advanceRow, leftPadded, newRow, rowGeneration, type DecodeRow, type Generation, type Settings } from './generate.js';
import { gatherCacheRows } from './kv-cache.js';
import type { KvCache, Model } from './model.js';
import { stackSequenceVectors, type AffineVectors } from './patches.js';

/** The one plan every step runs: prefill and decoding alike. */
export const SERVING_PLAN: HookPlan = { kvCache: true, logits: 'last', sequencePatches: true };

export interface BatchRequest {
  prompt: number[];
  settings: Settings;
  /** The request's compiled patches per layer (patchVectors); empty = unsteered. */
  vectors: Map<number, AffineVectors>;
  /** Called after each new token with the row so far (streaming). */
  onToken?: (row: DecodeRow) => void;
  /** Aborting ends the generation at the next step; the promise rejects with CancelledError. */
  signal?: AbortSignal;
}

export class QueueFullError extends LapeError {}
export class CancelledError extends LapeError {}

export interface BatcherOptions {
  /** Most sequences decoded together. */
  maxBatch: number;
  /** Most requests waiting to join (beyond it submit throws QueueFullError). */
  maxQueue: number;
  /** false: a batch runs to its end before waiting requests start (for measuring the difference). */
  continuous?: boolean;
  decode: (ids: number[]) => string;
}

export interface BatcherStats {
  running: number;
  queued: number;
  steps: number;
  prefills: number;
  /** Requests prefilled while other rows were mid-generation. */
  joinedRunning: number;
  tokens: number;
  completed: number;
  cancelled: number;
}

interface Job {
  req: BatchRequest;
  row: DecodeRow;
  /** Set when its onToken threw: it leaves at the next step, as if cancelled. */
  broken?: unknown;
  resolve: (g: Generation) => void;
  reject: (e: unknown) => void;
}

export class ContinuousBatcher {
  private queue: Job[] = [];
  private running: Job[] = [];
  /** Taken from the queue, being prefilled (failed with the rest if the engine fails). */
  private admitting: Job[] = [];
  private cache: KvCache | null = null;
  private vectors: AffineVectors[] | null = null;
  private loop: Promise<void> | null = null;
  private closed = false;
  private cancelAll = false;
  private counters = { steps: 0, prefills: 0, joinedRunning: 0, tokens: 0, completed: 0, cancelled: 0 };

  constructor(
    private readonly model: Model,
    private readonly opts: BatcherOptions,
  ) {
    if (!(Number.isInteger(opts.maxBatch) && opts.maxBatch > 0)) throw new LapeError(`max batch must be a positive integer, got ${opts.maxBatch}`);
    if (!(Number.isInteger(opts.maxQueue) && opts.maxQueue >= 0)) throw new LapeError(`max queue must be a non-negative integer, got ${opts.maxQueue}`);
  }

  stats(): BatcherStats {
    return { running: this.running.length, queued: this.queue.length, ...this.counters };
  }

  /** Queues a request; rejects at once with QueueFullError when the queue is full. */
  submit(req: BatchRequest): Promise<Generation> {
    if (this.closed) return Promise.reject(new LapeError('the server is shutting down'));
    if (this.queue.length >= this.opts.maxQueue) {
      return Promise.reject(new QueueFullError(`the queue is full (${this.opts.maxQueue} requests waiting); retry later`));
    }
    if (req.signal?.aborted) return Promise.reject(new CancelledError('cancelled before it started'));
    return new Promise<Generation>((resolve, reject) => {
      this.queue.push({ req, row: newRow(req.prompt, req.settings, 0), resolve, reject });
      this.loop ??= this.run().finally(() => (this.loop = null));
    });
  }

  /** Stops accepting; cancel = abort everything now, else let queued and running requests finish. */
  async close(cancel: boolean): Promise<void> {
    this.closed = true;
    if (cancel) {
      for (const j of this.queue.splice(0)) this.fail(j, new CancelledError('the server is shutting down'));
      this.cancelAll = true; // the loop drops the running rows before its next step
    }
    await this.loop;
  }

  private async run(): Promise<void> {
    try {
      while (this.running.length || this.queue.length) {
        this.dropCancelled();
        const room = this.opts.maxBatch - this.running.length;
        const mayJoin = this.opts.continuous !== false || this.running.length === 0;
        if (room > 0 && this.queue.length && mayJoin) {
          this.admitting = this.queue.splice(0, room);
          await this.prefill(this.admitting);
          this.admitting = [];
        }
        if (this.running.length) await this.step();
        await new Promise<void>((r) => setImmediate(r));
      }
    } catch (e) {
      // An engine failure fails every request in flight; the batcher stays usable.
      for (const j of [...this.running, ...this.admitting, ...this.queue.splice(0)]) j.reject(e);
      this.running = [];
      this.admitting = [];
      this.cache = null;
      this.vectors = null;
    }
  }

  private dropCancelled(): void {
    const keep = this.running.filter((j) => !(this.cancelAll || j.req.signal?.aborted || j.broken !== undefined));
    if (keep.length !== this.running.length) {
      for (const j of this.running) if (!keep.includes(j)) this.fail(j, j.broken ?? new CancelledError('cancelled'));
      this.setRunning(keep, keep.map((j) => this.running.indexOf(j)));
    }
    this.queue = this.queue.filter((j) => (j.req.signal?.aborted ? (this.fail(j, new CancelledError('cancelled')), false) : true));
  }

  private fail(j: Job, e: unknown): void {
    this.counters.cancelled++;
    j.reject(e);
  }

  /** The running rows become `jobs`, whose cache rows are `rows` of the current cache. */
  private setRunning(jobs: Job[], rows: number[]): void {
    const cache = this.cache;
    this.running = jobs;
    this.vectors = null;
    this.cache = jobs.length && cache ? gatherCacheRows(rows.map((row) => ({ cache, row }))) : null;
  }

  private stacked(jobs: Job[]): AffineVectors[] {
    return stackSequenceVectors(jobs.map((j) => j.req.vectors), this.model.spec.numLayers, this.model.spec.intermediateSize);
  }

  /** Advances each job's row by the logits of its batch row; returns the ones still running. */
  private advance(jobs: Job[], logits: Float32Array): number[] {
    const V = this.model.spec.vocabSize;
    const alive: number[] = [];
    jobs.forEach((j, b) => {
      advanceRow(j.row, logits.slice(b * V, (b + 1) * V), j.req.settings, this.model.spec.maxPositionEmbeddings, this.opts.decode);
      this.counters.tokens++;
      try {
        j.req.onToken?.(j.row);
      } catch (e) {
        j.broken = e; // one request's streaming failure must not fail the batch
      }
      if (j.row.done && j.broken === undefined) {
        this.counters.completed++;
        j.resolve(rowGeneration(j.row, this.opts.decode));
      } else if (!j.row.done) alive.push(b);
      else this.fail(j, j.broken);
    });
    return alive;
  }

  private async prefill(jobs: Job[]): Promise<void> {
    if (this.running.length) this.counters.joinedRunning += jobs.length;
    this.counters.prefills++;
    const result = await this.model.run(leftPadded(jobs.map((j) => j.row.prompt)), SERVING_PLAN, { sequenceVectors: this.stacked(jobs) });
    const alive = this.advance(jobs, result.logitsLast!);
    if (!alive.length) return;
    const joined = result.cache!;
    const old = this.cache;
    const rows = [
      ...this.running.map((_, row) => ({ cache: old!, row })),
      ...alive.map((row) => ({ cache: joined, row })),
    ];
    this.running = [...this.running, ...alive.map((b) => jobs[b]!)];
    this.cache = gatherCacheRows(rows);
    this.vectors = null;
  }

  private async step(): Promise<void> {
    this.counters.steps++;
    const jobs = this.running;
    this.vectors ??= this.stacked(jobs);
    const ids = jobs.map((j) => [j.row.gen[j.row.gen.length - 1]!]);
    const mask = jobs.map(() => [1]);
    const result = await this.model.run({ ids, mask }, SERVING_PLAN, { sequenceVectors: this.vectors, past: this.cache! });
    this.cache = result.cache!;
    const alive = this.advance(jobs, result.logitsLast!);
    if (alive.length !== jobs.length) this.setRunning(alive.map((b) => jobs[b]!), alive);
  }
}

/**
 * Statistics per block of chunks, kept beside the totals so that any token budget and any
 * resample of blocks can be aggregated again later without another forward pass (lape stability).
 *
 * A block is a run of consecutive batches of one recording (stream order). Blocks start one batch
 * long; when closing a block makes `max` of them, adjacent pairs are merged and the block length
 * doubles. So a file holds between max/2 and max blocks (fewer for short recordings), all of one
 * length except the last, and block boundaries fall on every budget of the form
 * batch × 2^k chunks that is at least two blocks long (the stop rule of lape record-langs uses them).
 *
 * Size: a block holds int32 counts (4 bytes) and float64 sums (8 bytes) per neuron; for a 7B model
 * (32 layers × 11,008 neurons) that is 1.4 MB + 2.8 MB per block, 270 MB for the default 64 blocks.
 * Counts are exact: the block counts add up to the totals bit for bit. The totals are still the
 * running accumulators of the whole recording, so block sums added up in another order may differ
 * from them in the last bits.
 */
import { LapeError } from '../errors.js';
import type { LangStats } from './types.js';

export const DEFAULT_MAX_BLOCKS = 64;
/** Block counts are stored as int32. */
const I32_MAX = 2 ** 31 - 1;

export interface StatsBlocks {
  /** The most blocks kept (pairs are merged beyond it). */
  max: number;
  /** Chunks in each block, in stream order. */
  chunks: number[];
  /** count(hook_act > 0) per block, row-major [layer][neuron]. */
  count: Float64Array[];
  /** sum(hook_act) per block. */
  sum: Float64Array[];
}

/** Checks the --blocks value: 0 (no blocks) or an even number ≥ 4. */
export function checkMaxBlocks(max: number): void {
  if (!(Number.isInteger(max) && (max === 0 || (max >= 4 && max % 2 === 0)))) {
    throw new LapeError(`the number of blocks must be 0 (no blocks) or an even number ≥ 4, got ${max}`);
  }
}

/** Merges blocks 2i and 2i+1 (an odd last one stays) until at most `max` remain. */
export function compactBlocks(b: StatsBlocks, max = b.max): StatsBlocks {
  let { chunks, count, sum } = b;
  while (chunks.length > max) {
    const c: number[] = [];
    const n: Float64Array[] = [];
    const s: Float64Array[] = [];
    for (let i = 0; i < chunks.length; i += 2) {
      if (i + 1 === chunks.length) {
        c.push(chunks[i]!);
        n.push(count[i]!);
        s.push(sum[i]!);
        continue;
      }
      c.push(chunks[i]! + chunks[i + 1]!);
      n.push(addArrays(count[i]!, count[i + 1]!));
      s.push(addArrays(sum[i]!, sum[i + 1]!));
    }
    chunks = c;
    count = n;
    sum = s;
  }
  return { max: b.max, chunks, count, sum };
}

function addArrays(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let k = 0; k < a.length; k++) out[k] = a[k]! + b[k]!;
  return out;
}

/** Sums of the blocks `indices` (repeats allowed: a bootstrap draw), in the given order. */
export function sumBlocks(b: StatsBlocks, indices: readonly number[]): { chunks: number; count: Float64Array; sum: Float64Array } {
  const n = b.count[0]?.length ?? 0;
  const count = new Float64Array(n);
  const sum = new Float64Array(n);
  let chunks = 0;
  for (const i of indices) {
    const c = b.count[i]!;
    const s = b.sum[i]!;
    for (let k = 0; k < n; k++) {
      count[k]! += c[k]!;
      sum[k]! += s[k]!;
    }
    chunks += b.chunks[i]!;
  }
  return { chunks, count, sum };
}

/** How many leading blocks hold exactly `chunks` chunks; throws when no block boundary falls there. */
export function blocksForPrefix(b: StatsBlocks, chunks: number): number {
  let done = 0;
  for (let i = 0; i < b.chunks.length; i++) {
    if (done === chunks) return i;
    done += b.chunks[i]!;
  }
  if (done === chunks) return b.chunks.length;
  throw new LapeError(`no block boundary at ${chunks} chunks (blocks of ${b.chunks.join(', ')} chunks)`);
}

/**
 * The open and closed blocks of a recording in progress: each batch is added to the open block,
 * which closes at `target` chunks; closing the max-th block merges pairs and doubles `target`.
 */
export class BlockAccumulator {
  private closed: StatsBlocks;
  private open: { chunks: number; count: Float64Array; sum: Float64Array } | null = null;

  constructor(readonly max: number, private readonly size: number, private target: number) {
    checkMaxBlocks(max);
    if (max === 0) throw new LapeError('a block accumulator needs at least 4 blocks');
    this.closed = { max, chunks: [], count: [], sum: [] };
  }

  /** Chunks per block now (the open block closes there). */
  get blockChunks(): number {
    return this.target;
  }

  add(count: ArrayLike<number>, sum: ArrayLike<number>, chunks: number): void {
    const o = (this.open ??= { chunks: 0, count: new Float64Array(this.size), sum: new Float64Array(this.size) });
    for (let k = 0; k < this.size; k++) {
      o.count[k]! += count[k]!;
      o.sum[k]! += sum[k]!;
    }
    o.chunks += chunks;
    if (o.chunks >= this.target) this.closeOpen();
  }

  private closeOpen(): void {
    const o = this.open!;
    this.closed.chunks.push(o.chunks);
    this.closed.count.push(o.count);
    this.closed.sum.push(o.sum);
    this.open = null;
    if (this.closed.chunks.length >= this.max) {
      this.closed = compactBlocks(this.closed, this.max / 2);
      this.target *= 2;
    }
  }

  /** The closed blocks and, when it holds chunks, the open one (as the last block). */
  snapshot(): { blocks: StatsBlocks; open: boolean; target: number } {
    const c = this.closed;
    const o = this.open;
    const blocks: StatsBlocks = o
      ? { max: this.max, chunks: [...c.chunks, o.chunks], count: [...c.count, o.count], sum: [...c.sum, o.sum] }
      : { max: this.max, chunks: [...c.chunks], count: [...c.count], sum: [...c.sum] };
    return { blocks, open: o !== null, target: this.target };
  }

  /** Restores a snapshot (resume). */
  static restore(s: { blocks: StatsBlocks; open: boolean; target: number }, size: number): BlockAccumulator {
    const acc = new BlockAccumulator(s.blocks.max, size, s.target);
    const n = s.blocks.chunks.length - (s.open ? 1 : 0);
    acc.closed = { max: s.blocks.max, chunks: s.blocks.chunks.slice(0, n), count: s.blocks.count.slice(0, n), sum: s.blocks.sum.slice(0, n) };
    if (s.open) acc.open = { chunks: s.blocks.chunks[n]!, count: s.blocks.count[n]!, sum: s.blocks.sum[n]! };
    return acc;
  }
}

/** Checks blocks against their statistics: shapes, chunk total, counts in range and adding up to the totals exactly. */
export function checkBlocks(b: StatsBlocks, totals: { count: Float64Array; tokens: number; chunks?: number; seqLen: number }, path: string): void {
  const n = totals.count.length;
  if (b.chunks.length === 0 || b.count.length !== b.chunks.length || b.sum.length !== b.chunks.length) {
    throw new LapeError('statistics blocks are empty or their tensors disagree in length', path);
  }
  const chunkSum = b.chunks.reduce((a, c) => a + c, 0);
  if (b.chunks.some((c) => !(Number.isInteger(c) && c > 0)) || chunkSum * totals.seqLen !== totals.tokens) {
    throw new LapeError(`statistics blocks hold ${chunkSum} chunks of ${totals.seqLen} tokens, but the file holds ${totals.tokens} tokens: the file is damaged`, path);
  }
  const added = new Float64Array(n);
  for (let i = 0; i < b.chunks.length; i++) {
    const limit = b.chunks[i]! * totals.seqLen;
    const c = b.count[i]!;
    const s = b.sum[i]!;
    for (let k = 0; k < n; k++) {
      const v = c[k]!;
      if (!(Number.isInteger(v) && v >= 0 && v <= limit)) throw new LapeError(`block ${i} has count ${v} at flat index ${k}, not a count of 0..${limit} tokens: the file is damaged`, path);
      if (!Number.isFinite(s[k]!)) throw new LapeError(`block ${i} has a sum ${s[k]} at flat index ${k} that is not finite: the file is damaged`, path);
      added[k]! += v;
    }
  }
  for (let k = 0; k < n; k++) {
    if (added[k] !== totals.count[k]) throw new LapeError(`the block counts add up to ${added[k]} at flat index ${k}, the total is ${totals.count[k]}: the file is damaged`, path);
  }
}

/** Block counts as int32 for the file (they are exact integers; a block of 2^31 tokens or more cannot be stored). */
export function blockCountsInt32(b: StatsBlocks): Int32Array {
  const n = b.count[0]!.length;
  const out = new Int32Array(b.count.length * n);
  for (let i = 0; i < b.count.length; i++) {
    const c = b.count[i]!;
    for (let k = 0; k < n; k++) {
      if (c[k]! > I32_MAX) throw new LapeError(`block ${i} counts ${c[k]} tokens for one neuron: more than int32 holds (record fewer tokens per block: allow more blocks)`);
      out[i * n + k] = c[k]!;
    }
  }
  return out;
}

/** Concatenates per-block arrays into one [blocks × n] array. */
export function stackBlocks(arrays: readonly Float64Array[]): Float64Array {
  const n = arrays[0]?.length ?? 0;
  const out = new Float64Array(arrays.length * n);
  arrays.forEach((a, i) => out.set(a, i * n));
  return out;
}

/** Splits a [blocks × n] array into per-block views. */
export function unstackBlocks(flat: Float64Array, blocks: number): Float64Array[] {
  const n = flat.length / blocks;
  return Array.from({ length: blocks }, (_, i) => flat.subarray(i * n, (i + 1) * n));
}

/**
 * The statistics of the first `chunks` chunks of a recording, from its blocks (counts exact, as a
 * recording of that length would have them; sums added per block); the totals when `chunks` is
 * all of it. Throws when no block boundary falls there.
 */
export function statsAtChunks(s: LangStats, chunks: number): LangStats {
  const seqLen = Number(s.meta.seq_len);
  if (chunks * seqLen === s.tokens) return s;
  if (!s.blocks) throw new LapeError(`statistics of "${s.lang}" have no blocks to take the first ${chunks} chunks from`);
  const sum = sumBlocks(s.blocks, Array.from({ length: blocksForPrefix(s.blocks, chunks) }, (_, i) => i));
  return { lang: s.lang, layers: s.layers, neurons: s.neurons, tokens: chunks * seqLen, count: sum.count, sum: sum.sum, sumSq: new Float64Array(0), meta: s.meta };
}

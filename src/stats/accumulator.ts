/**
 * The running state of one recording: float64 totals (count, sum, sum²) added batch by batch in
 * stream order, the chunks done, and optionally the blocks (blocks.ts). It saves to and restores
 * from the resume file `<out>.partial` exactly, so a resumed recording adds the same batches in the
 * same order and ends byte-identical to an uninterrupted one.
 */
import { existsSync } from 'node:fs';
import { readSafetensorsHeader, readTensorF64, writeSafetensors } from '../checkpoint/safetensors.js';
import { BlockAccumulator, type StatsBlocks } from './blocks.js';
import { blockTensors, readBlockTensors } from './stats-file.js';

export interface BatchStats {
  count: ArrayLike<number>;
  sum: ArrayLike<number>;
  sumSq: ArrayLike<number>;
}

export class StatsAccumulator {
  count: Float64Array;
  sum: Float64Array;
  sumSq: Float64Array;
  /** Chunks added so far. */
  chunks = 0;
  private blocks: BlockAccumulator | null;

  /** size = layers × neurons; maxBlocks 0 = no blocks; a block starts `blockChunks` long (one batch). */
  constructor(readonly size: number, maxBlocks: number, blockChunks: number) {
    this.count = new Float64Array(size);
    this.sum = new Float64Array(size);
    this.sumSq = new Float64Array(size);
    this.blocks = maxBlocks > 0 ? new BlockAccumulator(maxBlocks, size, blockChunks) : null;
  }

  add(batch: BatchStats, chunks: number): void {
    for (let k = 0; k < this.size; k++) {
      this.count[k]! += batch.count[k]!;
      this.sum[k]! += batch.sum[k]!;
      this.sumSq[k]! += batch.sumSq[k]!;
    }
    this.blocks?.add(batch.count, batch.sum, chunks);
    this.chunks += chunks;
  }

  /** All blocks so far (the open one last), or undefined without blocks. */
  blockSet(): StatsBlocks | undefined {
    return this.blocks?.snapshot().blocks;
  }

  /** Writes the resume state: totals, chunks done, blocks (with the open block and the block length). */
  savePartial(path: string, shape: number[], meta: Record<string, string>): void {
    const snap = this.blocks?.snapshot();
    writeSafetensors(
      path,
      {
        count: { dtype: 'F64', shape, data: this.count },
        sum: { dtype: 'F64', shape, data: this.sum },
        sum_sq: { dtype: 'F64', shape, data: this.sumSq },
        ...(snap && snap.blocks.chunks.length > 0 ? blockTensors(snap.blocks, shape) : {}),
      },
      {
        ...meta,
        chunks_done: String(this.chunks),
        ...(snap ? { blocks_max: String(snap.blocks.max), blocks_open: String(snap.open), blocks_target: String(snap.target) } : {}),
      },
    );
  }

  /**
   * Restores the state of `path` when its metadata `job` is `job` (else leaves this one as it is);
   * returns whether it did.
   */
  loadPartial(path: string, job: string, shape: [number, number]): boolean {
    if (!existsSync(path)) return false;
    const h = readSafetensorsHeader(path);
    if (h.metadata.job !== job) return false;
    this.count = readTensorF64(h, 'count');
    this.sum = readTensorF64(h, 'sum');
    this.sumSq = readTensorF64(h, 'sum_sq');
    this.chunks = Number(h.metadata.chunks_done);
    if (this.blocks) {
      const blocks = readBlockTensors(h, shape[0], shape[1], this.blocks.max);
      if (blocks) {
        this.blocks = BlockAccumulator.restore({ blocks, open: h.metadata.blocks_open === 'true', target: Number(h.metadata.blocks_target) }, this.size);
      }
    }
    return true;
  }
}

/**
 * A cheap fingerprint of weight files: each file's size and the sha256 of 16 blocks of 4 KiB at
 * fixed positions (the first, the last, and 14 evenly spaced between). 64 KiB read per file
 * whatever its size (measured: bench/fingerprint.ts). It tells weights that changed (a fine-tune
 * written over a checkpoint, a re-quantised file) from the same weights; it is not a full hash —
 * two files that differ only between sampled blocks look the same — which is why the tensor
 * headers (names, dtypes, shapes, offsets) are hashed in full beside it.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { withFsErrors } from '../util/fs-errors.js';

export const FINGERPRINT_BLOCKS = 16;
export const FINGERPRINT_BLOCK_BYTES = 4096;

/** Block start offsets for a file of `size` bytes. */
export function fingerprintOffsets(size: number): number[] {
  const B = FINGERPRINT_BLOCK_BYTES;
  if (size <= B * FINGERPRINT_BLOCKS) return Array.from({ length: Math.ceil(size / B) }, (_, i) => i * B);
  const last = size - B;
  return Array.from({ length: FINGERPRINT_BLOCKS }, (_, i) => Math.round((last * i) / (FINGERPRINT_BLOCKS - 1)));
}

/** sha256 over (size, sampled blocks) of one file. */
export function fileFingerprint(path: string): string {
  return withFsErrors(path, 'read', () => {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const h = createHash('sha256').update(`size:${size}\n`);
      const buf = Buffer.alloc(FINGERPRINT_BLOCK_BYTES);
      for (const off of fingerprintOffsets(size)) {
        const n = readSync(fd, buf, 0, Math.min(FINGERPRINT_BLOCK_BYTES, size - off), off);
        h.update(buf.subarray(0, n));
      }
      return h.digest('hex');
    } finally {
      closeSync(fd);
    }
  });
}

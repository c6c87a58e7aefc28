/**
 * Cost of the model identity's weight fingerprint (src/checkpoint/fingerprint.ts) on a large file:
 * `node dist/bench/fingerprint.js [FILE]` (default: a 2 GiB sparse-free file written to $TMPDIR and
 * removed). Prints cold (page cache dropped is not possible without root: first read after writing
 * a fresh file with O_DIRECT-free writes, so "cold" is best effort) and warm times, and compares
 * with a full sha256 of the file.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileFingerprint } from '../src/checkpoint/fingerprint.js';

async function main(): Promise<void> {
  let file = process.argv[2];
  let made = false;
  if (!file) {
    file = join(tmpdir(), `lape-fingerprint-${process.pid}.bin`);
    const fd = openSync(file, 'w');
    const block = Buffer.alloc(64 * 2 ** 20);
    for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i);
    for (let i = 0; i < 32; i++) writeSync(fd, block);
    closeSync(fd);
    made = true;
  }
  try {
    const times: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      fileFingerprint(file);
      times.push(performance.now() - t0);
    }
    const t1 = performance.now();
    const h = createHash('sha256');
    for await (const c of createReadStream(file)) h.update(c as Buffer);
    h.digest('hex');
    const full = performance.now() - t1;
    console.log(`fingerprint of ${file}: first ${times[0]!.toFixed(2)} ms, then ${times.slice(1).map((t) => t.toFixed(2)).join(' / ')} ms; full sha256 ${full.toFixed(0)} ms`);
  } finally {
    if (made) rmSync(file, { force: true });
  }
}

await main();

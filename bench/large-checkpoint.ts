/**
 * Checks (not a test: it writes ~2.6 GB) that a checkpoint larger than 2 GiB loads and runs: a
 * Qwen2.5-0.5B-shaped f32 model with 34 layers in one model.safetensors, so tensors sit at byte
 * offsets past 2^31 and the weights exceed protobuf's 2 GB limit (they stay external data).
 * Runs one recording pass and one last-position logits pass, and prints RSS vs weight bytes.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/large-checkpoint.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/runtime/model.js';
import { QWEN25_05B, writeSyntheticCheckpoint } from './synthetic-checkpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'lape-large-'));
try {
  const t0 = Date.now();
  const ck = writeSyntheticCheckpoint(dir, { ...QWEN25_05B, layers: 34 });
  console.log(`wrote ${(ck.weightBytes / 2 ** 30).toFixed(2)} GiB (${ck.tensors} tensors) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const model = loadModel(dir);
  const ids = [Array.from({ length: 128 }, (_, i) => (i * 7919) % model.spec.vocabSize)];
  const t1 = Date.now();
  const stats = await model.run({ ids }, { ffnStats: true });
  const rssOne = process.resourceUsage().maxRSS * 1024;
  console.log(`peak RSS with one session (recording plan): ${(rssOne / 2 ** 30).toFixed(2)} GiB = ${(rssOne / ck.weightBytes).toFixed(2)} × weight bytes`);
  const last = await model.run({ ids }, { logits: 'last' });
  const finite = stats.ffnSum!.every(Number.isFinite) && last.logitsLast!.every(Number.isFinite);
  const lastLayerCounts = stats.ffnCount!.subarray((model.spec.numLayers - 1) * model.spec.intermediateSize);
  console.log(`ran recording + logits in ${((Date.now() - t1) / 1000).toFixed(1)} s; outputs finite: ${finite}; ` +
    `last layer active neurons: ${lastLayerCounts.filter((c) => c > 0).length}/${model.spec.intermediateSize}`);
  const rss = process.resourceUsage().maxRSS * 1024;
  // Each hook plan is its own ORT session with its own packed weights: a second plan adds ~1× weights.
  console.log(`peak RSS with two sessions (+ logits plan): ${(rss / 2 ** 30).toFixed(2)} GiB = ${(rss / ck.weightBytes).toFixed(2)} × weight bytes`);
  await model.release();
  if (!finite) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * --weights bf16 | int8 | int4 | w8a8: the MatMulNBits block and per-channel int8 encodings, results close to the stored weights
 * within the tolerances bench/agreement.ts measured, the cache written once and the checkpoint
 * only read, and the weight type recorded in statistics (merge refuses to mix types).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { quantizeBlocks, quantizePerChannel } from '../src/checkpoint/derived-weights.js';
import { loadModel } from '../src/runtime/model.js';
import type { WeightType } from '../src/checkpoint/derived-weights.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';
import { runCli } from './helpers/cli.js';
import { loadStats } from '../src/stats/stats-file.js';

const cache = tempDir('lape-cache-');
process.env.LAPE_CACHE_DIR = cache;

test('block quantisation: symmetric codes around 2^(bits-1), low nibble first, error ≤ half a step', () => {
  const k = 40; // not a multiple of the block: the last block is padded with zero codes
  const w = Float32Array.from({ length: 2 * k }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 5)));
  for (const [bits, block] of [[8, 32], [4, 32], [4, 16]] as const) {
    const { codes, scales } = quantizeBlocks(w, 2, k, bits, block);
    const blocks = Math.ceil(k / block);
    const blob = (block * bits) / 8;
    assert.equal(codes.length, 2 * blocks * blob);
    const zero = 1 << (bits - 1);
    for (let r = 0; r < 2; r++) {
      for (let j = 0; j < blocks * block; j++) {
        const b = Math.floor(j / block);
        const byte = codes[(r * blocks + b) * blob + (bits === 8 ? j % block : (j % block) >> 1)]!;
        const q = bits === 8 ? byte : (j % 2 === 0 ? byte & 15 : byte >> 4);
        const scale = scales[r * blocks + b]!;
        if (j >= k) {
          assert.equal(q, zero, 'padding decodes to 0');
          continue;
        }
        assert.ok(Math.abs((q - zero) * scale - w[r * k + j]!) <= scale / 2 + 1e-6, `bits ${bits} row ${r} col ${j}`);
      }
    }
  }
});

test('per-channel int8 (w8a8): codes transposed to [k, n], one scale per output row, error ≤ half a step', () => {
  const [n, k] = [3, 7];
  const w = Float32Array.from({ length: n * k }, (_, i) => Math.cos(i * 0.9) * (1 + (i % 4)));
  w[1 * k + 2] = 0; // a row's values other than its maximum still get their own codes
  const { codes, scales } = quantizePerChannel(w, n, k);
  assert.equal(codes.length, n * k);
  for (let r = 0; r < n; r++) {
    let amax = 0;
    for (let j = 0; j < k; j++) amax = Math.max(amax, Math.abs(w[r * k + j]!));
    assert.equal(scales[r], Math.fround(amax / 127), `row ${r} scale`);
    for (let j = 0; j < k; j++) {
      const q = codes[j * n + r]!;
      assert.ok(q >= -127 && q <= 127);
      assert.ok(Math.abs(q * scales[r]! - w[r * k + j]!) <= scales[r]! / 2 + 1e-6, `row ${r} col ${j}`);
    }
  }
});

/** Largest |logit difference| / largest |logit| of a weight type against the stored weights. */
async function logitsError(dir: string, type: WeightType): Promise<number> {
  const ids = [Array.from({ length: 20 }, (_, i) => (i * 37 + 11) % 298)];
  const run = async (w: WeightType): Promise<Float32Array> => {
    const m = loadModel(dir, { weights: w, threads: 1 });
    try {
      return (await m.run({ ids }, { logits: 'all' })).logits!;
    } finally {
      await m.release();
    }
  };
  const [a, b] = [await run('stored'), await run(type)];
  let e = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    e = Math.max(e, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  return e / scale;
}

// Tolerances: ≈ 3× (int4: 2×) the largest error bench/agreement.ts measured on these three
// fixtures (README, "Weights in memory": bf16 ≤ 6.4e-3, int8 ≤ 2.7e-2, int4 ≤ 0.34, w8a8 ≤ 2.7e-2 of
// the logit scale).
const TOLERANCE: Record<string, number> = { bf16: 0.02, int8: 0.08, int4: 0.7, w8a8: 0.08 };

for (const fixture of ['llama-bias', 'gpt2', 'bloom']) {
  test(`${fixture}: bf16, int8, int4 and w8a8 logits stay within the measured quantisation error of the stored weights`, async () => {
    for (const type of ['bf16', 'int8', 'int4', 'w8a8'] as const) {
      const err = await logitsError(repoPath(`test/fixtures/hf/${fixture}`), type);
      assert.ok(err > 0 || type === 'bf16', `${type} changes something`);
      assert.ok(err <= TOLERANCE[type]!, `${type}: relative logits error ${err.toExponential(2)} > ${TOLERANCE[type]}`);
    }
  });
}

test('w8a8 quantises activations per token: a row gives the same logits alone and in a batch', async () => {
  const m = loadModel(repoPath('test/fixtures/hf/llama-bias'), { weights: 'w8a8', threads: 1 });
  try {
    const a = Array.from({ length: 12 }, (_, i) => (i * 37 + 11) % 298);
    const b = Array.from({ length: 12 }, (_, i) => (i * 91 + 5) % 298);
    const alone = (await m.run({ ids: [a] }, { logits: 'all' })).logits!;
    const both = (await m.run({ ids: [a, b] }, { logits: 'all' })).logits!;
    assert.deepEqual(Array.from(both.subarray(0, alone.length)), Array.from(alone));
  } finally {
    await m.release();
  }
});

test('derived weights are written once into the cache; the checkpoint is only read', async () => {
  const dir = repoPath('test/fixtures/hf/llama-bias');
  const own = tempDir('lape-cache-');
  process.env.LAPE_CACHE_DIR = own;
  after(() => (process.env.LAPE_CACHE_DIR = cache));
  const hash = (): string => createHash('sha256').update(readFileSync(join(dir, 'model.safetensors'))).digest('hex');
  const before = hash();
  const m1 = loadModel(dir, { weights: 'int8', threads: 1 });
  await m1.run({ ids: [[1, 2, 3]] }, { ffnStats: true });
  await m1.release();
  const folders = readdirSync(join(own, 'weights'));
  assert.equal(folders.length, 1);
  assert.match(folders[0]!, /-int8$/);
  const file = join(own, 'weights', folders[0]!, 'weights.safetensors');
  const mtime = statSync(file).mtimeMs;
  const m2 = loadModel(dir, { weights: 'int8', threads: 1 });
  await m2.run({ ids: [[1, 2, 3]] }, { ffnStats: true });
  await m2.release();
  assert.equal(statSync(file).mtimeMs, mtime, 'reused, not rewritten');
  assert.equal(hash(), before, 'checkpoint unchanged');
  assert.deepEqual(readdirSync(join(own, 'weights')), folders, 'no partial folder left');
});

test('statistics name their weight type, and merge refuses to mix types', () => {
  const out = tempDir();
  const base = ['record', '--model', repoPath('test/fixtures/llama-gqa'), '--lang', 'fr', '--corpus', repoPath('data/corpus/fr.train.txt'),
    '--seq-len', '64', '--tokens', '512', '--threads', '1', '--quiet'];
  const a = runCli([...base, '--shard', '0/2', '--weights', 'int8', '--out', join(out, 'a.safetensors')], { env: { LAPE_CACHE_DIR: cache } });
  assert.equal(a.code, 0, a.stderr);
  const b = runCli([...base, '--shard', '1/2', '--out', join(out, 'b.safetensors')]);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(loadStats(join(out, 'a.safetensors')).meta.weights, 'int8');
  assert.equal(loadStats(join(out, 'b.safetensors')).meta.weights, undefined);
  const m = runCli(['merge', join(out, 'a.safetensors'), join(out, 'b.safetensors'), '--out', join(out, 'm.safetensors')]);
  assert.equal(m.code, 1);
  assert.match(m.stderr, /weights differs/);
});

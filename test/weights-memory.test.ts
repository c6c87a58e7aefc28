/**
 * Weights in memory: half-precision weights stay at their stored size (memory-mapped, cast per
 * run) and give the f32 path's results; several hook plans share one copy of the weights; a model
 * that would not fit is refused with a message before ONNX Runtime tries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadModel } from '../src/runtime/model.js';
import { LapeError } from '../src/errors.js';
import { writeSyntheticCheckpoint } from '../bench/synthetic-checkpoint.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';
import { runCli } from './helpers/cli.js';
import { Reference, maxAbs, maxAbsDiff } from './helpers/reference.js';


test('bf16 weights kept at 2 bytes (cast per run) give the results of weights cast once to f32', async () => {
  const dir = repoPath('test/fixtures/qwen2-bf16-sharded');
  const ref = new Reference(repoPath('test/fixtures/qwen2-bf16-sharded.ref.safetensors'));
  const batch = { ids: ref.rows('input_ids'), mask: ref.rows('attention_mask') };
  const plan = { logits: 'all' as const, ffnStats: true };
  const mapped = loadModel(dir, { threads: 1, residency: 'mapped' });
  const folded = loadModel(dir, { threads: 1, residency: 'folded' });
  try {
    const a = await mapped.run(batch, plan);
    const b = await folded.run(batch, plan);
    const scale = maxAbs(b.logits!);
    assert.ok(maxAbsDiff(a.logits!, b.logits!) <= 1e-5 * scale, 'logits agree to rounding');
    const border = Array.from({ length: mapped.spec.numLayers }, (_, i) => ref.get(`borderline.${i}`));
    const I = mapped.spec.intermediateSize;
    for (let k = 0; k < a.ffnCount!.length; k++) {
      assert.ok(Math.abs(a.ffnCount![k]! - b.ffnCount![k]!) <= border[Math.floor(k / I)]![k % I]!, `count ${k}`);
    }
  } finally {
    await mapped.release();
    await folded.release();
  }
});

function probe(dir: string, residency: 'mapped' | 'folded', plans: object[]): { sessions: number; growth: Array<{ anon: number; pss: number }> } {
  const r = spawnSync(process.execPath, [repoPath('dist/test/helpers/memory-probe.js'), dir, residency, JSON.stringify(plans)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

test('two and four hook plans in one process hold one copy of the weights', () => {
  // 12 layers × (4·512² + 3·512·2048) + 1024·512 bf16 parameters: 97 MiB stored, 194 MiB as f32.
  const dir = join(tempDir(), 'ckpt');
  const w = writeSyntheticCheckpoint(dir, { vocab: 1024, hidden: 512, intermediate: 2048, layers: 12, heads: 8, kvHeads: 8 }, { dtype: 'BF16' });
  const f32Bytes = w.weightBytes * 2;
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const plans = [{ ffnStats: true }, { tokenLogprobs: true }, { residMean: true }, { logits: 'last' }];
  const mapped = probe(dir, 'mapped', plans);
  assert.equal(mapped.sessions, 4);
  for (const [i, g] of mapped.growth.entries()) {
    const n = i + 1;
    // A session with its own f32 copy adds ≥ 194 MiB of anonymous memory; a mapped session adds
    // only its working memory, and the file's pages count once.
    // Measured here: anonymous +27, +46, +66, +82 MiB; proportional set +127 … +186 MiB.
    assert.ok(g.anon < (0.2 + 0.1 * n) * f32Bytes, `${n} plans: anonymous memory grew ${mib(g.anon)} (weights ${mib(f32Bytes)} as f32)`);
    assert.ok(g.pss < w.weightBytes + 0.55 * f32Bytes, `${n} plans: proportional set grew ${mib(g.pss)} (weights ${mib(w.weightBytes)} bf16)`);
  }
  // The contrast shows that the measure sees a copy: folded weights are one f32 copy per session.
  const folded = probe(dir, 'folded', plans.slice(0, 2));
  assert.ok(folded.growth[0]!.anon > 0.7 * f32Bytes, `folded: ${mib(folded.growth[0]!.anon)}`);
  assert.ok(folded.growth[1]!.anon > 1.4 * f32Bytes, `folded, two plans: ${mib(folded.growth[1]!.anon)}`);
});

test('sessions beyond maxSessions are released, least recently used first', async () => {
  const model = loadModel(repoPath('test/fixtures/llama-gqa'), { threads: 1, maxSessions: 2 });
  try {
    const ids = [[1, 2, 3, 4]];
    await model.run({ ids }, { ffnStats: true });
    await model.run({ ids }, { logits: 'last' });
    await model.run({ ids }, { ffnStats: true }); // refreshes the statistics session
    await model.run({ ids }, { residMean: true }); // evicts the logits session
    assert.equal(model.sessionCount(), 2);
    const r = await model.run({ ids }, { logits: 'last' }); // rebuilt on demand
    assert.equal(r.logitsLast!.length, model.spec.vocabSize);
  } finally {
    await model.release();
  }
});

test('a model that does not fit is refused before ONNX Runtime allocates, naming what would fit', async () => {
  process.env.LAPE_MEMORY_LIMIT = '1MiB';
  try {
    const model = loadModel(repoPath('test/fixtures/llama-gqa'), { threads: 1 });
    await assert.rejects(model.run({ ids: [[1, 2, 3]] }, { ffnStats: true }), (e: unknown) => {
      assert.ok(e instanceof LapeError);
      for (const s of ['llama-gqa', 'not enough memory', 'needs ≈', 'available', 'LAPE_MEMORY_LIMIT 0.00 GiB', '--weights int8']) {
        assert.ok(e.message.includes(s), `"${e.message}" lacks "${s}"`);
      }
      return true;
    });
    await model.release();
  } finally {
    delete process.env.LAPE_MEMORY_LIMIT;
  }
  const dir = tempDir();
  const r = runCli(
    ['record', '--model', repoPath('test/fixtures/llama-gqa'), '--lang', 'fr', '--corpus', repoPath('data/corpus/fr.train.txt'),
      '--tokens', '256', '--seq-len', '64', '--out', join(dir, 'fr.safetensors')],
    { env: { LAPE_MEMORY_LIMIT: '1MiB' } },
  );
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not enough memory to run this model/);
  assert.doesNotMatch(r.stderr, /internal error|at .*\.js:\d+/);
});

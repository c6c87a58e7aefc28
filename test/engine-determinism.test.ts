/**
 * Determinism: the same tokens with the same batching give bit-identical statistics; other
 * batchings (one sequence per run, left padding) agree with the reference counts up to each
 * neuron's borderline tokens, and sums to float tolerance.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../src/runtime/model.js';
import { repoPath } from './helpers/paths.js';
import { Reference } from './helpers/reference.js';

for (const name of ['llama-gqa', 'mistral-swa']) {
  test(`${name}: statistics are deterministic and batching-independent up to borderline tokens`, async () => {
    const ref = new Reference(repoPath(`test/fixtures/${name}.ref.safetensors`));
    const ids = ref.rows('input_ids');
    const mask = ref.rows('attention_mask');
    const seqs = ids.map((row, b) => row.filter((_, t) => mask[b]![t] === 1));
    const model = loadModel(repoPath(`test/fixtures/${name}`), { threads: 2 });
    const { numLayers: L, intermediateSize: I } = model.spec;
    try {
      const plan = { ffnStats: true };
      const a = await model.run({ ids: seqs }, plan);
      const b = await model.run({ ids: seqs }, plan);
      assert.deepEqual(Buffer.from(a.ffnCount!.buffer), Buffer.from(b.ffnCount!.buffer));
      assert.deepEqual(Buffer.from(a.ffnSum!.buffer), Buffer.from(b.ffnSum!.buffer));
      assert.deepEqual(Buffer.from(a.ffnSumSq!.buffer), Buffer.from(b.ffnSumSq!.buffer));
      assert.equal(model.sessionCount(), 1, 'one session per plan');

      // One sequence per run, and a left-padded batch (explicit mask).
      const single = new Float64Array(L * I);
      const singleSum = new Float64Array(L * I);
      for (const s of seqs) {
        const r = await model.run({ ids: [s] }, plan);
        r.ffnCount!.forEach((v, k) => (single[k]! += v));
        r.ffnSum!.forEach((v, k) => (singleSum[k]! += v));
      }
      const T = Math.max(...seqs.map((s) => s.length));
    const nTokens = seqs.reduce((n, s) => n + s.length, 0);
      const left = await model.run(
        {
          ids: seqs.map((s) => [...Array(T - s.length).fill(7), ...s]),
          mask: seqs.map((s) => [...Array(T - s.length).fill(0), ...Array(s.length).fill(1)]),
        },
        plan,
      );
      for (let i = 0; i < L; i++) {
        const count = ref.get(`count.${i}`);
        const border = ref.get(`borderline.${i}`);
        const sum = ref.get(`sum.${i}`);
        const sumsq = ref.get(`sumsq.${i}`);
        for (let j = 0; j < I; j++) {
          const k = i * I + j;
          for (const [label, got] of [['batched', a.ffnCount![k]!], ['single', single[k]!], ['left-padded', left.ffnCount![k]!]] as const) {
            assert.ok(Math.abs(got - count[j]!) <= border[j]!, `${label} layer ${i} neuron ${j}: ${got} vs ${count[j]}`);
          }
          const tol = 1e-5 * (Math.abs(sum[j]!) + Math.sqrt(nTokens * sumsq[j]!)) + 1e-7;
          assert.ok(Math.abs(singleSum[k]! - a.ffnSum![k]!) <= tol, `sum ${i}/${j}`);
          assert.ok(Math.abs(left.ffnSum![k]! - a.ffnSum![k]!) <= tol, `left sum ${i}/${j}`);
        }
      }
    } finally {
      await model.release();
    }
  });
}

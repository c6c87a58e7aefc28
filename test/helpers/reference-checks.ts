/**
 * The engine against a reference file (tools/make_fixtures.py: plain torch; tools/make_hf_fixtures.py:
 * Hugging Face's own modeling code): logits, hooks, statistics (counts exact up to each neuron's
 * borderline tokens), log-likelihoods, all four patch modes and, where the reference has them,
 * greedy continuations with and without the KV cache.
 */
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/runtime/model.js';
import type { Device } from '../../src/runtime/device.js';
import type { DecoderOps } from '../../src/graph/decoder.js';
import { generateIds } from '../../src/runtime/generate.js';
import type { NeuronPatch, PatchMode } from '../../src/runtime/patches.js';
import { Reference, maxAbs, maxAbsDiff } from './reference.js';

export async function checkAgainstReference(t: TestContext, checkpointDir: string, refPath: string, opts: { device?: Device; ops?: DecoderOps } = {}): Promise<void> {
  const ref = new Reference(refPath);
  const model = loadModel(checkpointDir, { threads: 1, device: opts.device ?? 'cpu', ...(opts.ops ? { ops: opts.ops } : {}) });
  const { numLayers: L, intermediateSize: I, vocabSize: V, hiddenSize: H } = model.spec;
  const ids = ref.rows('input_ids');
  const mask = ref.rows('attention_mask');
  const [B, T] = [ids.length, ids[0]!.length];
  const valid = (row: number) => mask[Math.floor(row / T)]![row % T] === 1;
  const batch = { ids, mask };
  const fullHooks = Array.from({ length: L }, (_, i) => [`blocks.${i}.mlp.hook_pre`, `blocks.${i}.mlp.hook_act`, `blocks.${i}.hook_resid_post`]).flat();
  try {
    const r = await model.run(batch, { logits: 'all', tokenLogprobs: true, ffnStats: true, fullHooks });

    await t.test('logits within 1e-4 of their scale', () => {
      const refLogits = ref.get('logits');
      const keep = (i: number) => valid(Math.floor(i / V));
      const scale = maxAbs(refLogits, keep);
      const err = maxAbsDiff(r.logits!, refLogits, keep);
      assert.ok(err <= 1e-4 * scale, `max error ${err} vs scale ${scale}`);
    });
    await t.test('hook_pre, hook_act, resid_post match', () => {
      for (let i = 0; i < L; i++) {
        for (const [hook, refName, width] of [
          [`blocks.${i}.mlp.hook_pre`, `hook_pre.${i}`, I],
          [`blocks.${i}.mlp.hook_act`, `hook_act.${i}`, I],
          [`blocks.${i}.hook_resid_post`, `resid_post.${i}`, H],
        ] as const) {
          const refT = ref.get(refName);
          const keep = (k: number) => valid(Math.floor(k / width));
          const err = maxAbsDiff(r.hooks[hook]!, refT, keep);
          assert.ok(err <= 1e-4 * Math.max(1, maxAbs(refT, keep)), `${hook}: max error ${err}`);
        }
      }
    });
    await t.test('counts equal up to borderline tokens; sums within 1e-5', () => {
      const n = mask.flat().reduce((a, b) => a + b, 0);
      for (let i = 0; i < L; i++) {
        const count = ref.get(`count.${i}`);
        const border = ref.get(`borderline.${i}`);
        const sum = ref.get(`sum.${i}`);
        const sumsq = ref.get(`sumsq.${i}`);
        for (let j = 0; j < I; j++) {
          const got = r.ffnCount![i * I + j]!;
          assert.ok(Math.abs(got - count[j]!) <= border[j]!, `layer ${i} neuron ${j}: count ${got} vs ${count[j]} (borderline ${border[j]})`);
          const tol = 1e-5 * (Math.abs(sum[j]!) + Math.sqrt(n * sumsq[j]!)) + 1e-7;
          assert.ok(Math.abs(r.ffnSum![i * I + j]! - sum[j]!) <= tol, `layer ${i} neuron ${j}: sum ${r.ffnSum![i * I + j]} vs ${sum[j]}`);
          assert.ok(Math.abs(r.ffnSumSq![i * I + j]! - sumsq[j]!) <= 1e-5 * sumsq[j]! + 1e-7, `sumsq ${i}/${j}`);
        }
      }
    });
    await t.test('next-token log-likelihoods match', () => {
      const lp = ref.get('logprob');
      assert.ok(maxAbsDiff(r.tokenLogprobs!, lp) <= 1e-4 * Math.max(1, maxAbs(lp)));
      for (let k = 0; k < B * T; k++) assert.equal(r.logprobMask![k] === 1, valid(k) && k % T !== T - 1 && valid(k + 1));
    });
    await t.test('log-likelihoods alone (the perplexity plan, without full logits) match', async () => {
      const lp = ref.get('logprob');
      const alone = await model.run(batch, { tokenLogprobs: true });
      assert.ok(maxAbsDiff(alone.tokenLogprobs!, lp) <= 1e-4 * Math.max(1, maxAbs(lp)));
      assert.deepEqual(alone.logprobMask, r.logprobMask);
    });
    for (const mode of ['zero', 'set', 'add', 'scale'] as PatchMode[]) {
      await t.test(`patched logits (${mode})`, async () => {
        const patches: NeuronPatch[] = Array.from({ length: L }, (_, i) => ({
          layer: i,
          indices: Array.from(ref.get(`patch_idx.${i}`)),
          mode,
          values: mode === 'zero' ? undefined : Array.from(ref.get(`patch_val.${i}`)),
        }));
        const p = await model.run(batch, { logits: 'all', patchLayers: [...Array(L).keys()] }, { patches });
        const refLogits = ref.get(`logits_${mode}`);
        const keep = (i: number) => valid(Math.floor(i / V));
        const err = maxAbsDiff(p.logits!, refLogits, keep);
        assert.ok(err <= 1e-4 * maxAbs(refLogits, keep), `max error ${err}`);
        // The patch must matter: patched logits differ from the unpatched reference.
        assert.ok(maxAbsDiff(ref.get('logits'), refLogits, keep) > 1e-3);
      });
    }
    if (ref.has('gen_ids')) {
      await t.test('greedy continuation equals the reference, with and without the KV cache', async () => {
        const want = ref.rows('gen_ids');
        const prompts = ids.map((row, b) => row.slice(0, mask[b]!.reduce((a, m) => a + m, 0)));
        for (const useCache of [true, false]) {
          const gens = await generateIds(model, prompts, {
            maxNewTokens: want[0]!.length, repetitionPenalty: 1, eosTokenIds: [], useCache, batchSize: prompts.length,
          });
          assert.deepEqual(gens.map((g) => g.ids), want, `useCache ${useCache}`);
        }
      });
    }
  } finally {
    await model.release();
  }
}

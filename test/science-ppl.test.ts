/**
 * lape's perplexity on the embedded model equals the PyTorch training script's
 * (tools/train_tiny.py `stream_nll`, models/tiny-multilingual/reference.safetensors) on the same
 * token chunks, to 4 significant digits; logits, activations and counts likewise. (The paper's
 * deactivation effect on this model is checked
 * on the demo's own output in test/demo.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { evaluatePerplexity } from '../src/experiments/perplexity.js';
import { loadModel } from '../src/runtime/model.js';
import { Reference, maxAbs, maxAbsDiff } from './helpers/reference.js';
import { repoPath } from './helpers/paths.js';

const MODEL = repoPath('models/tiny-multilingual');
const LANGS = ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja'];

test('perplexity matches the PyTorch reference of the embedded model to 4 significant digits', async () => {
  const ref = new Reference(join(MODEL, 'reference.safetensors'));
  const model = loadModel(MODEL);
  try {
    for (const lang of LANGS) {
      assert.ok(ref.has(`ids.${lang}`) && ref.has(`ppl.${lang}`), `reference lacks ${lang}`);
      const r = await evaluatePerplexity(model, ref.rows(`ids.${lang}`));
      const want = ref.get(`ppl.${lang}`)[0]!;
      // 4 significant digits: relative error below 5e-5 (measured here: under 1e-7).
      assert.ok(Math.abs(r.ppl / want - 1) < 5e-5, `${lang}: lape ${r.ppl} vs torch ${want}`);
    }
  } finally {
    await model.release();
  }
});

test('logits, hook_act, resid_post and per-language counts of the embedded model match the torch reference', async () => {
  const ref = new Reference(join(MODEL, 'reference.safetensors'));
  const model = loadModel(MODEL);
  const { numLayers: L, intermediateSize: I, vocabSize: V } = model.spec;
  try {
    const ids = ref.rows('input_ids');
    const hooks = Array.from({ length: L }, (_, i) => [`blocks.${i}.mlp.hook_act`, `blocks.${i}.hook_resid_post`]).flat();
    const r = await model.run({ ids }, { logits: 'all', fullHooks: hooks });
    const refLogits = ref.get('logits');
    assert.ok(maxAbsDiff(r.logits!, refLogits) <= 1e-4 * maxAbs(refLogits));
    assert.equal(refLogits.length, ids.length * ids[0]!.length * V);
    for (let i = 0; i < L; i++) {
      for (const [hook, name] of [[`blocks.${i}.mlp.hook_act`, `hook_act.${i}`], [`blocks.${i}.hook_resid_post`, `resid_post.${i}`]] as const) {
        const want = ref.get(name);
        assert.ok(maxAbsDiff(r.hooks[hook]!, want) <= 1e-4 * Math.max(1, maxAbs(want)), hook);
      }
    }
    // Statistics over each language's 8 reference chunks: counts equal up to borderline tokens.
    for (const [k, lang] of LANGS.entries()) {
      const s = await model.run({ ids: ref.rows(`ids.${lang}`) }, { ffnStats: true });
      for (let i = 0; i < L; i++) {
        const count = ref.get(`count.${i}`).subarray(k * I, (k + 1) * I);
        const border = ref.get(`borderline.${i}`).subarray(k * I, (k + 1) * I);
        for (let j = 0; j < I; j++) {
          assert.ok(Math.abs(s.ffnCount![i * I + j]! - count[j]!) <= border[j]!, `${lang} layer ${i} neuron ${j}`);
        }
      }
    }
  } finally {
    await model.release();
  }
});

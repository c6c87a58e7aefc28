/**
 * lape's perplexity on the embedded model equals the PyTorch training script's
 * (tools/train_tiny.py `stream_nll`, models/tiny-multilingual/reference.safetensors) on the same
 * token chunks, to 4 significant digits. (The paper's deactivation effect on this model is checked
 * on the demo's own output in test/demo.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { evaluatePerplexity } from '../src/experiments/perplexity.js';
import { loadModel } from '../src/runtime/model.js';
import { Reference } from './helpers/reference.js';
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

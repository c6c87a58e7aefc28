/**
 * The paper's central perplexity result, checked on the embedded model models/tiny-multilingual:
 * zeroing a language's LAPE neurons raises that language's held-out perplexity clearly more than
 * the other languages' (diagonal dominance of the matrix) and clearly more than zeroing a random
 * neuron set of the same per-layer sizes.
 *
 * Pipeline, all lape: record statistics on each language's train split (src/stats/record.ts, what
 * `lape record` runs) → LAPE selection (defaults: top_rate 0.01, filter_rate = bar_ratio = 0.95) →
 * deactivation matrix on the valid split with random controls.
 *
 * Also: lape's perplexity equals the PyTorch training script's on the reference chunks
 * (reference.safetensors, tools/train_tiny.py `stream_nll`).
 *
 * Skipped (with a message) while the embedded model is not in the repository.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { diagonalDominance, pplMatrix } from '../src/experiments/deactivation.js';
import { evaluatePerplexity } from '../src/experiments/perplexity.js';
import { loadEvalSets } from '../src/experiments/ppl-eval-sets.js';
import { loadModel } from '../src/runtime/model.js';
import { selectLape } from '../src/select/lape.js';
import { recordLanguage } from '../src/stats/record.js';
import type { LangStats } from '../src/stats/types.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { Reference } from './helpers/reference.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';

const MODEL = repoPath('models/tiny-multilingual');
const CORPUS = repoPath('data/corpus');
const LANGS = ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja'];
const SEQ = 256;
/** Train tokens recorded per language. */
const RECORD_TOKENS = 32 * SEQ;
/** Valid chunks per language in the matrix. */
const EVAL_CHUNKS = 4;
/**
 * "Clearly": the own-language PPL ratio must beat every other cell of its row and of its column,
 * and its log-ratio must be at least RANDOM_FACTOR times the random control's.
 */
const RANDOM_FACTOR = 2;

const present = existsSync(join(MODEL, 'config.json')) && existsSync(join(MODEL, 'model.safetensors'));
const skip = present ? false : 'models/tiny-multilingual is not in the repository yet';

test('perplexity matches the PyTorch reference of the embedded model', { skip }, async (t) => {
  const refPath = join(MODEL, 'reference.safetensors');
  if (!existsSync(refPath)) return t.skip('no reference.safetensors');
  const ref = new Reference(refPath);
  const model = loadModel(MODEL);
  try {
    for (const lang of LANGS) {
      if (!ref.has(`ids.${lang}`) || !ref.has(`ppl.${lang}`)) continue;
      const chunks = ref.rows(`ids.${lang}`);
      const r = await evaluatePerplexity(model, chunks);
      const want = ref.get(`ppl.${lang}`)[0]!;
      assert.ok(Math.abs(r.ppl / want - 1) < 1e-4, `${lang}: lape ${r.ppl} vs torch ${want}`);
    }
  } finally {
    await model.release();
  }
});

test('deactivating a language\'s LAPE neurons hurts that language most, and more than random neurons', { skip }, async () => {
  const dir = tempDir();
  const model = loadModel(MODEL);
  try {
    const tokenizer = loadTokenizer(MODEL);
    const stats: LangStats[] = [];
    for (const lang of LANGS) {
      const r = await recordLanguage(model, tokenizer, {
        lang,
        files: [join(CORPUS, `${lang}.train.txt`)],
        seqLen: SEQ,
        maxTokens: RECORD_TOKENS,
        batchSize: 8,
        out: join(dir, `${lang}.safetensors`),
      });
      stats.push(r.stats);
    }
    const masks = selectLape(stats);
    for (const [k, lang] of LANGS.entries()) {
      const n = masks.masks[k]!.reduce((a, idx) => a + idx.length, 0);
      assert.ok(n > 0, `LAPE gave language ${lang} no neurons`);
    }
    const evalSets = await loadEvalSets(
      tokenizer,
      LANGS.map((lang) => ({ lang, files: [join(CORPUS, `${lang}.valid.txt`)] })),
      { seqLen: SEQ, maxChunks: EVAL_CHUNKS },
    );
    const m = await pplMatrix(model, masks, evalSets, { randomControl: true, seed: 0 });
    const table = m.rows.map((r) => `${r.id.padEnd(10)} ${String(r.neurons).padStart(4)} ${LANGS.map((l) => r.pplRatio[l]!.toFixed(3).padStart(7)).join('')}`);
    const report = `PPL ratio (rows deactivated, columns ${LANGS.join(' ')}):\n${table.join('\n')}`;
    for (const d of diagonalDominance(m)) {
      assert.ok(d.rowMargin! > 0, `${d.lang}: its neurons hurt another language more (${d.diagonal} vs ${d.rowOther})\n${report}`);
      assert.ok(d.columnMargin! > 0, `${d.lang}: another language's neurons hurt it more (${d.diagonal} vs ${d.columnOther})\n${report}`);
      assert.ok(
        Math.log(d.diagonal) >= RANDOM_FACTOR * Math.max(Math.log(d.random!), 0) && d.randomMargin! > 0,
        `${d.lang}: not clearly above random neurons (${d.diagonal} vs ${d.random})\n${report}`,
      );
    }
  } finally {
    await model.release();
  }
});

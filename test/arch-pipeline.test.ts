/**
 * The whole chain on every family (tiny HF fixtures): record → LAPE → deactivation perplexity →
 * steered generation (cached = uncached) → SES, and PV's neuron axes on [out, in] and Conv1D
 * weights. Numbers are not the point here (random weights); that every stage runs and agrees with
 * itself on each structure is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { loadModel } from '../src/runtime/model.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { recordLanguage } from '../src/recording/record-language.js';
import { lapeSelection } from '../src/select/lape.js';
import { pplMatrix } from '../src/experiments/deactivation.js';
import { loadEvalSets, evalSpecsFromDir } from '../src/experiments/ppl-eval-sets.js';
import { generateIds } from '../src/runtime/generate.js';
import { interventionPatches } from '../src/experiments/steering.js';
import { loadParallel } from '../src/experiments/parallel.js';
import { embedParallel, sesFromEmbeddings } from '../src/experiments/ses.js';
import { neuronParameterChange } from '../src/checkpoint/parameter-change.js';
import { openCheckpoint } from '../src/checkpoint/checkpoint.js';
import { encodeSafetensors, readSafetensorsHeader, readTensorF32 } from '../src/checkpoint/safetensors.js';
import { repoPath } from './helpers/paths.js';
import { copyToTemp, tempDir } from './helpers/tmp.js';

const HF = repoPath('test/fixtures/hf');
const CORPUS = repoPath('data/corpus');
const LANGS = ['en', 'fr', 'zh'];
const FAMILIES = ['llama-bias', 'qwen3', 'gemma', 'gemma2', 'gemma3', 'gemma3-mm', 'phi', 'gpt-neox', 'gpt2', 'opt', 'bloom'];

for (const name of FAMILIES) {
  test(`${name}: record, identify, ppl, generate and ses run end to end`, async () => {
    const dir = join(HF, name);
    const model = loadModel(dir, { threads: 1 });
    const tokenizer = loadTokenizer(dir);
    const out = tempDir();
    try {
      const stats = [];
      for (const lang of LANGS) {
        const r = await recordLanguage(model, tokenizer, {
          lang, files: [join(CORPUS, `${lang}.train.txt`)], seqLen: 32, maxTokens: 1024, batchSize: 4, out: join(out, `${lang}.safetensors`),
        });
        assert.equal(r.stats.tokens, 1024);
        assert.ok(r.stats.count.every((c) => c >= 0 && c <= 1024) && r.stats.count.some((c) => c > 0 && c < 1024));
        stats.push(r.stats);
      }
      const masks = lapeSelection(stats, { topRate: 0.05 }).result;
      const selected = masks.languages.map((_, k) => masks.masks[k]!.reduce((a, m) => a + m.length, 0));
      assert.ok(selected.some((n) => n > 0), 'LAPE selects some neurons');

      const evalSets = await loadEvalSets(tokenizer, evalSpecsFromDir(CORPUS, 'valid', LANGS), { seqLen: 32, maxChunks: 2 });
      const matrix = await pplMatrix(model, masks, evalSets, { randomControl: true });
      for (const row of matrix.rows) for (const lang of LANGS) assert.ok(Number.isFinite(row.ppl[lang]!) && row.ppl[lang]! > 1, `${row.id}/${lang}`);

      const steered = masks.languages.find((_, k) => selected[k]! > 0)!;
      const patches = interventionPatches({ activate: [steered], mode: 'add', alpha: 2 }, masks, stats);
      const prompts = [tokenizer.encode('The help page'), tokenizer.encode('Le')];
      const opts = { maxNewTokens: 6, repetitionPenalty: 1.1, eosTokenIds: [], patches, batchSize: 2 };
      const cached = await generateIds(model, prompts, { ...opts, useCache: true });
      const uncached = await generateIds(model, prompts, { ...opts, useCache: false });
      assert.deepEqual(cached.map((g) => g.ids), uncached.map((g) => g.ids));

      const parallel = loadParallel(join(CORPUS, 'parallel.jsonl'), { languages: LANGS, maxGroups: 6 });
      const emb = await embedParallel(model, tokenizer, parallel, { maxTokens: 48 });
      const ses = sesFromEmbeddings(emb);
      assert.equal(ses.ses.length, model.spec.numLayers);
      assert.ok(ses.ses.every((v) => Number.isFinite(v) && v >= -1 && v <= 1));
    } finally {
      await model.release();
    }
  });
}

/** A copy of an F32 fixture whose FFN neuron `j` of layer 0 moved in its first projection only. */
function perturbNeuron(name: string, tensor: string, j: number, layout: 'rows' | 'cols'): string {
  const dir = copyToTemp(join(HF, name));
  const path = join(dir, 'model.safetensors');
  const header = readSafetensorsHeader(path);
  const tensors = Object.fromEntries([...header.tensors.keys()].map((n) => {
    const info = header.tensors.get(n)!;
    const data = readTensorF32(header, n);
    if (n === tensor) {
      const [rows, cols] = info.shape as [number, number];
      if (layout === 'rows') for (let c = 0; c < cols; c++) data[j * cols + c]! += 0.5;
      else for (let r = 0; r < rows; r++) data[r * cols + j]! += 0.5;
    }
    return [n, { dtype: 'F32' as const, shape: info.shape, data }];
  }));
  writeFileSync(path, encodeSafetensors(tensors));
  return dir;
}

for (const [name, tensor, layout] of [
  ['llama-bias', 'model.layers.0.mlp.up_proj.weight', 'rows'],
  ['gpt2', 'transformer.h.0.mlp.c_fc.weight', 'cols'], // Conv1D [in, out]: neuron j is column j
] as const) {
  test(`PV on ${name}: a change to one neuron's weights is attributed to that neuron only`, () => {
    const tuned = perturbNeuron(name, tensor, 7, layout);
    const change = neuronParameterChange(join(HF, name), tuned);
    const I = openCheckpoint(join(HF, name)).spec.intermediateSize;
    assert.ok(change[7]! > 0.1);
    for (let k = 0; k < change.length; k++) if (k !== 7) assert.equal(change[k], 0, `neuron ${k % I} of layer ${Math.floor(k / I)}`);
  });
}

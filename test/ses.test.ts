/**
 * SES (Fig. 6) and dominance (Eq. 6, Fig. 7): the TypeScript functions against numpy vectors from
 * tools/ses_reference.py; lape's mean-pooled hook_resid_post against the torch reference
 * (test/fixtures/*.ref.safetensors, mean over valid tokens); embedParallel batching; the
 * `lape ses` / `lape dominance` files; bad parallel files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dominanceFromEmbeddings } from '../src/experiments/dominance.js';
import { loadParallel } from '../src/experiments/parallel.js';
import { embedParallel, sesFromEmbeddings, type EmbeddingSet } from '../src/experiments/ses.js';
import { loadModel } from '../src/runtime/model.js';
import { saveMasks } from '../src/select/masks-io.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { runCli } from './helpers/cli.js';
import { repoPath } from './helpers/paths.js';
import { Reference, maxAbs, maxAbsDiff } from './helpers/reference.js';
import { tempDir } from './helpers/tmp.js';

test('SES and dominance match the numpy reference (tools/ses_reference.py)', () => {
  const ref = new Reference(repoPath('test/vectors/ses/ses_reference.safetensors'));
  const [K, N, L, H] = ref.shape('emb') as [number, number, number, number];
  const languages = JSON.parse(ref.header.metadata.languages!) as string[];
  assert.equal(languages.length, K);
  const e: EmbeddingSet = { languages, texts: N, layers: L, hidden: H, data: ref.get('emb') };
  const ses = sesFromEmbeddings(e);
  assert.ok(maxAbsDiff(ses.ses, ref.get('ses')) < 1e-12);
  const pairs = ref.get('ses_pairs');
  assert.equal(ses.pairs.length, (K * (K - 1)) / 2);
  ses.pairs.forEach((p, i) => assert.ok(maxAbsDiff(p.ses, pairs.subarray(i * L, (i + 1) * L)) < 1e-12, `${p.a}-${p.b}`));
  assert.deepEqual(ses.pairs.slice(0, 3).map((p) => `${p.a}-${p.b}`), ['en-zh', 'en-fr', 'en-ja']);
  assert.deepEqual(ses.layers, [0, 1, 2]);

  const dom = dominanceFromEmbeddings(e);
  const refDom = ref.get('dominance'); // [L, K]
  const refMat = ref.get('dom_matrix'); // [L, K, K]
  languages.forEach((c, ci) => {
    for (let l = 0; l < L; l++) assert.ok(Math.abs(dom.dominance[c]![l]! - refDom[l * K + ci]!) < 1e-12);
  });
  for (let l = 0; l < L; l++) {
    for (let k = 0; k < K; k++) {
      for (let c = 0; c < K; c++) {
        const got = dom.matrix[l]![k]![c]!;
        if (k === c) assert.equal(got, null);
        else assert.ok(Math.abs(got - refMat[(l * K + k) * K + c]!) < 1e-12);
      }
    }
  }
});

test('identical texts in every language: SES = 1 and dominance = 1 at every layer', () => {
  const N = 3, L = 2, H = 5;
  const one = Float64Array.from({ length: N * L * H }, (_, i) => Math.sin(i + 1));
  const data = new Float64Array(3 * one.length);
  for (let k = 0; k < 3; k++) data.set(one, k * one.length);
  const e = { languages: ['a', 'b', 'c'], texts: N, layers: L, hidden: H, data };
  for (const v of sesFromEmbeddings(e).ses) assert.ok(Math.abs(v - 1) < 1e-12);
  for (const c of ['a', 'b', 'c']) for (const v of dominanceFromEmbeddings(e).dominance[c]!) assert.ok(Math.abs(v - 1) < 1e-12);
  assert.throws(() => sesFromEmbeddings({ ...e, languages: ['a'] }), /at least two languages/);
  assert.throws(() => sesFromEmbeddings({ ...e, texts: 4 }), /expected 3×4×2×5/);
});

for (const name of ['llama-gqa', 'qwen2-tied']) {
  test(`${name}: mean-pooled resid_post = torch reference mean over valid tokens`, async () => {
    const ref = new Reference(repoPath(`test/fixtures/${name}.ref.safetensors`));
    const ids = ref.rows('input_ids');
    const mask = ref.rows('attention_mask');
    const m = loadModel(repoPath(`test/fixtures/${name}`), { threads: 1 });
    try {
      const { numLayers: L, hiddenSize: H } = m.spec;
      const r = await m.run({ ids, mask }, { residMean: true });
      const [B, T] = [ids.length, ids[0]!.length];
      const want = new Float64Array(B * L * H);
      for (let l = 0; l < L; l++) {
        const rp = ref.get(`resid_post.${l}`); // [B*T, H]
        for (let b = 0; b < B; b++) {
          const n = mask[b]!.reduce((a, x) => a + x, 0);
          for (let t = 0; t < T; t++) {
            if (!mask[b]![t]) continue;
            for (let h = 0; h < H; h++) want[(b * L + l) * H + h] += rp[(b * T + t) * H + h]! / n;
          }
        }
      }
      const err = maxAbsDiff(r.residMean!, want);
      assert.ok(err <= 1e-4 * Math.max(1, maxAbs(want)), `max error ${err}`);
    } finally {
      await m.release();
    }
  });
}

function writeParallel(path: string, groups: Array<Record<string, string | number>>): void {
  writeFileSync(path, groups.map((g) => JSON.stringify(g)).join('\n') + '\n');
}

const GROUPS = [
  { group: 0, source: 'x', en: 'Select another language.', zh: '选择另一种语言。', fr: 'Sélectionnez une autre langue.' },
  { group: 1, source: 'x', en: 'Insert a chart', zh: '插入图表', fr: 'Insérer un diagramme' },
  { group: 2, source: 'x', en: 'The menu bar contains commands.', zh: '菜单栏包含命令。', fr: 'La barre de menus contient des commandes.' },
  { group: 3, source: 'x', en: 'Save', zh: '保存', fr: 'Enregistrer' },
  { group: 4, source: 'x', en: 'Choose Format - Cells.', zh: '选择「格式」-「单元格」。', fr: 'Choisissez Format - Cellules.' },
];

test('embedParallel: batching-independent, no BOS by default, token limit', async () => {
  const dir = tempDir();
  const file = join(dir, 'p.jsonl');
  writeParallel(file, GROUPS);
  const set = loadParallel(file);
  assert.deepEqual(set.languages, ['en', 'zh', 'fr']);
  const m = loadModel(repoPath('test/fixtures/llama-gqa'), { threads: 1 });
  try {
    const tok = loadTokenizer(m.dir);
    const a = await embedParallel(m, tok, set, { batchSize: 5 });
    const b = await embedParallel(m, tok, set, { batchSize: 1 });
    assert.ok(maxAbsDiff(a.data, b.data) < 1e-5 * Math.max(1, maxAbs(a.data)));
    // Text 1 of zh, alone, without BOS: same as its slot in the set.
    const { numLayers: L, hiddenSize: H } = m.spec;
    const ids = tok.encode(GROUPS[1]!.zh, { addSpecialTokens: false });
    const single = (await m.run({ ids: [ids] }, { residMean: true })).residMean!;
    const off = ((1 * 5 + 1) * L) * H;
    assert.ok(maxAbsDiff(single, a.data.subarray(off, off + L * H)) < 1e-5 * Math.max(1, maxAbs(single)));
    assert.equal(a.tokens, GROUPS.reduce((s, g) => s + ['en', 'zh', 'fr'].reduce((t, l) => t + tok.encode(g[l as 'en'], { addSpecialTokens: false }).length, 0), 0));
    const withBos = await embedParallel(m, tok, set, { bos: true });
    assert.equal(withBos.tokens, a.tokens + 15);
    const cut = await embedParallel(m, tok, set, { maxTokens: 4 });
    assert.ok(cut.tokens <= 4 * 15);
    const long = { ...set, texts: { ...set.texts, en: set.texts.en!.map((t, i) => (i === 2 ? t.repeat(6) : t)) } };
    await assert.rejects(embedParallel(m, tok, long), /group 2 "en" text has \d+ tokens, longer than the model's context \(128\); use a token limit/);
  } finally {
    await m.release();
  }
});

test('lape ses / lape dominance: files and schemas; with --masks the neurons per layer', () => {
  const dir = tempDir();
  const file = join(dir, 'p.jsonl');
  writeParallel(file, GROUPS);
  const model = repoPath('test/fixtures/llama-gqa');
  const masks = join(dir, 'masks.json');
  saveMasks(masks, {
    method: 'test', languages: ['en', 'zh', 'fr'], layers: 2, neurons: 96, settings: {},
    masks: [[[1, 2], [3]], [[2, 9], []], [[], [4, 5, 6]]],
  });
  const out = join(dir, 'out');
  const s = runCli(['ses', '--model', model, '--parallel', file, '--masks', masks, '--out', out, '--threads', '1', '-q', '--json']);
  assert.equal(s.code, 0, s.stderr);
  const sj = JSON.parse(readFileSync(join(out, 'ses.json'), 'utf8'));
  assert.equal(sj.format, 'lape-ses');
  assert.deepEqual(sj.languages, ['en', 'zh', 'fr']);
  assert.deepEqual(sj.layers, [0, 1]);
  assert.equal(sj.groups, 5);
  assert.equal(sj.ses.length, 2);
  assert.deepEqual(sj.pairs.map((p: { a: string; b: string }) => `${p.a}-${p.b}`), ['en-zh', 'en-fr', 'zh-fr']);
  assert.deepEqual(sj.neurons.union, [3, 4]);
  assert.deepEqual(sj.neurons.perLanguage, { en: [2, 1], zh: [2, 0], fr: [0, 3] });
  for (const v of sj.ses) assert.ok(v > -1 && v <= 1);
  const csv = readFileSync(join(out, 'ses.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'layer,ses,en-zh,en-fr,zh-fr,neurons');
  assert.equal(csv.length, 3);
  assert.ok(csv[1]!.endsWith(',3'));

  const d = runCli(['dominance', '--model', model, '--parallel', file, '--langs', 'en,fr,zh', '--out', out, '--threads', '1', '-q']);
  assert.equal(d.code, 0, d.stderr);
  const dj = JSON.parse(readFileSync(join(out, 'dominance.json'), 'utf8'));
  assert.equal(dj.format, 'lape-dominance');
  assert.deepEqual(dj.languages, ['en', 'fr', 'zh']);
  assert.deepEqual(Object.keys(dj.dominance), ['en', 'fr', 'zh']);
  assert.equal(dj.matrix.length, 2);
  assert.equal(dj.matrix[0][1][1], null);
  const dcsv = readFileSync(join(out, 'dominance.csv'), 'utf8').trim().split('\n');
  assert.equal(dcsv[0], 'layer,en,fr,zh');
  assert.equal(dcsv.length, 3);
});

test('bad parallel input: a group misses a language, unknown --langs, one language, too long', () => {
  const dir = tempDir();
  const model = repoPath('test/fixtures/llama-gqa');
  const missing = join(dir, 'missing.jsonl');
  writeParallel(missing, [GROUPS[0]!, { group: 7, en: 'Save', fr: 'Enregistrer' }]);
  const r = runCli(['ses', '--model', model, '--parallel', missing, '--out', join(dir, 'o')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /group 7 \(line 2\) has no "zh" text; every group needs all of en, zh, fr/);
  assert.doesNotThrow(() => loadParallel(missing, { languages: ['en', 'fr'] }));
  assert.throws(() => loadParallel(missing, { languages: ['en', 'vi'] }), /group 0 \(line 1\) has no "vi" text/);
  assert.throws(() => loadParallel(missing, { languages: ['en'] }), /at least two languages/);
  const notJson = join(dir, 'bad.jsonl');
  writeFileSync(notJson, '{"en": "a", "zh": "b"}\nnot json\n');
  assert.throws(() => loadParallel(notJson), /line 2 is not valid JSON/);
  const long = join(dir, 'long.jsonl');
  writeParallel(long, [{ group: 0, en: 'word '.repeat(60), zh: '字' }]);
  const l = runCli(['dominance', '--model', model, '--parallel', long, '--out', join(dir, 'o')]);
  assert.equal(l.code, 1);
  assert.match(l.stderr, /longer than the model's context \(128\); use a token limit \(--max-tokens\)/);
  const ok = runCli(['dominance', '--model', model, '--parallel', long, '--max-tokens', '100', '--out', join(dir, 'o'), '-q']);
  assert.equal(ok.code, 0, ok.stderr);
});

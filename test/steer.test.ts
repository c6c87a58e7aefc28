/**
 * Steering: intervention specs → patches (set / add / diffmean / deactivate / combinations, and
 * the errors for languages without neurons or statistics), steered generation, and
 * `lape steer-eval` output files on a fixture (schema; the random fixture's outputs are noise).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeSpec, interventionPatches } from '../src/experiments/steering.js';
import { steerEval } from '../src/experiments/steering-eval.js';
import { createLanguageIdentifier } from '../src/langid/langid.js';
import { generateText } from '../src/runtime/generate.js';
import { loadModel } from '../src/runtime/model.js';
import { saveMasks } from '../src/select/masks-io.js';
import type { NeuronMasks } from '../src/select/types.js';
import { saveStats } from '../src/stats/stats-file.js';
import type { LangStats } from '../src/stats/types.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { runCli } from './helpers/cli.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';

const L = 2;
const I = 96; // llama-gqa

function stats(lang: string, tokens: number, f: (i: number) => number): LangStats {
  const sum = new Float64Array(L * I).map((_, i) => f(i) * tokens);
  return { lang, layers: L, neurons: I, tokens, count: new Float64Array(L * I), sum, sumSq: new Float64Array(L * I), meta: {} };
}

const MASKS: NeuronMasks = {
  method: 'test',
  languages: ['en', 'zh', 'fr', 'ja'],
  layers: L,
  neurons: I,
  settings: {},
  masks: [
    [[1, 5, 9], [2]],
    [[5, 10, 20, 30], [40, 41, 42, 43, 44, 45]],
    [[], [7, 8]],
    [[], []], // ja: no neurons
  ],
};
const STATS = [
  stats('en', 100, (i) => 0.01 * i),
  stats('zh', 50, (i) => 0.5 - 0.002 * i),
  stats('fr', 200, () => 0.25),
];

test('activate (set): neurons of the language get sum / tokens, per layer', () => {
  const p = interventionPatches({ activate: ['zh'] }, MASKS, STATS);
  assert.equal(p.length, 2);
  assert.deepEqual(p.map((x) => [x.layer, x.mode, Array.from(x.indices)]), [
    [0, 'set', [5, 10, 20, 30]],
    [1, 'set', [40, 41, 42, 43, 44, 45]],
  ]);
  const v0 = p[0]!.values as number[];
  [5, 10, 20, 30].forEach((j, k) => assert.ok(Math.abs(v0[k]! - (0.5 - 0.002 * j)) < 1e-12));
  const v1 = p[1]!.values as number[];
  [40, 41].forEach((j, k) => assert.ok(Math.abs(v1[k]! - (0.5 - 0.002 * (I + j))) < 1e-12));
});

test('add and diffmean: alpha × mean, alpha × (mean − mean of the other languages)', () => {
  const add = interventionPatches({ activate: ['en'], mode: 'add', alpha: 2 }, MASKS, STATS);
  assert.equal(add[0]!.mode, 'add');
  assert.deepEqual(Array.from(add[0]!.values as number[]).map((v) => +v.toFixed(12)), [0.02, 0.1, 0.18]);
  const dm = interventionPatches({ activate: ['en'], mode: 'diffmean', alpha: 0.5 }, MASKS, STATS);
  // Layer 1 neuron 2 (flat 98): en 0.98, zh 0.5 − 0.196 = 0.304, fr 0.25 → 0.5 · (0.98 − 0.277).
  assert.equal(dm[1]!.mode, 'add');
  assert.ok(Math.abs((dm[1]!.values as number[])[0]! - 0.5 * (0.98 - (0.304 + 0.25) / 2)) < 1e-12);
});

test('deactivate zeroes; combinations put deactivations first; labels', () => {
  const p = interventionPatches({ deactivate: ['en'], activate: ['zh'] }, MASKS, STATS);
  assert.deepEqual(p.map((x) => [x.layer, x.mode]), [[0, 'zero'], [1, 'zero'], [0, 'set'], [1, 'set']]);
  assert.equal(p[0]!.values, undefined);
  // Deactivation needs no statistics.
  assert.equal(interventionPatches({ deactivate: ['fr'] }, MASKS).length, 1);
  assert.equal(describeSpec({ deactivate: ['en'], activate: ['zh'] }), '-en +zh');
  assert.equal(describeSpec({ activate: ['zh'], mode: 'add', alpha: 2 }), '+zh(add×2)');
  assert.equal(describeSpec({}), 'none');
  assert.deepEqual(interventionPatches({}, MASKS, STATS), []);
});

test('bad specs: unknown language, no neurons, no statistics, mode/alpha misuse', () => {
  assert.throws(() => interventionPatches({ activate: ['de'] }, MASKS, STATS), /cannot activate "de": the masks have no language "de" \(they have en, zh, fr, ja\)/);
  assert.throws(() => interventionPatches({ deactivate: ['ja'] }, MASKS, STATS), /cannot deactivate "ja": the masks give it no neurons/);
  assert.throws(() => interventionPatches({ activate: ['fr'] }, MASKS, STATS.slice(0, 2)), /cannot activate "fr": no activation statistics for it \(statistics are for en, zh\)/);
  assert.throws(() => interventionPatches({ activate: ['zh'] }, MASKS, []), /no statistics given/);
  assert.throws(() => interventionPatches({ activate: ['zh'], mode: 'diffmean' }, MASKS, [STATS[1]!]), /needs statistics of at least one other language/);
  assert.throws(() => interventionPatches({ activate: ['zh'], alpha: 2 }, MASKS, STATS), /alpha applies to modes add and diffmean/);
  assert.throws(() => interventionPatches({ activate: ['zh'], mode: 'bogus' as 'set' }, MASKS, STATS), /unknown steering mode/);
  const wrong = { ...stats('zh', 10, () => 1), neurons: 50, sum: new Float64Array(100) };
  assert.throws(() => interventionPatches({ activate: ['zh'] }, MASKS, [wrong]), /statistics for "zh" are for 2 layers × 50 neurons/);
});

test('steered generation = generation with the same patches; differs from normal', async () => {
  const m = loadModel(repoPath('test/fixtures/llama-gqa'), { threads: 1 });
  try {
    const tok = loadTokenizer(m.dir);
    const prompts = ['Hello world', 'Choose Format'];
    // Large values so the intervention visibly matters in a random tiny model.
    const big = [stats('zh', 10, (i) => 4 + (i % 7)), stats('en', 10, () => 1)];
    const patches = interventionPatches({ activate: ['zh'] }, MASKS, big);
    const a = await generateText(m, tok, prompts, { maxNewTokens: 16, eosTokenIds: [], patches });
    const manual = [
      { layer: 0, indices: [5, 10, 20, 30], mode: 'set' as const, values: [5, 10, 20, 30].map((j) => 4 + (j % 7)) },
      { layer: 1, indices: [40, 41, 42, 43, 44, 45], mode: 'set' as const, values: [40, 41, 42, 43, 44, 45].map((j) => 4 + ((I + j) % 7)) },
    ];
    const b = await generateText(m, tok, prompts, { maxNewTokens: 16, eosTokenIds: [], patches: manual });
    assert.deepEqual(a.map((g) => g.ids), b.map((g) => g.ids));
    const n = await generateText(m, tok, prompts, { maxNewTokens: 16, eosTokenIds: [] });
    assert.notDeepEqual(a.map((g) => g.ids), n.map((g) => g.ids));
  } finally {
    await m.release();
  }
});

test('steerEval (library): rows, conditions, fractions over the identifier languages', async () => {
  const m = loadModel(repoPath('test/fixtures/llama-gqa'), { threads: 1 });
  try {
    const tok = loadTokenizer(m.dir);
    const identifier = await createLanguageIdentifier(['en', 'zh', 'fr', 'ja']);
    const r = await steerEval(m, tok, {
      sources: [{ lang: 'en', prompts: ['Hello world', 'Choose Format - Cells', 'The menu'] }],
      masks: MASKS,
      stats: STATS,
      identifier,
      generation: { maxNewTokens: 6, stop: ['\n'] },
    });
    // Targets: masks languages with neurons and statistics, except the source: zh, fr; plus -en.
    assert.deepEqual(r.rows.map((x) => [x.kind, x.target, x.intervention]), [
      ['activate', 'zh', '+zh'],
      ['activate', 'fr', '+fr'],
      ['deactivate', 'en', '-en'],
    ]);
    assert.deepEqual(r.conditions.map((c) => c.intervention), ['none', '+zh', '+fr', '-en']);
    for (const c of r.conditions) {
      const total = Object.values(c.fractions).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(total - 1) < 1e-12);
      assert.deepEqual(Object.keys(c.fractions), ['en', 'zh', 'fr', 'ja', 'none']);
      assert.equal(c.outputs.length, 3);
    }
    const zhRow = r.rows[0]!;
    assert.equal(zhRow.normal, r.conditions[0]!.fractions.zh);
    assert.equal(zhRow.steered, r.conditions[1]!.fractions.zh);
    assert.equal(r.newTokens, r.conditions.reduce((a, c) => a + c.outputs.reduce((s, o) => s + o.tokens, 0), 0));
    await assert.rejects(
      steerEval(m, tok, { sources: [{ lang: 'en', prompts: ['x'] }], masks: MASKS, stats: STATS, identifier, targets: ['ja'], generation: { maxNewTokens: 2 } }),
      /cannot activate "ja": the masks give it no neurons/,
    );
    await assert.rejects(
      steerEval(m, tok, { sources: [{ lang: 'vi', prompts: ['x'] }], masks: MASKS, stats: STATS, identifier, generation: { maxNewTokens: 2 } }),
      /"vi" is not among the identifier's languages/,
    );
  } finally {
    await m.release();
  }
});

test('lape steer-eval: steering.json / .csv / generations.jsonl; bad input', () => {
  const dir = tempDir();
  const model = repoPath('test/fixtures/llama-gqa');
  const masks = join(dir, 'masks.json');
  saveMasks(masks, MASKS);
  const statsDir = join(dir, 'stats');
  for (const s of STATS) saveStats(join(statsDir, `${s.lang}.safetensors`), s);
  const prompts = join(dir, 'en.txt');
  writeFileSync(prompts, 'Hello world\nChoose Format - Cells\nThe menu bar\nInsert a chart\n');
  const out = join(dir, 'out');
  const args = ['steer-eval', '--model', model, '--masks', masks, '--stats', statsDir, '--threads', '1', '-q'];
  const r = runCli([...args, '--prompts', prompts, '--max-new-tokens', '5', '--max-prompts', '3', '--deactivate-source', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(readFileSync(join(out, 'steering.json'), 'utf8'));
  assert.equal(json.format, 'lape-steering');
  assert.equal(json.version, 1);
  assert.equal(json.deactivateSource, true);
  assert.deepEqual(json.identifierLanguages, ['en', 'zh', 'fr', 'ja']);
  assert.deepEqual(json.sources, [{ lang: 'en', file: prompts, prompts: 3 }]);
  assert.deepEqual(json.generation.stop, ['\n']);
  assert.deepEqual(json.rows.map((x: { intervention: string }) => x.intervention), ['-en +zh', '-en +fr', '-en']);
  assert.deepEqual(Object.keys(json.rows[0]), [
    'kind', 'source', 'target', 'intervention', 'prompts', 'normal', 'steered', 'normalSource', 'steeredSource',
    'normalTokens', 'steeredTokens', 'normalChars', 'steeredChars',
  ]);
  assert.equal(json.conditions.length, 4);
  const csv = readFileSync(join(out, 'steering.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'kind,source,target,intervention,prompts,normal,steered,normal_source,steered_source,normal_tokens,steered_tokens,normal_chars,steered_chars');
  assert.equal(csv.length, 4);
  const gens = readFileSync(join(out, 'generations.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(gens.length, 9); // 3 rows × 3 prompts
  assert.deepEqual(Object.keys(gens[0]), [
    'kind', 'source', 'target', 'intervention', 'prompt_index', 'prompt', 'normal', 'steered',
    'normal_lang', 'steered_lang', 'normal_tokens', 'steered_tokens', 'normal_stop', 'steered_stop',
  ]);
  assert.equal(gens[0].prompt, 'Hello world');

  const bad = (extra: string[], code: number, re: RegExp): void => {
    const b = runCli([...args, '--out', join(dir, 'bad'), ...extra]);
    assert.equal(b.code, code, b.stderr);
    assert.match(b.stderr, re);
  };
  bad(['--prompts', prompts, '--targets', 'ja'], 1, /cannot activate "ja": the masks give it no neurons/);
  bad(['--prompts', prompts, '--targets', 'de'], 1, /the masks have no language "de"/);
  bad(['--prompts', prompts, '--max-new-tokens', '0'], 2, /--max-new-tokens must be a positive integer/);
  bad(['--prompts', join(dir, 'prompts-without-language.txt')], 2, /cannot tell the language/);
  bad(['--prompts', prompts, '--activate', 'zh'], 2, /chooses the interventions itself/);
  bad(['--prompts', prompts, '--stop', 'x', '--no-stop'], 2, /give --stop or --no-stop, not both/);
  const out2 = join(dir, 'out2');
  const ns = runCli([...args, '--prompts', `en=${prompts}`, '--no-stop', '--targets', 'zh', '--no-deactivation-rows', '--max-prompts', '1', '--max-new-tokens', '3', '--mode', 'add', '--alpha', '2', '--out', out2]);
  assert.equal(ns.code, 0, ns.stderr);
  const j2 = JSON.parse(readFileSync(join(out2, 'steering.json'), 'utf8'));
  assert.deepEqual(j2.generation.stop, []);
  assert.deepEqual(j2.rows.map((x: { intervention: string }) => x.intervention), ['+zh(add×2)']);
  const onlyEn = join(dir, 'stats-en');
  saveStats(join(onlyEn, 'en.safetensors'), STATS[0]!);
  const noStats = runCli(['steer-eval', '--model', model, '--masks', masks, '--stats', onlyEn, '--prompts', prompts, '--targets', 'zh', '--out', join(dir, 'bad'), '-q']);
  assert.equal(noStats.code, 1);
  assert.match(noStats.stderr, /cannot activate "zh": no activation statistics for it \(statistics are for en\)/);
});

/**
 * Ratio sweep (Fig. 4 data) on the random-weight fixture test/fixtures/llama-gqa with synthetic
 * statistics (seeded): selections per ratio equal LAPE's, ratio 0 is the baseline exactly, the
 * language's neuron sets grow with the ratio, random controls match sizes, bad input, CLI files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LapeError } from '../src/errors.js';
import { loadEvalSets, type EvalSet } from '../src/experiments/ppl-eval-sets.js';
import { checkRatios, ratioSweep, sweepSelection } from '../src/experiments/sweep.js';
import { loadModel } from '../src/runtime/model.js';
import { lapeSelection, selectLape } from '../src/select/lape.js';
import { Xoshiro128 } from '../src/select/prng.js';
import { saveStats } from '../src/stats/stats-file.js';
import type { LangStats } from '../src/stats/types.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { runCli } from './helpers/cli.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';

const LLAMA = repoPath('test/fixtures/llama-gqa');
const CORPUS = repoPath('data/corpus');
const model = loadModel(LLAMA, { threads: 1 });
const tokenizer = loadTokenizer(LLAMA);
const SEQ = 48;
const LANGS = ['en', 'zh', 'fr'];

/** Each neuron belongs to one language (high p) or none; the others get low p. */
function syntheticStats(layers = 2, neurons = 96, seed = 3): LangStats[] {
  const rng = new Xoshiro128(seed);
  const tokens = 10_000;
  const counts = LANGS.map(() => new Float64Array(layers * neurons));
  for (let j = 0; j < layers * neurons; j++) {
    const owner = rng.below(5); // 0..2 a language, 3..4 shared
    LANGS.forEach((_, k) => {
      const p = owner === k ? 0.5 + rng.below(450) / 1000 : owner >= 3 ? 0.3 + rng.below(300) / 1000 : rng.below(200) / 1000;
      counts[k]![j] = Math.round(p * tokens);
    });
  }
  return LANGS.map((lang, k) => ({
    lang,
    layers,
    neurons,
    tokens,
    count: counts[k]!,
    sum: new Float64Array(layers * neurons),
    sumSq: new Float64Array(layers * neurons),
    meta: {},
  }));
}

function throwsLape(e: unknown, ...fragments: string[]): true {
  assert.ok(e instanceof LapeError, `expected LapeError, got ${e}`);
  for (const f of fragments) assert.ok(e.message.includes(f), `message "${e.message}" lacks "${f}"`);
  return true;
}

async function sets(langs: string[]): Promise<EvalSet[]> {
  return loadEvalSets(tokenizer, langs.map((lang) => ({ lang, files: [join(CORPUS, `${lang}.valid.txt`)] })), { seqLen: SEQ, maxChunks: 2 });
}

test('selection per ratio: LAPE top_rate = ratio, the language\'s share, nested; 0 = nothing', () => {
  const stats = syntheticStats();
  assert.deepEqual(sweepSelection(stats, 'fr', 0), { perLayer: [[], []], selected: 0 });
  let prev: number[][] = [[], []];
  for (const ratio of [0.01, 0.02, 0.05, 0.1, 0.2]) {
    const sel = sweepSelection(stats, 'fr', ratio);
    const lape = selectLape(stats, { topRate: ratio });
    assert.deepEqual(sel.perLayer, lape.masks[2]);
    // filter_rate = bar_ratio: every selected neuron belongs to some language, so the union is the selection.
    assert.equal(sel.selected, lapeSelection(stats, { topRate: ratio }).selected.length);
    assert.ok(sel.selected <= Math.round(192 * ratio));
    for (let l = 0; l < 2; l++) for (const j of prev[l]!) assert.ok(sel.perLayer[l]!.includes(j), `ratio ${ratio} lost neuron ${l}:${j}`);
    prev = sel.perLayer;
  }
  assert.ok(prev[0]!.length + prev[1]!.length > 0);
  assert.throws(() => sweepSelection(stats, 'de', 0.01), (e) => throwsLape(e, '"de" has no statistics', 'en, zh, fr'));
  assert.throws(() => checkRatios([0, 1.5]), (e) => throwsLape(e, '[0, 1]'));
  assert.throws(() => checkRatios([0.01, 0.01]), (e) => throwsLape(e, 'twice'));
  assert.throws(() => checkRatios([]), (e) => throwsLape(e, 'no ratios'));
});

test('sweep rows: ratio 0 = baseline exactly, sizes grow, changes against the baseline, random sizes match', async () => {
  const stats = syntheticStats();
  const evalSets = await sets(LANGS);
  const ratios = [0, 0.02, 0.05, 0.1];
  let rowsSeen = 0;
  const r = await ratioSweep(model, stats, evalSets, { lang: 'zh', ratios, randomControl: true, seed: 5, onRow: () => rowsSeen++ });
  assert.equal(rowsSeen, 1 + ratios.length);
  assert.deepEqual(r.rows.map((x) => x.ratio), ratios);
  assert.deepEqual(r.evalLanguages, LANGS);
  assert.equal(r.filterRate, 0.95);
  assert.equal(r.seed, 5);
  const zero = r.rows[0]!;
  assert.equal(zero.neuronsDeactivated, 0);
  assert.deepEqual(zero.ppl, r.baseline.ppl);
  for (const l of LANGS) assert.equal(zero.change[l], 0);
  for (let i = 0; i < r.rows.length; i++) {
    const row = r.rows[i]!;
    const sel = sweepSelection(stats, 'zh', row.ratio);
    assert.deepEqual(row.neuronsPerLayer, sel.perLayer.map((x) => x.length));
    assert.equal(row.selected, sel.selected);
    if (i > 0) assert.ok(row.neuronsDeactivated >= r.rows[i - 1]!.neuronsDeactivated);
    assert.deepEqual(row.random!.neuronsPerLayer, row.neuronsPerLayer);
    for (const l of LANGS) {
      assert.equal(row.change[l], row.ppl[l]! - r.baseline.ppl[l]!);
      assert.equal(row.pplRatio[l], row.ppl[l]! / r.baseline.ppl[l]!);
    }
  }
  const last = r.rows.at(-1)!;
  assert.ok(last.neuronsDeactivated > 0);
  assert.notDeepEqual(last.ppl, r.baseline.ppl);
});

test('sweep bad input: statistics of another shape, unknown languages', async () => {
  const evalSets = await sets(['en', 'zh']);
  await assert.rejects(
    ratioSweep(model, syntheticStats(3, 96), evalSets, { lang: 'en', ratios: [0.01], statsWhat: 'stats/' }),
    (e) => throwsLape(e, 'stats/', '3 layers × 96', '2 layers × 96'),
  );
  await assert.rejects(ratioSweep(model, syntheticStats(), evalSets, { lang: 'fr', ratios: [0.01] }), (e) =>
    throwsLape(e, 'no evaluation set for language "fr"', 'en, zh, fr', 'evaluation sets: en, zh'),
  );
  await assert.rejects(ratioSweep(model, syntheticStats(), evalSets, { lang: 'ja', ratios: [0.01] }), (e) =>
    throwsLape(e, '"ja" to deactivate not in the neuron sets'),
  );
});

test('CLI: lape sweep writes sweep.json and sweep.csv', () => {
  const dir = tempDir();
  const statsDir = join(dir, 'stats');
  mkdirSync(statsDir);
  for (const s of syntheticStats()) saveStats(join(statsDir, `${s.lang}.safetensors`), s);
  const out = join(dir, 'out');
  const base = ['sweep', '--model', LLAMA, '--stats', statsDir, '--lang', 'fr', '--eval-dir', CORPUS, '--seq-len', String(SEQ), '--max-chunks', '2', '--threads', '1'];
  const r = runCli([...base, '--ratios', '0,0.05,0.1', '--random-control', '--out', out, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ratio\s+neurons\s+en\s+fr\s+zh/);
  assert.deepEqual(readdirSync(out).filter((f) => !f.startsWith('report')).sort(), ['sweep.csv', 'sweep.json']);
  assert.ok(readdirSync(out).includes('report.html'), 'the report is refreshed');
  const doc = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8'));
  assert.equal(doc.format, 'lape-sweep');
  assert.deepEqual(doc.evalLanguages, ['en', 'fr', 'zh']); // --eval-dir without --langs: the statistics' languages (folder order)
  assert.deepEqual(doc.rows.map((x: { ratio: number }) => x.ratio), [0, 0.05, 0.1]);
  assert.equal(doc.settings.lang, 'fr');
  const csv = readFileSync(join(out, 'sweep.csv'), 'utf8').trimEnd().split('\n');
  assert.equal(
    csv[0],
    'ratio,selected,neurons_deactivated,ppl_en,ppl_fr,ppl_zh,change_en,change_fr,change_zh,random_neurons,random_ppl_en,random_ppl_fr,random_ppl_zh,random_change_en,random_change_fr,random_change_zh',
  );
  assert.equal(csv.length, 4);
  assert.match(csv[1]!, /^0,0,0,/);

  const bad = join(dir, 'bad');
  for (const extra of [['--ratios', '0,2'], ['--ratios', 'a'], ['--seq-len', '0'], ['--filter-rate', '1']]) {
    const u = runCli([...base, ...extra, '--out', bad]);
    assert.equal(u.code, 2, `${extra.join(' ')}: ${u.stderr}`);
  }
  const wrong = runCli(['sweep', '--model', LLAMA, '--stats', statsDir, '--lang', 'de', '--eval-dir', CORPUS, '--seq-len', String(SEQ), '--out', bad]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /"de" to deactivate not in the neuron sets/);
  assert.equal(existsSync(bad), false);
});

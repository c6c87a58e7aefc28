/**
 * Perplexity and the deactivation matrix on the random-weight fixture test/fixtures/llama-gqa
 * (2 layers × 96 FFN neurons, byte-level vocabulary of 300, context 128): PPL against a sum of
 * token log-probabilities taken by hand, zero neurons = baseline exactly, matrix shape and rows,
 * dominance margins on a hand-made matrix, bad input, and the CLI's files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectChunks } from '../src/corpus/chunks.js';
import { LapeError } from '../src/errors.js';
import { diagonalDominance, pplMatrix, type PplRow } from '../src/experiments/deactivation.js';
import { defaultBatchSize, evaluatePerplexity, pplPlan, zeroPatches } from '../src/experiments/perplexity.js';
import { loadEvalSets, type EvalSet } from '../src/experiments/ppl-eval-sets.js';
import { loadModel } from '../src/runtime/model.js';
import { saveMasksJson } from '../src/select/masks-io.js';
import type { NeuronMasks } from '../src/select/types.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { runCli } from './helpers/cli.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';

const LLAMA = repoPath('test/fixtures/llama-gqa');
const CORPUS = repoPath('data/corpus');
const model = loadModel(LLAMA, { threads: 1 });
const tokenizer = loadTokenizer(LLAMA);
const SEQ = 48;

function throwsLape(e: unknown, ...fragments: string[]): true {
  assert.ok(e instanceof LapeError, `expected LapeError, got ${e}`);
  for (const f of fragments) assert.ok(e.message.includes(f), `message "${e.message}" lacks "${f}"`);
  return true;
}

async function sets(langs: string[], maxChunks = 3): Promise<EvalSet[]> {
  return loadEvalSets(
    tokenizer,
    langs.map((lang) => ({ lang, files: [join(CORPUS, `${lang}.valid.txt`)] })),
    { seqLen: SEQ, maxChunks },
  );
}

function close(a: number | null | undefined, b: number): void {
  assert.ok(a !== null && a !== undefined && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${a} vs ${b}`);
}

function handMasks(): NeuronMasks {
  return {
    method: 'hand',
    languages: ['en', 'zh', 'fr'],
    layers: 2,
    neurons: 96,
    settings: {},
    masks: [
      [[0, 1, 2, 3, 4, 5, 6, 7, 40, 41], [10, 11, 12]],
      [[20, 21], [30, 31, 32, 33, 34, 90]],
      [[], []],
    ],
  };
}

test('PPL = exp(mean −log p) summed by hand from model.run token log-probabilities', async () => {
  const chunks = await collectChunks(tokenizer, [join(CORPUS, 'en.valid.txt')], { seqLen: SEQ, maxChunks: 5 });
  const r = await evaluatePerplexity(model, chunks, { batchSize: 2 });
  assert.equal(r.tokens, 5 * (SEQ - 1));
  assert.equal(r.chunks, 5);

  // Same plan and batches, summed here: bit-identical.
  let sum = 0;
  let n = 0;
  for (let s = 0; s < chunks.length; s += 2) {
    const rows = chunks.slice(s, s + 2);
    const out = await model.run({ ids: rows }, pplPlan(model.spec));
    for (let b = 0; b < rows.length; b++) {
      for (let t = 0; t < SEQ - 1; t++) {
        sum += -out.tokenLogprobs![b * SEQ + t]!;
        n++;
      }
      assert.equal(out.logprobMask![b * SEQ + SEQ - 1], 0, 'the last position has no target');
    }
  }
  assert.equal(r.nll, sum / n);
  assert.equal(r.ppl, Math.exp(sum / n));

  // Independently: one chunk per run, a plan without patch inputs; equal up to f32 rounding.
  let sum1 = 0;
  for (const c of chunks) {
    const out = await model.run({ ids: [c] }, { tokenLogprobs: true });
    for (let t = 0; t + 1 < c.length; t++) sum1 += -out.tokenLogprobs![t]!;
  }
  assert.ok(Math.abs(r.nll - sum1 / n) < 1e-5, `${r.nll} vs ${sum1 / n}`);
  // A random-weight model over 300 tokens: PPL near the vocabulary size.
  assert.ok(r.ppl > 100 && r.ppl < 3000, `ppl ${r.ppl}`);

  // Deterministic: same inputs, same batching → same bits.
  const again = await evaluatePerplexity(model, chunks, { batchSize: 2 });
  assert.equal(again.nll, r.nll);
});

test('deactivating zero neurons is the baseline exactly', async () => {
  const chunks = await collectChunks(tokenizer, [join(CORPUS, 'fr.valid.txt')], { seqLen: SEQ, maxChunks: 3 });
  const base = await evaluatePerplexity(model, chunks);
  const none = await evaluatePerplexity(model, chunks, { patches: zeroPatches([[], []]) });
  const emptyPatches = await evaluatePerplexity(model, chunks, {
    patches: [
      { layer: 0, indices: [], mode: 'zero' },
      { layer: 1, indices: [], mode: 'zero' },
    ],
  });
  assert.equal(none.nll, base.nll);
  assert.equal(emptyPatches.nll, base.nll);
  const some = await evaluatePerplexity(model, chunks, { patches: zeroPatches([[0, 1, 2, 3], [5]]) });
  assert.notEqual(some.nll, base.nll);
});

test('default batch size: ≈2048 tokens, capped by the vocabulary', () => {
  assert.equal(defaultBatchSize(256, 300), 8);
  assert.equal(defaultBatchSize(256, 32000), 8);
  assert.equal(defaultBatchSize(512, 151936), 1); // 2^26 / 151936 = 441 tokens
  assert.equal(defaultBatchSize(64, 151936), 6);
  assert.equal(defaultBatchSize(4096, 300), 1);
});

test('matrix: rows none + languages + random controls, columns = evaluated languages', async () => {
  const masks = handMasks();
  const evalSets = await sets(['en', 'zh', 'fr']);
  const seen: string[] = [];
  let chunksRun = 0;
  const m = await pplMatrix(model, masks, evalSets, {
    randomControl: true,
    seed: 7,
    onRow: (r, i, total) => {
      seen.push(r.id);
      assert.equal(total, 7);
      assert.equal(i, seen.length - 1);
    },
    onChunks: (n) => (chunksRun += n),
  });
  assert.deepEqual(m.evalLanguages, ['en', 'zh', 'fr']);
  assert.deepEqual(m.rows.map((r) => r.id), ['none', 'en', 'zh', 'fr', 'random:en', 'random:zh', 'random:fr']);
  assert.deepEqual(seen, m.rows.map((r) => r.id));
  assert.equal(chunksRun, 7 * 9);
  assert.equal(m.seed, 7);
  assert.equal(model.sessionCount() >= 1, true);
  const none = m.rows[0]!;
  for (const l of m.evalLanguages) {
    assert.equal(none.change[l], 0);
    assert.equal(none.pplRatio[l], 1);
    assert.equal(m.tokens[l], 3 * (SEQ - 1));
    for (const r of m.rows) {
      assert.equal(r.change[l], r.ppl[l]! - none.ppl[l]!);
      assert.equal(Math.exp(r.nll[l]!), r.ppl[l]);
    }
  }
  const byId = (id: string): PplRow => m.rows.find((r) => r.id === id)!;
  assert.deepEqual(byId('en').neuronsPerLayer, [10, 3]);
  assert.equal(byId('en').neurons, 13);
  for (const lang of masks.languages) {
    assert.deepEqual(byId(`random:${lang}`).neuronsPerLayer, byId(lang).neuronsPerLayer);
    assert.equal(byId(`random:${lang}`).kind, 'random');
  }
  // fr has no neurons: its rows are the baseline exactly.
  assert.deepEqual(byId('fr').ppl, none.ppl);
  assert.deepEqual(byId('random:fr').ppl, none.ppl);
  assert.notDeepEqual(byId('en').ppl, none.ppl);

  // Row subset; the same random seed gives the same random rows.
  const m2 = await pplMatrix(model, masks, evalSets, { deactivate: ['zh'], randomControl: true, seed: 7 });
  assert.deepEqual(m2.rows.map((r) => r.id), ['none', 'zh', 'random:zh']);
  assert.deepEqual(m2.rows[2]!.ppl, byId('random:zh').ppl);
  assert.deepEqual(m2.rows[1]!.ppl, byId('zh').ppl);
});

test('diagonalDominance: margins on a hand-made matrix', () => {
  const langs = ['en', 'zh', 'fr'];
  const row = (id: string, kind: PplRow['kind'], lang: string | null, ratio: number[]): PplRow => {
    const per = (f: (i: number) => number): Record<string, number> => Object.fromEntries(langs.map((l, i) => [l, f(i)]));
    return {
      id, kind, lang, neurons: 1, neuronsPerLayer: [1],
      nll: per(() => 0), ppl: per((i) => 10 * ratio[i]!), change: per((i) => 10 * ratio[i]! - 10), pplRatio: per((i) => ratio[i]!),
    };
  };
  const matrix = {
    evalLanguages: langs,
    rows: [
      row('none', 'none', null, [1, 1, 1]),
      row('en', 'masks', 'en', [2.0, 1.1, 1.3]),
      row('zh', 'masks', 'zh', [1.05, 3.0, 1.0]),
      row('fr', 'masks', 'fr', [1.6, 1.2, 1.5]), // fr hurts en more than fr: not row-dominant
      row('random:en', 'random', 'en', [1.01, 1, 1]),
      row('random:zh', 'random', 'zh', [1, 1.2, 1]),
    ],
  };
  const d = diagonalDominance(matrix);
  assert.deepEqual(d.map((x) => x.lang), langs);
  const close = (a: number | null, b: number): void => assert.ok(a !== null && Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  close(d[0]!.diagonal, 2.0);
  close(d[0]!.rowMargin, 2.0 - 1.3);
  close(d[0]!.columnMargin, 2.0 - 1.6);
  close(d[0]!.randomMargin, 2.0 - 1.01);
  close(d[1]!.rowMargin, 3.0 - 1.05);
  close(d[1]!.columnMargin, 3.0 - 1.2);
  close(d[1]!.randomMargin, 3.0 - 1.2);
  close(d[2]!.rowMargin, 1.5 - 1.6);
  close(d[2]!.columnMargin, 1.5 - 1.3);
  assert.equal(d[2]!.random, null);
  assert.equal(d[2]!.randomMargin, null);
  const byChange = diagonalDominance(matrix, 'change');
  close(byChange[0]!.rowMargin, 20 - 13);
});

test('bad input: masks of another shape name the file; languages that do not match list both sets', async () => {
  const dir = tempDir();
  const evalSets = await sets(['en', 'zh'], 1);
  const wrong = { ...handMasks(), neurons: 128 };
  const wrongFile = join(dir, 'wrong-shape.json');
  await assert.rejects(pplMatrix(model, wrong, evalSets, { masksFile: wrongFile }), (e) =>
    throwsLape(e, wrongFile, '2 layers × 128', '2 layers × 96'),
  );
  // en, zh evaluated but masks also have fr: fr has no evaluation set.
  await assert.rejects(pplMatrix(model, handMasks(), evalSets, { masksFile: 'm.json' }), (e) =>
    throwsLape(e, 'no evaluation set for language "fr"', 'en, zh, fr', 'evaluation sets: en, zh'),
  );
  // A language to deactivate that the masks do not know.
  const deSets = [...evalSets, { ...evalSets[0]!, lang: 'de' }];
  await assert.rejects(pplMatrix(model, handMasks(), deSets, { deactivate: ['de'] }), (e) =>
    throwsLape(e, '"de" to deactivate not in the neuron sets', 'en, zh, fr', 'evaluation sets: en, zh, de'),
  );
  // A corpus too short for one chunk names the file.
  const short = join(dir, 'short.txt');
  writeFileSync(short, 'tiny\n');
  await assert.rejects(loadEvalSets(tokenizer, [{ lang: 'en', files: [short] }], { seqLen: SEQ }), (e) =>
    throwsLape(e, short, 'too short for one chunk'),
  );
});

test('one order: rows follow the evaluation order; an evaluated language without neurons is a column without a row', async () => {
  // Masks list en, zh, fr; evaluation order fr, de, en, zh (de is held out: no neurons).
  const evalSets = await sets(['fr', 'en', 'zh'], 1);
  const order = [evalSets[0]!, { ...evalSets[1]!, lang: 'de' }, evalSets[1]!, evalSets[2]!];
  const m = await pplMatrix(model, handMasks(), order, { randomControl: true });
  assert.deepEqual(m.evalLanguages, ['fr', 'de', 'en', 'zh']);
  assert.deepEqual(m.deactivated, ['fr', 'en', 'zh']);
  assert.deepEqual(m.rows.map((r) => r.id), ['none', 'fr', 'en', 'zh', 'random:fr', 'random:en', 'random:zh']);
  assert.deepEqual(m.columnsOnly, ['de']);
  for (const r of m.rows) assert.deepEqual(Object.keys(r.ppl), ['fr', 'de', 'en', 'zh']);
  // An explicit --deactivate order does not change the row order either.
  const m2 = await pplMatrix(model, handMasks(), order, { deactivate: ['zh', 'en'] });
  assert.deepEqual(m2.rows.map((r) => r.id), ['none', 'en', 'zh']);
  const d = diagonalDominance(m);
  assert.deepEqual(d.map((x) => x.lang), ['fr', 'en', 'zh']);
});

test('random seeds: the random row is the mean of N seeded sets, with a 95 % interval per cell; seed 1 of N = the single-seed row', async () => {
  const evalSets = await sets(['en', 'zh', 'fr'], 1);
  const one = await pplMatrix(model, handMasks(), evalSets, { randomControl: true, seed: 3 });
  const three = await pplMatrix(model, handMasks(), evalSets, { randomControl: true, seed: 3, randomSeeds: 3 });
  const r1 = one.rows.find((r) => r.id === 'random:en')!;
  const r3 = three.rows.find((r) => r.id === 'random:en')!;
  assert.deepEqual(r3.seeds, [3, 4, 5]);
  assert.equal(r3.seedPpl!.length, 3);
  assert.deepEqual(r3.seedPpl![0], r1.ppl);
  assert.equal(r1.interval, undefined);
  for (const l of ['en', 'zh', 'fr']) {
    const mean = r3.seedPpl!.reduce((a, x) => a + x[l]!, 0) / 3;
    close(r3.ppl[l]!, mean);
    const [lo, hi] = r3.interval!.change[l]!;
    assert.ok(lo <= r3.change[l]! && r3.change[l]! <= hi, `${l}: mean inside its interval`);
  }
  const d = diagonalDominance(three);
  assert.equal(typeof d[0]!.exceedsRandom, 'boolean');
  assert.equal(d[0]!.randomHigh, r3.interval!.pplRatio.en![1]);
  assert.equal(diagonalDominance(one)[0]!.exceedsRandom, null);
});

test('layer-restricted rows zero only the neurons in those layers', async () => {
  const evalSets = await sets(['en', 'zh', 'fr'], 1);
  const full = await pplMatrix(model, handMasks(), evalSets);
  const bottom = await pplMatrix(model, handMasks(), evalSets, { layers: [0] });
  assert.deepEqual(bottom.layers, [0]);
  assert.deepEqual(bottom.rows.find((r) => r.id === 'en')!.neuronsPerLayer, [10, 0]);
  assert.deepEqual(full.rows.find((r) => r.id === 'en')!.neuronsPerLayer, [10, 3]);
  assert.notDeepEqual(bottom.rows.find((r) => r.id === 'en')!.ppl, full.rows.find((r) => r.id === 'en')!.ppl);
  await assert.rejects(pplMatrix(model, handMasks(), evalSets, { layers: [2] }), (e) => throwsLape(e, 'layer 2 does not exist'));
});

test('CLI: lape ppl writes ppl.json and ppl.csv; bad runs exit non-zero and leave no files', () => {
  const dir = tempDir();
  const masksFile = join(dir, 'masks.json');
  saveMasksJson(masksFile, handMasks());
  const out = join(dir, 'out');
  const args = ['ppl', '--model', LLAMA, '--masks', masksFile, '--eval-dir', CORPUS, '--langs', 'en,zh,fr', '--seq-len', String(SEQ), '--max-chunks', '2', '--threads', '1'];
  const r = runCli([...args, '--random-control', '--out', out, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /deactivated\s+neurons\s+en\s+zh\s+fr/);
  assert.match(r.stdout, /random:zh\s+8/);
  assert.deepEqual(readdirSync(out).sort(), ['ppl.csv', 'ppl.json', 'report.html']); // the report is refreshed
  const doc = JSON.parse(readFileSync(join(out, 'ppl.json'), 'utf8'));
  assert.equal(doc.format, 'lape-ppl');
  assert.equal(doc.version, 1);
  assert.deepEqual(doc.evalLanguages, ['en', 'zh', 'fr']);
  assert.equal(doc.rows.length, 7);
  assert.equal(doc.settings.seqLen, SEQ);
  assert.equal(doc.settings.seed, 0);
  assert.equal(doc.eval[0].chunks, 2);
  assert.equal(doc.eval[0].tokens, 2 * (SEQ - 1));
  const csv = readFileSync(join(out, 'ppl.csv'), 'utf8').trimEnd().split('\n');
  assert.equal(csv[0], 'row,kind,deactivated,neurons,eval_lang,tokens,nll,ppl,ppl_none,change,ppl_ratio');
  assert.equal(csv.length, 1 + 7 * 3);
  assert.match(csv[1]!, /^none,none,,0,en,94,/);

  // --json prints the summary (stdout holds nothing else); eval via --eval; same numbers.
  const out2 = join(dir, 'out2');
  const j = runCli(['ppl', '--model', LLAMA, '--masks', masksFile, '--eval', `en=${join(CORPUS, 'en.valid.txt')}`, '--eval', `zh=${join(CORPUS, 'zh.valid.txt')}`,
    '--eval', `fr=${join(CORPUS, 'fr.valid.txt')}`, '--seq-len', String(SEQ), '--max-chunks', '2', '--threads', '1', '--out', out2, '--json']);
  assert.equal(j.code, 0, j.stderr);
  const summary = JSON.parse(j.stdout);
  assert.deepEqual(summary.rows.slice(0, 4), doc.rows.slice(0, 4));
  assert.doesNotMatch(j.stderr, /chunks\/s/, 'no progress display for work under 2 s');

  const noStray = (d: string): void => {
    if (!existsSync(d)) return;
    assert.deepEqual(readdirSync(d).filter((f) => f.endsWith('.tmp') || f.startsWith('.')), []);
  };
  // Masks for another model shape: exit 1, the message names the masks file, no output.
  const wrongFile = join(dir, 'other-model.json');
  saveMasksJson(wrongFile, { ...handMasks(), layers: 3, masks: handMasks().masks.map((m) => [...m, []]) });
  const bad = join(dir, 'bad');
  const w = runCli(['ppl', '--model', LLAMA, '--masks', wrongFile, '--eval-dir', CORPUS, '--seq-len', String(SEQ), '--out', bad]);
  assert.equal(w.code, 1);
  assert.match(w.stderr, /other-model\.json: masks are for a model with 3 layers/);
  assert.equal(existsSync(bad), false);
  // An evaluation language missing for a masks language.
  const m = runCli(['ppl', '--model', LLAMA, '--masks', masksFile, '--eval-dir', CORPUS, '--langs', 'en,zh', '--seq-len', String(SEQ), '--out', bad]);
  assert.equal(m.code, 1);
  assert.match(m.stderr, /no evaluation set for language "fr"/);
  // A corpus too short, in a folder that already holds results: they stay, nothing stray is added.
  mkdirSync(bad, { recursive: true });
  writeFileSync(join(bad, 'ppl.json'), '{"format": "lape-ppl", "old": true}\n');
  const shortFile = join(dir, 'short.txt');
  writeFileSync(shortFile, 'a few words\n');
  const s = runCli(['ppl', '--model', LLAMA, '--masks', masksFile, '--eval', `en=${shortFile}`, '--eval', `zh=${shortFile}`, '--eval', `fr=${shortFile}`, '--seq-len', String(SEQ), '--out', bad]);
  assert.equal(s.code, 1);
  assert.match(s.stderr, /short\.txt: corpus too short for one chunk of 48 tokens/);
  assert.deepEqual(readdirSync(bad), ['ppl.json']);
  assert.equal(readFileSync(join(bad, 'ppl.json'), 'utf8'), '{"format": "lape-ppl", "old": true}\n');
  noStray(bad);
  // Usage errors: exit 2.
  for (const extra of [['--seq-len', '0'], ['--seq-len', '1'], ['--seq-len', '4096'], ['--batch-size', '-1'], ['--eval', 'en'], ['--max-chunks', 'x']]) {
    const u = runCli(['ppl', '--model', LLAMA, '--masks', masksFile, '--eval-dir', CORPUS, ...extra, '--out', bad]);
    assert.equal(u.code, 2, `${extra.join(' ')}: ${u.stderr}`);
    assert.match(u.stderr, /Usage: lape ppl/);
  }
  noStray(bad);
  assert.deepEqual(readdirSync(bad), ['ppl.json']);
  const help = runCli(['ppl', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Examples:/);
  assert.match(help.stdout, /--random-control/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { LapeError, ParamError } from '../src/errors.js';
import { lapeSelection, selectLape } from '../src/select/lape.js';
import { pyRound, quantileRank } from '../src/select/entropy.js';
import type { LangStats } from '../src/stats/types.js';

function mkStats(lang: string, layers: number, neurons: number, tokens: number, count: ArrayLike<number>): LangStats {
  const n = layers * neurons;
  return { lang, layers, neurons, tokens, count: Float64Array.from(count), sum: new Float64Array(n), sumSq: new Float64Array(n), meta: {} };
}

test('pyRound rounds like Python 3 round() (half to even)', () => {
  assert.equal(pyRound(2.5), 2);
  assert.equal(pyRound(3.5), 4);
  assert.equal(pyRound(0.5), 0);
  assert.equal(pyRound(1.5), 2);
  assert.equal(pyRound(2.4999), 2);
  assert.equal(pyRound(2.5000001), 3);
  assert.equal(pyRound(32 * 11008 * 0.01), 3523);
  assert.equal(pyRound(7), 7);
});

test('quantileRank is round(numel*rate), 1-based, clamped to [1, numel]', () => {
  assert.equal(quantileRank(8, 0.5), 4);
  assert.equal(quantileRank(8, 0), 1);
  assert.equal(quantileRank(30, 0.75), 22); // 22.5 → 22
  assert.equal(quantileRank(10, 0.999), 10);
});

test('hand-made LAPE: bars, entropy, +inf filtering, language assignment', () => {
  // P_a = [1, .5, 0, .1], P_b = [0, .5, 0, .1]; sorted P = [0,0,0,.1,.1,.5,.5,1]
  const stats = [mkStats('a', 1, 4, 10, [10, 5, 0, 1]), mkStats('b', 1, 4, 10, [0, 5, 0, 1])];
  const r = lapeSelection(stats, { topRate: 0.5, filterRate: 0.5, barRatio: 0.5 });
  assert.equal(r.filterBar, 0.1); // rank round(8·0.5) = 4
  assert.equal(r.activationBar, 0.1);
  assert.deepEqual(Array.from(r.entropy), [0, Math.LN2, Infinity, Infinity]);
  assert.equal(Object.is(r.entropy[0], 0), true, 'entropy of a one-language neuron is +0');
  assert.equal(r.requested, 2);
  assert.equal(r.candidates, 2);
  assert.deepEqual(Array.from(r.selected), [0, 1]);
  assert.equal(r.thresholdEntropy, Math.LN2);
  assert.deepEqual(r.result.masks, [[[0, 1]], [[1]]]);
  assert.equal(r.result.method, 'lape');
  assert.deepEqual(r.result.languages, ['a', 'b']);
  const s = r.result.settings;
  assert.equal(s.filterBar, 0.1);
  assert.equal(s.activationBar, 0.1);
  assert.equal(s.thresholdEntropy, Math.LN2);
  assert.equal(s.topRate, 0.5);
  assert.equal(s.filterRate, 0.5);
  assert.equal(s.barRatio, 0.5);
  assert.equal(s['tokens.a'], 10);
});

test('ties are broken by flat index (lower layer, then lower neuron); an empty language stays', () => {
  const counts = [8, 8, 8, 8, 8, 8];
  const stats = [mkStats('a', 2, 3, 10, counts), mkStats('b', 2, 3, 10, counts.map(() => 2))];
  const r = lapeSelection(stats, { topRate: 0.5, filterRate: 0.5, barRatio: 0.5 });
  assert.equal(r.requested, 3);
  assert.deepEqual(Array.from(r.selected), [0, 1, 2]);
  assert.deepEqual(r.result.masks, [[[0, 1, 2], []], [[], []]]);
  // the same with the tie spread over layers: neurons 1 of layer 0 and 0, 2 of layer 1 are tied lowest
  const c2 = [5, 9, 5, 9, 5, 9];
  const stats2 = [mkStats('a', 2, 3, 10, c2), mkStats('b', 2, 3, 10, [5, 1, 5, 1, 5, 1])];
  const r2 = lapeSelection(stats2, { topRate: 0.34, filterRate: 0.5, barRatio: 0.5 });
  assert.equal(r2.requested, 2);
  assert.deepEqual(Array.from(r2.selected), [1, 3]);
  assert.deepEqual(r2.result.masks[0], [[1], [0]]);
});

test('zero-probability neurons are never selected, even with topRate 1', () => {
  const stats = [
    mkStats('a', 1, 5, 100, [0, 90, 0, 50, 10]),
    mkStats('b', 1, 5, 100, [0, 10, 0, 50, 80]),
    mkStats('c', 1, 5, 100, [0, 5, 0, 40, 5]),
  ];
  const r = lapeSelection(stats, { topRate: 1, filterRate: 0, barRatio: 0 });
  // filterRate 0 → rank clamped to 1 → bar = min P = 0; neurons 0 and 2 have max P = 0 ≤ bar
  assert.equal(r.filterBar, 0);
  assert.equal(r.entropy[0], Infinity);
  assert.equal(r.entropy[2], Infinity);
  assert.equal(r.requested, 5);
  assert.equal(r.candidates, 3);
  assert.deepEqual(Array.from(r.selected), [1, 3, 4]);
  assert.deepEqual(r.result.masks, [[[1, 3, 4]], [[1, 3, 4]], [[1, 3, 4]]]);
});

test('a language without neurons is present with empty layers (also as the last language)', () => {
  const stats = [
    mkStats('en', 2, 2, 10, [9, 1, 1, 8]),
    mkStats('zh', 2, 2, 10, [1, 9, 1, 1]),
    mkStats('sw', 2, 2, 10, [1, 1, 1, 1]),
  ];
  const m = selectLape(stats, { topRate: 1, filterRate: 0.75, barRatio: 0.75 });
  assert.deepEqual(m.languages, ['en', 'zh', 'sw']);
  assert.equal(m.masks.length, 3);
  assert.deepEqual(m.masks[2], [[], []]);
  assert.deepEqual(m.masks[0], [[0], [1]]);
  assert.deepEqual(m.masks[1], [[1], []]);
});

test('top-rate rounding follows Python round (half to even)', () => {
  const n = 10; // 2 layers × 5 neurons, every neuron specific to a
  const a = Array.from({ length: n }, (_, j) => 50 + j);
  const b = Array.from({ length: n }, () => 1);
  const stats = [mkStats('a', 2, 5, 100, a), mkStats('b', 2, 5, 100, b)];
  const count = (topRate: number): number => lapeSelection(stats, { topRate, filterRate: 0.4, barRatio: 0.4 }).selected.length;
  assert.equal(count(0.25), 2); // 2.5 → 2
  assert.equal(count(0.35), 4); // 3.5 → 4
  assert.equal(count(0.01), 0); // 0.1 → 0: nothing selected, languages still present
  const m = selectLape(stats, { topRate: 0.01, filterRate: 0.4, barRatio: 0.4 });
  assert.deepEqual(m.masks, [[[], []], [[], []]]);
  assert.equal(m.settings.thresholdEntropy, undefined);
});

test('bad knobs are errors naming the parameter (the CLI maps it to its flag)', () => {
  const stats = [mkStats('a', 1, 2, 10, [1, 2]), mkStats('b', 1, 2, 10, [2, 1])];
  const param = (name: string) => (e: unknown): boolean => e instanceof ParamError && e.param === name && !e.message.includes('--');
  for (const topRate of [0, -0.1, 1.5, NaN]) {
    assert.throws(() => selectLape(stats, { topRate }), param('topRate'));
  }
  assert.doesNotThrow(() => selectLape(stats, { topRate: 1 }));
  for (const filterRate of [1, -0.5, NaN]) {
    assert.throws(() => selectLape(stats, { filterRate }), param('filterRate'));
  }
  assert.throws(() => selectLape(stats, { barRatio: 1 }), param('barRatio'));
});

test('bad statistics are rejected with the language named', () => {
  const ok = mkStats('en', 1, 2, 10, [1, 2]);
  assert.throws(() => selectLape([]), LapeError);
  assert.throws(() => selectLape([ok, mkStats('zh', 2, 1, 10, [1, 2])]), /"zh".*2 layers × 1 neurons/);
  assert.throws(() => selectLape([ok, mkStats('zh', 1, 3, 10, [1, 2, 3])]), /"zh"/);
  assert.throws(() => selectLape([ok, mkStats('en', 1, 2, 10, [1, 2])]), /"en" is given twice/);
  assert.throws(() => selectLape([ok, mkStats('zh', 1, 2, 0, [0, 0])]), /"zh" have 0 tokens/);
  assert.throws(() => selectLape([ok, mkStats('zh', 1, 2, 10, [11, 0])]), /"zh".*count 11/);
  assert.throws(() => selectLape([ok, mkStats('zh', 1, 2, 10, [NaN, 0])]), /"zh".*count NaN/);
  const short = mkStats('zh', 1, 2, 10, [1, 2]);
  short.count = new Float64Array(1);
  assert.throws(() => selectLape([ok, short]), /"zh": count has 1 values/);
});

interface Vector {
  name: string;
  languages: string[];
  layers: number;
  neurons: number;
  tokens: number[];
  counts: number[][];
  options: { topRate: number; filterRate: number; barRatio: number };
  expected: {
    filterBar: number;
    activationBar: number;
    requested: number;
    candidates: number;
    thresholdEntropy: number | null;
    selected: number[];
    masks: number[][][];
    entropy: (number | null)[];
  };
}

const vectorDir = new URL('../../test/vectors/lape/', import.meta.url);

test('selectLape equals the PyTorch reference (tools/lape_reference.py) on every vector', () => {
  const files = readdirSync(vectorDir).filter((f) => f.endsWith('.json')).sort();
  assert.ok(files.length >= 5, `vectors in ${vectorDir.pathname}`);
  for (const f of files) {
    const v = JSON.parse(readFileSync(new URL(f, vectorDir), 'utf8')) as Vector;
    const stats = v.languages.map((lang, k) => mkStats(lang, v.layers, v.neurons, v.tokens[k]!, v.counts[k]!));
    const r = lapeSelection(stats, v.options);
    const e = v.expected;
    assert.equal(r.filterBar, e.filterBar, `${f}: filter bar`);
    assert.equal(r.activationBar, e.activationBar, `${f}: activation bar`);
    assert.equal(r.requested, e.requested, `${f}: requested`);
    assert.equal(r.candidates, e.candidates, `${f}: candidates`);
    assert.deepEqual(Array.from(r.selected), e.selected, `${f}: selected neurons`);
    assert.deepEqual(r.result.masks, e.masks, `${f}: masks`);
    assert.deepEqual(r.result.languages, v.languages);
    if (e.thresholdEntropy === null) assert.equal(r.thresholdEntropy, undefined);
    else assert.ok(Math.abs(r.thresholdEntropy! - e.thresholdEntropy) <= 1e-12, `${f}: threshold entropy`);
    e.entropy.forEach((h, j) => {
      if (h === null) assert.equal(r.entropy[j], Infinity, `${f}: entropy[${j}] should be +inf`);
      else assert.ok(Math.abs(r.entropy[j]! - h) <= 1e-12, `${f}: entropy[${j}] ${r.entropy[j]} vs ${h}`);
    });
  }
});

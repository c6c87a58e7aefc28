import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LapeError, ParamError } from '../src/errors.js';
import type { LangStats } from '../src/stats/types.js';
import { selectLap } from '../src/select/lap.js';
import { laveSelection, selectLave } from '../src/select/lave.js';
import { randomMasks, selectRandom } from '../src/select/rs.js';
import { Xoshiro128, splitmix64 } from '../src/select/prng.js';
import { ParameterChangeAccumulator, pvSelection, selectPv } from '../src/select/pv.js';
import { selectLape } from '../src/select/lape.js';
import { layerCounts } from '../src/select/masks.js';
import type { NeuronMasks } from '../src/select/types.js';

function mkStats(
  lang: string,
  layers: number,
  neurons: number,
  tokens: number,
  count: ArrayLike<number>,
  sum?: ArrayLike<number>,
): LangStats {
  const n = layers * neurons;
  return {
    lang, layers, neurons, tokens,
    count: Float64Array.from(count),
    sum: sum ? Float64Array.from(sum) : new Float64Array(n),
    sumSq: new Float64Array(n),
    meta: {},
  };
}

test('LAP: p > threshold per language, absolute, strict', () => {
  const stats = [
    mkStats('en', 2, 3, 100, [96, 95, 10, 100, 0, 99]),
    mkStats('zh', 2, 3, 200, [200, 20, 191, 0, 0, 180]),
  ];
  const m = selectLap(stats);
  assert.equal(m.method, 'lap');
  assert.deepEqual(m.masks, [[[0], [0, 2]], [[0, 2], []]]); // 0.95 is not > 0.95; 190/200 would not be either
  assert.equal(m.settings.threshold, 0.95);
  assert.deepEqual(selectLap(stats, { threshold: 0.5 }).masks, [[[0, 1], [0, 2]], [[0, 2], [2]]]);
  assert.throws(() => selectLap(stats, { threshold: 1 }), (e: unknown) => e instanceof ParamError && e.param === 'threshold' && !e.message.includes('--'));
});

test('LAVE: entropy over clamped mean activations', () => {
  // means (sum/tokens): en [2, 1, -0.1, 0.5], zh [0, 1, -0.2, 0.5]
  const stats = [
    mkStats('en', 1, 4, 10, [0, 0, 0, 0], [20, 10, -1, 5]),
    mkStats('zh', 1, 4, 20, [0, 0, 0, 0], [0, 20, -4, 10]),
  ];
  const r = laveSelection(stats, { topRate: 0.5, filterRate: 0.5, barRatio: 0.5 });
  // clamped means [2,1,0,.5] and [0,1,0,.5]; sorted [0,0,0,.5,.5,1,1,2]; rank 4 → 0.5
  assert.deepEqual(Array.from(r.means[0]!), [2, 1, 0, 0.5]);
  assert.deepEqual(Array.from(r.means[1]!), [0, 1, 0, 0.5]);
  assert.equal(r.filterBar, 0.5);
  assert.deepEqual(Array.from(r.entropy), [0, Math.LN2, Infinity, Infinity]);
  assert.deepEqual(r.result.masks, [[[0, 1]], [[1]]]);
  assert.equal(r.result.method, 'lave');
  assert.equal(r.result.settings.clampedMeans, 2);
  // counts play no role in LAVE
  assert.deepEqual(selectLave(stats, { topRate: 0.5, filterRate: 0.5, barRatio: 0.5 }).masks, r.result.masks);
  const bad = mkStats('zh', 1, 4, 20, [0, 0, 0, 0], [0, NaN, 0, 0]);
  assert.throws(() => selectLave([stats[0]!, bad]), /"zh".*not finite/);
});

test('PRNG: splitmix64 known value, xoshiro128** deterministic, below() in range', () => {
  // splitmix64 from state 0: first output 0xe220a8397b1dcdaf (reference value of the algorithm)
  assert.equal(splitmix64(0n)[1], 0xe220a8397b1dcdafn);
  const a = new Xoshiro128(42);
  const b = new Xoshiro128(42);
  const c = new Xoshiro128(43);
  const sa = Array.from({ length: 8 }, () => a.nextU32());
  assert.deepEqual(Array.from({ length: 8 }, () => b.nextU32()), sa);
  assert.notDeepEqual(Array.from({ length: 8 }, () => c.nextU32()), sa);
  for (const x of sa) assert.ok(Number.isInteger(x) && x >= 0 && x < 2 ** 32);
  const r = new Xoshiro128(1);
  const hist = new Array(7).fill(0);
  for (let i = 0; i < 7000; i++) hist[r.below(7)]++;
  for (const h of hist) assert.ok(h > 850 && h < 1150, `roughly uniform: ${hist}`);
  assert.throws(() => new Xoshiro128(1.5), LapeError);
});

test('RS: same per-language per-layer sizes, sorted unique indices, seeded', () => {
  const like: NeuronMasks = {
    method: 'lape', languages: ['en', 'zh', 'ja'], layers: 3, neurons: 50, settings: {},
    masks: [[[1, 2, 3], [], [49]], [[0], [5, 6, 7, 8, 9], []], [[], [], []]],
  };
  const r1 = selectRandom(like, { seed: 7 });
  const r2 = selectRandom(like, { seed: 7 });
  const r3 = selectRandom(like, { seed: 8 });
  assert.equal(r1.method, 'rs');
  assert.deepEqual(r1.languages, like.languages);
  assert.deepEqual(layerCounts(r1), layerCounts(like));
  assert.deepEqual(r1, r2);
  assert.notDeepEqual(r1.masks, r3.masks);
  assert.equal(r1.settings.seed, 7);
  assert.equal(r1.settings.sizesFrom, 'lape');
  for (const perLayer of r1.masks) {
    for (const idx of perLayer) {
      for (let i = 0; i < idx.length; i++) {
        assert.ok(idx[i]! >= 0 && idx[i]! < 50);
        if (i) assert.ok(idx[i]! > idx[i - 1]!);
      }
    }
  }
  const full = randomMasks(['x'], 1, 5, [[5]], { seed: 3 });
  assert.deepEqual(full.masks, [[[0, 1, 2, 3, 4]]]);
  assert.throws(() => randomMasks(['x'], 1, 5, [[6]]), /asks for 6 of 5/);
  assert.equal(selectRandom(like).settings.seed, 0);
});

test('PV: entropy pipeline over change magnitudes; equals LAPE on the same numbers', () => {
  const en = Float64Array.from([1, 0.5, 0, 0.1]);
  const zh = Float64Array.from([0, 0.5, 0, 0.1]);
  const r = pvSelection([{ lang: 'en', change: en }, { lang: 'zh', change: zh }], 1, 4, { topRate: 0.5, filterRate: 0.5, barRatio: 0.5 });
  assert.equal(r.result.method, 'pv');
  assert.deepEqual(r.result.masks, [[[0, 1]], [[1]]]);
  assert.deepEqual(Array.from(r.entropy), [0, Math.LN2, Infinity, Infinity]);
  const viaLape = selectLape(
    [mkStats('en', 1, 4, 10, [10, 5, 0, 1]), mkStats('zh', 1, 4, 10, [0, 5, 0, 1])],
    { topRate: 0.5, filterRate: 0.5, barRatio: 0.5 },
  );
  assert.deepEqual(r.result.masks, viaLape.masks);
  assert.throws(
    () => selectPv([{ lang: 'en', change: Float64Array.from([1, -1, 0, 0]) }], 1, 4),
    /"en".*invalid value -1/,
  );
  assert.throws(() => selectPv([{ lang: 'en', change: new Float64Array(3) }], 1, 4), /3 values/);
});

test('PV: ParameterChangeAccumulator per-neuron change norms for rows, columns and biases', () => {
  const acc = new ParameterChangeAccumulator(2, 2);
  // layer 1, gate-like [neurons=2, hidden=3]: neuron 0 row moves by (3, 4, 0) → 5
  acc.add(1, [1, 1, 1, 2, 2, 2], [4, 5, 1, 2, 2, 2], 'rows');
  // layer 1, down-like [hidden=2, neurons=2]: neuron 1 column moves by (0, 0) and neuron 0 by (0, 0)
  acc.add(1, [1, 2, 3, 4], [1, 2, 3, 4], 'cols');
  // layer 0, down-like: neuron 1 column moves by (1, 1)
  acc.add(0, [0, 0, 0, 0], [0, 1, 0, 1], 'cols');
  acc.add(0, [2, 2], [2, 2], 'vector');
  const abs = acc.magnitudes();
  assert.deepEqual(Array.from(abs), [0, Math.SQRT2, 5, 0]);
  const rel = acc.magnitudes('relative');
  // layer 1 neuron 0: base norm sqrt(1+1+1 + 1+9) = sqrt(13)
  assert.ok(Math.abs(rel[2]! - 5 / Math.sqrt(13)) < 1e-15);
  assert.equal(rel[0], 0);
  assert.throws(() => acc.add(2, [0], [0], 'vector'), /layer 2/);
  assert.throws(() => acc.add(0, [0, 0, 0], [0, 0, 0], 'rows'), /do not fit/);
});

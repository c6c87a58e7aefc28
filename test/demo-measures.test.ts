/** The demo's single-figure measures (src/experiments/demo-measures.ts) on hand-made rows. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layerQuarters, ownLanguageDamage, steeringShareChanges, type PplRowRatios } from '../src/experiments/demo-measures.js';

test('own-language damage: ℓ = ln(PPL ratio), against the other languages\' mean and the random row', () => {
  const e = Math.E;
  const rows: PplRowRatios[] = [
    { id: 'a', pplRatio: { a: e ** 0.3, b: e ** 0.1, c: e ** 0.05 } },
    { id: 'b', pplRatio: { a: 1, b: e ** 0.2, c: 1 } },
    { id: 'c', pplRatio: { a: 1, b: 1, c: e ** 0.4 } },
    { id: 'random:a', pplRatio: { a: e ** 0.06 } },
    { id: 'random:b', pplRatio: { b: e ** 0.1 } },
    { id: 'random:c', pplRatio: { c: e ** 0.2 } },
  ];
  const d = ownLanguageDamage(rows, ['a', 'b', 'c']);
  assert.ok(Math.abs(d.a!.own - 0.3) < 1e-12 && Math.abs(d.a!.others - 0.075) < 1e-12);
  assert.ok(Math.abs(d.a!.vsOthers - 4) < 1e-9 && Math.abs(d.a!.vsRandom - 5) < 1e-9);
  assert.ok(Math.abs(d.c!.vsRandom - 2) < 1e-9);
  assert.throws(() => ownLanguageDamage(rows.slice(0, 3), ['a']), /random:a/);
});

test('layer quarters: first and last ⌈L/4⌉ layers against the middle', () => {
  assert.deepEqual(layerQuarters([62, 2, 0, 62, 46, 34, 39, 89]), { q: 2, first: 32, middle: 35.5, last: 64 });
  assert.deepEqual(layerQuarters([3, 1, 1, 1, 2]), { q: 2, first: 2, middle: 1, last: 1.5 });
});

test('steering share changes: per target over its sources, then over targets; zeroing per language', () => {
  const row = (kind: string, source: string, target: string, normal: number, steered: number) =>
    ({ kind, source, target, normal, steered, normalSource: kind === 'deactivate' ? normal : 1, steeredSource: kind === 'deactivate' ? steered : 1 });
  const s = steeringShareChanges([
    row('activate', 'x', 'y', 0, 0.5), row('activate', 'z', 'y', 0, 0.25), // y: +37.5
    row('activate', 'x', 'z', 0.25, 0), // z: −25
    row('activate', 'y', 'y', 0, 1), // source = target: ignored
    row('combined', 'x', 'y', 0, 1), // another kind: ignored
    row('deactivate', 'x', 'x', 1, 0.5), row('deactivate', 'y', 'y', 0.75, 0.75),
  ]);
  assert.equal(s.pairs, 3);
  assert.deepEqual(s.perTarget, { y: 37.5, z: -25 });
  assert.equal(s.activate, 6.25);
  assert.equal(s.raised, 1);
  assert.deepEqual(s.zeroPerLang, { x: -50, y: 0 });
  assert.equal(s.zeroOwn, -25);
});

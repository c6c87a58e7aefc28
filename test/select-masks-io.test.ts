import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LapeError } from '../src/errors.js';
import { writeSafetensors } from '../src/checkpoint/safetensors.js';
import type { NeuronMasks } from '../src/select/types.js';
import { checkMasksFit, intersectionMatrix, languageTotals, layerCounts, overlapMatrix, uniqueNeuronCount, validateMasks } from '../src/select/masks.js';
import {
  loadMasks,
  loadMasksJson,
  loadMasksSafetensors,
  masksToJson,
  saveMasks,
} from '../src/select/masks-io.js';

const sample = (): NeuronMasks => ({
  method: 'lape',
  languages: ['en', 'zh', 'ja', 'sw'],
  layers: 3,
  neurons: 10,
  settings: { topRate: 0.01, filterBar: 0.123456789012345, note: 'x', flag: true, aaa: 1 },
  masks: [
    [[0, 4, 9], [], [2]],
    [[4], [1, 2, 3], [2, 7]],
    [[4, 9], [3], [7]],
    [[], [], []],
  ],
});

function withTmp(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'lape-masks-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const failsWith = (file: string, re: RegExp) => (e: unknown): boolean =>
  e instanceof LapeError && e.file === file && re.test(e.message);

test('JSON round trip; stable key order, one line per layer', () => {
  withTmp((dir) => {
    const m = sample();
    const p = join(dir, 'm.json');
    saveMasks(p, m);
    const back = loadMasks(p);
    assert.deepEqual(back, { ...m, settings: back.settings });
    assert.deepEqual(back.settings, m.settings);
    const text = readFileSync(p, 'utf8');
    assert.equal(text, masksToJson(m));
    const lines = text.split('\n');
    assert.equal(lines[1], '  "format": "lape-masks",');
    assert.ok(lines.includes('      [0,4,9],'));
    assert.ok(lines.includes('    "sw": ['));
    // settings keys sorted
    const keys = [...text.matchAll(/^ {4}"(\w+)": (?!\[)/gm)].map((x) => x[1]);
    assert.deepEqual(keys, ['aaa', 'filterBar', 'flag', 'note', 'topRate']);
    // same masks, settings in another insertion order → identical bytes
    const m2 = sample();
    m2.settings = { aaa: 1, topRate: 0.01, note: 'x', flag: true, filterBar: 0.123456789012345 };
    assert.equal(masksToJson(m2), text);
  });
});

test('safetensors round trip (CSR per language), readable layout', () => {
  withTmp((dir) => {
    const m = sample();
    const p = join(dir, 'm.safetensors');
    saveMasks(p, m);
    const back = loadMasksSafetensors(p);
    assert.deepEqual(back.masks, m.masks);
    assert.deepEqual(back.languages, m.languages);
    assert.equal(back.layers, 3);
    assert.equal(back.neurons, 10);
    assert.equal(back.method, 'lape');
    assert.deepEqual(back.settings, m.settings);
    assert.deepEqual(loadMasks(p), back);
  });
});

test('saveMasks needs a known format; loadMasks sniffs unknown extensions', () => {
  withTmp((dir) => {
    assert.throws(() => saveMasks(join(dir, 'm.txt'), sample()), (e: unknown) => e instanceof LapeError && /cannot tell the masks format/.test(e.message));
    saveMasks(join(dir, 'a.dat'), sample(), 'json');
    saveMasks(join(dir, 'b.dat'), sample(), 'safetensors');
    assert.deepEqual(loadMasks(join(dir, 'a.dat')).masks, sample().masks);
    assert.deepEqual(loadMasks(join(dir, 'b.dat')).masks, sample().masks);
  });
});

test('bad JSON masks files are rejected with the file named', () => {
  withTmp((dir) => {
    const p = join(dir, 'bad.json');
    const write = (o: unknown): void => writeFileSync(p, typeof o === 'string' ? o : JSON.stringify(o));
    const good = JSON.parse(masksToJson(sample()));
    write('{not json');
    assert.throws(() => loadMasksJson(p), failsWith(p, /not valid JSON/));
    write({ ...good, format: 'other' });
    assert.throws(() => loadMasksJson(p), failsWith(p, /not a lape masks file/));
    write({ ...good, version: 2 });
    assert.throws(() => loadMasksJson(p), failsWith(p, /version 2/));
    write({ ...good, masks: { ...good.masks, en: [[4, 0], [], [2]] } });
    assert.throws(() => loadMasksJson(p), failsWith(p, /language "en" layer 0.*strictly ascending/));
    write({ ...good, masks: { ...good.masks, en: [[0, 0], [], [2]] } });
    assert.throws(() => loadMasksJson(p), failsWith(p, /duplicate/));
    write({ ...good, masks: { ...good.masks, zh: [[10], [], []] } });
    assert.throws(() => loadMasksJson(p), failsWith(p, /"zh" layer 0.*10 is not an integer in \[0, 10\)/));
    write({ ...good, masks: { ...good.masks, zh: [[1.5], [], []] } });
    assert.throws(() => loadMasksJson(p), failsWith(p, /1.5/));
    write({ ...good, masks: { ...good.masks, ja: [[], []] } });
    assert.throws(() => loadMasksJson(p), failsWith(p, /"ja" has 2 layers, expected 3/));
    write({ ...good, languages: ['en', 'zh', 'ja', 'sw', 'en'] });
    assert.throws(() => loadMasksJson(p), failsWith(p, /"en" appears twice/));
    const { sw: _sw, ...noSw } = good.masks;
    write({ ...good, masks: noSw });
    assert.throws(() => loadMasksJson(p), failsWith(p, /no entry for language "sw"/));
    write({ ...good, masks: { ...good.masks, xx: [[], [], []] } });
    assert.throws(() => loadMasksJson(p), failsWith(p, /"xx", which is not in "languages"/));
    write({ ...good, layers: 0 });
    assert.throws(() => loadMasksJson(p), failsWith(p, /layer count/));
    write({ ...good, settings: { a: [1] } });
    assert.throws(() => loadMasksJson(p), failsWith(p, /setting "a"/));
    assert.throws(() => loadMasksJson(join(dir, 'missing.json')), failsWith(join(dir, 'missing.json'), /does not exist/));
  });
});

test('bad safetensors masks files are rejected with the file named', () => {
  withTmp((dir) => {
    const p = join(dir, 'bad.safetensors');
    const md = {
      format: 'lape-masks', version: '1', method: 'lape', languages: '["en"]', layers: '2', neurons: '5', settings: '{}',
    };
    const offsets = (a: number[]) => ({ dtype: 'I32' as const, shape: [a.length], data: Int32Array.from(a) });
    writeSafetensors(p, { 'indices.en': offsets([1, 3, 0]), 'offsets.en': offsets([0, 2, 3]) }, md);
    assert.deepEqual(loadMasks(p).masks, [[[1, 3], [0]]]);
    writeSafetensors(p, { 'indices.en': offsets([3, 1, 0]), 'offsets.en': offsets([0, 2, 3]) }, md);
    assert.throws(() => loadMasks(p), failsWith(p, /layer 0.*strictly ascending/));
    writeSafetensors(p, { 'indices.en': offsets([1, 5, 0]), 'offsets.en': offsets([0, 2, 3]) }, md);
    assert.throws(() => loadMasks(p), failsWith(p, /5 is not an integer in \[0, 5\)/));
    writeSafetensors(p, { 'indices.en': offsets([1, 3, 0]), 'offsets.en': offsets([0, 2]) }, md);
    assert.throws(() => loadMasks(p), failsWith(p, /offsets.en.*shape/));
    writeSafetensors(p, { 'indices.en': offsets([1, 3, 0]), 'offsets.en': offsets([0, 2, 4]) }, md);
    assert.throws(() => loadMasks(p), failsWith(p, /must run from 0 to 3/));
    writeSafetensors(p, { 'indices.en': offsets([1, 3, 0]), 'offsets.en': offsets([0, 2, 3]) }, { ...md, languages: '["en","zh"]' });
    assert.throws(() => loadMasks(p), failsWith(p, /"indices.zh" is missing|offsets.zh/));
    writeSafetensors(p, { 'indices.en': offsets([1, 3, 0]), 'offsets.en': offsets([0, 2, 3]), extra: offsets([1]) }, md);
    assert.throws(() => loadMasks(p), failsWith(p, /unexpected tensor "extra"/));
    writeSafetensors(p, { 'indices.en': offsets([1, 3, 0]), 'offsets.en': offsets([0, 2, 3]) }, { ...md, format: 'stats' });
    assert.throws(() => loadMasks(p), failsWith(p, /not a lape masks file/));
    writeSafetensors(p, { 'indices.en': offsets([1, 3, 0]), 'offsets.en': offsets([0, 2, 3]) }, { ...md, languages: '["en"' });
    assert.throws(() => loadMasks(p), failsWith(p, /"languages"/));
    writeFileSync(p, Buffer.from([1, 2, 3]));
    assert.throws(() => loadMasks(p), failsWith(p, /too short/));
  });
});

test('validateMasks rejects non-finite settings; masksToJson validates', () => {
  const m = sample();
  m.settings.bad = Infinity;
  assert.throws(() => masksToJson(m), /setting "bad"/);
  assert.throws(() => validateMasks({ ...sample(), languages: [] }, 'f'), failsWith('f', /no languages/));
});

test('checkMasksFit: masks for a model with another shape', () => {
  const m = sample();
  assert.doesNotThrow(() => checkMasksFit(m, 3, 10, 'm.json'));
  assert.throws(() => checkMasksFit(m, 32, 11008, 'm.json'), failsWith('m.json', /3 layers × 10 FFN neurons.*32 layers × 11008/));
  assert.throws(() => checkMasksFit(m, 3, 11, 'm.json'), LapeError);
});

test('layer counts, totals, unique neurons, overlap |A∩B|/|A|', () => {
  const m = sample();
  assert.deepEqual(layerCounts(m), [[3, 0, 1], [1, 3, 2], [2, 1, 1], [0, 0, 0]]);
  assert.deepEqual(languageTotals(m), [4, 6, 4, 0]);
  // layer 0: {0,4,9}; layer 1: {1,2,3}; layer 2: {2,7} → 8
  assert.equal(uniqueNeuronCount(m), 8);
  const inter = intersectionMatrix(m);
  assert.deepEqual(inter[0], [4, 2, 2, 0]); // en∩zh: (0,4),(2,2); en∩ja: (0,4),(0,9)
  assert.deepEqual(inter[1], [2, 6, 3, 0]); // zh∩ja: (0,4),(1,3),(2,7)
  const ov = overlapMatrix(m);
  assert.equal(ov[0]![1], 2 / 4);
  assert.equal(ov[1]![0], 2 / 6);
  assert.equal(ov[2]![1], inter[2]![1]! / 4);
  assert.ok(Number.isNaN(ov[3]![0]));
  assert.equal(ov[0]![3], 0);
  for (let a = 0; a < 3; a++) assert.equal(ov[a]![a], 1);
});

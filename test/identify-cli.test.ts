/**
 * The selection commands end to end: record → identify (lape, lap, lave, rs, pv) → layers /
 * overlap; import-tang; usage errors.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadMasks } from '../src/select/masks-io.js';
import { layerCounts } from '../src/select/masks.js';
import { readSafetensorsHeader } from '../src/checkpoint/safetensors.js';
import { repoPath } from './helpers/paths.js';
import { runCli } from './helpers/cli.js';
import { copyToTemp, tempDir } from './helpers/tmp.js';

const MODEL = repoPath('test/fixtures/llama-gqa');
const dir = tempDir();

before(() => {
  for (const lang of ['en', 'fr', 'zh']) {
    const r = runCli(['record', '--model', MODEL, '--lang', lang, '--corpus', repoPath(`data/corpus/${lang}.valid.txt`), '--seq-len', '64', '--tokens', '4096', '--threads', '1', '--quiet', '--out', join(dir, 'stats', `${lang}.safetensors`)]);
    assert.equal(r.code, 0, r.stderr);
  }
});

test('identify writes JSON and safetensors masks for every method; rs keeps LAPE sizes', () => {
  const sizes: Record<string, number[][]> = {};
  for (const method of ['lape', 'lap', 'lave', 'rs']) {
    const out = join(dir, `masks.${method}.json`);
    // --threshold applies only to lap, --top-rate only to the others (an inapplicable option is an error).
    const knob = method === 'lap' ? ['--threshold', '0.5'] : ['--top-rate', '0.05'];
    const r = runCli(['identify', '--stats', join(dir, 'stats'), '--method', method, ...knob, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.deepEqual(summary.languages, ['en', 'fr', 'zh']);
    const m = loadMasks(out);
    assert.equal(m.method, method);
    assert.deepEqual(loadMasks(out.replace(/\.json$/, '.safetensors')).masks, m.masks);
    sizes[method] = layerCounts(m);
  }
  assert.deepEqual(sizes.rs, sizes.lape);
  const total = sizes.lape!.flat().reduce((a, b) => a + b, 0);
  assert.ok(total > 0, 'LAPE selected something');
});

test('layers and overlap print tables and write CSV', () => {
  const masks = join(dir, 'masks.lape.json');
  const l = runCli(['layers', masks, '--out', join(dir, 'layers.csv')]);
  assert.equal(l.code, 0, l.stderr);
  assert.match(l.stdout, /\| layer \| en \| fr \| zh \| total \|/);
  const csv = readFileSync(join(dir, 'layers.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'layer,en,fr,zh,total');
  assert.equal(csv.length, 1 + 2);
  const o = runCli(['overlap', masks, '--out', join(dir, 'overlap.csv'), '--json']);
  assert.equal(o.code, 0, o.stderr);
  const j = JSON.parse(o.stdout);
  assert.equal(j.overlap.length, 3);
  j.overlap.forEach((row: number[], a: number) => assert.ok(row[a] === 1 || Number.isNaN(row[a]) || row[a] === null));
});

test('import-tang reproduces the released LLaMA-2-7B totals', () => {
  const out = join(dir, 'tang.json');
  const r = runCli(['import-tang', repoPath('test/fixtures/tang2024/LLaMA-2-7B.neuron.pth'), '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.unique, 3523);
  assert.deepEqual(s.totals, [95, 583, 1022, 838, 836, 1068, 582]);
  assert.ok(existsSync(out.replace(/\.json$/, '.safetensors')));
  // It says so, and refreshes the folder's report like identify.
  const said = runCli(['import-tang', repoPath('test/fixtures/tang2024/LLaMA-2-7B.neuron.pth'), '--out', join(dir, 'tang', 'masks.json')]);
  assert.equal(said.code, 0, said.stderr);
  assert.match(said.stdout, /wrote .*tang\/masks\.json and .*tang\/masks\.safetensors/);
  assert.ok(existsSync(join(dir, 'tang', 'report.html')));
});

test('pv finds the neurons whose parameters a fine-tune changed', () => {
  // Two "fine-tunes": en changes neuron 5 of layer 0, fr changes neuron 17 of layer 1.
  const tuned = (layer: number, neuron: number): string => {
    const d = copyToTemp(MODEL);
    const path = join(d, 'model.safetensors');
    const buf = readFileSync(path);
    const h = readSafetensorsHeader(path);
    const w = h.tensors.get(`model.layers.${layer}.mlp.gate_proj.weight`)!;
    const cols = w.shape[1]!;
    for (let c = 0; c < cols; c++) {
      const off = w.fileOffset + (neuron * cols + c) * 4;
      buf.writeFloatLE(buf.readFloatLE(off) + 0.05, off);
    }
    writeFileSync(path, buf);
    return d;
  };
  const out = join(dir, 'masks.pv.json');
  const r = runCli(['identify', '--method', 'pv', '--base', MODEL, '--tuned', `en=${tuned(0, 5)}`, '--tuned', `fr=${tuned(1, 17)}`, '--top-rate', '0.01', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const m = loadMasks(out);
  assert.deepEqual(m.masks, [[[5], []], [[], [17]]]);
});

test('bad usage and bad statistics', () => {
  const stats = join(dir, 'stats');
  const bad = runCli(['identify', '--stats', stats, '--top-rate', '0', '--out', join(dir, 'x.json')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--top-rate: top rate must be a number in \(0, 1\]/);
  assert.equal(runCli(['identify', '--stats', stats, '--method', 'magic', '--out', join(dir, 'x.json')]).code, 2);
  const one = runCli(['identify', '--stats', join(stats, 'en.safetensors'), '--out', join(dir, 'x.json')]);
  assert.equal(one.code, 1);
  assert.match(one.stderr, /at least two languages/);
  const notStats = runCli(['identify', '--stats', `${join(dir, 'masks.lape.safetensors')},${join(stats, 'en.safetensors')}`, '--out', join(dir, 'x.json')]);
  assert.equal(notStats.code, 1);
  assert.match(notStats.stderr, /masks\.lape\.safetensors: not a lape statistics file/);
  assert.ok(!existsSync(join(dir, 'x.json')));
});

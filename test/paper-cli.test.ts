/**
 * The CLI of the paper's figures on the random-weight fixture test/fixtures/llama-gqa (2 layers):
 * `ppl --compare` (Fig. 2: one ppl.NAME.json per masks file, one shared baseline), `--layers`
 * (file suffix, rows restricted), `--random-seeds`, a held-out language as a column, and the
 * usage errors of these options (exit 2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { saveMasksJson } from '../src/select/masks-io.js';
import type { NeuronMasks } from '../src/select/types.js';
import { runCli } from './helpers/cli.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';

const LLAMA = repoPath('test/fixtures/llama-gqa');
const CORPUS = repoPath('data/corpus');

function masks(method: string, shift: number): NeuronMasks {
  return {
    method,
    languages: ['zh', 'en'], // not the evaluation order on purpose
    layers: 2,
    neurons: 96,
    settings: {},
    masks: [
      [[1, 2, 3 + shift], [4, 5]],
      [[10, 11 + shift], [12, 13, 14]],
    ],
  };
}

test('ppl --compare, --layers, --random-seeds, a held-out column; usage errors exit 2', () => {
  const dir = tempDir();
  const out = join(dir, 'out');
  saveMasksJson(join(dir, 'masks.json'), masks('lape', 0));
  saveMasksJson(join(dir, 'masks.lave.json'), masks('lave', 20));
  saveMasksJson(join(dir, 'masks.rs.json'), masks('rs', 40));
  const base = ['ppl', '--model', LLAMA, '--eval-dir', CORPUS, '--langs', 'en,zh,fr', '--seq-len', '48', '--max-chunks', '1', '--threads', '1', '--out', out];
  const r = runCli([...base, '--masks', join(dir, 'masks.json'), '--compare', `${join(dir, 'masks.lave.json')},${join(dir, 'masks.rs.json')}`, '--random-control', '--random-seeds', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /fr has no neurons in .*masks\.json: evaluated as column without a row/);
  assert.match(r.stdout, /PPL change in % of the unmodified PPL/);
  const files = readdirSync(out).sort();
  for (const f of ['ppl.json', 'ppl.csv', 'ppl.lave.json', 'ppl.lave.csv', 'ppl.rs.json', 'report.html']) assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
  const main = JSON.parse(readFileSync(join(out, 'ppl.json'), 'utf8'));
  const lave = JSON.parse(readFileSync(join(out, 'ppl.lave.json'), 'utf8'));
  assert.deepEqual(main.rows.map((x: { id: string }) => x.id), ['none', 'en', 'zh', 'random:en', 'random:zh'], 'rows in the evaluation order');
  assert.deepEqual(main.columnsOnly, ['fr']);
  assert.deepEqual(main.rows[3].seeds, [0, 1]);
  assert.ok(main.rows[3].interval, 'two seeds give an interval');
  assert.deepEqual(lave.rows.map((x: { id: string }) => x.id), ['none', 'en', 'zh'], 'compared masks: no random rows');
  assert.deepEqual(lave.rows[0].ppl, main.rows[0].ppl, 'one baseline for all');
  assert.equal(lave.masks.method, 'lave');
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(html, /<section id="methods"/);

  const l = runCli([...base, '--masks', join(dir, 'masks.json'), '--layers', 'top:1', '--measure', 'absolute']);
  assert.equal(l.code, 0, l.stderr);
  assert.match(l.stdout, /only layers 1 deactivated/);
  assert.match(l.stdout, /PPL change \(PPL − PPL without deactivation; absolute\)/);
  const top = JSON.parse(readFileSync(join(out, 'ppl.layers-top1.json'), 'utf8'));
  assert.deepEqual(top.settings.layers, [1]);
  assert.equal(top.settings.layerSpec, 'top:1');
  assert.deepEqual(top.rows.find((x: { id: string }) => x.id === 'en').neuronsPerLayer, [0, 3]);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /<section id="ppl-layers"/);

  const usage = (args: string[], re: RegExp): void => {
    const u = runCli(args);
    assert.equal(u.code, 2, `${args.join(' ')}: ${u.stderr}`);
    assert.match(u.stderr, re);
  };
  const m = ['--masks', join(dir, 'masks.json')];
  usage([...base, ...m, '--layers', '5'], /--layers: layer 5 does not exist \(the model has layers 0-1\)/);
  usage([...base, ...m, '--layers', 'top:3'], /--layers top:3: the model has 2 layers/);
  usage([...base, ...m, '--layers', 'top:0'], /--layers .*K ≥ 1/);
  usage([...base, ...m, '--layers', '1-0'], /runs backwards/);
  usage([...base, ...m, '--random-seeds', '3'], /--random-seeds applies only with --random-control/);
  usage([...base, ...m, '--compare', join(dir, 'masks.lave.json'), '--compare', join(dir, 'masks.lave.json')], /two masks files get the name "lave"/);
  usage([...base, ...m, '--measure', 'log'], /--measure must be one of relative, absolute/);
  usage(['generate', '--model', LLAMA, '--prompt', 'x', '--layers', 'bottom:1'], /--layers applies only with --activate or --deactivate/);
  usage(['steer-eval', '--model', LLAMA, '--masks', 'm.json', '--stats', 's', '--prompts', 'p.txt', '--combined', '--deactivate-source'], /--combined.*--deactivate-source|--deactivate-source.*--combined/);
});

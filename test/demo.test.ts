/**
 * `lape demo` end to end on the embedded model and corpus, with smaller settings than the
 * default (fewer tokens and chunks) so CI stays quick; then the demo's report.html in headless
 * Chromium. The output folder is kept for inspection: dist/test-output/demo/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath } from './helpers/paths.js';
import { runCli } from './helpers/cli.js';
import { checkReportInBrowser, SKIP_WITHOUT_CHROMIUM } from './helpers/browser.js';

const OUT = repoPath('dist/test-output/demo');

test('lape demo runs the whole chain and its report renders', { timeout: 600_000 }, async (t) => {
  rmSync(OUT, { recursive: true, force: true });
  const r = runCli(['demo', '--out', OUT, '--tokens', '16384', '--eval-chunks', '4', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Perplexity when a language's own neurons are zeroed/);
  for (const l of ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja']) assert.match(r.stdout, new RegExp(`\\n  ${l}: [\\d.]+ → [\\d.]+ \\(×`));
  const reportLine = /Report: (.+report\.html)/.exec(r.stdout);
  assert.ok(reportLine, 'prints the report path');
  assert.equal(reportLine[1], join(OUT, 'report.html'));

  for (const f of ['run.json', 'masks.json', 'masks.safetensors', 'layers.csv', 'overlap.csv', 'ppl.json', 'ppl.csv', 'sweep.json', 'ses.json', 'dominance.json', 'steering.json', 'generations.jsonl', 'report.html']) {
    assert.ok(existsSync(join(OUT, f)), `${f} written`);
  }
  for (const l of ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja']) assert.ok(existsSync(join(OUT, 'stats', `${l}.safetensors`)));
  const run = JSON.parse(readFileSync(join(OUT, 'run.json'), 'utf8'));
  assert.equal(run.model.architecture, 'LlamaForCausalLM');
  const names = run.stages.map((s: { name: string }) => s.name);
  for (const n of ['record en', 'identify', 'ppl', 'ses', 'dominance', 'steer-eval', 'report']) assert.ok(names.includes(n), `stage ${n}`);
  const ppl = JSON.parse(readFileSync(join(OUT, 'ppl.json'), 'utf8'));
  assert.equal(ppl.evalLanguages.length, 7);
  assert.ok(ppl.rows.some((row: { id: string }) => row.id === 'random:zh'), 'random control rows');
  const ses = JSON.parse(readFileSync(join(OUT, 'ses.json'), 'utf8'));
  assert.equal(ses.languages.length, 7, 'SES over all seven languages');

  await t.test('report.html in headless Chromium', { skip: SKIP_WITHOUT_CHROMIUM }, async () => {
    const sections = ['summary', 'ppl', 'layers', 'overlap', 'sweep', 'ses', 'steering', 'lape'];
    const html = readFileSync(join(OUT, 'report.html'), 'utf8');
    for (const s of sections) assert.match(html, new RegExp(`<section id="${s}"`), `section ${s}`);
    await checkReportInBrowser(join(OUT, 'report.html'), sections);
  });
});

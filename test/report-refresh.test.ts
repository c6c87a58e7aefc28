/** Commands that write results into a folder rebuild its report.html; --no-report opts out. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath } from './helpers/paths.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const MODEL = repoPath('test/fixtures/llama-gqa');

test('identify and ppl refresh report.html in their output folder; --no-report skips it', () => {
  const dir = tempDir();
  for (const lang of ['en', 'fr']) {
    const r = runCli(['record', '--model', MODEL, '--lang', lang, '--corpus', repoPath(`data/corpus/${lang}.valid.txt`), '--seq-len', '64', '--tokens', '2048', '--threads', '1', '--quiet', '--out', join(dir, 'stats', `${lang}.safetensors`)]);
    assert.equal(r.code, 0, r.stderr);
  }
  const quiet = join(dir, 'quiet');
  const q = runCli(['identify', '--stats', join(dir, 'stats'), '--top-rate', '0.05', '--out', join(quiet, 'masks.json'), '--no-report']);
  assert.equal(q.code, 0, q.stderr);
  assert.ok(!existsSync(join(quiet, 'report.html')), '--no-report writes no report');

  const id = runCli(['identify', '--stats', join(dir, 'stats'), '--top-rate', '0.05', '--out', join(dir, 'masks.json')]);
  assert.equal(id.code, 0, id.stderr);
  assert.match(id.stdout, /report: .*report\.html/);
  assert.match(readFileSync(join(dir, 'report.html'), 'utf8'), /<section id="layers"/);

  const ppl = runCli(['ppl', '--model', MODEL, '--masks', join(dir, 'masks.json'), '--eval-dir', repoPath('data/corpus'), '--langs', 'en,fr', '--seq-len', '64', '--max-chunks', '2', '--out', dir, '--quiet']);
  assert.equal(ppl.code, 0, ppl.stderr);
  assert.match(readFileSync(join(dir, 'report.html'), 'utf8'), /<section id="ppl"/);
});

/**
 * lape record / merge: bit-identical reruns, byte-identical resume after SIGKILL, shards that
 * merge to the unsharded counts (up to borderline tokens), and refusals of mismatched input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadStats, saveStats } from '../src/stats/stats-file.js';
import { recordLanguage } from '../src/recording/record-language.js';
import { loadModel } from '../src/runtime/model.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { collectChunks } from '../src/corpus/chunks.js';
import { repoPath } from './helpers/paths.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const MODEL = repoPath('test/fixtures/llama-gqa');
const CORPUS = repoPath('data/corpus/fr.train.txt');
const withCorpus = (corpus: string): string[] => ['record', '--model', MODEL, '--lang', 'fr', '--corpus', corpus, '--seq-len', '64', '--batch-size', '4', '--threads', '1', '--quiet'];
const base = withCorpus(CORPUS);

test('the same record command twice gives bit-identical files', () => {
  const dir = tempDir();
  const a = runCli([...base, '--tokens', '8192', '--out', join(dir, 'a.safetensors')]);
  assert.equal(a.code, 0, a.stderr);
  const b = runCli([...base, '--tokens', '8192', '--out', join(dir, 'b.safetensors')]);
  assert.equal(b.code, 0, b.stderr);
  assert.ok(readFileSync(join(dir, 'a.safetensors')).equals(readFileSync(join(dir, 'b.safetensors'))));
  const s = loadStats(join(dir, 'a.safetensors'));
  assert.equal(s.tokens, 8192);
  assert.equal(s.lang, 'fr');
  assert.equal(s.meta.seq_len, '64');
  assert.match(s.meta.corpus_sha256!, /^[0-9a-f]{64}$/);
  // Counts are bounded by the token count and not all zero.
  assert.ok(s.count.every((c) => c >= 0 && c <= 8192));
  assert.ok(s.count.some((c) => c > 0));
});

test('blocks: totals equal an unblocked recording bit for bit; record-langs writes lape record\'s files; --until-stable stops and reruns as a no-op', () => {
  const dir = tempDir();
  const args = [...base, '--tokens', '8192'];
  assert.equal(runCli([...args, '--out', join(dir, 'blocked.safetensors')]).code, 0);
  assert.equal(runCli([...args, '--blocks', '0', '--out', join(dir, 'plain.safetensors')]).code, 0);
  const blocked = loadStats(join(dir, 'blocked.safetensors'), { blocks: true });
  const plain = loadStats(join(dir, 'plain.safetensors'), { blocks: true });
  assert.equal(plain.blocks, undefined);
  assert.equal(plain.meta.blocks_max, undefined, 'without blocks the metadata is what lape wrote before blocks');
  for (const k of ['count', 'sum', 'sumSq'] as const) assert.ok(Buffer.from(blocked[k].buffer).equals(Buffer.from(plain[k].buffer)), `${k} bit for bit`);
  assert.equal(blocked.blocks!.chunks.length, 32, '128 chunks in batches of 4: one block per batch');

  // Several languages round-robin: each file is lape record's (same batches, same job).
  const rr = ['record-langs', '--model', MODEL, '--langs', 'fr,en', '--corpus-dir', repoPath('data/corpus'), '--seq-len', '64', '--batch-size', '4', '--threads', '1', '--quiet'];
  const r = runCli([...rr, '--tokens', '8192', '--out', join(dir, 'rr')]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(readFileSync(join(dir, 'rr', 'fr.safetensors')).equals(readFileSync(join(dir, 'blocked.safetensors'))), 'record-langs fr = record fr');

  const stop = [...rr, '--tokens', '65536', '--until-stable', '0.8', '--top-rate', '0.05', '--out', join(dir, 'stop')];
  const s = runCli(stop.filter((a) => a !== '--quiet'));
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /Jaccard with the selection at \d+ = /);
  assert.match(s.stdout, /stable at \d+ tokens per language|not stable/);
  const fr = loadStats(join(dir, 'stop', 'fr.safetensors'));
  assert.equal(fr.tokens, loadStats(join(dir, 'stop', 'en.safetensors')).tokens, 'both languages end at the same budget');
  assert.match(runCli(stop).stdout, /already complete/);
});

test('a run killed with SIGKILL resumes to a byte-identical file', async () => {
  const dir = tempDir();
  const full = join(dir, 'full.safetensors');
  const args = [...base, '--tokens', '120000'];
  assert.equal(runCli([...args, '--out', full]).code, 0);

  const out = join(dir, 'killed.safetensors');
  const child = spawn(process.execPath, [repoPath('dist/src/cli/main.js'), ...args, '--out', out], { stdio: 'ignore' });
  const exited = new Promise((r) => child.on('exit', r));
  // Wait until resume state exists, then kill mid-run.
  const t0 = Date.now();
  while (!existsSync(`${out}.partial`) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 5));
  assert.ok(existsSync(`${out}.partial`), 'resume state appeared');
  child.kill('SIGKILL');
  await exited;
  assert.ok(!existsSync(out), 'no final file after the kill');

  const resumed = runCli([...args, '--out', out]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /resumed after \d+ chunks/);
  assert.ok(readFileSync(out).equals(readFileSync(full)), 'resumed file is byte-identical');
  // Blocks included: 1875 chunks in batches of 4 went through several pair merges.
  const blocks = loadStats(out, { blocks: true }).blocks!;
  assert.ok(blocks.chunks.length >= 32 && blocks.chunks.length <= 64, `${blocks.chunks.length} blocks`);
  assert.ok(!existsSync(`${out}.partial`), 'resume state removed');
  // Running again is a no-op.
  const again = runCli([...args, '--out', out]);
  assert.match(again.stdout, /already complete/);
});

test('library resume after an interruption equals an uninterrupted run', async () => {
  const dir = tempDir();
  const model = loadModel(MODEL, { threads: 1 });
  const tok = loadTokenizer(MODEL);
  const opts = { lang: 'fr', files: [CORPUS], seqLen: 32, maxTokens: 32 * 40, batchSize: 3, checkpointEvery: 2 };
  try {
    await recordLanguage(model, tok, { ...opts, out: join(dir, 'u.safetensors') });
    await assert.rejects(recordLanguage(model, tok, { ...opts, out: join(dir, 'r.safetensors'), stopAfterBatches: 5 }), /stopped after 5 batches/);
    const r = await recordLanguage(model, tok, { ...opts, out: join(dir, 'r.safetensors') });
    assert.equal(r.resumedFromChunks, 15);
    assert.ok(readFileSync(join(dir, 'r.safetensors')).equals(readFileSync(join(dir, 'u.safetensors'))));
  } finally {
    await model.release();
  }
});

test('shards merge to the unsharded statistics (counts up to borderline tokens)', async () => {
  const dir = tempDir();
  const common = [...base, '--tokens', '6400'];
  assert.equal(runCli([...common, '--out', join(dir, 'all.safetensors')]).code, 0);
  // Shards with another batch size (an option takes one value, once: replace it rather than repeat it).
  const sharded = [...common];
  sharded[sharded.indexOf('--batch-size') + 1] = '3';
  for (const s of ['0/3', '1/3', '2/3']) {
    const r = runCli([...sharded, '--shard', s, '--out', join(dir, `s${s[0]}.safetensors`)]);
    assert.equal(r.code, 0, r.stderr);
  }
  const m = runCli(['merge', join(dir, 's2.safetensors'), join(dir, 's0.safetensors'), join(dir, 's1.safetensors'), '--out', join(dir, 'merged.safetensors')]);
  assert.equal(m.code, 0, m.stderr);
  const all = loadStats(join(dir, 'all.safetensors'));
  const merged = loadStats(join(dir, 'merged.safetensors'), { blocks: true });
  assert.equal(merged.tokens, all.tokens);
  assert.ok(merged.blocks && merged.blocks.chunks.length <= 64, 'merge keeps the blocks (loading checked they add up)');

  // Borderline tokens per neuron (|hook_pre| < 1e-4) over the same chunks bound the count differences.
  const model = loadModel(MODEL, { threads: 1 });
  const tok = loadTokenizer(MODEL);
  const chunks = await collectChunks(tok, [CORPUS], { seqLen: 64, maxChunks: 100 });
  const { numLayers: L, intermediateSize: I } = model.spec;
  const border = new Float64Array(L * I);
  const hooks = Array.from({ length: L }, (_, i) => `blocks.${i}.mlp.hook_pre`);
  for (const c of chunks) {
    const r = await model.run({ ids: [c] }, { fullHooks: hooks });
    for (let i = 0; i < L; i++) {
      const pre = r.hooks[hooks[i]!]!;
      for (let k = 0; k < pre.length; k++) if (Math.abs(pre[k]!) < 1e-4) border[i * I + (k % I)]! += 1;
    }
  }
  await model.release();
  for (let k = 0; k < L * I; k++) {
    assert.ok(Math.abs(merged.count[k]! - all.count[k]!) <= border[k]!, `neuron ${k}: ${merged.count[k]} vs ${all.count[k]}`);
    assert.ok(Math.abs(merged.sum[k]! - all.sum[k]!) <= 1e-5 * Math.sqrt(all.tokens * all.sumSq[k]!) + 1e-6);
  }
});

test('merge refuses mismatched files; record refuses bad input without writing', () => {
  const dir = tempDir();
  const a = join(dir, 'a.safetensors');
  assert.equal(runCli([...base, '--tokens', '640', '--out', a]).code, 0);
  const s = loadStats(a);
  saveStats(join(dir, 'zh.safetensors'), { ...s, lang: 'zh', meta: { ...s.meta, lang: 'zh', shard: '1/2' } });
  saveStats(join(dir, 'len.safetensors'), { ...s, meta: { ...s.meta, seq_len: '128', shard: '1/2' } });
  saveStats(join(dir, 'model.safetensors'), { ...s, meta: { ...s.meta, model_config_sha256: 'x', shard: '1/2' } });
  for (const [f, what] of [['zh', 'lang'], ['len', 'seq_len'], ['model', 'model_config_sha256']] as const) {
    const r = runCli(['merge', a, join(dir, `${f}.safetensors`), '--out', join(dir, 'm.safetensors')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${f}\\.safetensors: cannot merge: ${what} differs`));
  }
  const dup = runCli(['merge', a, a, '--out', join(dir, 'm.safetensors')]);
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /counted twice/);

  const short = join(dir, 'short.txt');
  writeFileSync(short, 'trop court\n');
  const r = runCli([...withCorpus(short), '--out', join(dir, 'short.safetensors')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /short\.txt: corpus too short for one chunk of 64 tokens/);
  const missing = runCli([...withCorpus(join(dir, 'nope.txt')), '--out', join(dir, 'x.safetensors')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope\.txt: corpus file does not exist/);
  assert.equal(runCli([...base, '--seq-len', '0', '--out', join(dir, 'y.safetensors')]).code, 2);
  assert.equal(runCli([...base, '--shard', '3/3', '--out', join(dir, 'y.safetensors')]).code, 2);
  const leftovers = readdirSync(dir).filter((f) => !['a.safetensors', 'zh.safetensors', 'len.safetensors', 'model.safetensors', 'short.txt'].includes(f));
  assert.deepEqual(leftovers, [], 'no partial or temporary files');
});

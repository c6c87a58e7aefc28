/**
 * The data-safety cases of the hostile-input review: outputs that would overwrite inputs, twins,
 * checkpoints, results of another format, concurrent writers, partial multi-file writes, and
 * inputs accepted as "the same" when they are not. Each data-loss case asserts the input's bytes
 * are unchanged and the exit code is non-zero.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { LapeError } from '../src/errors.js';
import { openCheckpoint } from '../src/checkpoint/checkpoint.js';
import { readLines, readTextFile, MAX_LINE_CHARS } from '../src/corpus/text-files.js';
import { loadStats, saveStats } from '../src/stats/stats-file.js';
import { mergeStats, shardsOverlap } from '../src/stats/merge.js';
import { saveMasks } from '../src/select/masks-io.js';
import { importTangMasksFromBytes } from '../src/select/tang-import.js';
import { ZipArchive } from '../src/select/zip.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { writeFilesAtomic } from '../src/util/atomic-write.js';
import { acquireLock, staleReason, type LockInfo } from '../src/util/lock.js';
import { lapeSelection } from '../src/select/lape.js';
import { runCli } from './helpers/cli.js';
import { runMain } from './helpers/main.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';
import { snapshot, syntheticStats, writeStats } from './helpers/fixtures-io.js';
import { archive, masksPickle, zipBytes } from './helpers/torch-zip.js';

const MODEL = repoPath('models/tiny-multilingual');
const CORPUS = repoPath('data/corpus');

/** A writable copy of the tiny model (config, tokenizer, weights). */
function modelCopy(dir: string): string {
  const m = join(dir, 'model');
  mkdirSync(m);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) cpSync(join(MODEL, f), join(m, f));
  return m;
}

function refused(r: { code: number; stderr: string }, re: RegExp): void {
  assert.notEqual(r.code, 0, r.stderr);
  assert.match(r.stderr, re);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, 'no stack trace');
}

function masksFixture(dir: string): string {
  const stats = [syntheticStats('en'), syntheticStats('fr', {}, 2, 64, 1024, 2)];
  const masks = lapeSelection(stats, { topRate: 0.05 }).result;
  const p = join(dir, 'm.json');
  saveMasks(p, masks, 'json');
  saveMasks(join(dir, 'm.safetensors'), masks, 'safetensors');
  return p;
}

test('record: --out into the checkpoint or onto the corpus is refused, bytes unchanged', async () => {
  const dir = tempDir();
  const model = modelCopy(dir);
  const corpus = join(dir, 'en.safetensors'); // a corpus named like a result
  writeFileSync(corpus, readFileSync(join(CORPUS, 'en.valid.txt')));
  const before = snapshot(dir);
  const base = ['record', '--model', model, '--lang', 'en', '--corpus', corpus, '--seq-len', '64', '--tokens', '128', '--quiet'];
  refused(await runMain([...base, '--out', corpus]), /an input of this run/);
  refused(await runMain([...base, '--out', join(model, 'model.safetensors')]), /inside the checkpoint folder/);
  refused(await runMain([...base, '--out', join(model, 'stats.safetensors')]), /inside the checkpoint folder/);
  assert.deepEqual(snapshot(dir), before);
});

test('identify: the masks twin may not be an input statistics file; a folder in the twin\'s place is refused before writing', async () => {
  const dir = tempDir();
  const S = join(dir, 'S');
  mkdirSync(S);
  writeStats(join(S, 'en.safetensors'), syntheticStats('en'));
  writeStats(join(S, 'fr.safetensors'), syntheticStats('fr', {}, 2, 64, 1024, 2));
  const before = snapshot(dir);
  refused(await runMain(['identify', '--stats', S, '--out', join(S, 'en.json'), '--top-rate', '0.05']), /inputs? of this run/);
  refused(await runMain(['identify', '--stats', S, '--out', join(S, 'masks.json'), '--top-rate', '0.05']), /inside --stats/);
  refused(await runMain(['identify', '--stats', join(S, 'fr.safetensors'), '--stats', join(S, 'en.safetensors'), '--out', join(dir, 'S', 'fr.json')]), /an input of this run/);
  assert.deepEqual(snapshot(dir), before);
  // masks.safetensors is a folder: masks.json (an earlier result) stays as it was.
  const d = join(dir, 'd');
  mkdirSync(join(d, 'masks.safetensors'), { recursive: true });
  writeFileSync(join(d, 'masks.json'), readFileSync(masksFixture(dir)));
  const d0 = snapshot(d);
  refused(await runMain(['identify', '--stats', S, '--out', join(d, 'masks.json'), '--top-rate', '0.05']), /masks\.safetensors is a folder/);
  assert.deepEqual(snapshot(d), d0);
});

test('layers, overlap, import-tang, generate: outputs onto inputs or files of another format are refused', async () => {
  const dir = tempDir();
  const model = modelCopy(dir);
  const masks = masksFixture(dir);
  const notes = join(dir, 'notes.csv');
  writeFileSync(notes, 'my,own\nnotes,1\n');
  const pth = join(dir, 'X.pth');
  writeFileSync(pth, archive('X', masksPickle([[{ key: '0', numel: 1, offset: 0, size: [1], stride: [1] }]]), { 0: [3] }));
  const prompts = join(dir, 'p.jsonl');
  writeFileSync(prompts, '{"prompt": "The menu"}\n');
  const before = snapshot(dir);
  refused(await runMain(['layers', masks, '--out', masks]), /must end in \.csv/);
  refused(await runMain(['layers', masks, '--out', notes]), /not a lape CSV.*--force/);
  refused(await runMain(['overlap', masks, '--out', notes]), /--force/);
  refused(await runMain(['import-tang', pth, '--out', pth]), /must end in \.json/);
  refused(await runMain(['import-tang', pth, '--out', join(model, 'X.json'), '--langs', 'en']), /inside the checkpoint folder/);
  refused(await runMain(['generate', '--model', model, '--prompts', prompts, '--out', prompts]), /an input of this run/);
  refused(await runMain(['generate', '--model', model, '--prompts', prompts, '--out', join(model, 'config.jsonl')]), /inside the checkpoint folder/);
  assert.deepEqual(snapshot(dir), before);
  // --force replaces a file of another format (never an input).
  const forced = await runMain(['layers', masks, '--out', notes, '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(readFileSync(notes, 'utf8'), /^layer,/);
});

test('demo: a malformed parallel.jsonl fails before any earlier result in --out is replaced', async () => {
  const dir = tempDir();
  const corpus = join(dir, 'corpus');
  mkdirSync(corpus);
  for (const l of ['en', 'fr']) for (const s of ['train', 'valid']) cpSync(join(CORPUS, `${l}.${s}.txt`), join(corpus, `${l}.${s}.txt`));
  writeFileSync(join(corpus, 'parallel.jsonl'), '{"group": 1, "en": "a", "fr": "b"}\nnot json\n');
  const out = join(dir, 'out');
  mkdirSync(join(out, 'stats'), { recursive: true });
  writeStats(join(out, 'stats', 'en.safetensors'), syntheticStats('en'));
  cpSync(masksFixture(dir), join(out, 'masks.json'));
  const before = snapshot(out);
  const r = await runMain(['demo', '--corpus-dir', corpus, '--langs', 'en,fr', '--tokens', '256', '--out', out, '--quiet']);
  refused(r, /parallel\.jsonl: line 2/);
  assert.deepEqual(snapshot(out), before);
});

test('a second writer of the same --out gets a clear error; stale locks of dead processes are replaced', () => {
  const dir = tempDir();
  const out = join(dir, 'en.safetensors');
  const release = acquireLock(`${out}.lock`, 'lape record (test)');
  const base = ['record', '--model', MODEL, '--lang', 'en', '--corpus', join(CORPUS, 'en.valid.txt'), '--seq-len', '64', '--tokens', '128', '--out', out];
  refused(runCli(base), /being written by another lape process .*PID \d+ on/);
  assert.equal(existsSync(out), false);
  release();
  assert.equal(existsSync(`${out}.lock`), false);
  // A lock left by a killed process of this host.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const stale: LockInfo = { format: 'lape-lock', host: hostname(), pid: dead, started: Date.now() - 1000, heartbeat: new Date().toISOString(), command: 'lape record' };
  writeFileSync(`${out}.lock`, JSON.stringify(stale));
  const r = runCli(base);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /replacing a stale lock .*no longer exists/);
  assert.equal(existsSync(`${out}.lock`), false);
  // Another host: stale only without a heartbeat for hours.
  const other: LockInfo = { ...stale, host: 'some-other-node', pid: 1 };
  writeFileSync(`${out}.lock`, JSON.stringify(other));
  assert.equal(staleReason(other, `${out}.lock`), null);
  assert.match(staleReason({ ...other, heartbeat: '2000-01-01T00:00:00Z' }, `${out}.lock`, Date.now() + 7 * 3_600_000) ?? '', /no heartbeat from some-other-node/);
  refused(runCli(base), /remove .*en\.safetensors\.lock/);
});

test('multi-file results: a failure while writing leaves all old files (report CSVs + report.html, masks pair)', () => {
  const dir = tempDir();
  const a = join(dir, 'report-stages.csv');
  const b = join(dir, 'report.html');
  writeFileSync(a, 'old a');
  writeFileSync(b, 'old b');
  const bad = { get byteLength(): number { throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }); } } as unknown as Uint8Array;
  assert.throws(() => writeFilesAtomic([{ path: a, data: 'new a' }, { path: b, data: bad }]), (e: unknown) => e instanceof LapeError && /no space left/.test(e.message));
  assert.equal(readFileSync(a, 'utf8'), 'old a');
  assert.equal(readFileSync(b, 'utf8'), 'old b');
  assert.deepEqual(Object.keys(snapshot(dir)).sort(), ['report-stages.csv', 'report.html'], 'no temporary files left');
  writeFilesAtomic([{ path: a, data: 'new a' }, { path: b, data: 'new b' }]);
  assert.equal(readFileSync(a, 'utf8') + readFileSync(b, 'utf8'), 'new anew b');
});

test('filesystem conditions are plain messages before work starts: file in the way, folder in the way, weights a folder', async () => {
  const dir = tempDir();
  const file = join(dir, 'file');
  writeFileSync(file, 'x');
  const masks = masksFixture(dir);
  refused(await runMain(['ppl', '--model', MODEL, '--masks', masks, '--eval', `en=${join(CORPUS, 'en.valid.txt')}`, '--out', file]), /must be a folder/);
  refused(await runMain(['ppl', '--model', MODEL, '--masks', masks, '--eval', `en=${join(CORPUS, 'en.valid.txt')}`, '--out', join(file, 'sub')]), /is a file, not a folder/);
  refused(await runMain(['layers', masks, '--out', join(file, 'x.csv')]), /is a file, not a folder/);
  const m = modelCopy(dir);
  rmSync(join(m, 'model.safetensors'));
  mkdirSync(join(m, 'model.safetensors'));
  refused(await runMain(['info', m]), /model\.safetensors/);
});

test('corpora: a truncated .gz and a bad byte at the end are errors, never a stream error after the result', async () => {
  const dir = tempDir();
  const text = readFileSync(join(CORPUS, 'en.valid.txt'));
  const gz = gzipSync(text);
  const truncated = join(dir, 'en.txt.gz');
  writeFileSync(truncated, gz.subarray(0, gz.length - 200));
  const badEnd = join(dir, 'bad.txt');
  writeFileSync(badEnd, Buffer.concat([text, Buffer.from([0xc3])]));
  for (const f of [truncated, badEnd]) {
    await assert.rejects(async () => {
      for await (const _ of readLines(f));
    }, (e: unknown) => e instanceof LapeError && e.file === f);
  }
  for (const f of [truncated, badEnd]) {
    const r = await runMain(['record', '--model', MODEL, '--lang', 'en', '--corpus', f, '--seq-len', '64', '--out', join(dir, 'x.safetensors'), '--quiet']);
    refused(r, /cannot read/);
    assert.doesNotMatch(r.stdout, /wrote/);
  }
  // One rule for every text input: prompts in Latin-1 are refused like a corpus would be.
  const latin = join(dir, 'p.txt');
  writeFileSync(latin, Buffer.from('caf\xe9\n', 'latin1'));
  assert.throws(() => readTextFile(latin, 'prompt'), /UTF-8/);
  refused(await runMain(['generate', '--model', MODEL, '--prompts', latin]), /p\.txt: cannot read as UTF-8/);
});

test('a 4 MB single-line corpus is read in pieces of bounded length, fast', async () => {
  const dir = tempDir();
  const f = join(dir, 'long.txt');
  writeFileSync(f, 'word '.repeat(800_000));
  const t0 = Date.now();
  let n = 0;
  let longest = 0;
  for await (const line of readLines(f)) {
    n++;
    longest = Math.max(longest, line.length);
  }
  assert.ok(n > 1 && longest <= MAX_LINE_CHARS, `${n} pieces, longest ${longest}`);
  assert.ok(Date.now() - t0 < 5000);
});

test('merge refuses overlapping or double-counted shards and values that cannot be counts', async () => {
  const dir = tempDir();
  const st = (name: string, meta: Record<string, string>, over: Partial<ReturnType<typeof syntheticStats>> = {}) =>
    ({ file: name, stats: { ...syntheticStats('en', meta), ...over } });
  assert.throws(() => mergeStats([st('a', { shard: '0/2' }), st('b', { shard: '1/3' })]), /overlaps shard/);
  assert.throws(() => mergeStats([st('a', { shard: '0/1' }), st('b', { shard: '0/2' })]), /overlaps shard/);
  const m = mergeStats([st('a', { shard: '0/2' }), st('b', { shard: '1/2' })]);
  assert.throws(() => mergeStats([{ file: 'm', stats: m }, st('c', { shard: '1/2' })]), /counted twice/);
  assert.equal(shardsOverlap({ index: 0, count: 2 }, { index: 1, count: 4 }), false);
  assert.throws(() => mergeStats([st('a', { shard: '0/2' }), st('b', { shard: '1/2' }, { tokens: 0 })]), /no tokens/);
  // Values on disk: NaN, negative, 1e300 are refused when loaded.
  for (const [what, edit] of [
    ['NaN sum', (s: ReturnType<typeof syntheticStats>) => void (s.sum[3] = NaN)],
    ['negative count', (s: ReturnType<typeof syntheticStats>) => void (s.count[3] = -1)],
    ['1e300 sum', (s: ReturnType<typeof syntheticStats>) => void (s.sum[3] = 1e300)],
  ] as const) {
    const s = syntheticStats('en');
    edit(s);
    const p = join(dir, `${what.replace(/ /g, '_')}.safetensors`);
    saveStats(p, s);
    assert.throws(() => loadStats(p), (e: unknown) => e instanceof LapeError && e.file === p, what);
    refused(await runMain(['merge', p, writeStats(join(dir, 'ok.safetensors'), syntheticStats('en', { shard: '1/2' })), '--out', join(dir, 'm.safetensors')]), /cannot come from recording|not a count|impossible/);
  }
});

test('model identity covers weights and tokenizer; old statistics cannot be merged with new ones', () => {
  const dir = tempDir();
  const m = modelCopy(dir);
  const id0 = openCheckpoint(m).identitySha256;
  const cfg0 = openCheckpoint(m).configSha256;
  const w = join(m, 'model.safetensors');
  const bytes = readFileSync(w);
  bytes[bytes.length - 100] ^= 0xff; // inside the last sampled block
  writeFileSync(w, bytes);
  assert.notEqual(openCheckpoint(m).identitySha256, id0, 'changed weights change the identity');
  assert.equal(openCheckpoint(m).configSha256, cfg0);
  const t = join(m, 'tokenizer.json');
  writeFileSync(t, readFileSync(t, 'utf8').replace('"BPE"', '"BPE" '));
  const id1 = openCheckpoint(m).identitySha256;
  assert.notEqual(id1, id0);
  const oldFile = syntheticStats('en', { shard: '0/2' });
  delete oldFile.meta.model_sha256;
  assert.throws(() => mergeStats([{ file: 'new', stats: syntheticStats('en', { shard: '1/2' }) }, { file: 'old', stats: oldFile }]), /older lape .*record it again/);
  const warnings: string[] = [];
  const older = syntheticStats('en', { shard: '1/2' });
  delete older.meta.model_sha256;
  mergeStats([{ file: 'old', stats: oldFile }, { file: 'older', stats: older }], (w) => warnings.push(w));
  assert.match(warnings[0] ?? '', /older lape/);
  assert.throws(() => mergeStats([{ file: 'a', stats: syntheticStats('en', { shard: '0/2' }) }, { file: 'b', stats: syntheticStats('en', { shard: '1/2', model_sha256: 'other' }) }]), /model_sha256 differs/);
});

test('a recording is not "already complete" once the weights changed', async () => {
  const dir = tempDir();
  const m = modelCopy(dir);
  const out = join(dir, 'en.safetensors');
  const args = ['record', '--model', m, '--lang', 'en', '--corpus', join(CORPUS, 'en.valid.txt'), '--seq-len', '64', '--tokens', '128', '--out', out, '--quiet'];
  assert.equal((await runMain(args)).code, 0);
  assert.match((await runMain(args)).stdout, /already complete/);
  const w = join(m, 'model.safetensors');
  const bytes = readFileSync(w);
  bytes[bytes.length - 100] ^= 0x01;
  writeFileSync(w, bytes);
  const r = await runMain(args);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /already complete/);
});

test('import-tang: an index beyond the named model is refused; a zip bomb is refused before inflating', () => {
  const folder = 'Llama-2-7b-hf.whether.default.0.01.0.95.0.95.False';
  const layers = Array.from({ length: 32 }, (_, l) => ({ key: String(l), numel: 1, offset: 0, size: [1], stride: [1] }));
  const storages = Object.fromEntries(layers.map((t, l) => [t.key, [l === 5 ? 99999 : l]]));
  const bytes = archive(folder, masksPickle([layers]), storages);
  assert.throws(() => importTangMasksFromBytes(bytes, 'x.pth', { languages: ['en'] }), /index 99999 does not exist in LLaMA-2-7B \(11008/);
  const bomb = zipBytes([{ name: 'a/data.pkl', data: Buffer.alloc(64 * 2 ** 20), deflate: true }]);
  const t0 = Date.now();
  assert.throws(() => new ZipArchive(bomb, 'bomb.pth'), /zip bomb/);
  assert.ok(Date.now() - t0 < 1000);
});

test('tokenizer.json with an unknown model type is refused; info says a tokenizer.json is unusable rather than missing', async () => {
  const dir = tempDir();
  const m = modelCopy(dir);
  const t = join(m, 'tokenizer.json');
  const j = JSON.parse(readFileSync(t, 'utf8')) as { model: { type: string } };
  j.model.type = 'SentencePieceMagic';
  writeFileSync(t, JSON.stringify(j));
  assert.throws(() => loadTokenizer(m), /model type "SentencePieceMagic" is not supported/);
  writeFileSync(t, '{ not json');
  const r = await runMain(['info', m]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /tokenizer\s+unusable: .*not valid JSON/);
});

test('--threads beyond the usable cores is capped with a warning', async () => {
  const r = await runMain(['generate', '--model', MODEL, '--prompt', 'The', '--max-new-tokens', '1', '--threads', '1000']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /--threads 1000 is more than the \d+ cores/);
});

test('record warns when the corpus is another language; --strict-lang refuses', async () => {
  const dir = tempDir();
  const base = ['record', '--model', MODEL, '--lang', 'en', '--corpus', join(CORPUS, 'zh.valid.txt'), '--seq-len', '64', '--tokens', '128'];
  const warn = await runMain([...base, '--out', join(dir, 'a.safetensors')]);
  assert.equal(warn.code, 0, warn.stderr);
  assert.match(warn.stderr, /does not look like "en".*"zh"/);
  refused(await runMain([...base, '--out', join(dir, 'b.safetensors'), '--strict-lang']), /--strict-lang/);
  assert.equal(existsSync(join(dir, 'b.safetensors')), false);
});

test('config values that cannot be a model (rope_theta: -5) and --out an existing folder are refused before any work', async () => {
  const dir = tempDir();
  const m = modelCopy(dir);
  const c = JSON.parse(readFileSync(join(m, 'config.json'), 'utf8')) as Record<string, unknown>;
  c.rope_theta = -5;
  writeFileSync(join(m, 'config.json'), JSON.stringify(c));
  refused(await runMain(['generate', '--model', m, '--prompt', 'The']), /rope_theta" must be > 0/);
  mkdirSync(join(dir, 'en.safetensors'));
  const t0 = Date.now();
  refused(await runMain(['record', '--model', MODEL, '--lang', 'en', '--corpus', join(CORPUS, 'en.valid.txt'), '--out', join(dir, 'en.safetensors')]), /must be a file/);
  assert.ok(Date.now() - t0 < 2000, 'refused at once, not after recording');
});

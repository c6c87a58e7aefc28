/**
 * lape judge against a real HTTP server on loopback that speaks the OpenAI chat schema
 * (test/helpers/judge-server.ts): ratings parsed from the replies, retries after 429/500,
 * malformed replies and timeouts, the cache (a rerun sends nothing), a permanent error that stops
 * the run, failures that leave the cache for a rerun, resume after a kill, Table 1's rows and
 * columns, the concurrency limit, the API key never printed or written; and the plumbing on the embedded model's own
 * generations (their scores from this fake judge mean nothing).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';
import { runMain } from './helpers/main.js';
import { hashScore, startJudgeServer } from './helpers/judge-server.js';
import { parseScore } from '../src/judge/score.js';

const KEY = 'sk-test-d0n0tl0g-7f3a';
const questions = readFileSync(repoPath('data/questions/questions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; lang: string; prompt: string });

/** A file as lape generate writes it (--prompts questions.jsonl keeps id/lang/category as meta). */
function generateJsonl(path: string, texts: string[], intervention = 'none'): void {
  writeFileSync(path, texts.map((text, i) => {
    const q = questions[i]!;
    return JSON.stringify({ index: i, prompt: q.prompt, text, prompt_tokens: 9, new_tokens: 4, stop_reason: 'length', intervention, meta: { id: q.id, lang: q.lang } });
  }).join('\n') + '\n');
}

const judgeArgs = (url: string, out: string, answers: string[], concurrency = 3): string[] => [
  'judge', '--endpoint', url, '--judge-model', 'fake-judge', '--answers', answers.join(','), '--out', out,
  '--timeout', '0.5', '--backoff', '0.01', '--retries', '3', '--concurrency', String(concurrency), '--no-report',
];

function readJson(path: string): { rows: Array<{ condition: string; mean: Record<string, number | null>; n: Record<string, number>; unparsed: Record<string, number> }>; languages: string[]; requests: number; cached: number } {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function everyFileText(dir: string): string {
  return readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
}

test('judge: score parsing is robust', () => {
  assert.equal(parseScore('Good. Rating: [[7]]'), 7);
  assert.equal(parseScore('first [[3]] then, corrected, [[ 8.5 ]]'), 8.5);
  assert.equal(parseScore('Rating: [[9/10]]'), 9);
  assert.equal(parseScore('Rating: [6]'), 6);
  assert.equal(parseScore('Score: 4/10'), 4);
  assert.equal(parseScore('**Rating:** 5'), 5);
  assert.equal(parseScore('Rating: [[11]]'), null);
  assert.equal(parseScore('Rating: [[0]]'), null);
  assert.equal(parseScore('no rating here'), null);
});

test('judge: retries, malformed replies, timeouts, cache, and the key never shown', async () => {
  const server = await startJudgeServer({ key: KEY, slowMs: 1500 });
  try {
    const dir = tempDir();
    const texts = ['score=7', 'flaky429 answer', 'flaky500 answer', 'malformed answer', 'slow answer', 'noscore answer', 'odd answer'];
    generateJsonl(join(dir, 'gen.jsonl'), texts);
    const out = join(dir, 'out');
    process.env.LAPE_TEST_JUDGE_KEY = KEY;
    const args = [...judgeArgs(server.url, out, [join(dir, 'gen.jsonl')]), '--api-key-env', 'LAPE_TEST_JUDGE_KEY'];
    const r = await runMain(args);
    assert.equal(r.code, 0, r.stderr);
    const count = (t: string): number => server.requests.get(t) ?? 0;
    assert.deepEqual(texts.map(count), [1, 2, 3, 3, 2, 1, 1]);
    assert.match(r.stderr, /retry 1 in .*HTTP 429/);
    assert.match(r.stderr, /retry 2 in .*HTTP 500/);
    assert.match(r.stderr, /not JSON/);
    assert.match(r.stderr, /no reply within 0.5 s/);
    const j = readJson(join(out, 'judge.json'));
    assert.deepEqual(j.rows.map((x) => x.condition), ['normal']);
    const row = j.rows[0]!;
    // en-1 … ja-1: 7, then flaky429 (zh-1) … are rated by the hash rule, noscore (vi-2) unparsed, odd (id-1) 8.
    const langs = questions.slice(0, texts.length).map((q) => q.lang);
    const expected = texts.map((t) => (t === 'noscore answer' ? null : t === 'odd answer' ? 8 : t.startsWith('score=') ? 7 : hashScore(t)));
    for (const l of new Set(langs)) {
      const mine = expected.filter((_, i) => langs[i] === l && expected[i] !== null) as number[];
      assert.equal(row.n[l], mine.length, l);
      assert.equal(row.mean[l], mine.length ? Math.round((mine.reduce((a, b) => a + b, 0) / mine.length) * 1000) / 1000 : null, l);
    }
    assert.equal(Object.values(row.unparsed).reduce((a, b) => a + b, 0), 1);
    assert.equal(j.requests, 7);
    // Nothing anywhere shows the key.
    assert.ok(!(r.stdout + r.stderr + everyFileText(out)).includes(KEY));
    // A rerun sends nothing and gives the same table.
    const before = server.total();
    const again = await runMain(args);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(server.total(), before);
    const j2 = readJson(join(out, 'judge.json'));
    assert.deepEqual(j2.rows, j.rows);
    assert.equal(j2.cached, 7);
  } finally {
    delete process.env.LAPE_TEST_JUDGE_KEY;
    await server.close();
  }
});

test('judge: a refused key stops the run; failures leave the cache for a rerun', async () => {
  const server = await startJudgeServer({ key: KEY });
  try {
    const dir = tempDir();
    generateJsonl(join(dir, 'gen.jsonl'), ['score=5', 'always500', 'score=6']);
    const out = join(dir, 'out');
    process.env.LAPE_TEST_JUDGE_KEY = 'sk-wrong-key-1234';
    let r = await runMain([...judgeArgs(server.url, out, [join(dir, 'gen.jsonl')], 1), '--api-key-env', 'LAPE_TEST_JUDGE_KEY']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refused the request: HTTP 401/);
    assert.ok(!r.stderr.includes('sk-wrong-key-1234'));
    assert.equal(server.total(), 1, 'a permanent error stops the run');
    assert.ok(!existsSync(join(out, 'judge.json')));

    process.env.LAPE_TEST_JUDGE_KEY = KEY;
    r = await runMain([...judgeArgs(server.url, out, [join(dir, 'gen.jsonl')]), '--api-key-env', 'LAPE_TEST_JUDGE_KEY']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /1 of 3 answers could not be rated .* rerun to retry the rest/s);
    assert.equal(server.requests.get('always500'), 4); // 1 + 3 retries
    assert.ok(!existsSync(join(out, 'judge.json')), 'no table from a partial run');
    // The rerun asks only for the failed one.
    generateJsonl(join(dir, 'gen.jsonl'), ['score=5', 'score=9', 'score=6']);
    const before = server.total();
    r = await runMain([...judgeArgs(server.url, out, [join(dir, 'gen.jsonl')]), '--api-key-env', 'LAPE_TEST_JUDGE_KEY']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(server.total() - before, 1);
  } finally {
    delete process.env.LAPE_TEST_JUDGE_KEY;
    await server.close();
  }
});

test('judge: Table 1 shape — rows normal, random, deactivate L; columns question language', async () => {
  const server = await startJudgeServer();
  try {
    const dir = tempDir();
    const n = questions.length;
    generateJsonl(join(dir, 'normal.jsonl'), questions.map(() => 'score=8'));
    generateJsonl(join(dir, 'rs.jsonl'), questions.map(() => 'score=7'), '-zh');
    generateJsonl(join(dir, 'zh.jsonl'), questions.map((q) => (q.lang === 'zh' ? 'score=2' : 'score=6')), '-zh');
    generateJsonl(join(dir, 'en.jsonl'), questions.map((q) => (q.lang === 'en' ? 'score=3' : 'score=6')), '-en');
    const out = join(dir, 'out');
    server.delayMs = 20; // so that requests overlap: at most --concurrency (3) at once
    const r = await runMain(judgeArgs(server.url, out, [join(dir, 'zh.jsonl'), `random=${join(dir, 'rs.jsonl')}`, join(dir, 'en.jsonl'), join(dir, 'normal.jsonl')]));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(server.maxInFlight, 3);
    const j = readJson(join(out, 'judge.json'));
    assert.deepEqual(j.languages, ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja']);
    assert.deepEqual(j.rows.map((x) => x.condition), ['normal', 'random', 'deactivate en', 'deactivate zh']);
    assert.deepEqual(j.rows[3]!.mean, { en: 6, zh: 2, fr: 6, es: 6, vi: 6, id: 6, ja: 6 });
    assert.equal(j.rows[2]!.mean.en, 3);
    assert.equal(j.rows[0]!.n.ja, 3);
    // The same question and answer under two conditions is asked once ("score=6" per question, …).
    assert.ok(server.total() < 4 * n);
    const csv = readFileSync(join(out, 'judge.csv'), 'utf8').split('\n');
    assert.equal(csv[0], 'condition,mean_en,mean_zh,mean_fr,mean_es,mean_vi,mean_id,mean_ja,n_en,n_zh,n_fr,n_es,n_vi,n_id,n_ja,unparsed,overall');
    assert.match(r.stdout, /deactivate zh\s+6\.00\s+2\.00/);
  } finally {
    await server.close();
  }
});

test('judge: resumes after a kill, asking only for the missing replies', async () => {
  const server = await startJudgeServer();
  try {
    const dir = tempDir();
    generateJsonl(join(dir, 'gen.jsonl'), questions.map((q) => `answer to ${q.id}`));
    const killed = join(dir, 'killed');
    server.delayMs = 150;
    const child = spawn(process.execPath, [repoPath('dist/src/cli/main.js'), ...judgeArgs(server.url, killed, [join(dir, 'gen.jsonl')], 1), '--quiet'], { stdio: 'ignore' });
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    server.onRequest = (total) => {
      if (total === 6) child.kill('SIGKILL');
    };
    await exited;
    server.onRequest = undefined;
    server.delayMs = 0;
    assert.ok(!existsSync(join(killed, 'judge.json')));
    const cachedLines = readFileSync(join(killed, 'judge-cache.jsonl'), 'utf8').split('\n').filter((l) => l.trim()).length;
    assert.ok(cachedLines >= 5 && cachedLines < questions.length, `${cachedLines} replies cached`);
    const before = server.total();
    const r = await runMain(judgeArgs(server.url, killed, [join(dir, 'gen.jsonl')]));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(server.total() - before, questions.length - cachedLines);
    // Same table as an uninterrupted run.
    const fresh = join(dir, 'fresh');
    assert.equal((await runMain(judgeArgs(server.url, fresh, [join(dir, 'gen.jsonl')]))).code, 0);
    assert.deepEqual(readJson(join(killed, 'judge.json')).rows, readJson(join(fresh, 'judge.json')).rows);
  } finally {
    await server.close();
  }
});

test('judge: the embedded model\'s generations of the shipped questions, judged on loopback (plumbing only)', async () => {
  const server = await startJudgeServer();
  try {
    const dir = tempDir();
    const gen = join(dir, 'gen.jsonl');
    const g = await runMain(['generate', '--model', repoPath('models/tiny-multilingual'), '--prompts', repoPath('data/questions/questions.jsonl'), '--max-new-tokens', '4', '--out', gen, '--quiet']);
    assert.equal(g.code, 0, g.stderr);
    const r = await runMain(judgeArgs(server.url, join(dir, 'out'), [gen]));
    assert.equal(r.code, 0, r.stderr);
    const j = readJson(join(dir, 'out', 'judge.json'));
    assert.deepEqual(j.rows.map((x) => x.condition), ['normal']);
    for (const l of j.languages) assert.equal(j.rows[0]!.n[l], 3);
    assert.equal(server.total(), questions.length);
  } finally {
    await server.close();
  }
});

test('judge: steer-eval generations.jsonl gives the normal answer once per prompt and each intervention\'s', async () => {
  const { readAnswers, readQuestions } = await import('../src/judge/answers.js');
  const dir = tempDir();
  const qs = readQuestions(repoPath('data/questions/questions.jsonl'));
  const en = qs.filter((q) => q.lang === 'en');
  const line = (kind: string, target: string, intervention: string, i: number, steered: string): string =>
    JSON.stringify({ kind, source: 'en', target, intervention, prompt_index: i, prompt: en[i]!.question, normal: `normal ${i}`, steered, normal_lang: 'en', steered_lang: target });
  const file = join(dir, 'generations.jsonl');
  writeFileSync(file, [line('activate', 'zh', '+zh', 0, 'zh 0'), line('activate', 'zh', '+zh', 1, 'zh 1'), line('deactivate', 'en', '-en', 0, 'minus 0'), line('deactivate', 'en', '-en', 1, 'minus 1')].join('\n') + '\n');
  const a = readAnswers(file, null, qs);
  assert.deepEqual(a.map((x) => [x.condition, x.questionId, x.answer]), [
    ['normal', 'en-1', 'normal 0'], ['activate zh', 'en-1', 'zh 0'], ['normal', 'en-2', 'normal 1'], ['activate zh', 'en-2', 'zh 1'],
    ['deactivate en', 'en-1', 'minus 0'], ['deactivate en', 'en-2', 'minus 1'],
  ]);
  // A generate file whose prompts are not the questions: a clear error naming the file and line.
  writeFileSync(join(dir, 'other.jsonl'), JSON.stringify({ index: 0, prompt: 'something else', text: 'x', intervention: 'none' }) + '\n');
  assert.throws(() => readAnswers(join(dir, 'other.jsonl'), null, qs), /other\.jsonl.*line 1: its prompt is none of the questions'|line 1: its prompt is none of the questions'.*other\.jsonl/s);
});

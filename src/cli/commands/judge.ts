/**
 * `lape judge`: rates generations (lape generate / steer-eval JSONL) with an OpenAI-compatible
 * chat endpoint, single-answer grading 1–10 (src/judge/prompt.ts) → Table 1's shape:
 * judge.json, judge.csv, judgments.jsonl; replies cached in judge-cache.jsonl (resume).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LapeError, usageError } from '../../errors.js';
import { parseAnswerSpec, readAnswers, readQuestions } from '../../judge/answers.js';
import { ReplyCache } from '../../judge/cache.js';
import { ChatClient } from '../../judge/client.js';
import { judgeAll, judgeTable, uniqueAnswers, type JudgeTable, type Judgment } from '../../judge/judge.js';
import { JUDGE_PROMPT_ID, JUDGE_PROMPT_SOURCE } from '../../judge/prompt.js';
import { toCsv } from '../../util/csv.js';
import { LAPE_VERSION } from '../../version.js';
import type { Command } from '../command.js';
import { MAX_NEW_TOKENS, TEMPERATURE } from '../groups/generation.js';
import { outputGroup, writeResults } from '../groups/output.js';
import { textTable } from '../tables.js';
import { group, opt, positive, variant, withDefault } from '../options/option.js';
import { Progress } from '../progress.js';

export const JUDGE_FORMAT = 'lape-judge';
export const JUDGE_VERSION = 1;
export const CACHE_FILE = 'judge-cache.jsonl';
/** The project's own question set (data/questions/README.md: written for lape, CC0-1.0). */
export const DEFAULT_QUESTIONS = fileURLToPath(new URL('../../../../data/questions/questions.jsonl', import.meta.url));
const LANGUAGE_ORDER = ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja'];

const { group: OUTPUT_GROUP, out: OUT_DIR } = outputGroup([
  { name: 'judge.json', format: JUDGE_FORMAT },
  { name: 'judge.csv', format: 'csv:condition,' },
  { name: 'judgments.jsonl', format: 'jsonl:condition' },
  { name: CACHE_FILE, format: 'jsonl:key' },
]);

const ANSWERS = opt.list('answers', {
  metavar: '[LABEL=]FILE,...',
  io: { role: 'in' },
  required: true,
  help: 'generations to rate: lape generate --out FILE or steer-eval generations.jsonl; LABEL= names their Table 1 row (random=gen.rs.jsonl), else the file\'s intervention does (none → normal, -zh → deactivate zh)',
});
const QUESTIONS = opt.path('questions', {
  metavar: 'FILE',
  default: DEFAULT_QUESTIONS,
  defaultText: 'data/questions/questions.jsonl, the project\'s own, CC0',
  help: 'the questions, JSON Lines with "id", "lang", "prompt" (e.g. your copy of the multilingual Vicuna set)',
});
const ENDPOINT = opt.string('endpoint', { metavar: 'URL', required: true, help: 'OpenAI-compatible API base (https://api.openai.com/v1, http://127.0.0.1:8080/v1)' });
const JUDGE_MODEL = opt.string('judge-model', { metavar: 'NAME', required: true, help: 'the judge model as the endpoint names it (gpt-4o, …)' });
const KEY_ENV = opt.string('api-key-env', {
  metavar: 'VAR',
  default: 'OPENAI_API_KEY',
  help: 'environment variable holding the API key (sent as a Bearer token, never printed or written); unset = no key',
});
const CONCURRENCY = opt.int('concurrency', { default: 4, help: 'requests in flight at once' });
const TIMEOUT = opt.float('timeout', { default: 120, check: positive, help: 'seconds to wait for one reply before retrying' });
const RETRIES = opt.int('retries', { min: 0, default: 6, help: 'retries per request after a network error, timeout, HTTP 408/429/5xx or malformed reply' });
const BACKOFF = opt.float('backoff', { default: 2, check: positive, help: 'seconds before the first retry; doubles per retry (at most 60 s; Retry-After is honoured)' });
const JUDGE_TEMPERATURE = variant(TEMPERATURE, { help: "the judge's sampling temperature (0: as deterministic as the endpoint allows)" });
const JUDGE_MAX_TOKENS = withDefault(variant(MAX_NEW_TOKENS, { help: "most tokens of the judge's reply" }), 1024);

export const judgeCommand: Command = {
  name: 'judge',
  summary: 'Rate generations 1–10 with an LLM judge on an OpenAI-compatible endpoint (Table 1 shape)',
  options: [
    group('Answers', ANSWERS, QUESTIONS),
    group('Judge', ENDPOINT, JUDGE_MODEL, KEY_ENV, JUDGE_TEMPERATURE, JUDGE_MAX_TOKENS, CONCURRENCY, TIMEOUT, RETRIES, BACKOFF),
    OUTPUT_GROUP,
  ],
  notes: [
    `Prompt ${JUDGE_PROMPT_ID}: ${JUDGE_PROMPT_SOURCE}; the rating is read from "[[N]]".`,
    `Every reply is appended to OUT/${CACHE_FILE} as it arrives: a rerun (after a kill or a failure)`,
    'asks only for the missing ones and never pays twice. judge.json is written when all are rated.',
    'The key is read from the environment (export OPENAI_API_KEY=… first; --api-key-env names another variable).',
    'Scores of a small local model as judge test the plumbing only; they are not a Table 1 result.',
  ],
  examples: [
    'lape judge --endpoint https://api.openai.com/v1 --judge-model gpt-4o \\\n      --answers normal=gen/normal.jsonl,random=gen/random.jsonl,gen/zh.jsonl --out judged',
    'lape judge --endpoint http://127.0.0.1:8080/v1 --judge-model local --answers lape-demo/generations.jsonl --out lape-demo',
  ],
  async run(ctx) {
    const questionsPath = ctx.get(QUESTIONS);
    const questions = readQuestions(questionsPath);
    const answers = uniqueAnswers(ctx.get(ANSWERS).flatMap((s) => {
      const { label, file } = parseAnswerSpec(s);
      if (label !== null && !/^[\p{L}\p{N} _+-]+$/u.test(label)) throw usageError(`--answers ${s}: a label is letters, digits, spaces, _ + -`);
      return readAnswers(file, label, questions);
    }));
    const keyVar = ctx.get(KEY_ENV);
    const apiKey = process.env[keyVar] || undefined;
    const outDir = ctx.get(OUT_DIR);
    const model = ctx.get(JUDGE_MODEL);
    let retries = 0;
    const client = new ChatClient({
      endpoint: ctx.get(ENDPOINT),
      model,
      apiKey,
      timeoutMs: ctx.get(TIMEOUT) * 1000,
      retries: ctx.get(RETRIES),
      backoffMs: ctx.get(BACKOFF) * 1000,
      temperature: ctx.get(JUDGE_TEMPERATURE),
      maxTokens: ctx.get(JUDGE_MAX_TOKENS),
      onRetry: (problem, attempt, delay) => {
        retries++;
        if (!ctx.quiet) process.stderr.write(`lape judge: retry ${attempt} in ${(delay / 1000).toFixed(1)} s: ${problem}\n`);
      },
    });
    mkdirSync(outDir, { recursive: true }); // usually made by the output lock already
    const cache = new ReplyCache(join(outDir, CACHE_FILE));
    if (!ctx.quiet) process.stderr.write(`lape judge: ${answers.length} answers, ${cache.size} replies cached; ${apiKey ? `API key from $${keyVar}` : `no API key ($${keyVar} is unset)`}\n`);
    let progress: Progress | null = null;
    const t0 = performance.now();
    const r = await judgeAll(answers, client, model, cache, {
      concurrency: ctx.get(CONCURRENCY),
      onProgress: (p) => {
        progress ??= new Progress({ label: 'judge', unit: 'replies', quiet: ctx.quiet, total: p.total });
        progress.update(p.done);
      },
    });
    (progress as Progress | null)?.finish();
    if (r.failures.length) {
      throw new LapeError(
        `${r.failures.length} of ${answers.length} answers could not be rated (${r.requests ? `the ${r.requests} replies received are cached in ${cache.path}` : 'no reply was received'}; rerun to retry the rest):\n  ${r.failures.slice(0, 5).join('\n  ')}`,
      );
    }
    const table = judgeTable(r.judgments, LANGUAGE_ORDER);
    const seconds = (performance.now() - t0) / 1000;
    const facts = {
      endpoint: client.url,
      judgeModel: model,
      prompt: { id: JUDGE_PROMPT_ID, source: JUDGE_PROMPT_SOURCE },
      temperature: ctx.get(JUDGE_TEMPERATURE),
      maxTokens: ctx.get(JUDGE_MAX_TOKENS),
      questions: questionsPath,
      answers: ctx.get(ANSWERS),
      requests: r.requests,
      cached: r.judgments.filter((j) => j.cached).length,
      retries,
      seconds,
    };
    for (const line of judgeTextTable(table)) ctx.log(line);
    await writeResults(ctx, outDir, {
      'judge.json': JSON.stringify(judgeJson(table, facts), null, 2) + '\n',
      'judge.csv': judgeCsv(table),
      'judgments.jsonl': judgmentsJsonl(r.judgments),
    });
    return { out: outDir, answers: answers.length, requests: r.requests, cached: facts.cached, retries, unparsed: r.judgments.filter((j) => j.score === null).length };
  },
};

const r3 = (x: number | null): number | null => (x === null ? null : Math.round(x * 1000) / 1000);

export function judgeJson(t: JudgeTable, facts: Record<string, unknown>): Record<string, unknown> {
  return {
    format: JUDGE_FORMAT,
    version: JUDGE_VERSION,
    lape_version: LAPE_VERSION,
    ...facts,
    scale: '1–10 (mean over the answers the judge rated; unparsed = replies without a rating)',
    languages: t.languages,
    rows: t.conditions.map((c) => ({
      condition: c,
      mean: Object.fromEntries(t.languages.map((l) => [l, r3(t.cells[c]![l]!.mean)])),
      n: Object.fromEntries(t.languages.map((l) => [l, t.cells[c]![l]!.n])),
      unparsed: Object.fromEntries(t.languages.map((l) => [l, t.cells[c]![l]!.unparsed])),
      overall: r3(t.overall[c]!.mean),
    })),
  };
}

export function judgeCsv(t: JudgeTable): string {
  return toCsv(
    ['condition', ...t.languages.map((l) => `mean_${l}`), ...t.languages.map((l) => `n_${l}`), 'unparsed', 'overall'],
    t.conditions.map((c) => [
      c, ...t.languages.map((l) => r3(t.cells[c]![l]!.mean)), ...t.languages.map((l) => t.cells[c]![l]!.n), t.overall[c]!.unparsed, r3(t.overall[c]!.mean),
    ]),
  );
}

export function judgmentsJsonl(js: Judgment[]): string {
  return js.map((j) => JSON.stringify({
    condition: j.condition, question_id: j.questionId, lang: j.lang, score: j.score, question: j.question, answer: j.answer, reply: j.reply, key: j.key, file: j.file, line: j.line,
  })).join('\n') + '\n';
}

export function judgeTextTable(t: JudgeTable): string[] {
  const body = t.conditions.map((c) => [c, ...t.languages.map((l) => {
    const cell = t.cells[c]![l]!;
    return cell.mean === null ? '–' : cell.mean.toFixed(2);
  }), t.overall[c]!.mean === null ? '–' : t.overall[c]!.mean!.toFixed(2)]);
  return ['Mean judge rating (1–10); rows: condition, columns: question language', ...textTable(['condition', ...t.languages, 'all'], body)];
}

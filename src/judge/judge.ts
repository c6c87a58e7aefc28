/**
 * A judge run: each answer → the judge prompt → a reply (from the cache, else the endpoint, at
 * most `concurrency` requests in flight) → a rating; then Table 1's shape: rows = conditions
 * (normal, random, deactivate L, …), columns = the question's language, cells = mean rating.
 */
import { LapeError } from '../errors.js';
import type { Answer } from './answers.js';
import { ReplyCache, requestKey } from './cache.js';
import { PermanentJudgeError, type ChatClient } from './client.js';
import { runPool } from './pool.js';
import { judgeMessages } from './prompt.js';
import { parseScore } from './score.js';

export interface Judgment extends Answer {
  key: string;
  reply: string;
  /** null: the reply holds no rating in 1–10 (counted as unparsed, not as a score). */
  score: number | null;
  cached: boolean;
}

export interface JudgeProgress {
  done: number;
  total: number;
  requests: number;
}

/** Refuses two different answers to one question under one condition (identical duplicates are merged). */
export function uniqueAnswers(answers: Answer[]): Answer[] {
  const seen = new Map<string, Answer>();
  for (const a of answers) {
    const k = `${a.condition}\u0000${a.questionId}`;
    const prev = seen.get(k);
    if (!prev) seen.set(k, a);
    else if (prev.answer !== a.answer) {
      throw new LapeError(`two different answers to question "${a.questionId}" under condition "${a.condition}" (also ${prev.file} line ${prev.line}); give each condition once`, `${a.file} line ${a.line}`);
    }
  }
  return [...seen.values()];
}

export async function judgeAll(
  answers: Answer[],
  client: ChatClient,
  model: string,
  cache: ReplyCache,
  opts: { concurrency: number; onProgress?: (p: JudgeProgress) => void },
): Promise<{ judgments: Judgment[]; requests: number; failures: string[] }> {
  const items = answers.map((a) => {
    const messages = judgeMessages(a.question, a.answer);
    return { a, messages, key: requestKey(client.url, client.body(messages)) };
  });
  const replies = new Map<string, { reply: string; cached: boolean }>();
  for (const it of items) {
    const c = cache.get(it.key);
    if (c) replies.set(it.key, { reply: c.content, cached: true });
  }
  // One request per distinct key (the same question and answer under two conditions is asked once).
  const todo = [...new Map(items.filter((it) => !replies.has(it.key)).map((it) => [it.key, it])).values()];
  let requests = 0;
  let permanent: LapeError | null = null;
  const failures: string[] = [];
  const distinct = new Set(items.map((it) => it.key)).size;
  const report = (): void => opts.onProgress?.({ done: distinct - todo.length + requests + failures.length, total: distinct, requests });
  report();
  await runPool(todo, opts.concurrency, async (it) => {
    try {
      const reply = await client.complete(it.messages);
      cache.add({ key: it.key, model, content: reply });
      replies.set(it.key, { reply, cached: false });
      requests++;
    } catch (e) {
      if (e instanceof PermanentJudgeError) permanent ??= e;
      else if (e instanceof LapeError) failures.push(`${it.a.questionId} (${it.a.condition}): ${e.message}`);
      else throw e;
    }
    report();
  }, () => permanent !== null);
  if (permanent) throw permanent;
  const judgments = items
    .filter((it) => replies.has(it.key))
    .map((it): Judgment => {
      const r = replies.get(it.key)!;
      return { ...it.a, key: it.key, reply: r.reply, score: parseScore(r.reply), cached: r.cached };
    });
  return { judgments, requests, failures };
}

export interface TableCell {
  mean: number | null;
  n: number;
  unparsed: number;
}

export interface JudgeTable {
  conditions: string[];
  languages: string[];
  /** cells[condition][lang] */
  cells: Record<string, Record<string, TableCell>>;
  /** Per condition over all its ratings. */
  overall: Record<string, TableCell>;
}

/** Row order: normal, random…, deactivate L in language order, then the rest as met. */
export function conditionOrder(conditions: string[], languages: readonly string[]): string[] {
  const rank = (c: string): number => {
    if (c === 'normal') return 0;
    if (c.startsWith('random')) return 1;
    const m = /^deactivate (\S+)$/.exec(c);
    if (m) return 2 + (languages.indexOf(m[1]!) + 1 || languages.length + 1) / (languages.length + 2);
    return 4;
  };
  return [...conditions].sort((a, b) => rank(a) - rank(b) || conditions.indexOf(a) - conditions.indexOf(b));
}

export function judgeTable(judgments: Judgment[], languageOrder: readonly string[]): JudgeTable {
  const langs = [...new Set(judgments.map((j) => j.lang))].sort((a, b) => (languageOrder.indexOf(a) + 1 || 999) - (languageOrder.indexOf(b) + 1 || 999));
  const conditions = conditionOrder([...new Set(judgments.map((j) => j.condition))], langs);
  const cell = (js: Judgment[]): TableCell => {
    const scored = js.filter((j) => j.score !== null);
    return { mean: scored.length ? scored.reduce((s, j) => s + j.score!, 0) / scored.length : null, n: scored.length, unparsed: js.length - scored.length };
  };
  const cells: JudgeTable['cells'] = {};
  const overall: JudgeTable['overall'] = {};
  for (const c of conditions) {
    const mine = judgments.filter((j) => j.condition === c);
    cells[c] = Object.fromEntries(langs.map((l) => [l, cell(mine.filter((j) => j.lang === l))]));
    overall[c] = cell(mine);
  }
  return { conditions, languages: langs, cells, overall };
}

/**
 * What the judge grades: questions (a JSONL file: id, lang, prompt) and answers from the JSONL
 * that `lape generate` (one line per prompt, with the question's id/lang kept as meta when the
 * prompts came from the questions file) and `lape steer-eval` (generations.jsonl: normal and
 * steered text per prompt) write. Each answer belongs to a condition — a row of Table 1:
 * `LABEL=FILE` names it (normal, random, …); otherwise the file's intervention gives it
 * (none → normal, -zh → deactivate zh, +zh → activate zh; combinations keep their label).
 */
import { readTextFile } from '../corpus/text-files.js';
import { LapeError } from '../errors.js';
import { jsonObjectLine } from '../util/jsonl.js';

export interface Question {
  id: string;
  lang: string;
  question: string;
}

export interface Answer {
  condition: string;
  questionId: string;
  lang: string;
  question: string;
  answer: string;
  /** Where it came from, for messages and the judgments file. */
  file: string;
  line: number;
}

function lines(path: string, what: string): Array<{ o: Record<string, unknown>; line: number }> {
  const text = readTextFile(path, what);
  const out: Array<{ o: Record<string, unknown>; line: number }> = [];
  text.split('\n').forEach((l, i) => {
    if (l.trim() !== '') out.push({ o: jsonObjectLine(l, i + 1, path), line: i + 1 });
  });
  if (out.length === 0) throw new LapeError(`the ${what} file is empty`, path);
  return out;
}

const str = (o: Record<string, unknown>, key: string): string | undefined => (typeof o[key] === 'string' ? (o[key] as string) : undefined);

/** Questions: JSON Lines with string "id", "lang" and "prompt" (or "question" / "text"). */
export function readQuestions(path: string): Question[] {
  const seen = new Set<string>();
  return lines(path, 'questions').map(({ o, line }) => {
    const id = str(o, 'id');
    const lang = str(o, 'lang');
    const question = str(o, 'prompt') ?? str(o, 'question') ?? str(o, 'text');
    if (!id || !lang || question === undefined) throw new LapeError(`line ${line} needs string fields "id", "lang" and "prompt"`, path);
    if (seen.has(id)) throw new LapeError(`line ${line}: question id "${id}" appears twice`, path);
    seen.add(id);
    return { id, lang, question };
  });
}

/** The Table 1 row of an intervention label. */
export function conditionOf(intervention: string): string {
  if (intervention === 'none') return 'normal';
  const m = /^([-+])([A-Za-z0-9_-]+)$/.exec(intervention);
  return m ? `${m[1] === '-' ? 'deactivate' : 'activate'} ${m[2]}` : intervention;
}

/** `[LABEL=]FILE` (a label has no slash; a path may hold "="). */
export function parseAnswerSpec(spec: string): { label: string | null; file: string } {
  const eq = spec.indexOf('=');
  if (eq > 0 && !spec.slice(0, eq).includes('/')) return { label: spec.slice(0, eq), file: spec.slice(eq + 1) };
  return { label: null, file: spec };
}

/** The answers of one generate or steer-eval JSONL file. */
export function readAnswers(path: string, label: string | null, questions: Question[]): Answer[] {
  const byId = new Map(questions.map((q) => [q.id, q]));
  const byText = new Map(questions.map((q) => [q.question.trim(), q]));
  const out: Answer[] = [];
  const seenNormal = new Set<string>();
  for (const { o, line } of lines(path, 'answers')) {
    const prompt = str(o, 'prompt');
    if (prompt === undefined) throw new LapeError(`line ${line} has no string "prompt" (expected the JSONL of lape generate or steer-eval)`, path);
    const meta = (typeof o.meta === 'object' && o.meta !== null ? o.meta : {}) as Record<string, unknown>;
    const q = (typeof meta.id === 'string' ? byId.get(meta.id) : undefined) ?? byText.get(prompt.trim());
    const base = { file: path, line };
    if (typeof o.normal === 'string' && typeof o.steered === 'string') {
      // steer-eval: the source language asked; the unsteered text once per prompt, the steered per row.
      const source = str(o, 'source');
      const intervention = str(o, 'intervention');
      if (!source || !intervention) throw new LapeError(`line ${line} has no "source" / "intervention" (steer-eval generations)`, path);
      const question = q ?? { id: `${source}#${String(o.prompt_index ?? line)}`, lang: source, question: prompt };
      const key = `${question.id}|${prompt}`;
      if (!seenNormal.has(key)) {
        seenNormal.add(key);
        out.push({ ...base, condition: 'normal', questionId: question.id, lang: question.lang, question: question.question, answer: o.normal });
      }
      out.push({ ...base, condition: label ?? conditionOf(intervention), questionId: question.id, lang: question.lang, question: question.question, answer: o.steered });
      continue;
    }
    const text = str(o, 'text');
    if (text === undefined) throw new LapeError(`line ${line} has no string "text" (expected the JSONL of lape generate or steer-eval)`, path);
    if (!q) {
      throw new LapeError(
        `line ${line}: its prompt is none of the questions' (generate from the questions file so that their id and lang are kept, or pass that file as --questions)`,
        path,
      );
    }
    const condition = label ?? conditionOf(str(o, 'intervention') ?? 'none');
    out.push({ ...base, condition, questionId: q.id, lang: q.lang, question: q.question, answer: text });
  }
  return out;
}

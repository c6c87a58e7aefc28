/** Prompt files (generate, steer-eval): text or JSON Lines, and `[LANG=]FILE` source specs. */
import { readTextFile } from '../corpus/text-files.js';
import { basename } from 'node:path';
import { LapeError, usageError } from '../errors.js';
import { jsonObjectLine } from '../util/jsonl.js';

export interface PromptRecord {
  prompt: string;
  /** Other fields of a JSONL record (kept in the output as `meta`). */
  meta?: Record<string, unknown>;
}

/**
 * Prompts from a file: JSON Lines when every non-blank line is a JSON object with a string
 * "prompt" (or "text") field, otherwise one prompt per non-blank line (text files).
 */
export function readPromptFile(path: string): PromptRecord[] {
  // The same strict UTF-8 rule as corpora: binary or Latin-1 prompts are an error, not U+FFFD text.
  const text = readTextFile(path, 'prompt');
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const nonBlank = lines.map((l, i) => ({ l, i })).filter(({ l }) => l.trim() !== '');
  if (nonBlank.length === 0) throw new LapeError('the prompt file holds no prompts', path);
  const isJsonl = path.endsWith('.jsonl') || nonBlank.every(({ l }) => l.trimStart().startsWith('{'));
  if (!isJsonl) return nonBlank.map(({ l }) => ({ prompt: l }));
  return nonBlank.map(({ l, i }) => {
    const o = jsonObjectLine(l, i + 1, path);
    const key = typeof o.prompt === 'string' ? 'prompt' : typeof o.text === 'string' ? 'text' : null;
    if (!key) throw new LapeError(`line ${i + 1} has no string "prompt" (or "text") field`, path);
    const { [key]: prompt, ...meta } = o;
    return Object.keys(meta).length ? { prompt: prompt as string, meta } : { prompt: prompt as string };
  });
}

/** `LANG=FILE`, or FILE whose name starts with the language code (zh.txt, zh.valid.txt, zh.jsonl). */
export function parsePromptSpec(spec: string, flag = 'prompts'): { lang: string; file: string } {
  const eq = spec.indexOf('=');
  if (eq > 0 && !spec.slice(0, eq).includes('/')) return { lang: spec.slice(0, eq), file: spec.slice(eq + 1) };
  const lang = basename(spec).split('.')[0] ?? '';
  if (!/^[a-z]{2,3}$/.test(lang)) {
    throw usageError(`--${flag} ${spec}: cannot tell the language from the file name; name it LANG.txt or write LANG=FILE`);
  }
  return { lang, file: spec };
}

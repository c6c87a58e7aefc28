/**
 * Parallel (aligned) text sets: JSON Lines, one group per line, {"group": id, "source": ...,
 * "<lang>": text, ...} as data/corpus/parallel.jsonl. Every language asked for must be present
 * (non-empty text) in every group; errors name the line, group and language.
 */
import { readTextFile } from '../corpus/text-files.js';
import { LapeError } from '../errors.js';
import { jsonObjectLine } from '../util/jsonl.js';

export interface ParallelSet {
  /** Languages, in the order asked for (default: the first group's language keys). */
  languages: string[];
  /** Group ids (the "group" field, or the line number when absent). */
  groups: Array<string | number>;
  /** texts[lang][g] = text of group g in that language. */
  texts: Record<string, string[]>;
}

// "id" is Indonesian's code (ISO 639-1), so it is a language key here; the group id is "group".
const NON_LANGUAGE_KEYS = new Set(['group', 'source', 'meta']);

export function loadParallel(path: string, opts: { languages?: string[]; maxGroups?: number } = {}): ParallelSet {
  const text = readTextFile(path, 'parallel');
  const rows: Array<{ line: number; obj: Record<string, unknown> }> = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    rows.push({ line: i + 1, obj: jsonObjectLine(raw, i + 1, path) });
  });
  if (rows.length === 0) throw new LapeError('the parallel file holds no groups', path);
  const languages =
    opts.languages && opts.languages.length > 0
      ? [...opts.languages]
      : Object.keys(rows[0]!.obj).filter((k) => !NON_LANGUAGE_KEYS.has(k) && typeof rows[0]!.obj[k] === 'string');
  if (new Set(languages).size !== languages.length) throw new LapeError(`a language is listed twice: ${languages.join(', ')}`);
  if (languages.length < 2) throw new LapeError(`a parallel analysis needs at least two languages, got ${languages.join(', ') || 'none'}`, path);
  const limit = opts.maxGroups ?? rows.length;
  if (!(Number.isInteger(limit) && limit > 0)) throw new LapeError(`max groups must be a positive integer, got ${limit}`);
  const set: ParallelSet = { languages, groups: [], texts: Object.fromEntries(languages.map((l) => [l, []])) };
  for (const { line, obj } of rows.slice(0, limit)) {
    const g = obj.group;
    const id = typeof g === 'number' || typeof g === 'string' ? g : line;
    for (const lang of languages) {
      const t = obj[lang];
      if (typeof t !== 'string' || t.trim() === '') {
        throw new LapeError(`group ${JSON.stringify(id)} (line ${line}) has no "${lang}" text; every group needs all of ${languages.join(', ')}`, path);
      }
      set.texts[lang]!.push(t);
    }
    set.groups.push(id);
  }
  return set;
}

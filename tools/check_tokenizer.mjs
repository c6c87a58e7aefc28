#!/usr/bin/env node
// Checks that @huggingface/tokenizers (the JS tokenizer lape uses) and tools/bpe.py (the Python
// tokenizer the tiny model was trained and evaluated with) give identical ids on the whole corpus.
//
//   node tools/check_tokenizer.mjs [MODEL_DIR]     (default models/tiny-multilingual)
//
// For each language and split: the stream lape evaluates (the file's paragraphs joined by "\n",
// i.e. the file without its final newline), plus the decode round trip. Exit 1 on any difference.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = resolve(process.argv[2] ?? join(REPO, 'models', 'tiny-multilingual'));
const tok = new Tokenizer(
  JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')),
  JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')),
);
let bad = 0;
for (const lang of ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja']) {
  for (const split of ['train', 'valid']) {
    const file = join(REPO, 'data', 'corpus', `${lang}.${split}.txt`);
    const text = readFileSync(file, 'utf8').replace(/\n$/, '');
    const js = tok.encode(text, { add_special_tokens: false }).ids;
    const py = JSON.parse(execFileSync('/usr/bin/python3', [join(REPO, 'tools', 'bpe.py'), 'encode', join(dir, 'tokenizer.json')],
      { input: text, maxBuffer: 1 << 28, encoding: 'utf8' }));
    let first = -1;
    for (let i = 0; i < Math.max(js.length, py.length); i++) if (js[i] !== py[i]) { first = i; break; }
    const roundTrip = tok.decode(js, { skip_special_tokens: false }) === text;
    const ok = first < 0 && roundTrip;
    if (!ok) bad++;
    console.log(`${ok ? 'same   ' : 'DIFFERS'} ${lang}.${split}: ${js.length} tokens (python ${py.length})`
      + (first >= 0 ? `, first difference at token ${first}` : '') + (roundTrip ? '' : ', decode does not round-trip'));
  }
}
// special tokens: literal <s> / </s> in text become the special ids in both
const probe = 'a<s>b</s> c';
const jsProbe = tok.encode(probe, { add_special_tokens: false }).ids;
const pyProbe = JSON.parse(execFileSync('/usr/bin/python3', [join(REPO, 'tools', 'bpe.py'), 'encode', join(dir, 'tokenizer.json')], { input: probe, encoding: 'utf8' }));
if (JSON.stringify(jsProbe) !== JSON.stringify(pyProbe)) { bad++; console.log(`DIFFERS special tokens: js ${jsProbe} python ${pyProbe}`); }
else console.log(`same    special tokens: ${JSON.stringify(jsProbe)}`);
if (bad) { console.error(`${bad} difference(s)`); process.exit(1); }
console.log('JS and Python tokenizers agree on the whole corpus');

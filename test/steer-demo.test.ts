/**
 * Steering the output language on the embedded model models/tiny-multilingual (paper Tables 4–5),
 * with random-neuron controls:
 *  1. prompts from the English valid split: activating another language's LAPE neurons raises the
 *     share of outputs the identifier assigns to that language, compared with no intervention,
 *     for most of the six target languages — and by clearly more than the same intervention on
 *     random neurons of the same per-layer sizes;
 *  2. prompts from each language's valid split: zeroing that language's LAPE neurons lowers the
 *     share of outputs in it for most of the seven languages, and more than zeroing random neurons.
 *
 * Pipeline, all lape: record statistics on each language's train split (src/stats/record.ts, what
 * `lape record` runs; 4k tokens per language) → LAPE selection (src/select) →
 * steerEval (what `lape steer-eval` runs): greedy, repetition penalty 1.1, outputs labelled by
 * the fastText identifier restricted to the seven languages.
 *
 * Settings, and why (measured on this 2.3M-parameter model with this protocol: 48 prompts of
 * PROMPT_TOKENS tokens, MAX_NEW new tokens; statistics from 4k / 8k / 64k train tokens per language):
 * - Prompts are the first tokens of a paragraph and outputs run without a stop string: the corpus
 *   paragraphs are short, and with longer prompts or a "\n" stop the outputs are a few tokens that
 *   finish the prompt's word, in the prompt's language, whatever the intervention.
 * - Activation is additive (mode add, alpha 4) on LAPE's lowest-entropy 5 %: 5 of 6 targets
 *   raised, mean +18.4 / +19.4 / +10.1 points; the same on random neurons of the same per-layer
 *   sizes: +1.7 (this test) / +4.9 / +0.7. The paper's replacement by the mean activation (mode set) moves
 *   nothing here: mean +0.7 / −0.3 / −0.3 points at 5 %, +0.3 / +0.7 / +0.3 at the paper's 1 %
 *   (which leaves 2–16 neurons per language in this model).
 * - Deactivation needs a larger share: zeroing LAPE's 20 % lowers the own-language share for
 *   6 / 7 / 5 of 7 languages, mean −5.7 / −7.1 / −4.5 points (random 20 %: −1.2 / −1.2 / −1.2);
 *   at 5 %: −1.8 / −1.2 / −2.4, at 1 %: −0.6 / 0.0 / +0.6.
 * On the v2 model (8 layers): activation +10.1 points (random −0.3), 4 of 6 targets raised;
 *   deactivation at 20 % −7.1 (random −2.4), 5 of 7 lowered (the figures above are v1's).
 * On the v3 model (8 layers, from scratch; this commit): activation +22.9 points (random +1.0), 6 of
 *   6 targets raised; deactivation at 20 % −30.7 points (random −2.1), 7 of 7 lowered (en 79 → 52 %,
 *   es 77 → 33 %, vi 85 → 40 %).
 * Thresholds: "most" = a strict majority; mean effects of at least 10 (activation) / 15
 *   (deactivation) points, both beyond no intervention and beyond the random control — about half
 *   of what v3 reaches, leaving room for greedy outputs that flip on another CPU's rounding.
 *
 * Skipped (with a message) while the embedded model is not in the repository.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { steerEval, type SteerEvalResult, type SteerRow } from '../src/experiments/steering-eval.js';
import { createLanguageIdentifier } from '../src/langid/langid.js';
import { loadModel } from '../src/runtime/model.js';
import { selectLape } from '../src/select/lape.js';
import { selectRandom } from '../src/select/rs.js';
import type { NeuronMasks } from '../src/select/types.js';
import { recordLanguage } from '../src/recording/record-language.js';
import type { LangStats } from '../src/stats/types.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';

const MODEL = repoPath('models/tiny-multilingual');
const CORPUS = repoPath('data/corpus');
const LANGS = ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja'];
const SEQ = 256;
/** Train tokens recorded per language (half of test/science-ppl.test.ts's, to stay well under 30 s). */
const RECORD_TOKENS = 16 * SEQ;
const PROMPTS = 48;
const PROMPT_TOKENS = 2;
const MAX_NEW = 16;
const ACTIVATE = { topRate: 0.05, mode: 'add' as const, alpha: 4, minMean: 0.1 };
const DEACTIVATE = { topRate: 0.2, minMean: 0.15 };
/** "Most": a strict majority of the languages tested. */
const most = (n: number): number => Math.floor(n / 2) + 1;

const present = existsSync(join(MODEL, 'config.json')) && existsSync(join(MODEL, 'model.safetensors'));
const skip = present ? false : 'models/tiny-multilingual is not in the repository yet';

function prompts(lang: string): string[] {
  return readFileSync(join(CORPUS, `${lang}.valid.txt`), 'utf8').split('\n').filter((l) => l.length > 0).slice(0, PROMPTS);
}

const pp = (x: number): string => `${(100 * x).toFixed(1)}`;
const meanDelta = (rows: SteerRow[]): number => rows.reduce((a, r) => a + r.steered - r.normal, 0) / rows.length;

function table(title: string, r: SteerEvalResult): string {
  const lines = r.rows.map((x) => `  ${x.source} ${x.intervention.padEnd(10)} share of ${x.target}: ${pp(x.normal).padStart(5)}% → ${pp(x.steered).padStart(5)}%`);
  return [title, ...lines, `  mean change ${pp(meanDelta(r.rows))} points`].join('\n');
}

test('steering with LAPE neurons moves the output language; random neurons do not', { skip }, async () => {
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
    const identifier = await createLanguageIdentifier(LANGS);
    const generation = { maxNewTokens: MAX_NEW, stop: [], batchSize: PROMPTS };
    const run = (masks: NeuronMasks, activation: boolean): Promise<SteerEvalResult> =>
      steerEval(model, tokenizer, {
        sources: activation ? [{ lang: 'en', prompts: prompts('en') }] : LANGS.map((lang) => ({ lang, prompts: prompts(lang) })),
        masks,
        stats,
        identifier,
        ...(activation ? { mode: ACTIVATE.mode, alpha: ACTIVATE.alpha, deactivationRows: false } : { targets: [] }),
        promptTokens: PROMPT_TOKENS,
        generation,
      });

    // 1. Activation: English prompts → each other language.
    const lapeA = selectLape(stats, { topRate: ACTIVATE.topRate });
    const act = await run(lapeA, true);
    const actRandom = await run(selectRandom(lapeA, { seed: 1 }), true);
    const report1 = `${table('LAPE neurons, add ×4:', act)}\n${table('random neurons (same per-layer sizes), add ×4:', actRandom)}`;
    assert.equal(act.rows.length, LANGS.length - 1);
    const raised = act.rows.filter((r) => r.steered > r.normal).length;
    assert.ok(raised >= most(act.rows.length), `activation raised the target share for only ${raised}/${act.rows.length}\n${report1}`);
    assert.ok(meanDelta(act.rows) >= ACTIVATE.minMean, `mean raise below ${pp(ACTIVATE.minMean)} points\n${report1}`);
    assert.ok(meanDelta(act.rows) - meanDelta(actRandom.rows) >= ACTIVATE.minMean, `not clearly above random neurons\n${report1}`);

    // 2. Deactivation: each language's prompts, its own neurons zeroed.
    const lapeD = selectLape(stats, { topRate: DEACTIVATE.topRate });
    const deact = await run(lapeD, false);
    const deactRandom = await run(selectRandom(lapeD, { seed: 1 }), false);
    const report2 = `${table('LAPE neurons zeroed:', deact)}\n${table('random neurons zeroed:', deactRandom)}`;
    assert.equal(deact.rows.length, LANGS.length);
    const lowered = deact.rows.filter((r) => r.steered < r.normal).length;
    assert.ok(lowered >= most(deact.rows.length), `deactivation lowered the own-language share for only ${lowered}/${deact.rows.length}\n${report2}`);
    assert.ok(meanDelta(deact.rows) <= -DEACTIVATE.minMean, `mean drop below ${pp(DEACTIVATE.minMean)} points\n${report2}`);
    assert.ok(meanDelta(deactRandom.rows) - meanDelta(deact.rows) >= DEACTIVATE.minMean, `not clearly below random neurons\n${report2}`);
    console.log(`${report1}\n${report2}`);
  } finally {
    await model.release();
  }
});

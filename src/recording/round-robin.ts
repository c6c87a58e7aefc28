/**
 * Several languages in one run, round-robin by budget doublings: round r records every language up
 * to batch × 2^r chunks (or to the end of its corpus, or the --tokens cap), so that after each
 * round all languages hold the same budget and a stop rule can look at them together.
 *
 * Each language's batches are the ones a single `lape record` of it forms (same order, same batch
 * boundaries), so its file has the same totals, and without a stop rule it is byte-identical to
 * lape record's. The stop rule (--until-stable J) compares the LAPE selection at the round's
 * budget with the one at half of it, both taken from the blocks (counts exact), so a resumed run
 * replays the same decisions: it stops when the Jaccard is ≥ J (and, if asked, when the bootstrap
 * interval at the current budget is at most W wide). The final files are written as one set.
 */
import { join } from 'node:path';
import { writeFilesAtomic } from '../util/atomic-write.js';
import type { Model } from '../runtime/model.js';
import type { LapeTokenizer } from '../tokenizer/tokenizer.js';
import { statsAtChunks } from '../stats/blocks.js';
import { encodeStats } from '../stats/stats-file.js';
import type { LangStats } from '../stats/types.js';
import type { MethodOptions } from '../select/methods.js';
import { currentInterval, stopRuleJaccard, type Stat95 } from '../select/stability.js';
import { LanguageRecorder, type RecordOptions } from './recorder.js';

export interface StopRule {
  /** Stop when the selections at a budget and at half of it agree at Jaccard ≥ this. */
  jaccard: number;
  /** And, when given, the 95 % bootstrap interval of the Jaccard at the current budget is at most this wide. */
  maxInterval?: number;
  resamples: number;
  seed: number;
  selection: MethodOptions;
}

export interface RoundRobinOptions extends Omit<RecordOptions, 'lang' | 'files' | 'out' | 'shard' | 'onProgress' | 'jobMeta'> {
  langs: Array<{ lang: string; files: string[] }>;
  /** Statistics go to DIR/LANG.safetensors (resume state beside them). */
  outDir: string;
  stop?: StopRule;
  /** After each batch of any language (progress). */
  onProgress?: (recorders: ReadonlyArray<{ lang: string; tokens: number; tokensPerSecond: number; exhausted: boolean }>, roundTokens: number) => void;
  log?: (line: string) => void;
}

export interface RoundInfo {
  /** Tokens per language asked for in this round. */
  budget: number;
  /** Tokens per language at the end of the round. */
  tokens: Record<string, number>;
  /** Jaccard of the LAPE selections at this budget and at half of it (from the second round on). */
  jaccard?: number;
  interval?: Stat95;
}

export interface RoundRobinResult {
  stats: LangStats[];
  rounds: RoundInfo[];
  /** Why recording ended: stable, corpus (every corpus or the cap ran out), or complete (the files existed). */
  stopped: 'stable' | 'exhausted' | 'complete';
  reason: string;
  /** What the next doubling would add (tokens over all languages) and take at this run's rate; absent when nothing is left. */
  next?: { budget: number; tokens: number; seconds: number };
  tokensThisRun: number;
  seconds: number;
}

/** What the rounds need of a language's recording (LanguageRecorder; a synthetic stream in tests). */
export interface RoundRecorder {
  readonly lang: string;
  /** Tokens recorded so far (of this language). */
  readonly tokens: number;
  /** Its corpus (or the cap) has no more chunks. */
  readonly exhausted: boolean;
  readonly tokensThisRun: number;
  readonly secondsThisRun: number;
  /** Records up to `chunks` chunks (a batch boundary) or to the end. */
  advanceTo(chunks: number): Promise<void>;
  savePartial(): void;
  /** The statistics so far, with blocks. */
  stats(): LangStats;
  final(extraMeta?: Record<string, string>): LangStats;
  removePartial(): void;
}

export function statsPath(outDir: string, lang: string): string {
  return join(outDir, `${lang}.safetensors`);
}

/** The stop rule's settings, part of each language's job identity (another rule is another recording). */
function stopMeta(s: StopRule | undefined): Record<string, string> {
  if (!s) return {};
  const { topRate, filterRate, barRatio } = s.selection;
  return {
    until_stable: String(s.jaccard),
    ...(s.maxInterval === undefined ? {} : { stable_interval: String(s.maxInterval), stable_resamples: String(s.resamples), stable_seed: String(s.seed) }),
    stable_selection: JSON.stringify({ topRate, filterRate, barRatio }),
  };
}

export async function recordRoundRobin(model: Model, tokenizer: LapeTokenizer, opts: RoundRobinOptions): Promise<RoundRobinResult> {
  const recorders: LanguageRecorder[] = [];
  const progress = { roundTokens: 0, report: () => {} };
  const onProgress = opts.onProgress ? () => progress.report() : undefined;
  for (const { lang, files } of opts.langs) {
    recorders.push(await LanguageRecorder.open(model, tokenizer, { ...opts, lang, files, out: statsPath(opts.outDir, lang), jobMeta: stopMeta(opts.stop), onProgress }));
  }
  const complete = recorders.every((r) => r.complete);
  return runRounds(recorders, { ...opts, complete, progress });
}

/**
 * The rounds over recorders of the languages (see the file comment); `complete`: every final file
 * exists already. `progress.report` is set to call opts.onProgress with the current rates.
 */
export async function runRounds(
  recorders: readonly RoundRecorder[],
  opts: Pick<RoundRobinOptions, 'outDir' | 'seqLen' | 'batchSize' | 'maxTokens' | 'stop' | 'onProgress' | 'log'> & { complete?: boolean; progress?: { roundTokens: number; report: () => void } },
): Promise<RoundRobinResult> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const rounds: RoundInfo[] = [];
  const seqLen = opts.seqLen;
  const rates = (): Array<{ lang: string; tokens: number; tokensPerSecond: number; exhausted: boolean }> =>
    recorders.map((r) => ({ lang: r.lang, tokens: r.tokens, tokensPerSecond: r.tokensThisRun / Math.max(r.secondsThisRun, 1e-9), exhausted: r.exhausted }));
  const progress = opts.progress;
  if (progress && opts.onProgress) progress.report = () => opts.onProgress!(rates(), progress.roundTokens);
  const tokensThisRun = (): number => recorders.reduce((a, r) => a + r.tokensThisRun, 0);
  const done = (stats: LangStats[], stopped: RoundRobinResult['stopped'], reason: string, next?: RoundRobinResult['next']): RoundRobinResult =>
    ({ stats, rounds, stopped, reason, ...(next ? { next } : {}), tokensThisRun: tokensThisRun(), seconds: (Date.now() - started) / 1000 });

  if (opts.complete) return done(recorders.map((r) => r.stats()), 'complete', 'every language is already complete for these arguments');
  let stable: string | null = null;
  let chunks = opts.batchSize;
  for (;;) {
    if (progress) progress.roundTokens = chunks * seqLen * recorders.length;
    for (const r of recorders) {
      await r.advanceTo(chunks);
      r.savePartial();
    }
    const info: RoundInfo = { budget: chunks * seqLen, tokens: Object.fromEntries(recorders.map((r) => [r.lang, Math.min(r.tokens, chunks * seqLen)])) };
    const all = recorders.every((r) => r.exhausted || r.tokens >= chunks * seqLen);
    if (!all) throw new Error('round-robin: a language stopped short of its budget');
    if (opts.stop && chunks > opts.batchSize) {
      // Both budgets from the blocks: a resumed run (some languages already further) decides alike.
      const at = (c: number): LangStats[] => recorders.map((r) => {
        const s = r.stats();
        return statsAtChunks(s, Math.min(c, Number(s.meta.chunks)));
      });
      const current = at(chunks);
      info.jaccard = stopRuleJaccard(current, at(chunks / 2), opts.stop.selection);
      if (opts.stop.maxInterval !== undefined) info.interval = currentInterval(current, opts.stop.selection, opts.stop.resamples, opts.stop.seed);
      const narrow = info.interval === undefined || info.interval.hi - info.interval.lo <= opts.stop.maxInterval!;
      log(`${info.budget} tokens per language: Jaccard with the selection at ${info.budget / 2} = ${info.jaccard.toFixed(3)}` +
        (info.interval ? `, 95 % bootstrap interval ${info.interval.lo.toFixed(3)}–${info.interval.hi.toFixed(3)}` : ''));
      // Only equal budgets count: once a language's corpus ended short of the round, nothing is claimed.
      if (info.jaccard >= opts.stop.jaccard && narrow && !recorders.some((r) => r.tokens < chunks * seqLen)) {
        stable = `stable at ${info.budget} tokens per language: the LAPE selection agrees with the one at ${info.budget / 2} at Jaccard ${info.jaccard.toFixed(3)} ≥ ${opts.stop.jaccard}` +
          (info.interval ? ` (bootstrap interval ${(info.interval.hi - info.interval.lo).toFixed(3)} wide ≤ ${opts.stop.maxInterval})` : '');
      }
    }
    rounds.push(info);
    if (stable || recorders.every((r) => r.exhausted)) break;
    // With a stop rule, budgets stay equal across languages: the first corpus that ends, ends the run.
    if (opts.stop && recorders.some((r) => r.tokens < chunks * seqLen)) break;
    chunks *= 2;
  }
  // A stopped run ends at the round's budget: every language's file holds exactly what the rule saw.
  const stats = recorders.map((r) => r.final(stable ? { stopped: stable } : {}));
  writeFilesAtomic(recorders.map((r, i) => ({ path: statsPath(opts.outDir, r.lang), data: encodeStats(stats[i]!) })));
  for (const r of recorders) r.removePartial();
  const rate = tokensThisRun() / Math.max(1e-9, recorders.reduce((a, r) => a + r.secondsThisRun, 0));
  /** The next doubling beyond `held` tokens per language, for the languages that have more text. */
  const nextRound = (held: number, langs: number): RoundRobinResult['next'] => {
    const b = held < chunks * seqLen ? chunks * seqLen : 2 * chunks * seqLen;
    const tokens = langs * (b - held);
    return { budget: b, tokens, seconds: tokens / rate };
  };
  if (stable) return done(stats, 'stable', stable, nextRound(chunks * seqLen, recorders.filter((r) => !r.exhausted).length));
  const budget = chunks * seqLen;
  const cap = opts.maxTokens === undefined ? Infinity : Math.floor(opts.maxTokens / seqLen) * seqLen;
  const short = recorders.filter((r) => r.exhausted && r.tokens < Math.min(cap, opts.stop ? budget : Infinity));
  const last = rounds.at(-1)?.jaccard;
  const why = opts.stop
    ? `not stable (last Jaccard ${last === undefined ? '—' : last.toFixed(3)}${last !== undefined && last >= opts.stop.jaccard ? ' on unequal budgets' : ` < ${opts.stop.jaccard}`}) when the recording ran out`
    : 'recorded everything asked for';
  const where = short.length > 0 ? `the corpus ended for ${short.map((r) => `${r.lang} at ${r.tokens}`).join(', ')} tokens` : `the --tokens cap of ${opts.maxTokens} was reached`;
  // Stopped by the cap: going on means raising it.
  const next = opts.stop && short.length === 0 && cap < Infinity ? nextRound(cap, recorders.length) : undefined;
  return done(stats, 'exhausted', `${why}: ${where}`, next);
}

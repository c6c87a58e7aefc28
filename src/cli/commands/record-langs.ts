/**
 * `lape record-langs`: several languages in one run, round-robin by budget doublings
 * (src/recording/round-robin.ts), into DIR/LANG.safetensors; with --until-stable J it stops when
 * the LAPE selection at a budget agrees with the one at half of it.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { usageError } from '../../errors.js';
import { checkCorpusFile } from '../../corpus/text-files.js';
import { checkCorpusLanguage } from '../../langid/corpus-language.js';
import { recordRoundRobin, statsPath } from '../../recording/round-robin.js';
import { checkMaxBlocks } from '../../stats/blocks.js';
import { checkLangCode } from '../../stats/lang-code.js';
import { loadTokenizer } from '../../tokenizer/tokenizer.js';
import type { Command } from '../command.js';
import { LANGS, SEED, SEQ_LEN, seqLenFor } from '../groups/common.js';
import { MODEL_GROUP, withModel } from '../groups/model.js';
import { FORCE, outDir } from '../groups/output.js';
import { BLOCKS, CORPUS_DIR, RECORD_BATCH, RECORD_BOS, SPLIT, TOKENS, corpusFileFor } from '../groups/recording.js';
import { BAR_RATIO, FILTER_RATE, RESAMPLES, TOP_RATE } from '../groups/selection.js';
import { isLapeOutput } from '../output-guard.js';
import { formatSeconds, Progress } from '../progress.js';
import { group, inRange, opt, requiredOption, variant } from '../options/option.js';

const RR_LANGS = variant(requiredOption(LANGS), { help: 'languages, recorded round-robin' });
const RR_TOKENS = variant(TOKENS, { help: 'at most N tokens per language (the cap of --until-stable)', defaultText: 'the whole corpus' });
const UNTIL_STABLE = opt.float('until-stable', { metavar: 'J', check: inRange(0, 1, '(]'), help: 'stop when the LAPE selection at a budget and at half of it agree at Jaccard ≥ J (e.g. 0.95)' });
const STABLE_INTERVAL = opt.float('stable-interval', {
  metavar: 'W',
  check: inRange(0, 1, '[]'),
  help: 'and the 95 % bootstrap interval of the Jaccard at the current budget is at most W wide',
  appliesWhen: { option: 'until-stable' },
});
const RR_RESAMPLES = variant(RESAMPLES, { help: 'bootstrap resamples for --stable-interval', appliesWhen: { option: 'stable-interval' } });
const RR_SEED = variant(SEED, { help: 'seed of the bootstrap resamples', appliesWhen: { option: 'stable-interval' } });
const knob = <T, R>(o: Parameters<typeof variant<T, R>>[0]) => variant(o, { appliesWhen: { option: 'until-stable' }, help: `${o.help} (the stop rule's selection)` });
const RR_TOP_RATE = knob(TOP_RATE);
const RR_FILTER_RATE = knob(FILTER_RATE);
const RR_BAR_RATIO = knob(BAR_RATIO);
const STATS_DIR = outDir([], './lape-out/stats');

export const recordLangsCommand: Command = {
  name: 'record-langs',
  summary: 'Record several languages round-robin by budget doublings into DIR/LANG.safetensors; --until-stable J stops when the selection is stable',
  options: [
    group('Recording', RR_LANGS, CORPUS_DIR, SPLIT, RR_TOKENS, SEQ_LEN, RECORD_BATCH, RECORD_BOS, BLOCKS),
    group('Stop rule', UNTIL_STABLE, STABLE_INTERVAL, RR_RESAMPLES, RR_SEED, RR_TOP_RATE, RR_FILTER_RATE, RR_BAR_RATIO),
    MODEL_GROUP,
    group('Output', STATS_DIR, FORCE),
  ],
  notes: [
    'Round r records every language up to one batch × 2^r chunks; each language forms the same batches as lape record,',
    'so without --until-stable its file is byte-identical to lape record --tokens N of it. Interrupted runs resume',
    '(DIR/LANG.safetensors.partial) and replay the same stop decisions. Not for shards: compute stability afterwards',
    'from merged shards with lape stability.',
  ],
  examples: [
    'lape record-langs --model models/tiny-multilingual --langs en,zh,fr,es,vi,id,ja --corpus-dir data/corpus --seq-len 256 --out out/stats',
    'lape record-langs --model ~/models/Llama-2-7b-hf --langs en,zh,ja --corpus-dir corpus --until-stable 0.95 --tokens 100000000 --out stats',
  ],
  async run(ctx) {
    const langs = ctx.get(RR_LANGS);
    if (new Set(langs).size !== langs.length) throw usageError('--langs names a language twice');
    for (const l of langs) checkLangCode(l);
    const maxBlocks = ctx.get(BLOCKS);
    checkMaxBlocks(maxBlocks);
    const untilStable = ctx.get(UNTIL_STABLE);
    if (untilStable !== undefined && maxBlocks === 0) throw usageError('--until-stable needs blocks (--blocks N, N ≥ 4)');
    if (untilStable !== undefined && langs.length < 2) throw usageError('--until-stable needs at least two languages (the selection compares them)');
    const dir = resolve(ctx.get(CORPUS_DIR));
    const split = ctx.get(SPLIT);
    const files = langs.map((l) => corpusFileFor(dir, l, split));
    for (const f of files) checkCorpusFile(f);
    const out = ctx.get(STATS_DIR);
    // The output guard knows the folder; the per-language files are checked here, before any work.
    if (!ctx.get(FORCE)) {
      for (const l of langs) {
        for (const [p, format] of [[statsPath(out, l), 'lape-stats'], [`${statsPath(out, l)}.partial`, 'lape-partial']] as const) {
          if (existsSync(p) && !isLapeOutput(p, format)) throw usageError(`${p} exists and is not a ${format} file: lape does not replace a file of another kind (give --force to replace it)`);
        }
      }
    }
    for (let i = 0; i < langs.length; i++) {
      await checkCorpusLanguage([files[i]!], langs[i]!, false, (m) => void (ctx.quiet || process.stderr.write(`warning: ${m}\n`)));
    }
    const maxTokens = ctx.get(RR_TOKENS);
    return withModel(ctx, async (model) => {
      const seqLen = seqLenFor(ctx.get(SEQ_LEN), model.spec.maxPositionEmbeddings);
      if (maxTokens !== undefined && maxTokens < seqLen) throw usageError(`--tokens ${maxTokens} is less than one chunk of ${seqLen} tokens (--seq-len)`);
      const batchSize = ctx.get(RECORD_BATCH) ?? Math.max(1, Math.floor(2048 / seqLen));
      const tokenizer = loadTokenizer(model.dir);
      let progress: Progress | null = null;
      let detail = '';
      let roundTotal = 0;
      const r = await recordRoundRobin(model, tokenizer, {
        langs: langs.map((lang, i) => ({ lang, files: [files[i]!] })),
        outDir: out,
        seqLen, maxTokens, batchSize, bos: ctx.get(RECORD_BOS), maxBlocks,
        stop: untilStable === undefined ? undefined : {
          jaccard: untilStable,
          maxInterval: ctx.get(STABLE_INTERVAL),
          resamples: ctx.get(RR_RESAMPLES),
          seed: ctx.get(RR_SEED),
          selection: { topRate: ctx.get(RR_TOP_RATE), filterRate: ctx.get(RR_FILTER_RATE), barRatio: ctx.get(RR_BAR_RATIO) },
        },
        log: (l) => ctx.log(l),
        onProgress: (rates, roundTokens) => {
          detail = rates.map((x) => `${x.lang} ${x.tokensPerSecond.toFixed(0)}/s`).join(' ');
          // A language whose corpus ended counts as done with the round.
          const done = rates.reduce((a, x) => a + (x.exhausted ? roundTokens / rates.length : Math.min(x.tokens, roundTokens / rates.length)), 0);
          if (!progress || roundTokens !== roundTotal) {
            progress?.finish();
            roundTotal = roundTokens;
            progress = new Progress({ label: `record ${langs.length} languages to ${roundTokens / rates.length} tokens each`, total: roundTokens, unit: 'tokens', quiet: ctx.quiet, detail: () => detail });
            progress.resumeFrom(done);
          } else progress.update(done);
        },
      });
      (progress as Progress | null)?.finish();
      ctx.log(r.reason);
      if (r.next) ctx.log(`going on to ${r.next.budget} tokens per language${r.stopped === 'exhausted' ? ' (a larger --tokens)' : ''} would record about ${r.next.tokens} more tokens, about ${formatSeconds(r.next.seconds)} at this run's rate`);
      if (r.stopped !== 'complete') ctx.log(`wrote ${langs.length} statistics files to ${out}: ${r.stats.map((s) => `${s.lang} ${s.tokens}`).join(', ')} tokens`);
      return {
        out, langs, tokens: r.stats.reduce((a, s) => a + s.tokens, 0), perLanguage: Object.fromEntries(r.stats.map((s) => [s.lang, s.tokens])),
        stopped: r.stopped, reason: r.reason, rounds: r.rounds, next: r.next ?? null, seconds: r.seconds, tokensPerSecond: r.tokensThisRun / Math.max(r.seconds, 1e-9),
      };
    });
  },
};

import { loadTokenizer } from '../../tokenizer/tokenizer.js';
import { recordLanguage } from '../../recording/record-language.js';
import { checkLangCode } from '../../stats/lang-code.js';
import { checkMaxBlocks } from '../../stats/blocks.js';
import { checkCorpusFile } from '../../corpus/text-files.js';
import { checkCorpusLanguage } from '../../langid/corpus-language.js';
import { usageError } from '../../errors.js';
import type { Command } from '../command.js';
import { CORPUS, SEQ_LEN, seqLenFor } from '../groups/common.js';
import { BLOCKS, RECORD_BATCH, RECORD_BOS, TOKENS } from '../groups/recording.js';
import { MODEL_GROUP, withModel } from '../groups/model.js';
import { FORCE, outFile } from '../groups/output.js';
import { OptionValueError, group, opt } from '../options/option.js';
import { Progress } from '../progress.js';

export function parseShard(v: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new OptionValueError('must be i/n with 0 ≤ i < n');
  return { index: Number(m[1]), count: Number(m[2]) };
}

const LANG = opt.string('lang', { metavar: 'LANG', required: true, help: 'language code stored in the statistics (en, zh, ...)' });
const SHARD = opt.custom('shard', { metavar: 'i/n', help: 'record only chunks c with c mod n = i (merge shards with lape merge)', parse: parseShard });
const STRICT_LANG = opt.bool('strict-lang', { help: 'refuse a corpus whose sampled lines are mostly another language than --lang (default: warn)' });
const STATS_OUT = outFile({
  ext: '.safetensors',
  required: true,
  format: 'lape-stats',
  twins: [{ name: '+.partial', format: 'lape-partial' }],
  help: 'statistics file to write (resume state in FILE.partial)' });

export const recordCommand: Command = {
  name: 'record',
  summary: 'Record per-neuron activation statistics of one language (count(act>0), sum, sum²)',
  options: [
    group('Recording', LANG, CORPUS, TOKENS, SEQ_LEN, RECORD_BATCH, SHARD, RECORD_BOS, BLOCKS, STRICT_LANG),
    MODEL_GROUP,
    group('Output', STATS_OUT, FORCE),
  ],
  notes: [
    'Interrupted runs resume: run the same command again (state in FILE.partial).',
    'Blocks (default 64) let lape stability re-aggregate any budget without another forward pass; --blocks 0 writes the totals only.',
  ],
  examples: [
    'lape record --model models/tiny-multilingual --lang fr --corpus data/corpus/fr.train.txt --seq-len 256 --out out/stats/fr.safetensors',
    'lape record --model ~/models/Llama-2-7b-hf --lang zh --corpus zh.txt --tokens 100000000 --shard 0/4 --out zh.0.safetensors',
  ],
  async run(ctx) {
    const lang = ctx.get(LANG);
    const files = ctx.get(CORPUS);
    if (files.length === 0) throw usageError('--corpus is required');
    const out = ctx.get(STATS_OUT);
    const maxTokens = ctx.get(TOKENS);
    const shard = ctx.get(SHARD);
    checkLangCode(lang);
    checkMaxBlocks(ctx.get(BLOCKS));
    for (const f of files) checkCorpusFile(f);
    await checkCorpusLanguage(files, lang, ctx.get(STRICT_LANG), (m) => void (ctx.quiet || process.stderr.write(`warning: ${m}\n`)));
    return withModel(ctx, async (model) => {
      const seqLen = seqLenFor(ctx.get(SEQ_LEN), model.spec.maxPositionEmbeddings);
      if (maxTokens !== undefined && maxTokens < seqLen) throw usageError(`--tokens ${maxTokens} is less than one chunk of ${seqLen} tokens (--seq-len)`);
      const batchSize = ctx.get(RECORD_BATCH) ?? Math.max(1, Math.floor(2048 / seqLen));
      const tokenizer = loadTokenizer(model.dir);
      const progress = new Progress({ label: `record ${lang}`, total: maxTokens === undefined ? undefined : Math.floor(maxTokens / seqLen / (shard?.count ?? 1)) * seqLen, unit: 'tokens', quiet: ctx.quiet });
      let started = false;
      const r = await recordLanguage(model, tokenizer, {
        lang, files, seqLen, maxTokens, batchSize, shard, bos: ctx.get(RECORD_BOS), out, maxBlocks: ctx.get(BLOCKS),
        onProgress: (done) => {
          if (started) progress.update(done);
          else progress.resumeFrom(done);
          started = true;
        },
      });
      progress.finish();
      if (r.alreadyComplete) ctx.log(`${out} is already complete for these arguments (${r.stats.tokens} tokens)`);
      else {
        if (r.resumedFromChunks > 0) ctx.log(`resumed after ${r.resumedFromChunks} chunks`);
        ctx.log(`wrote ${out}: ${r.stats.tokens} tokens of ${lang}, ${r.stats.layers} layers × ${r.stats.neurons} neurons (${(r.tokensThisRun / Math.max(r.seconds, 1e-9)).toFixed(0)} tokens/s)`);
      }
      return { out, lang, tokens: r.stats.tokens, seqLen, resumedFromChunks: r.resumedFromChunks, alreadyComplete: r.alreadyComplete, seconds: r.seconds, tokensPerSecond: r.tokensThisRun / Math.max(r.seconds, 1e-9) };
    });
  },
};

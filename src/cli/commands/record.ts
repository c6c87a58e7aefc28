import { availableParallelism } from 'node:os';
import { loadModel } from '../../runtime/model.js';
import { loadTokenizer } from '../../tokenizer/tokenizer.js';
import { recordLanguage } from '../../stats/record.js';
import { usageError } from '../../errors.js';
import type { Command } from '../command.js';
import { bool, list, num, positiveInt, required, str } from '../flags.js';
import { Progress } from '../progress.js';

export function parseShard(v: string | undefined): { index: number; count: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw usageError(`--shard must be i/n with 0 ≤ i < n, got "${v}"`);
  return { index: Number(m[1]), count: Number(m[2]) };
}

export const recordCommand: Command = {
  name: 'record',
  summary: 'Record per-neuron activation statistics of one language (count(act>0), sum, sum²)',
  usage: 'lape record --model DIR --lang LANG --corpus FILE... --out stats.LANG.safetensors [options]',
  details: [
    '--model DIR        Hugging Face checkpoint folder',
    '--lang LANG        language code stored in the statistics (en, zh, ...)',
    '--corpus FILE      UTF-8 text (.txt or .txt.gz), one paragraph per line; repeat or comma-separate',
    '--out FILE         statistics file to write (safetensors)',
    '--tokens N         use the first N tokens of the corpus (default: all)',
    '--seq-len L        chunk length in tokens (default 512)',
    '--batch-size B     chunks per forward pass (default: 2048 tokens per pass)',
    '--threads N        ONNX Runtime threads (default: all cores)',
    '--shard i/n        record only chunks c with c mod n = i (merge shards with lape merge)',
    '--bos              start every chunk with the BOS token',
    'Interrupted runs resume: run the same command again (state in OUT.partial).',
  ],
  examples: [
    'lape record --model models/tiny-multilingual --lang fr --corpus data/corpus/fr.train.txt --seq-len 256 --out out/stats/fr.safetensors',
    'lape record --model ~/models/Llama-2-7b-hf --lang zh --corpus zh.txt --tokens 100000000 --shard 0/4 --out zh.0.safetensors',
  ],
  flags: {
    model: { type: 'string' },
    lang: { type: 'string' },
    corpus: { type: 'string', multiple: true },
    out: { type: 'string' },
    tokens: { type: 'string' },
    'seq-len': { type: 'string' },
    'batch-size': { type: 'string' },
    threads: { type: 'string' },
    shard: { type: 'string' },
    bos: { type: 'boolean' },
  },
  async run(ctx) {
    const modelDir = required(ctx, 'model');
    const lang = required(ctx, 'lang');
    const files = list(ctx, 'corpus');
    if (files.length === 0) throw usageError('--corpus is required');
    const out = required(ctx, 'out');
    const seqLen = num(ctx, 'seq-len', 512, positiveInt);
    const tokensFlag = str(ctx, 'tokens');
    const maxTokens = tokensFlag === undefined ? undefined : num(ctx, 'tokens', 0, positiveInt);
    const batchSize = num(ctx, 'batch-size', Math.max(1, Math.floor(2048 / seqLen)), positiveInt);
    const threads = num(ctx, 'threads', availableParallelism(), positiveInt);
    const shard = parseShard(str(ctx, 'shard'));
    const model = loadModel(modelDir, { threads });
    const tokenizer = loadTokenizer(modelDir);
    const progress = new Progress({ label: `record ${lang}`, total: maxTokens === undefined ? undefined : Math.floor(maxTokens / seqLen / (shard?.count ?? 1)) * seqLen, unit: 'tokens', quiet: ctx.quiet });
    let started = false;
    try {
      const r = await recordLanguage(model, tokenizer, {
        lang, files, seqLen, maxTokens, batchSize, shard, bos: bool(ctx, 'bos'), out,
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
      return { out, lang, tokens: r.stats.tokens, resumedFromChunks: r.resumedFromChunks, alreadyComplete: r.alreadyComplete, seconds: r.seconds, tokensPerSecond: r.tokensThisRun / Math.max(r.seconds, 1e-9) };
    } finally {
      await model.release();
    }
  },
};

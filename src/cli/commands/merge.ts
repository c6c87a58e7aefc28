import { usageError } from '../../errors.js';
import { loadStats, saveStats } from '../../stats/stats-file.js';
import { mergeStats } from '../../stats/record.js';
import type { Command } from '../command.js';
import { required } from '../flags.js';

export const mergeCommand: Command = {
  name: 'merge',
  summary: 'Sum statistics shards of one language into one file',
  usage: 'lape merge SHARD.safetensors... --out stats.LANG.safetensors',
  details: [
    '--out FILE   merged statistics file',
    'Refuses shards from different models, tokenizers, sequence lengths or languages, and a shard given twice.',
  ],
  examples: ['lape merge zh.0.safetensors zh.1.safetensors zh.2.safetensors zh.3.safetensors --out stats/zh.safetensors'],
  flags: { out: { type: 'string' } },
  async run(ctx) {
    const out = required(ctx, 'out');
    if (ctx.positionals.length === 0) throw usageError('merge needs at least one statistics file');
    const merged = mergeStats(ctx.positionals.map((file) => ({ file, stats: loadStats(file) })));
    saveStats(out, merged);
    ctx.log(`wrote ${out}: ${merged.tokens} tokens of ${merged.lang} from ${ctx.positionals.length} files`);
    return { out, lang: merged.lang, tokens: merged.tokens, files: ctx.positionals.length };
  },
};

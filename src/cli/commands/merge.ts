import { loadStats, saveStats } from '../../stats/stats-file.js';
import { mergeStats } from '../../stats/merge.js';
import type { Command } from '../command.js';
import { FORCE, outFile } from '../groups/output.js';
import { group } from '../options/option.js';

const MERGED = outFile({ ext: '.safetensors', required: true, format: 'lape-stats', help: 'merged statistics file' });

export const mergeCommand: Command = {
  name: 'merge',
  summary: 'Sum statistics shards of one language into one file',
  options: [group('Options', MERGED, FORCE)],
  positionals: { metavar: 'SHARD.safetensors...', help: 'statistics shards of one language (lape record --shard i/n)', min: 1, max: Infinity, io: { role: 'in' } },
  notes: ['Refuses shards from different models, tokenizers, sequence lengths or languages, and a shard given twice.'],
  examples: ['lape merge zh.0.safetensors zh.1.safetensors zh.2.safetensors zh.3.safetensors --out stats/zh.safetensors'],
  async run(ctx) {
    const out = ctx.get(MERGED);
    const merged = mergeStats(
      ctx.positionals.map((file) => ({ file, stats: loadStats(file, { blocks: true }) })),
      (m) => void (ctx.quiet || process.stderr.write(`warning: ${m}\n`)),
    );
    saveStats(out, merged);
    ctx.log(`wrote ${out}: ${merged.tokens} tokens of ${merged.lang} from ${ctx.positionals.length} files`);
    return { out, lang: merged.lang, tokens: merged.tokens, files: ctx.positionals.length };
  },
};

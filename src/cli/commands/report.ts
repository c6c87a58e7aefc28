/**
 * `lape report DIR`: (re)builds DIR/report.html from the result files in DIR (docs/outputs.md).
 */
import { usageError } from '../../errors.js';
import { buildReport, SECTIONS } from '../../report/build-report.js';
import type { Command } from '../command.js';
import { str } from '../flags.js';
import { Progress } from '../progress.js';

export const reportCommand: Command = {
  name: 'report',
  summary: 'Build report.html (self-contained, every result as a chart) from an output folder',
  usage: 'lape report <output-dir> [--title TEXT]',
  details: [
    '--title TEXT   page title (default: "lape report — <folder name>")',
    'Sections appear when their files exist: run.json, ppl.json, masks.json, sweep.json, ses.json,',
    'dominance.json, steering.json, generations.jsonl, stats/*.safetensors. Charts without a CSV',
    'from the command that made them get one written next to report.html (report-*.csv, lape-hist.csv).',
  ],
  examples: ['lape report lape-out', 'lape report runs/qwen-0.5b --title "Qwen2.5-0.5B, 7 languages"', 'lape report lape-out --json'],
  flags: { title: { type: 'string' } },
  async run(ctx) {
    const dir = ctx.positionals[0];
    if (!dir) throw usageError('report needs an output folder');
    if (ctx.positionals.length > 1) throw usageError(`report takes one folder, got ${ctx.positionals.length}`);
    const title = str(ctx, 'title');
    const bar = new Progress({ label: 'report', unit: 'sections', quiet: ctx.quiet || ctx.json, total: SECTIONS.length });
    const r = await buildReport(dir, { title, onSection: (_id, i) => i > 0 && bar.add(1) });
    bar.add(1);
    bar.finish();
    ctx.log(`sections: ${r.sections.join(', ') || 'none (no result files found)'}; ${r.charts} charts, ${(r.bytes / 1024).toFixed(0)} KiB, built in ${(r.ms / 1000).toFixed(2)} s`);
    ctx.log(r.path);
    return r;
  },
};

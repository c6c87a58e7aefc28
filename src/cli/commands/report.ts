/**
 * `lape report DIR`: (re)builds DIR/report.html from the result files in DIR (docs/outputs.md).
 */
import { buildReport, SECTIONS } from '../../report/build-report.js';
import type { Command } from '../command.js';
import { group, opt } from '../options/option.js';
import { FORCE } from '../groups/output.js';
import { Progress } from '../progress.js';

const TITLE = opt.string('title', { help: 'page title', defaultText: '"lape report — <folder name>"' });

export const reportCommand: Command = {
  name: 'report',
  summary: 'Build report.html (self-contained, every result as a chart) from an output folder',
  options: [group('Options', TITLE, FORCE)],
  positionals: {
    metavar: 'DIR',
    help: 'an output folder (report.html is written into it)',
    min: 1,
    max: 1,
    io: { role: 'out', kind: 'dir', files: [], report: true },
  },
  notes: [
    'Sections appear when their files exist: run.json, ppl.json, masks.json, sweep.json, ses.json,',
    'dominance.json, steering.json, generations.jsonl, stats/*.safetensors. Charts without a CSV',
    'from the command that made them get one written next to report.html (report-*.csv, lape-hist.csv).',
  ],
  examples: ['lape report lape-out', 'lape report runs/qwen-0.5b --title "Qwen2.5-0.5B, 7 languages"', 'lape report lape-out --json'],
  async run(ctx) {
    const dir = ctx.positionals[0]!;
    const bar = new Progress({ label: 'report', unit: 'sections', quiet: ctx.quiet || ctx.json, total: SECTIONS.length });
    const r = await buildReport(dir, { title: ctx.get(TITLE), onSection: (_id, i) => i > 0 && bar.add(1) });
    bar.add(1);
    bar.finish();
    ctx.log(`sections: ${r.sections.join(', ') || 'none (no result files found)'}; ${r.charts} charts, ${(r.bytes / 1024).toFixed(0)} KiB, built in ${(r.ms / 1000).toFixed(2)} s`);
    ctx.log(r.path);
    return r;
  },
};

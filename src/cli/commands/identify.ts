import { dirname } from 'node:path';
import { REPORT_FLAGS, refreshReport } from '../report-refresh.js';
import { LapeError, usageError } from '../../errors.js';
import { loadStatsSet } from '../../stats/stats-file.js';
import { lapeSelection } from '../../select/lape.js';
import { selectLap } from '../../select/lap.js';
import { selectLave } from '../../select/lave.js';
import { selectRandom } from '../../select/rs.js';
import { selectPv } from '../../select/pv.js';
import { languageTotals } from '../../select/masks.js';
import { openCheckpoint } from '../../checkpoint/checkpoint.js';
import { neuronParameterChange } from '../../checkpoint/parameter-change.js';
import type { NeuronMasks } from '../../select/types.js';
import type { Command } from '../command.js';
import { list, num, required, str } from '../flags.js';
import { writeMasksFiles } from '../output-paths.js';

const METHODS = ['lape', 'lap', 'lave', 'rs', 'pv'] as const;

export const identifyCommand: Command = {
  name: 'identify',
  summary: 'Select language-specific neurons from statistics (LAPE, or the baselines LAP, LAVE, RS, PV)',
  usage: 'lape identify --stats DIR|FILE... [--method lape] [--top-rate 0.01] --out masks.json',
  details: [
    '--stats DIR|FILE   statistics from lape record (a folder of *.safetensors, or files)',
    '--method M         lape (default) | lap | lave | rs (random, LAPE sizes) | pv (parameter variation)',
    '--top-rate R       share of all neurons to select, in (0, 1] (default 0.01)',
    '--filter-rate R    quantile a neuron must exceed in some language (default 0.95)',
    '--bar-ratio R      quantile a language must exceed to own a selected neuron (default 0.95)',
    '--threshold P      lap: absolute activation probability (default 0.95)',
    '--seed S           rs: random seed (default 0)',
    '--base DIR         pv: base checkpoint;  --tuned LANG=DIR  pv: one fine-tuned checkpoint per language',
    '--out FILE         masks JSON; a .safetensors copy is written beside it',
    '--no-report        do not rebuild report.html in the output folder',
  ],
  examples: [
    'lape identify --stats out/stats --out out/masks.json',
    'lape identify --stats out/stats --method lave --top-rate 0.02 --out out/masks.lave.json',
    'lape identify --method pv --base base-model --tuned en=ft-en --tuned zh=ft-zh --out masks.pv.json',
  ],
  flags: {
    ...REPORT_FLAGS,
    stats: { type: 'string', multiple: true },
    method: { type: 'string' },
    'top-rate': { type: 'string' },
    'filter-rate': { type: 'string' },
    'bar-ratio': { type: 'string' },
    threshold: { type: 'string' },
    seed: { type: 'string' },
    base: { type: 'string' },
    tuned: { type: 'string', multiple: true },
    out: { type: 'string' },
  },
  async run(ctx) {
    const method = (str(ctx, 'method') ?? 'lape') as (typeof METHODS)[number];
    if (!METHODS.includes(method)) throw usageError(`--method must be one of ${METHODS.join(', ')}, got "${method}"`);
    const out = required(ctx, 'out');
    const opts = {
      topRate: num(ctx, 'top-rate', 0.01),
      filterRate: num(ctx, 'filter-rate', 0.95),
      barRatio: num(ctx, 'bar-ratio', 0.95),
    };
    let masks: NeuronMasks;
    if (method === 'pv') {
      const base = required(ctx, 'base');
      const tuned = list(ctx, 'tuned').map((s) => {
        const m = /^([^=]+)=(.+)$/.exec(s);
        if (!m) throw usageError(`--tuned must be LANG=DIR, got "${s}"`);
        return { lang: m[1]!, dir: m[2]! };
      });
      if (tuned.length < 2) throw usageError('pv needs --tuned LANG=DIR for at least two languages');
      const changes = tuned.map((t) => ({ lang: t.lang, change: neuronParameterChange(base, t.dir) }));
      const spec = openCheckpoint(base).spec;
      masks = selectPv(changes, spec.numLayers, spec.intermediateSize, opts);
    } else {
      const files = list(ctx, 'stats');
      if (files.length === 0) throw usageError('--stats is required');
      const stats = loadStatsSet(files);
      if (stats.length < 2) throw new LapeError(`neuron selection needs statistics of at least two languages, got ${stats.length}`, files.join(', '));
      if (method === 'lape') masks = lapeSelection(stats, opts).result;
      else if (method === 'lave') masks = selectLave(stats, opts);
      else if (method === 'lap') masks = selectLap(stats, { threshold: num(ctx, 'threshold', 0.95) });
      else masks = selectRandom(lapeSelection(stats, opts).result, { seed: num(ctx, 'seed', 0) });
    }
    const st = writeMasksFiles(out, masks);
    const totals = languageTotals(masks);
    ctx.log(`${method}: ${masks.languages.map((l, k) => `${l} ${totals[k]}`).join(', ')} neurons`);
    ctx.log(`wrote ${out} and ${st}`);
    await refreshReport(ctx, dirname(out));
    return { method, out, languages: masks.languages, totals, settings: masks.settings };
  },
};

/** `lape identify`: language-specific neurons from statistics (LAPE and the paper's baselines) → masks. */
import { LapeError, usageError } from '../../errors.js';
import { loadStatsSet } from '../../stats/stats-file.js';
import { lapeSelection } from '../../select/lape.js';
import { selectWithMethod } from '../../select/methods.js';
import { selectRandom } from '../../select/rs.js';
import { selectPv } from '../../select/pv.js';
import { languageTotals } from '../../select/masks.js';
import { openCheckpoint } from '../../checkpoint/checkpoint.js';
import { neuronParameterChange } from '../../checkpoint/parameter-change.js';
import type { NeuronMasks } from '../../select/types.js';
import type { Command } from '../command.js';
import { SEED, STATS } from '../groups/common.js';
import { FORCE, NO_REPORT, masksOut, writeMasksResult } from '../groups/output.js';
import { BAR_RATIO, FILTER_RATE, LAP_THRESHOLD, TOP_RATE } from '../groups/selection.js';
import { OptionValueError, group, opt, variant } from '../options/option.js';

const METHODS = ['lape', 'lap', 'lave', 'rs', 'pv'] as const;
const ENTROPY_METHODS = ['lape', 'lave', 'rs', 'pv'];

const METHOD = opt.enum('method', METHODS, {
  default: 'lape' as (typeof METHODS)[number],
  help: 'lape | lap (activation probability) | lave (activation values) | rs (random, LAPE sizes) | pv (parameter variation)',
});
const ID_STATS = variant(STATS, { appliesWhen: { option: 'method', values: ['lape', 'lap', 'lave', 'rs'] } });
const ID_TOP_RATE = variant(TOP_RATE, { appliesWhen: { option: 'method', values: ENTROPY_METHODS } });
const ID_FILTER_RATE = variant(FILTER_RATE, { appliesWhen: { option: 'method', values: ENTROPY_METHODS } });
const ID_BAR_RATIO = variant(BAR_RATIO, { appliesWhen: { option: 'method', values: ENTROPY_METHODS } });
const THRESHOLD = variant(LAP_THRESHOLD, { appliesWhen: { option: 'method', values: ['lap'] } });
const RS_SEED = variant(SEED, { help: 'seed of the random selection', appliesWhen: { option: 'method', values: ['rs'] } });
const BASE = opt.path('base', { metavar: 'DIR', io: { role: 'model' }, help: 'base checkpoint', appliesWhen: { option: 'method', values: ['pv'] } });
const TUNED = opt.list('tuned', {
  metavar: 'LANG=DIR',
  help: 'one fine-tuned checkpoint per language (at least two)',
  io: { role: 'model' },
  appliesWhen: { option: 'method', values: ['pv'] },
  item: (raw) => {
    const m = /^([^=]+)=(.+)$/.exec(raw);
    if (!m) throw new OptionValueError('must be LANG=DIR');
    return { lang: m[1]!, dir: m[2]! };
  },
});
const MASKS_OUT = masksOut();

export const identifyCommand: Command = {
  name: 'identify',
  summary: 'Select language-specific neurons from statistics (LAPE, or the baselines LAP, LAVE, RS, PV)',
  options: [
    group('Selection', METHOD, ID_STATS, ID_TOP_RATE, ID_FILTER_RATE, ID_BAR_RATIO, THRESHOLD, RS_SEED, BASE, TUNED),
    group('Output', MASKS_OUT, NO_REPORT, FORCE),
  ],
  examples: [
    'lape identify --stats out/stats --out out/masks.json',
    'lape identify --stats out/stats --method lave --top-rate 0.02 --out out/lave/masks.json',
    'lape identify --method lap --stats out/stats --threshold 0.9 --out out/lap/masks.json',
    'lape identify --method pv --base base-model --tuned en=ft-en,zh=ft-zh --out pv/masks.json',
  ],
  async run(ctx) {
    const method = ctx.get(METHOD);
    const out = ctx.get(MASKS_OUT);
    const opts = { topRate: ctx.get(ID_TOP_RATE), filterRate: ctx.get(ID_FILTER_RATE), barRatio: ctx.get(ID_BAR_RATIO) };
    let masks: NeuronMasks;
    if (method === 'pv') {
      const base = ctx.get(BASE);
      if (base === undefined) throw usageError('--method pv needs --base');
      const tuned = ctx.get(TUNED);
      if (tuned.length < 2) throw usageError('--method pv needs --tuned LANG=DIR for at least two languages');
      const changes = tuned.map((t) => ({ lang: t.lang, change: neuronParameterChange(base, t.dir) }));
      const spec = openCheckpoint(base).spec;
      masks = selectPv(changes, spec.numLayers, spec.intermediateSize, opts);
    } else {
      const files = ctx.get(ID_STATS);
      if (files.length === 0) throw usageError('--stats is required');
      const stats = loadStatsSet(files);
      if (stats.length < 2) throw new LapeError(`neuron selection needs statistics of at least two languages, got ${stats.length}`, files.join(', '));
      if (method === 'rs') masks = selectRandom(lapeSelection(stats, opts).result, { seed: ctx.get(RS_SEED) });
      else masks = selectWithMethod(method, stats, { ...opts, threshold: ctx.get(THRESHOLD) });
    }
    const totals = languageTotals(masks);
    ctx.log(`${method}: ${masks.languages.map((l, k) => `${l} ${totals[k]}`).join(', ')} neurons`);
    const written = await writeMasksResult(ctx, out, masks);
    return { method, out, safetensors: written.safetensors, languages: masks.languages, totals, settings: masks.settings };
  },
};

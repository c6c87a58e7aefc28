/** The steering group (generate, steer-eval): masks, statistics, interventions, mode and alpha. */
import type { ModelSpec } from '../../archs/model-spec.js';
import { LapeError, usageError } from '../../errors.js';
import { STEERING_MODES, describeSpec, interventionPatches, isEmptySpec, type InterventionSpec, type SteeringMode } from '../../experiments/steering.js';
import type { NeuronPatch } from '../../runtime/patches.js';
import { loadMasks } from '../../select/masks-io.js';
import { checkMasksFit, restrictToLayers } from '../../select/masks.js';
import type { NeuronMasks } from '../../select/types.js';
import { loadStatsSet } from '../../stats/stats-file.js';
import type { LangStats } from '../../stats/types.js';
import type { CommandContext } from '../command.js';
import { group, opt, requiredOption, variant, type Option } from '../options/option.js';
import { LAYERS, MASKS, STATS, resolveLayers } from './common.js';

export const STEER_STATS = variant(STATS, { help: 'activation statistics (the mean activations): a folder of LANG.safetensors, or files' });
export const ACTIVATE = opt.list('activate', { metavar: 'L,...', help: 'steer towards each language: its neurons get its mean activation' });
export const DEACTIVATE = opt.list('deactivate', { metavar: 'L,...', help: "zero these languages' neurons (applied before --activate)" });
export const MODE = opt.enum('mode', STEERING_MODES, {
  default: 'set' as SteeringMode,
  help: 'set: value := mean (the paper); add: value += alpha·mean;\ndiffmean: value += alpha·(mean(LANG) − mean of the other languages)',
});
export const ALPHA = opt.float('alpha', { default: 1, help: 'scale of --mode add / diffmean', appliesWhen: { option: 'mode', values: ['add', 'diffmean'] } });

/** What --help of generate and steer-eval says about the modes and what was measured to work. */
export const STEERING_NOTES = [
  'Modes (--mode, on hook_act of the target language\'s neurons, at every position):',
  '  set       value := the language\'s mean activation (from --stats): the paper\'s steering (Tables 4-5).',
  '  add       value += alpha · mean activation.',
  '  diffmean  value += alpha · (mean of the language − mean of the other languages with statistics).',
  '--deactivate L zeroes L\'s neurons first (Table 5 combines both: --deactivate SRC --activate TGT).',
  'Measured with lape demo\'s protocol (8 two-token prompts per language, 42 source/target pairs,',
  '5 % of neurons) on the embedded tiny model (v3, 8 layers): set changed the target share by +2.4',
  'points on average, add with alpha 4 by +22.9 and alpha 8 by +57.1; lape demo uses add ×4. Its neurons',
  'also fire on 35-45 % of the other languages\' tokens, so their mean is a small push. On the paper\'s',
  '7B models set works (Tang et al. 2024, Table 4); no larger model has been measured with lape yet.',
];

/** generate: every steering option applies only to an intervention it asks for. */
export const STEERING_GROUP = group(
  'Steering',
  variant(MASKS, { appliesWhen: { option: ['activate', 'deactivate'] } }),
  variant(STEER_STATS, { appliesWhen: { option: 'activate' } }),
  ACTIVATE,
  DEACTIVATE,
  variant(MODE, { appliesWhen: { option: 'activate' } }),
  ALPHA,
  variant(LAYERS, { help: 'steer or zero only the neurons in these layers: 0-3,28-31 | bottom:K | top:K', appliesWhen: { option: ['activate', 'deactivate'] } }),
);

/** steer-eval: the command chooses the interventions; masks and statistics are required. */
export const STEER_EVAL_GROUP = group(
  'Steering',
  requiredOption(MASKS),
  requiredOption(STEER_STATS) as Option<string[], string[]>,
  MODE,
  ALPHA,
  variant(LAYERS, { help: 'steer and zero only the neurons in these layers: 0-3,28-31 | bottom:K | top:K' }),
);

export function steerMode(ctx: CommandContext): { mode: SteeringMode; alpha: number } {
  return { mode: ctx.get(MODE), alpha: ctx.get(ALPHA) };
}

/** Loads --masks (checked against the model) and --stats when given. */
export function steerInputs(ctx: CommandContext, spec: ModelSpec, needStats: boolean): { masks: NeuronMasks; stats: LangStats[] } {
  const masksPath = ctx.get(MASKS);
  if (!masksPath) throw usageError('steering needs --masks (the language-specific neurons)');
  const loaded = loadMasks(masksPath);
  checkMasksFit(loaded, spec.numLayers, spec.intermediateSize, masksPath);
  const layerSel = ctx.get(LAYERS);
  const masks = layerSel ? restrictToLayers(loaded, resolveLayers(layerSel, spec.numLayers)) : loaded;
  const statsPaths = ctx.get(STEER_STATS);
  if (needStats && statsPaths.length === 0) throw usageError('activating a language needs --stats (its mean activations)');
  const stats = statsPaths.length ? loadStatsSet(statsPaths) : [];
  for (const s of stats) {
    if (s.layers !== spec.numLayers || s.neurons !== spec.intermediateSize) {
      throw new LapeError(
        `statistics for "${s.lang}" are for ${s.layers} layers × ${s.neurons} neurons, the model has ${spec.numLayers} × ${spec.intermediateSize}`,
      );
    }
  }
  return { masks, stats };
}

/** The intervention --activate/--deactivate describe, and its patches (none without them). */
export function steeringFromFlags(ctx: CommandContext, spec: ModelSpec): { intervention: InterventionSpec; patches: NeuronPatch[]; label: string } {
  const activate = ctx.get(ACTIVATE);
  const deactivate = ctx.get(DEACTIVATE);
  const intervention: InterventionSpec = { activate, deactivate, ...steerMode(ctx) };
  if (isEmptySpec(intervention)) return { intervention, patches: [], label: 'none' };
  const { masks, stats } = steerInputs(ctx, spec, activate.length > 0);
  return { intervention, patches: interventionPatches(intervention, masks, stats), label: describeSpec(intervention) };
}

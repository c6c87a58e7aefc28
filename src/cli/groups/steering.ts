/** The steering group (generate, steer-eval): masks, statistics, interventions, mode and alpha. */
import type { ModelSpec } from '../../archs/model-spec.js';
import { LapeError, usageError } from '../../errors.js';
import { STEERING_MODES, describeSpec, interventionPatches, isEmptySpec, type InterventionSpec, type SteeringMode } from '../../experiments/steering.js';
import type { NeuronPatch } from '../../runtime/patches.js';
import { loadMasks } from '../../select/masks-io.js';
import { checkMasksFit } from '../../select/masks.js';
import type { NeuronMasks } from '../../select/types.js';
import { loadStatsSet } from '../../stats/stats-file.js';
import type { LangStats } from '../../stats/types.js';
import type { CommandContext } from '../command.js';
import { group, opt, requiredOption, variant, type Option } from '../options/option.js';
import { MASKS, STATS } from './common.js';

export const STEER_STATS = variant(STATS, { help: 'activation statistics (the mean activations): a folder of LANG.safetensors, or files' });
export const ACTIVATE = opt.list('activate', { metavar: 'L,...', help: 'steer towards each language: its neurons get its mean activation' });
export const DEACTIVATE = opt.list('deactivate', { metavar: 'L,...', help: "zero these languages' neurons (applied before --activate)" });
export const MODE = opt.enum('mode', STEERING_MODES, {
  default: 'set' as SteeringMode,
  help: 'set: value := mean (the paper); add: value += alpha·mean;\ndiffmean: value += alpha·(mean(LANG) − mean of the other languages)',
});
export const ALPHA = opt.float('alpha', { default: 1, help: 'scale of --mode add / diffmean', appliesWhen: { option: 'mode', values: ['add', 'diffmean'] } });

/** generate: every steering option applies only to an intervention it asks for. */
export const STEERING_GROUP = group(
  'Steering',
  variant(MASKS, { appliesWhen: { option: ['activate', 'deactivate'] } }),
  variant(STEER_STATS, { appliesWhen: { option: 'activate' } }),
  ACTIVATE,
  DEACTIVATE,
  variant(MODE, { appliesWhen: { option: 'activate' } }),
  ALPHA,
);

/** steer-eval: the command chooses the interventions; masks and statistics are required. */
export const STEER_EVAL_GROUP = group('Steering', requiredOption(MASKS), requiredOption(STEER_STATS) as Option<string[], string[]>, MODE, ALPHA);

export function steerMode(ctx: CommandContext): { mode: SteeringMode; alpha: number } {
  return { mode: ctx.get(MODE), alpha: ctx.get(ALPHA) };
}

/** Loads --masks (checked against the model) and --stats when given. */
export function steerInputs(ctx: CommandContext, spec: ModelSpec, needStats: boolean): { masks: NeuronMasks; stats: LangStats[] } {
  const masksPath = ctx.get(MASKS);
  if (!masksPath) throw usageError('steering needs --masks (the language-specific neurons)');
  const masks = loadMasks(masksPath);
  checkMasksFit(masks, spec.numLayers, spec.intermediateSize, masksPath);
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

/**
 * `lape generate`: greedy or sampled generation from one prompt or a prompt file, optionally
 * steered (neuron patches from masks + statistics). Also the steering flags that steer-eval (and
 * other commands) share.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { ModelSpec } from '../../archs/model-spec.js';
import { LapeError, usageError } from '../../errors.js';
import {
  STEERING_MODES,
  describeSpec,
  interventionPatches,
  isEmptySpec,
  type InterventionSpec,
  type SteeringMode,
} from '../../experiments/steering.js';
import { DEFAULT_REPETITION_PENALTY, generateText, type GenerateOptions } from '../../runtime/generate.js';
import { loadModel, type Model } from '../../runtime/model.js';
import type { NeuronPatch } from '../../runtime/patches.js';
import { loadMasks } from '../../select/masks-io.js';
import { checkMasksFit } from '../../select/masks.js';
import type { NeuronMasks } from '../../select/types.js';
import { loadStatsSet } from '../../stats/stats-file.js';
import type { LangStats } from '../../stats/types.js';
import { loadTokenizer } from '../../tokenizer/tokenizer.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import type { Command, CommandContext, FlagSpec } from '../command.js';
import { bool, list, num, positiveInt, required, str } from '../flags.js';
import { Progress } from '../progress.js';

// ---- steering flags (shared) -------------------------------------------------------------------

export const STEER_FLAGS: FlagSpec = {
  masks: { type: 'string' },
  stats: { type: 'string', multiple: true },
  activate: { type: 'string', multiple: true },
  deactivate: { type: 'string', multiple: true },
  mode: { type: 'string' },
  alpha: { type: 'string' },
};

export const STEER_DETAILS = [
  '--masks FILE                 language-specific neurons (masks.json / .safetensors / the paper\'s .pth)',
  '--stats PATH                 activation statistics (files or a folder of <lang>.safetensors; repeatable)',
  '--activate LANG              steer towards LANG: its neurons get its mean activation (repeatable)',
  '--deactivate LANG            zero LANG\'s neurons (repeatable; applied before --activate)',
  `${`--mode ${STEERING_MODES.join('|')}`.padEnd(29)}set = value := mean (the paper, default); add = value += alpha·mean;`,
  '                             diffmean = value += alpha·(mean(LANG) − mean of the other languages)',
  '--alpha A                    scale for --mode add / diffmean (default 1)',
];

/** Steering mode and alpha flags (usage errors), without the languages. */
export function steerModeFlags(ctx: CommandContext): { mode: SteeringMode; alpha: number } {
  const modeRaw = str(ctx, 'mode') ?? 'set';
  if (!(STEERING_MODES as readonly string[]).includes(modeRaw)) {
    throw usageError(`--mode must be one of ${STEERING_MODES.join(', ')}, got "${modeRaw}"`);
  }
  const mode = modeRaw as SteeringMode;
  if (mode === 'set' && str(ctx, 'alpha') !== undefined) throw usageError('--alpha goes with --mode add or diffmean');
  const alpha = num(ctx, 'alpha', 1);
  return { mode, alpha };
}

/** Loads --masks (checked against the model) and --stats when given. */
export function steerInputs(ctx: CommandContext, spec: ModelSpec, needStats: boolean): { masks: NeuronMasks; stats: LangStats[] } {
  const masksPath = str(ctx, 'masks');
  if (!masksPath) throw usageError('steering needs --masks (the language-specific neurons)');
  const masks = loadMasks(masksPath);
  checkMasksFit(masks, spec.numLayers, spec.intermediateSize, masksPath);
  const statsPaths = list(ctx, 'stats');
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

/** The intervention the steering flags describe, and its patches (none without --activate/--deactivate). */
export function steeringFromFlags(
  ctx: CommandContext,
  spec: ModelSpec,
): { intervention: InterventionSpec; patches: NeuronPatch[]; label: string } {
  const activate = list(ctx, 'activate');
  const deactivate = list(ctx, 'deactivate');
  const { mode, alpha } = steerModeFlags(ctx);
  const intervention: InterventionSpec = { activate, deactivate, mode, alpha };
  if (isEmptySpec(intervention)) {
    if (str(ctx, 'mode') !== undefined || str(ctx, 'alpha') !== undefined) throw usageError('--mode/--alpha need --activate');
    return { intervention, patches: [], label: 'none' };
  }
  if (activate.length === 0 && str(ctx, 'mode') !== undefined) throw usageError('--mode/--alpha need --activate');
  const { masks, stats } = steerInputs(ctx, spec, activate.length > 0);
  return { intervention, patches: interventionPatches(intervention, masks, stats), label: describeSpec(intervention) };
}

// ---- generation flags (shared with steer-eval) --------------------------------------------------

export const GEN_FLAGS: FlagSpec = {
  'max-new-tokens': { type: 'string' },
  'repetition-penalty': { type: 'string' },
  temperature: { type: 'string' },
  'top-p': { type: 'string' },
  'top-k': { type: 'string' },
  seed: { type: 'string' },
  stop: { type: 'string', multiple: true },
  'no-stop': { type: 'boolean' },
  'no-eos': { type: 'boolean' },
  'no-cache': { type: 'boolean' },
  'batch-size': { type: 'string' },
  threads: { type: 'string' },
};

export const GEN_DETAILS = (defaultMaxNew: number): string[] => [
  `--max-new-tokens N           most tokens generated per prompt (default ${defaultMaxNew})`,
  `--repetition-penalty P       Hugging Face repetition penalty (default ${DEFAULT_REPETITION_PENALTY}; 1 = off)`,
  '--temperature T              0 = greedy (default); > 0 samples',
  '--top-p P, --top-k K         nucleus / top-k filtering when sampling (defaults 1, 0 = off)',
  '--seed S                     sampling seed (default 0; prompt i uses stream i)',
  '--stop S                     stop string (repeatable; "\\n" means a newline); output excludes it',
  '--no-stop                    no stop strings (also none of the command\'s defaults)',
  '--no-eos                     do not stop at the model\'s EOS token',
  '--no-cache                   re-run the whole sequence per token (slow; for checking)',
  '--batch-size B               prompts per batch (default 8)',
  '--threads N                  onnxruntime threads (default: all cores)',
];

/** Unescapes \n, \t and \\ in stop strings given on the command line. */
export function unescapeStop(s: string): string {
  return s.replace(/\\(n|t|\\)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : '\\'));
}

export function genOptionsFromFlags(ctx: CommandContext, defaultMaxNew: number, defaultStop: string[] = []): Omit<GenerateOptions, 'patches'> {
  const raw = str(ctx, 'max-new-tokens');
  const maxNewTokens = num(ctx, 'max-new-tokens', defaultMaxNew);
  if (raw !== undefined && !(Number.isInteger(maxNewTokens) && maxNewTokens > 0)) {
    throw usageError(`--max-new-tokens must be a positive integer, got ${raw}`);
  }
  if (bool(ctx, 'no-stop') && ctx.values.stop !== undefined) throw usageError('give --stop or --no-stop, not both');
  const opts: Omit<GenerateOptions, 'patches'> = {
    maxNewTokens,
    repetitionPenalty: num(ctx, 'repetition-penalty', DEFAULT_REPETITION_PENALTY, (n) => (n > 0 ? null : 'must be > 0')),
    temperature: num(ctx, 'temperature', 0, (n) => (n >= 0 ? null : 'must be ≥ 0')),
    topP: num(ctx, 'top-p', 1, (n) => (n > 0 && n <= 1 ? null : 'must be in (0, 1]')),
    topK: num(ctx, 'top-k', 0, (n) => (Number.isInteger(n) && n >= 0 ? null : 'must be a non-negative integer')),
    seed: num(ctx, 'seed', 0, (n) => (Number.isSafeInteger(n) ? null : 'must be an integer')),
    stop: bool(ctx, 'no-stop') ? [] : ctx.values.stop === undefined ? defaultStop : (ctx.values.stop as string[]).map(unescapeStop),
    useCache: !bool(ctx, 'no-cache'),
    batchSize: num(ctx, 'batch-size', 8, positiveInt),
  };
  if (bool(ctx, 'no-eos')) opts.eosTokenIds = [];
  return opts;
}

export function openModelFromFlags(ctx: CommandContext): Model {
  const threads = num(ctx, 'threads', availableParallelism(), positiveInt);
  return loadModel(required(ctx, 'model'), { threads });
}

// ---- prompt files -------------------------------------------------------------------------------

export interface PromptRecord {
  prompt: string;
  /** Other fields of a JSONL record (kept in the output as `meta`). */
  meta?: Record<string, unknown>;
}

/**
 * Prompts from a file: JSON Lines when every non-blank line is a JSON object with a string
 * "prompt" (or "text") field, otherwise one prompt per non-blank line (text files).
 */
export function readPromptFile(path: string): PromptRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new LapeError(`cannot read the prompt file (${(e as NodeJS.ErrnoException).code ?? e})`, path);
  }
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const nonBlank = lines.map((l, i) => ({ l, i })).filter(({ l }) => l.trim() !== '');
  if (nonBlank.length === 0) throw new LapeError('the prompt file holds no prompts', path);
  const isJsonl = path.endsWith('.jsonl') || nonBlank.every(({ l }) => l.trimStart().startsWith('{'));
  if (!isJsonl) return nonBlank.map(({ l }) => ({ prompt: l }));
  return nonBlank.map(({ l, i }) => {
    let obj: unknown;
    try {
      obj = JSON.parse(l);
    } catch (e) {
      throw new LapeError(`line ${i + 1} is not valid JSON (${(e as Error).message})`, path);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new LapeError(`line ${i + 1} is not a JSON object`, path);
    const o = obj as Record<string, unknown>;
    const key = typeof o.prompt === 'string' ? 'prompt' : typeof o.text === 'string' ? 'text' : null;
    if (!key) throw new LapeError(`line ${i + 1} has no string "prompt" (or "text") field`, path);
    const { [key]: prompt, ...meta } = o;
    return Object.keys(meta).length ? { prompt: prompt as string, meta } : { prompt: prompt as string };
  });
}

// ---- the command --------------------------------------------------------------------------------

export const GENERATE_FORMAT = 'lape-generate';

export const generateCommand: Command = {
  name: 'generate',
  summary: 'Generate text (greedy or sampled, KV cache), optionally steering language-specific neurons',
  usage: 'lape generate --model DIR (--prompt TEXT | --prompts FILE) [options] [--activate LANG ...]',
  details: [
    '--model DIR                  Hugging Face checkpoint folder',
    '--prompt TEXT                one prompt (the output text goes to stdout)',
    '--prompts FILE               prompt file: one prompt per line, or JSONL with a "prompt" field',
    '--out FILE                   write one JSON line per prompt here (default with --prompts: stdout)',
    ...GEN_DETAILS(64),
    ...STEER_DETAILS,
  ],
  examples: [
    'lape generate --model models/tiny-multilingual --prompt "The menu bar" --max-new-tokens 40',
    'lape generate --model M --prompt "The menu bar" --masks out/masks.json --stats out/stats --activate zh',
    'lape generate --model M --prompts prompts.jsonl --deactivate en --activate fr --out gens.jsonl',
  ],
  flags: { model: { type: 'string' }, prompt: { type: 'string' }, prompts: { type: 'string' }, out: { type: 'string' }, ...GEN_FLAGS, ...STEER_FLAGS },
  async run(ctx) {
    const prompt = str(ctx, 'prompt');
    const promptFile = str(ctx, 'prompts');
    if ((prompt === undefined) === (promptFile === undefined)) throw usageError('give exactly one of --prompt or --prompts');
    required(ctx, 'model');
    const genOpts = genOptionsFromFlags(ctx, 64);
    steerModeFlags(ctx);
    const out = str(ctx, 'out');
    const records: PromptRecord[] = promptFile !== undefined ? readPromptFile(promptFile) : [{ prompt: prompt! }];
    const model = openModelFromFlags(ctx);
    try {
      const tokenizer = loadTokenizer(model.dir);
      const { patches, label, intervention } = steeringFromFlags(ctx, model.spec);
      const progress = new Progress({ label: 'generate', total: records.length, unit: 'prompts', quiet: ctx.quiet || records.length === 1 });
      const t0 = performance.now();
      const results = await generateText(
        model,
        tokenizer,
        records.map((r) => r.prompt),
        { ...genOpts, patches, onProgress: (done) => progress.update(done) },
      );
      progress.finish();
      const seconds = (performance.now() - t0) / 1000;
      const newTokens = results.reduce((a, g) => a + g.ids.length, 0);
      const lines = results.map((g, i) =>
        JSON.stringify({
          index: i,
          prompt: g.prompt,
          text: g.text,
          prompt_tokens: g.promptIds.length,
          new_tokens: g.ids.length,
          stop_reason: g.stopReason,
          intervention: label,
          ...(records[i]!.meta ? { meta: records[i]!.meta } : {}),
        }),
      );
      if (out !== undefined) writeFileAtomic(out, lines.join('\n') + '\n');
      if (promptFile === undefined) ctx.log(results[0]!.text);
      else if (out === undefined) for (const l of lines) ctx.log(l);
      else ctx.log(`wrote ${results.length} generations to ${out}`);
      return {
        format: GENERATE_FORMAT,
        model: model.dir,
        prompts: results.length,
        intervention: { ...intervention, label },
        newTokens,
        seconds,
        tokensPerSecond: seconds > 0 ? newTokens / seconds : null,
        out: out ?? null,
        generations: promptFile === undefined ? results.map((g) => ({ text: g.text, new_tokens: g.ids.length, stop_reason: g.stopReason })) : undefined,
      };
    } finally {
      await model.release();
    }
  },
};

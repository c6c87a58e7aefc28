/** The generation group (generate, steer-eval): decoding settings, stop strings, batching. */
import { DEFAULT_REPETITION_PENALTY, type GenerateOptions } from '../../runtime/generate.js';
import type { CommandContext } from '../command.js';
import { group, inRange, opt, positive, variant, withDefault, type OptionGroup } from '../options/option.js';
import { BATCH_SIZE, SEED } from './common.js';
import { loadChatTemplate } from '../../tokenizer/chat-template.js';
import type { LapeTokenizer } from '../../tokenizer/tokenizer.js';

const SAMPLING = { option: 'temperature', test: (t: unknown) => typeof t === 'number' && t > 0, text: '--temperature > 0' };

export const MAX_NEW_TOKENS = opt.int('max-new-tokens', { help: 'most tokens generated per prompt' });
export const REPETITION_PENALTY = opt.float('repetition-penalty', { default: DEFAULT_REPETITION_PENALTY, check: positive, help: 'Hugging Face repetition penalty (1 = off)' });
export const TEMPERATURE = opt.float('temperature', { default: 0, check: (t) => (t >= 0 ? null : 'must be ≥ 0'), help: '0 = greedy; > 0 samples' });
export const TOP_P = opt.float('top-p', { default: 1, check: inRange(0, 1, '(]'), help: 'nucleus filtering when sampling', appliesWhen: SAMPLING });
export const TOP_K = opt.int('top-k', { min: 0, default: 0, help: 'top-k filtering when sampling (0 = off)', appliesWhen: SAMPLING });
export const SAMPLE_SEED = variant(SEED, { help: 'sampling seed (prompt i uses stream i)', appliesWhen: SAMPLING });
export const STOP = opt.list('stop', {
  metavar: 'TEXT',
  commas: false,
  help: 'stop string, repeat for several (not comma-separated; "\\n" = newline); output excludes it',
  conflicts: ['no-stop'],
});
export const NO_STOP = opt.bool('no-stop', { help: "no stop strings (also none of the command's defaults)" });
export const NO_EOS = opt.bool('no-eos', { help: "do not stop at the model's EOS token" });
export const NO_CACHE = opt.bool('no-cache', { help: 're-run the whole sequence per token (slow; for checking)' });
export const CHAT = opt.bool('chat', {
  help: 'each prompt is a user message in the model\'s chat template (tokenizer_config.json; without one "user: PROMPT\\nassistant:")',
});
export const GEN_BATCH = withDefault(variant(BATCH_SIZE, { help: 'prompts per batch' }), 8);

/** The generation group with a command's defaults for the length and the stop strings. */
export function generationGroup(defaults: { maxNewTokens: number; stop: string[] }): OptionGroup {
  const stop = defaults.stop.length ? variant(STOP, { defaultText: defaults.stop.map((s) => JSON.stringify(s)).join(' ') }) : STOP;
  return group('Generation', withDefault(MAX_NEW_TOKENS, defaults.maxNewTokens), REPETITION_PENALTY, TEMPERATURE, TOP_P, TOP_K, SAMPLE_SEED, stop, NO_STOP, NO_EOS, NO_CACHE, GEN_BATCH, CHAT);
}

/** Unescapes \n, \t and \\ in stop strings given on the command line. */
export function unescapeStop(s: string): string {
  return s.replace(/\\(n|t|\\)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : '\\'));
}

/** The prompt encoder --chat asks for (the chat template's, one user message per prompt), else undefined. */
export function chatEncoder(ctx: CommandContext, dir: string, tokenizer: LapeTokenizer): ((prompt: string) => number[]) | undefined {
  if (!ctx.get(CHAT)) return undefined;
  const template = loadChatTemplate(dir, tokenizer);
  return (prompt) => template.encode([{ role: 'user', content: prompt }]);
}

export function genOptionsFromFlags(ctx: CommandContext, defaultStop: string[] = []): Omit<GenerateOptions, 'patches'> {
  const opts: Omit<GenerateOptions, 'patches'> = {
    maxNewTokens: ctx.get(MAX_NEW_TOKENS)!,
    repetitionPenalty: ctx.get(REPETITION_PENALTY),
    temperature: ctx.get(TEMPERATURE),
    topP: ctx.get(TOP_P),
    topK: ctx.get(TOP_K),
    seed: ctx.get(SAMPLE_SEED),
    stop: ctx.get(NO_STOP) ? [] : ctx.given(STOP) ? ctx.get(STOP).map(unescapeStop) : defaultStop,
    useCache: !ctx.get(NO_CACHE),
    batchSize: ctx.get(GEN_BATCH),
  };
  if (ctx.get(NO_EOS)) opts.eosTokenIds = [];
  return opts;
}

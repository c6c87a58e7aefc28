/**
 * The evaluation group (ppl, sweep): evaluation sets, chunking and batching, and the random
 * control; plus loading the sets and the facts result files record about them.
 */
import type { ModelSpec } from '../../archs/model-spec.js';
import { usageError } from '../../errors.js';
import { defaultBatchSize } from '../../experiments/perplexity.js';
import { checkEvalSpecs, evalSpecsFromDir, loadEvalSets, type EvalSet, type EvalSpec } from '../../experiments/ppl-eval-sets.js';
import type { Model } from '../../runtime/model.js';
import { loadTokenizer } from '../../tokenizer/tokenizer.js';
import type { CommandContext } from '../command.js';
import { group, opt, variant } from '../options/option.js';
import { Progress } from '../progress.js';
import { BATCH_SIZE, BOS, LANGS, SEED, SEQ_LEN, seqLenFor } from './common.js';

export const EVAL = opt.list('eval', {
  metavar: 'LANG=FILE,...',
  io: { role: 'in' },
  help: 'an evaluation set: held-out text, one paragraph per line; files after LANG= belong to it\n(--eval en=a.txt,b.txt --eval zh=c.txt)',
  param: 'evalSets',
});
export const EVAL_DIR = opt.path('eval-dir', { metavar: 'DIR', io: { role: 'in', reads: ['.txt'] }, help: 'evaluation sets DIR/LANG.SPLIT.txt, one per language of --langs' });
export const SPLIT = opt.string('split', { metavar: 'NAME', default: 'valid', help: 'the SPLIT of the --eval-dir file names', appliesWhen: { option: 'eval-dir' } });
export const EVAL_LANGS = variant(LANGS, {
  help: 'languages evaluated from --eval-dir',
  defaultText: 'every language of the neuron sets',
  appliesWhen: { option: 'eval-dir' },
});
export const EVAL_BOS = variant(BOS, { help: 'start every chunk with the BOS token (counts in --seq-len; as lape record --bos)' });
export const MAX_CHUNKS = opt.int('max-chunks', { help: 'at most N chunks per language', defaultText: 'all' });
export const EVAL_BATCH = variant(BATCH_SIZE, { help: 'chunks per run', defaultText: 'about 2048 tokens, fewer for large vocabularies' });

export const EVAL_GROUP = group('Evaluation', EVAL, EVAL_DIR, SPLIT, EVAL_LANGS, SEQ_LEN, EVAL_BOS, MAX_CHUNKS, EVAL_BATCH);
/** Exactly one source of evaluation sets. */
export const EVAL_ONE_OF = ['eval', 'eval-dir'] as const;

export const RANDOM_CONTROL = opt.bool('random-control', { help: 'also zero a seeded random neuron set of the same per-layer sizes' });
export const CONTROL_SEED = variant(SEED, { help: 'seed of the random control', appliesWhen: { option: 'random-control' } });
export const RANDOM_GROUP = group('Random control', RANDOM_CONTROL, CONTROL_SEED);
export const RANDOM_SEEDS = opt.int('random-seeds', {
  default: 1,
  help: 'random sets per language (seeds --seed … --seed+N−1): each random cell is their mean,\nwith a 95 % interval of a random set\'s value when N ≥ 2',
  appliesWhen: { option: 'random-control' },
});
/** ppl: the random control with several seeds. */
export const PPL_RANDOM_GROUP = group('Random control', RANDOM_CONTROL, CONTROL_SEED, RANDOM_SEEDS);

/** How a perplexity change is shown: relative (% of the unmodified PPL) or absolute (PPL points). */
export const MEASURES = ['relative', 'absolute'] as const;
export type Measure = (typeof MEASURES)[number];
export const MEASURE = opt.enum('measure', MEASURES, {
  default: 'relative' as Measure,
  help: 'the change printed: relative (% of the unmodified PPL; comparable across languages) or absolute (PPL points);\nthe files hold both',
});

export interface EvalSettings {
  seqLen: number;
  maxChunks: number | null;
  batchSize: number;
  bosId: number | null;
}

/** `--eval LANG=FILE,FILE` items (a FILE without LANG= belongs to the language before it), or `--eval-dir`. */
export function evalSpecsFromFlags(ctx: CommandContext, defaultLangs: readonly string[]): EvalSpec[] {
  let specs: EvalSpec[];
  const dir = ctx.get(EVAL_DIR);
  if (dir !== undefined) {
    const langs = ctx.get(EVAL_LANGS);
    specs = evalSpecsFromDir(dir, ctx.get(SPLIT), langs.length ? langs : defaultLangs);
  } else {
    const byLang = new Map<string, string[]>();
    let current: string | null = null;
    for (const item of ctx.get(EVAL)) {
      const eq = item.indexOf('=');
      if (eq === 0 || eq === item.length - 1 || (eq < 0 && current === null)) throw usageError(`--eval needs LANG=FILE, got "${item}"`);
      if (eq > 0) current = item.slice(0, eq);
      const file = eq > 0 ? item.slice(eq + 1) : item;
      byLang.set(current!, [...(byLang.get(current!) ?? []), file]);
    }
    specs = [...byLang].map(([lang, files]) => ({ lang, files }));
  }
  checkEvalSpecs(specs);
  return specs;
}

/** The evaluation settings once the model is known: chunk length against its context, BOS, batch size. */
export function evalSettings(ctx: CommandContext, spec: ModelSpec): EvalSettings {
  const seqLen = seqLenFor(ctx.get(SEQ_LEN), spec.maxPositionEmbeddings);
  const bos = ctx.get(EVAL_BOS);
  if (bos && spec.bosTokenId === null) throw usageError('--bos: the model config has no bos_token_id');
  if (bos && seqLen < 3) throw usageError('--seq-len must be at least 3 with --bos');
  return {
    seqLen,
    maxChunks: ctx.get(MAX_CHUNKS) ?? null,
    batchSize: ctx.get(EVAL_BATCH) ?? defaultBatchSize(seqLen, spec.vocabSize),
    bosId: bos ? spec.bosTokenId : null,
  };
}

export async function loadEvalSetsFor(model: Model, specs: EvalSpec[], s: EvalSettings): Promise<EvalSet[]> {
  const tokenizer = loadTokenizer(model.dir);
  return loadEvalSets(tokenizer, specs, { seqLen: s.seqLen, maxChunks: s.maxChunks ?? undefined, bosId: s.bosId });
}

/** A progress display over `runs` passes of every evaluation set (counted in chunks). */
export function chunkProgress(ctx: CommandContext, label: string, sets: readonly EvalSet[], runs: number): Progress {
  const perRun = sets.reduce((a, s) => a + s.chunks.length, 0);
  return new Progress({ label, total: perRun * runs, unit: 'chunks', quiet: ctx.quiet });
}

export function evalFacts(sets: readonly EvalSet[], tokens: Record<string, number>): Array<Record<string, unknown>> {
  return sets.map((s) => ({ lang: s.lang, files: s.files, chunks: s.chunks.length, tokens: tokens[s.lang] }));
}

/** The random control's seed as result files record it (null without the control). */
export function controlSeed(ctx: CommandContext): { randomControl: boolean; seed: number } {
  return { randomControl: ctx.get(RANDOM_CONTROL), seed: ctx.get(CONTROL_SEED) };
}

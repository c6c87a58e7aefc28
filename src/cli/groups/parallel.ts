/** The parallel-set group (ses, dominance): aligned texts, their embedding, and the shared JSON header. */
import type { ModelSpec } from '../../archs/model-spec.js';
import { loadParallel, type ParallelSet } from '../../experiments/parallel.js';
import { embedParallel, type EmbeddingSet } from '../../experiments/ses.js';
import { loadTokenizer } from '../../tokenizer/tokenizer.js';
import { LAPE_VERSION } from '../../version.js';
import type { CommandContext } from '../command.js';
import { group, opt, variant, withDefault } from '../options/option.js';
import { Progress } from '../progress.js';
import { BATCH_SIZE, BOS, LANGS } from './common.js';
import { withModel } from './model.js';

export const SES_FORMAT = 'lape-ses';
export const DOMINANCE_FORMAT = 'lape-dominance';
export const REPR_VERSION = 1;

export const PARALLEL = opt.path('parallel', {
  metavar: 'FILE',
  required: true,
  help: 'aligned texts, JSONL {"group": id, "<lang>": text, ...} (data/corpus/parallel.jsonl)',
});
export const PARALLEL_LANGS = variant(LANGS, { help: 'languages to compare (every group needs all)', defaultText: "the first group's languages" });
export const MAX_GROUPS = opt.int('max-groups', { help: 'use the first N groups', defaultText: 'all' });
export const MAX_TOKENS = opt.int('max-tokens', { help: 'keep the first N tokens of each text (longer than the context is an error)', defaultText: 'all', param: 'maxTokens' });
export const PARALLEL_BOS = variant(BOS, { help: "prepend the tokenizer's special tokens (BOS) and pool over them too (default: text tokens only)" });
export const PARALLEL_BATCH = withDefault(variant(BATCH_SIZE, { help: 'texts per forward run' }), 8);

export const PARALLEL_GROUP = group('Parallel set', PARALLEL, PARALLEL_LANGS, MAX_GROUPS, MAX_TOKENS, PARALLEL_BOS, PARALLEL_BATCH);

export interface ParallelRun {
  set: ParallelSet;
  emb: EmbeddingSet & { tokens: number };
  model: string;
  parallel: string;
  seconds: number;
  settings: { bos: boolean; maxTokens: number | null; maxGroups: number | null };
}

/** Loads the parallel set and embeds every text (ses and dominance). */
export async function embedFromFlags(ctx: CommandContext, label: string, beforeEmbed?: (spec: ModelSpec) => void): Promise<ParallelRun> {
  const parallel = ctx.get(PARALLEL);
  const maxGroups = ctx.get(MAX_GROUPS);
  const maxTokens = ctx.get(MAX_TOKENS);
  const bos = ctx.get(PARALLEL_BOS);
  const set = loadParallel(parallel, { languages: ctx.get(PARALLEL_LANGS), maxGroups });
  return withModel(ctx, async (model) => {
    beforeEmbed?.(model.spec);
    const tokenizer = loadTokenizer(model.dir);
    const progress = new Progress({ label, total: set.groups.length * set.languages.length, unit: 'texts', quiet: ctx.quiet });
    const t0 = performance.now();
    const emb = await embedParallel(model, tokenizer, set, {
      batchSize: ctx.get(PARALLEL_BATCH),
      bos,
      maxTokens,
      onProgress: (done) => progress.update(done),
    });
    progress.finish();
    return {
      set,
      emb,
      model: model.dir,
      parallel,
      seconds: (performance.now() - t0) / 1000,
      settings: { bos, maxTokens: maxTokens ?? null, maxGroups: maxGroups ?? null },
    };
  });
}

/** The fields ses.json and dominance.json share: provenance of the embeddings and their shape. */
export function representationHeader(format: string, run: ParallelRun, res: { languages: string[]; texts: number; layers: number[] }): Record<string, unknown> {
  return {
    format,
    version: REPR_VERSION,
    lape_version: LAPE_VERSION,
    model: run.model,
    parallel: run.parallel,
    languages: res.languages,
    groups: res.texts,
    tokens: run.emb.tokens,
    pooling: run.settings.bos ? 'mean over all tokens incl. special tokens' : 'mean over text tokens (no BOS)',
    settings: run.settings,
    hook: 'blocks.{layer}.hook_resid_post',
    layers: res.layers,
  };
}

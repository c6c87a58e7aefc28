/**
 * `lape ses`: sentence embedding similarity per layer over a parallel set (Fig. 6) → ses.json +
 * ses.csv; with --masks also the number of language-specific neurons per layer. Also the shared
 * flags and loading for `lape dominance`.
 */
import { REPORT_DETAIL, REPORT_FLAGS, refreshReport } from '../report-refresh.js';
import { toCsv } from '../../util/csv.js';
import { join } from 'node:path';
import type { ModelSpec } from '../../archs/model-spec.js';
import { usageError } from '../../errors.js';
import { loadParallel, type ParallelSet } from '../../experiments/parallel.js';
import { embedParallel, neuronsPerLayer, sesFromEmbeddings, type EmbeddingSet } from '../../experiments/ses.js';
import { loadMasks } from '../../select/masks-io.js';
import { checkMasksFit } from '../../select/masks.js';
import { loadTokenizer } from '../../tokenizer/tokenizer.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { LAPE_VERSION } from '../../version.js';
import type { Command, CommandContext, FlagSpec } from '../command.js';
import { bool, list, num, positiveInt, required, str } from '../flags.js';
import { Progress } from '../progress.js';
import { openModelFromFlags } from './generate.js';

export const SES_FORMAT = 'lape-ses';
export const DOMINANCE_FORMAT = 'lape-dominance';
export const REPR_VERSION = 1;

export const PARALLEL_FLAGS: FlagSpec = {
  model: { type: 'string' },
  parallel: { type: 'string' },
  langs: { type: 'string', multiple: true },
  'max-groups': { type: 'string' },
  'max-tokens': { type: 'string' },
  bos: { type: 'boolean' },
  'batch-size': { type: 'string' },
  threads: { type: 'string' },
  out: { type: 'string' },
};

export const PARALLEL_DETAILS = [
  '--model DIR                  Hugging Face checkpoint folder',
  '--parallel FILE              aligned texts, JSONL {"group": id, "<lang>": text, ...} (data/corpus/parallel.jsonl)',
  '--langs en,zh,...            languages to compare (default: the first group\'s languages; every group needs all)',
  '--max-groups N               use the first N groups (default: all)',
  '--max-tokens N               keep the first N tokens of each text (default: all; longer than the context is an error)',
  '--bos                        prepend the tokenizer\'s special tokens (BOS) and pool over them too (default: text tokens only)',
  '--batch-size B               texts per forward run (default 8)',
  '--threads N                  onnxruntime threads (default: all cores)',
  '--out DIR                    output folder (default ./lape-out)',
];

export interface ParallelRun {
  set: ParallelSet;
  emb: EmbeddingSet & { tokens: number };
  model: string;
  parallel: string;
  seconds: number;
  settings: { bos: boolean; maxTokens: number | null; maxGroups: number | null };
}

/** Loads the parallel set and embeds every text (shared by ses and dominance). */
export async function embedFromFlags(
  ctx: CommandContext,
  label: string,
  beforeEmbed?: (spec: ModelSpec) => void,
): Promise<ParallelRun> {
  required(ctx, 'model');
  const parallel = required(ctx, 'parallel');
  const maxGroups = str(ctx, 'max-groups') === undefined ? undefined : num(ctx, 'max-groups', 0, positiveInt);
  const maxTokens = str(ctx, 'max-tokens') === undefined ? undefined : num(ctx, 'max-tokens', 0, positiveInt);
  const batchSize = num(ctx, 'batch-size', 8, positiveInt);
  const langs = list(ctx, 'langs');
  const set = loadParallel(parallel, { languages: langs, maxGroups });
  const model = openModelFromFlags(ctx);
  try {
    beforeEmbed?.(model.spec);
    const tokenizer = loadTokenizer(model.dir);
    const progress = new Progress({ label, total: set.groups.length * set.languages.length, unit: 'texts', quiet: ctx.quiet });
    const t0 = performance.now();
    const emb = await embedParallel(model, tokenizer, set, {
      batchSize,
      bos: bool(ctx, 'bos'),
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
      settings: { bos: bool(ctx, 'bos'), maxTokens: maxTokens ?? null, maxGroups: maxGroups ?? null },
    };
  } finally {
    await model.release();
  }
}

const r6 = (x: number): number => Math.round(x * 1e6) / 1e6;

/** The fields ses.json and dominance.json share: provenance of the embeddings and their shape. */
export function representationHeader(
  format: string,
  run: ParallelRun,
  res: { languages: string[]; texts: number; layers: number[] },
): Record<string, unknown> {
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

export const sesCommand: Command = {
  name: 'ses',
  summary: 'Sentence embedding similarity across layers over a parallel set (Fig. 6)',
  usage: 'lape ses --model DIR --parallel FILE [--masks FILE] [--out DIR]',
  details: [...PARALLEL_DETAILS, '--masks FILE                 also report language-specific neurons per layer', REPORT_DETAIL],
  examples: [
    'lape ses --model models/tiny-multilingual --parallel data/corpus/parallel.jsonl --out out',
    'lape ses --model M --parallel data/corpus/parallel.jsonl --langs en,zh,ja --max-groups 100 --masks out/masks.json',
  ],
  flags: { ...PARALLEL_FLAGS, ...REPORT_FLAGS, masks: { type: 'string' } },
  async run(ctx) {
    const masksPath = str(ctx, 'masks');
    if (masksPath === '') throw usageError('--masks needs a file');
    const masks = masksPath === undefined ? null : loadMasks(masksPath);
    const run = await embedFromFlags(ctx, 'ses', (spec) => {
      if (masks) checkMasksFit(masks, spec.numLayers, spec.intermediateSize, masksPath);
    });
    const res = sesFromEmbeddings(run.emb);
    const neurons = masks ? { method: masks.method, file: masksPath!, ...neuronsPerLayer(masks) } : null;
    const outDir = str(ctx, 'out') ?? './lape-out';
    const json = {
      ...representationHeader(SES_FORMAT, run, res),
      ses: res.ses.map(r6),
      pairs: res.pairs.map((p) => ({ a: p.a, b: p.b, ses: p.ses.map(r6) })),
      neurons,
      seconds: run.seconds,
    };
    writeFileAtomic(join(outDir, 'ses.json'), JSON.stringify(json, null, 2) + '\n');
    const header = ['layer', 'ses', ...res.pairs.map((p) => `${p.a}-${p.b}`), ...(neurons ? ['neurons'] : [])];
    const rows = res.layers.map((l) => [l, r6(res.ses[l]!), ...res.pairs.map((p) => r6(p.ses[l]!)), ...(neurons ? [neurons.union[l]!] : [])]);
    writeFileAtomic(join(outDir, 'ses.csv'), toCsv(header, rows));
    ctx.log(`SES per layer (mean over ${res.pairs.length} language pairs, ${res.texts} groups):`);
    for (const l of res.layers) ctx.log(`  layer ${String(l).padStart(3)}  ${res.ses[l]!.toFixed(4)}${neurons ? `  neurons ${neurons.union[l]}` : ''}`);
    ctx.log(`wrote ses.json, ses.csv to ${outDir}`);
    await refreshReport(ctx, outDir);
    return { out: outDir, layers: res.layers, ses: json.ses, groups: res.texts, seconds: run.seconds };
  },
};

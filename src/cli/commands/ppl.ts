/**
 * `lape ppl`: the deactivation perplexity matrix → ppl.json + ppl.csv (docs/outputs.md).
 * Also the flag handling that `lape sweep` shares (evaluation sets, chunking, model, progress).
 */
import { REPORT_DETAIL, REPORT_FLAGS, refreshReport } from '../report-refresh.js';
import { toCsv } from '../../util/csv.js';
import { textTable } from '../tables.js';
import { join } from 'node:path';
import type { ModelSpec } from '../../archs/model-spec.js';
import { usageError } from '../../errors.js';
import { diagonalDominance, pplMatrix, type PplMatrix } from '../../experiments/deactivation.js';
import { defaultBatchSize } from '../../experiments/perplexity.js';
import {
  checkEvalSpecs,
  checkLanguageSets,
  evalSpecsFromDir,
  loadEvalSets,
  type EvalSet,
  type EvalSpec,
} from '../../experiments/ppl-eval-sets.js';
import { loadModel, type Model } from '../../runtime/model.js';
import { loadMasks } from '../../select/masks-io.js';
import { checkMasksFit } from '../../select/masks.js';
import { loadTokenizer } from '../../tokenizer/tokenizer.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { LAPE_VERSION } from '../../version.js';
import type { Command, CommandContext, FlagSpec } from '../command.js';
import { bool, list, num, positiveInt, required, str } from '../flags.js';
import { Progress } from '../progress.js';

export const DEFAULT_OUT = './lape-out';
export const DEFAULT_SEQ_LEN = 256;

/** Flags shared by ppl and sweep. */
export const EVAL_FLAGS: FlagSpec = {
  model: { type: 'string' },
  eval: { type: 'string', multiple: true },
  'eval-dir': { type: 'string' },
  split: { type: 'string' },
  langs: { type: 'string', multiple: true },
  'random-control': { type: 'boolean' },
  bos: { type: 'boolean' },
  seed: { type: 'string' },
  'seq-len': { type: 'string' },
  'max-chunks': { type: 'string' },
  'batch-size': { type: 'string' },
  threads: { type: 'string' },
  out: { type: 'string' },
};

export const EVAL_DETAILS = [
  '--eval LANG=FILE[,FILE...]   an evaluation set (repeat per language; held-out text, one paragraph per line)',
  '--eval-dir DIR               shorthand: DIR/{lang}.{split}.txt for each of --langs',
  '--split NAME                 with --eval-dir: file split (default valid)',
  '--langs en,zh,...            with --eval-dir: languages (default: every language of the neuron sets)',
  '--random-control             also zero a seeded random neuron set of the same per-layer sizes',
  '--seed S                     seed of the random control (default 0)',
  `--seq-len N                  tokens per chunk (default ${DEFAULT_SEQ_LEN})`,
  '--bos                        start every chunk with the BOS token (counts in --seq-len; as lape record --bos)',
  '--max-chunks N               at most N chunks per language (default: all)',
  '--batch-size B               chunks per run (default: about 2048 tokens, fewer for large vocabularies)',
  '--threads N                  onnxruntime intra-op threads (default: all cores)',
  `--out DIR                    output folder (default ${DEFAULT_OUT})`,
];

export interface EvalSettings {
  seqLen: number;
  maxChunks: number | null;
  batchSize: number;
  bosId: number | null;
}

/** Parses `--eval lang=FILE[,FILE]` (repeatable; the same language twice appends files) or `--eval-dir`. */
export function evalSpecsFromFlags(ctx: CommandContext, defaultLangs: readonly string[]): EvalSpec[] {
  const raw = ctx.values.eval;
  const evals = raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
  const dir = str(ctx, 'eval-dir');
  if (evals.length > 0 && dir !== undefined) throw usageError('give either --eval or --eval-dir, not both');
  if (dir === undefined && (ctx.values.split !== undefined || ctx.values.langs !== undefined)) {
    throw usageError('--split and --langs go with --eval-dir');
  }
  let specs: EvalSpec[];
  if (dir !== undefined) {
    const split = str(ctx, 'split') ?? 'valid';
    const langs = list(ctx, 'langs');
    specs = evalSpecsFromDir(dir, split, langs.length ? langs : defaultLangs);
  } else {
    const byLang = new Map<string, string[]>();
    for (const e of evals) {
      const eq = e.indexOf('=');
      if (eq <= 0 || eq === e.length - 1) throw usageError(`--eval needs LANG=FILE, got "${e}"`);
      const lang = e.slice(0, eq);
      const files = e.slice(eq + 1).split(',').filter((f) => f.length > 0);
      byLang.set(lang, [...(byLang.get(lang) ?? []), ...files]);
    }
    specs = [...byLang].map(([lang, files]) => ({ lang, files }));
  }
  checkEvalSpecs(specs);
  return specs;
}

export interface EvalFlags {
  bos: boolean;
  seqLen: number;
  maxChunks: number | null;
  batchSize: number | null;
}

/** Chunking and batching flags (usage errors, exit 2), before anything is loaded. */
export function evalFlags(ctx: CommandContext): EvalFlags {
  const seqLen = num(ctx, 'seq-len', DEFAULT_SEQ_LEN, positiveInt);
  if (seqLen < 2) throw usageError('--seq-len must be at least 2 (a chunk needs a token to predict)');
  const maxChunks = str(ctx, 'max-chunks') === undefined ? null : num(ctx, 'max-chunks', 0, positiveInt);
  const batchSize = str(ctx, 'batch-size') === undefined ? null : num(ctx, 'batch-size', 0, positiveInt);
  if (str(ctx, 'threads') !== undefined) num(ctx, 'threads', 0, positiveInt);
  return { bos: bool(ctx, 'bos'), seqLen, maxChunks, batchSize };
}

/** The flags checked against the model: context length, BOS, default batch size. */
export function evalSettings(f: EvalFlags, spec: ModelSpec): EvalSettings {
  if (f.bos && spec.bosTokenId === null) throw usageError('--bos: the model config has no bos_token_id');
  if (f.bos && f.seqLen < 3) throw usageError('--seq-len must be at least 3 with --bos');
  if (f.seqLen > spec.maxPositionEmbeddings) {
    throw usageError(`--seq-len ${f.seqLen} exceeds the model's context (max_position_embeddings = ${spec.maxPositionEmbeddings})`);
  }
  return {
    seqLen: f.seqLen,
    maxChunks: f.maxChunks,
    batchSize: f.batchSize ?? defaultBatchSize(f.seqLen, spec.vocabSize),
    bosId: f.bos ? spec.bosTokenId : null,
  };
}

export function seedFromFlags(ctx: CommandContext): number {
  return num(ctx, 'seed', 0, (n) => (Number.isSafeInteger(n) ? null : 'must be an integer'));
}

export function openModel(ctx: CommandContext): Model {
  const threadsRaw = str(ctx, 'threads');
  const threads = threadsRaw === undefined ? undefined : num(ctx, 'threads', 0, positiveInt);
  return loadModel(required(ctx, 'model'), threads === undefined ? {} : { threads });
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

export function modelFacts(model: Model): Record<string, string | number> {
  const s = model.spec;
  return { dir: model.dir, architecture: s.architecture, layers: s.numLayers, neurons: s.intermediateSize, vocabSize: s.vocabSize };
}

export function evalFacts(sets: readonly EvalSet[], tokens: Record<string, number>): Array<Record<string, unknown>> {
  return sets.map((s) => ({ lang: s.lang, files: s.files, chunks: s.chunks.length, tokens: tokens[s.lang] }));
}

const signed = (x: number, digits: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(digits)}` : String(x));

export function pplTable(m: PplMatrix): string[] {
  const header = ['deactivated', 'neurons', ...m.evalLanguages];
  const none = m.rows.find((r) => r.kind === 'none')!;
  const body: string[][] = [['none (PPL)', '0', ...m.evalLanguages.map((l) => none.ppl[l]!.toFixed(3))]];
  for (const r of m.rows) {
    if (r.kind === 'none') continue;
    body.push([r.id, String(r.neurons), ...m.evalLanguages.map((l) => signed(r.change[l]!, 3))]);
  }
  return [
    'PPL change (PPL − PPL without deactivation); rows: deactivated neurons, columns: evaluated language',
    ...textTable(header, body),
  ];
}

export const PPL_FORMAT = 'lape-ppl';
export const PPL_VERSION = 1;

export function pplCsv(m: PplMatrix): string {
  const none = m.rows.find((r) => r.kind === 'none')!;
  const rows: Array<Array<string | number | null>> = [
    ['row', 'kind', 'deactivated', 'neurons', 'eval_lang', 'tokens', 'nll', 'ppl', 'ppl_none', 'change', 'ppl_ratio'],
  ];
  for (const r of m.rows) {
    for (const l of m.evalLanguages) {
      rows.push([r.id, r.kind, r.lang, r.neurons, l, m.tokens[l]!, r.nll[l]!, r.ppl[l]!, none.ppl[l]!, r.change[l]!, r.pplRatio[l]!]);
    }
  }
  return toCsv(rows[0]!.map(String), rows.slice(1));
}

export const pplCommand: Command = {
  name: 'ppl',
  summary: 'Perplexity matrix: zero each language\'s neurons, measure PPL on every language (ppl.json, ppl.csv)',
  usage: 'lape ppl --model DIR --masks FILE (--eval LANG=FILE ... | --eval-dir DIR [--langs ...]) [options]',
  details: [
    '--model DIR                  Hugging Face checkpoint folder',
    '--masks FILE                 neuron masks (masks.json / .safetensors / the paper\'s .pth)',
    '--deactivate en,zh,...       languages whose neurons get a row (default: every masks language)',
    ...EVAL_DETAILS,
    REPORT_DETAIL,
  ],
  examples: [
    'lape ppl --model models/tiny-multilingual --masks lape-out/masks.json --eval-dir data/corpus --random-control',
    'lape ppl --model ~/models/Qwen2.5-0.5B --masks masks.json --eval en=en.valid.txt --eval zh=zh.valid.txt --seq-len 512 --max-chunks 20',
  ],
  flags: { ...EVAL_FLAGS, ...REPORT_FLAGS, masks: { type: 'string' }, deactivate: { type: 'string', multiple: true } },
  async run(ctx) {
    const masksFile = required(ctx, 'masks');
    const out = str(ctx, 'out') ?? DEFAULT_OUT;
    const randomControl = bool(ctx, 'random-control');
    const seed = seedFromFlags(ctx);
    const deactivateFlag = list(ctx, 'deactivate');
    const flags = evalFlags(ctx);
    required(ctx, 'model');
    const masks = loadMasks(masksFile);
    const specs = evalSpecsFromFlags(ctx, masks.languages);
    const model = openModel(ctx);
    try {
      const settings = evalSettings(flags, model.spec);
      checkMasksFit(masks, model.spec.numLayers, model.spec.intermediateSize, masksFile);
      const deactivate = deactivateFlag.length ? deactivateFlag : [...masks.languages];
      checkLanguageSets(masks.languages, specs.map((s) => s.lang), deactivate, masksFile);
      const sets = await loadEvalSetsFor(model, specs, settings);
      const t0 = Date.now();
      const bar = chunkProgress(ctx, 'ppl', sets, 1 + deactivate.length * (randomControl ? 2 : 1));
      const m = await pplMatrix(model, masks, sets, {
        batchSize: settings.batchSize,
        randomControl,
        seed,
        deactivate,
        masksFile,
        onChunks: (n) => bar.add(n),
      });
      bar.finish();
      const doc = {
        format: PPL_FORMAT,
        version: PPL_VERSION,
        lape_version: LAPE_VERSION,
        model: modelFacts(model),
        masks: { file: masksFile, method: masks.method, languages: masks.languages, settings: masks.settings },
        settings: { ...settings, randomControl, seed: randomControl ? seed : null },
        eval: evalFacts(sets, m.tokens),
        evalLanguages: m.evalLanguages,
        deactivated: m.deactivated,
        rows: m.rows,
        dominance: diagonalDominance(m),
      };
      const jsonText = JSON.stringify(doc, null, 2) + '\n';
      const csvText = pplCsv(m);
      const jsonPath = join(out, 'ppl.json');
      const csvPath = join(out, 'ppl.csv');
      writeFileAtomic(jsonPath, jsonText);
      writeFileAtomic(csvPath, csvText);
      for (const line of pplTable(m)) ctx.log(line);
      ctx.log(`wrote ${jsonPath}, ${csvPath} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      await refreshReport(ctx, out);
      return { files: [jsonPath, csvPath], ...doc };
    } finally {
      await model.release();
    }
  },
};

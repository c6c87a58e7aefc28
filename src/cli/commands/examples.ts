/**
 * `lape examples`: per neuron, the tokens it fires on most (with context) and its activation
 * histogram per language → examples.json + examples.csv (docs/outputs.md).
 */
import { checkCorpusFile } from '../../corpus/text-files.js';
import { usageError } from '../../errors.js';
import { DEFAULT_EDGES, checkEdges, decodeTop, findExamples, neuronsFromMasks, type ExamplesResult, type ProbedNeuron } from '../../experiments/examples.js';
import { loadMasks } from '../../select/masks-io.js';
import { checkMasksFit } from '../../select/masks.js';
import { loadTokenizer, type LapeTokenizer } from '../../tokenizer/tokenizer.js';
import { toCsv } from '../../util/csv.js';
import { LAPE_VERSION } from '../../version.js';
import type { Command } from '../command.js';
import { BATCH_SIZE, BOS, CORPUS, MASKS, SEQ_LEN, seqLenFor } from '../groups/common.js';
import { MODEL_GROUP, modelFacts, withModel } from '../groups/model.js';
import { outputGroup, writeResults } from '../groups/output.js';
import { TOKENS } from '../groups/recording.js';
import { OptionValueError, group, opt, variant } from '../options/option.js';
import { Progress } from '../progress.js';
import { parsePromptSpec } from '../prompts.js';

export const EXAMPLES_FORMAT = 'lape-examples';
export const EXAMPLES_VERSION = 1;

const { group: OUTPUT_GROUP, out: OUT_DIR } = outputGroup([
  { name: 'examples.json', format: EXAMPLES_FORMAT },
  { name: 'examples.csv', format: 'csv:layer,' },
]);

/** `layer:index` → a neuron. */
function parseNeuron(raw: string): { layer: number; index: number } {
  const m = /^(\d+):(\d+)$/.exec(raw.trim());
  if (!m) throw new OptionValueError(`must be LAYER:INDEX items like 3:117, got "${raw}"`);
  return { layer: Number(m[1]), index: Number(m[2]) };
}

const EX_CORPUS = variant(CORPUS, {
  metavar: '[LANG=]FILE,...',
  help: 'text in each language, one paragraph per line (held-out text, e.g. data/corpus/zh.valid.txt); without LANG= the file name gives it',
});
const EX_MASKS = variant(MASKS, { help: 'probe every neuron of these masks (each with its languages)' });
const NEURONS = opt.list('neurons', { metavar: 'L:I,...', item: parseNeuron, help: 'probe these neurons (layer:index), with or beside --masks' });
const PER_NEURON = opt.int('per-neuron', { default: 10, help: 'top tokens kept per neuron (K)' });
const WINDOW = opt.int('window', { min: 0, default: 8, help: 'context tokens kept on each side of a top token' });
const HIST_EDGES = opt.list('hist-edges', {
  metavar: 'X,...',
  item: (raw) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new OptionValueError(`must be numbers, got "${raw}"`);
    return n;
  },
  help: 'ascending histogram edges of hook_act',
  defaultText: '0 and ±2^k for k = −4…4',
});
const EX_TOKENS = variant(TOKENS, { help: 'use the first N tokens of each language' });
const EX_BATCH = variant(BATCH_SIZE, { help: 'chunks per forward pass', defaultText: '2048 tokens per pass' });

export const examplesCommand: Command = {
  name: 'examples',
  summary: 'What each neuron fires on: its top tokens in context and its activation histogram per language',
  options: [
    group('Neurons', EX_MASKS, NEURONS, PER_NEURON, WINDOW, HIST_EDGES),
    group('Corpus', EX_CORPUS, EX_TOKENS, SEQ_LEN, EX_BATCH, BOS),
    MODEL_GROUP,
    OUTPUT_GROUP,
  ],
  notes: [
    'One pass over every corpus: the graph keeps each batch\'s K largest blocks.{i}.mlp.hook_act values per',
    'probed neuron (TopK) and counts per histogram edge; only those leave ONNX Runtime.',
    'A context stays within its chunk of --seq-len tokens.',
  ],
  examples: [
    'lape examples --model models/tiny-multilingual --masks lape-demo/masks.json \\\n      --corpus data/corpus/en.valid.txt,data/corpus/zh.valid.txt --seq-len 256 --out lape-demo',
    'lape examples --model M --neurons 3:117,5:20 --corpus fr=fr.txt,ja=ja.txt --per-neuron 20 --out out',
  ],
  async run(ctx) {
    const masksPath = ctx.get(EX_MASKS);
    const named = ctx.get(NEURONS);
    if (!masksPath && named.length === 0) throw usageError('give --masks (probe their neurons) or --neurons L:I,...');
    const corpora = ctx.get(EX_CORPUS).map((s) => parsePromptSpec(s, 'corpus'));
    if (corpora.length === 0) throw usageError('--corpus is required');
    const byLang = new Map<string, string[]>();
    for (const c of corpora) byLang.set(c.lang, [...(byLang.get(c.lang) ?? []), c.file]);
    for (const c of corpora) checkCorpusFile(c.file);
    const edges = ctx.get(HIST_EDGES).length ? ctx.get(HIST_EDGES) : [...DEFAULT_EDGES];
    checkEdges(edges);
    return withModel(ctx, async (model) => {
      const spec = model.spec;
      let neurons: ProbedNeuron[] = [];
      let method: string | null = null;
      if (masksPath) {
        const masks = loadMasks(masksPath);
        checkMasksFit(masks, spec.numLayers, spec.intermediateSize, masksPath);
        neurons = neuronsFromMasks(masks);
        method = masks.method;
      }
      for (const n of named) {
        if (!neurons.some((m) => m.layer === n.layer && m.index === n.index)) neurons.push({ ...n, langs: [] });
      }
      neurons.sort((a, b) => a.layer - b.layer || a.index - b.index);
      if (neurons.length === 0) throw usageError(`${masksPath} selects no neurons; give --neurons`);
      const seqLen = seqLenFor(ctx.get(SEQ_LEN), spec.maxPositionEmbeddings);
      const maxTokens = ctx.get(EX_TOKENS);
      if (maxTokens !== undefined && maxTokens < seqLen) throw usageError(`--tokens ${maxTokens} is less than one chunk of ${seqLen} tokens (--seq-len)`);
      const batchSize = ctx.get(EX_BATCH) ?? Math.max(1, Math.floor(2048 / seqLen));
      const tokenizer = loadTokenizer(model.dir);
      const bosId = ctx.get(BOS) ? spec.bosTokenId ?? tokenizer.tokenToId('<s>') ?? null : null;
      if (ctx.get(BOS) && bosId === null) throw usageError('--bos given but the model has no BOS token');
      let progress: Progress | null = null;
      const result = await findExamples(model, tokenizer, {
        neurons,
        corpora: [...byLang].map(([lang, files]) => ({ lang, files })),
        seqLen,
        maxTokens,
        batchSize,
        bosId,
        perNeuron: ctx.get(PER_NEURON),
        window: ctx.get(WINDOW),
        edges,
        onProgress: (done, total) => {
          progress ??= new Progress({ label: 'examples', unit: 'tokens', quiet: ctx.quiet, total });
          progress.update(done);
        },
      });
      (progress as Progress | null)?.finish();
      const facts = {
        model: modelFacts(model),
        masks: masksPath ?? null,
        method,
        corpora: [...byLang].map(([lang, files]) => ({ lang, files, tokens: result.tokens[lang]! })),
        seqLen,
        bos: bosId !== null,
        perNeuron: ctx.get(PER_NEURON),
        window: ctx.get(WINDOW),
        edges,
      };
      const json = examplesJson(result, tokenizer, facts);
      const tokensAll = Object.values(result.tokens).reduce((a, b) => a + b, 0);
      ctx.log(`${neurons.length} neurons over ${tokensAll} tokens in ${result.seconds.toFixed(1)} s (${(tokensAll / Math.max(result.seconds, 1e-9)).toFixed(0)} tokens/s)`);
      await writeResults(ctx, ctx.get(OUT_DIR), { 'examples.json': JSON.stringify(json, null, 1) + '\n', 'examples.csv': examplesCsv(json) });
      return { out: ctx.get(OUT_DIR), neurons: neurons.length, tokens: result.tokens, seconds: result.seconds, tokensPerSecond: tokensAll / Math.max(result.seconds, 1e-9) };
    });
  },
};

const r6 = (x: number): number => Number(x.toPrecision(7));

export interface ExamplesJson {
  format: string;
  neurons: Array<{
    layer: number;
    index: number;
    langs: string[];
    top: Array<{ lang: string; chunk: number; position: number; activation: number; token_id: number; before: string; token: string; after: string; context_ids: number[] }>;
    hist: Record<string, number[]>;
  }>;
  [k: string]: unknown;
}

export function examplesJson(result: ExamplesResult, tokenizer: LapeTokenizer, facts: Record<string, unknown>): ExamplesJson {
  return {
    format: EXAMPLES_FORMAT,
    version: EXAMPLES_VERSION,
    lape_version: LAPE_VERSION,
    ...facts,
    hook: 'blocks.{layer}.mlp.hook_act',
    bins: 'hist[lang][0] counts hook_act < edges[0], hist[lang][i] edges[i-1] ≤ hook_act < edges[i], the last ≥ edges[last]',
    tokens: result.tokens,
    seconds: result.seconds,
    neurons: result.neurons.map((n) => ({
      layer: n.layer,
      index: n.index,
      langs: n.langs,
      top: n.top.map((t) => ({
        lang: t.lang, chunk: t.chunk, position: t.position, activation: r6(t.activation), token_id: t.tokenId,
        ...decodeTop(tokenizer, t),
        context_ids: [...t.before, t.tokenId, ...t.after],
      })),
      hist: n.hist,
    })),
  };
}

export function examplesCsv(json: ExamplesJson): string {
  const rows = json.neurons.flatMap((n) =>
    n.top.map((t, rank) => [n.layer, n.index, n.langs.join(' '), rank + 1, t.lang, t.activation, t.chunk, t.position, t.before, t.token, t.after]),
  );
  return toCsv(['layer', 'index', 'neuron_langs', 'rank', 'lang', 'activation', 'chunk', 'position', 'before', 'token', 'after'], rows);
}

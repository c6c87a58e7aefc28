/**
 * What a neuron fires on: one streaming pass over every language's corpus that keeps, per probed
 * neuron, the K tokens with the largest hook_act (with their context) and a histogram of hook_act
 * per language. The graph does the selection (TopK per batch and threshold counts, the
 * probeLayers hook plan); JS only merges K candidates per neuron per batch, so the
 * [tokens × neurons] activations never leave ONNX Runtime.
 */
import { LapeError } from '../errors.js';
import { tokenChunks } from '../corpus/chunks.js';
import type { Model } from '../runtime/model.js';
import type { LapeTokenizer } from '../tokenizer/tokenizer.js';
import type { NeuronMasks } from '../select/types.js';

export interface ProbedNeuron {
  layer: number;
  index: number;
  /** Languages whose masks hold this neuron (empty for neurons named by --neurons only). */
  langs: string[];
}

export interface ExampleCorpus {
  lang: string;
  files: string[];
}

export interface ExamplesOptions {
  neurons: ProbedNeuron[];
  corpora: ExampleCorpus[];
  seqLen: number;
  /** Tokens per language (whole chunks); undefined = the whole corpus. */
  maxTokens?: number;
  batchSize: number;
  bosId?: number | null;
  /** Top tokens kept per neuron. */
  perNeuron: number;
  /** Context tokens kept on each side of a top token (within its chunk). */
  window: number;
  /** Ascending histogram edges; bins are (−∞, e0), [e0, e1), …, [e_last, ∞). */
  edges: number[];
  onProgress?: (tokensDone: number, total: number | undefined) => void;
}

export interface TopToken {
  lang: string;
  /** Chunk index in that language's chunk stream, and the position in the chunk. */
  chunk: number;
  position: number;
  activation: number;
  tokenId: number;
  before: number[];
  after: number[];
}

export interface NeuronExamples extends ProbedNeuron {
  /** Largest first; ties in language order, then chunk, then position. */
  top: TopToken[];
  /** Per language, token counts per bin (edges.length + 1 bins). */
  hist: Record<string, number[]>;
}

export interface ExamplesResult {
  neurons: NeuronExamples[];
  /** Valid tokens per language. */
  tokens: Record<string, number>;
  seconds: number;
}

/** Default edges: 0 and ± powers of two from 1/16 to 16 (scale-free; 20 bins). */
export const DEFAULT_EDGES: readonly number[] = [
  ...[16, 8, 4, 2, 1, 0.5, 0.25, 0.125, 0.0625].map((x) => -x),
  0,
  ...[0.0625, 0.125, 0.25, 0.5, 1, 2, 4, 8, 16],
];

/** The neurons of every language in the masks (each once, with all its languages), by layer then index. */
export function neuronsFromMasks(masks: NeuronMasks): ProbedNeuron[] {
  const byKey = new Map<number, ProbedNeuron>();
  masks.languages.forEach((lang, k) => {
    masks.masks[k]!.forEach((idx, layer) => {
      for (const index of idx) {
        const key = layer * masks.neurons + index;
        const n = byKey.get(key) ?? { layer, index, langs: [] };
        n.langs.push(lang);
        byKey.set(key, n);
      }
    });
  });
  return [...byKey.entries()].sort((a, b) => a[0] - b[0]).map(([, n]) => n);
}

export function checkEdges(edges: readonly number[]): void {
  if (edges.length === 0) throw new LapeError('histogram edges: give at least one edge');
  for (let i = 1; i < edges.length; i++) {
    if (!(edges[i]! > edges[i - 1]!)) throw new LapeError(`histogram edges must increase, got ${edges[i - 1]} then ${edges[i]}`);
  }
}

/** Per neuron: candidates kept so far, and the value a new one must reach once K are kept. */
interface Keeper {
  top: TopToken[];
  bar: number;
}

export async function findExamples(model: Model, tokenizer: LapeTokenizer, opts: ExamplesOptions): Promise<ExamplesResult> {
  const { numLayers: L, intermediateSize: I } = model.spec;
  if (opts.neurons.length === 0) throw new LapeError('no neurons to probe');
  if (!(opts.perNeuron >= 1)) throw new LapeError('per-neuron count must be at least 1');
  checkEdges(opts.edges);
  const seen = new Set<number>();
  for (const n of opts.neurons) {
    if (!(Number.isInteger(n.layer) && n.layer >= 0 && n.layer < L && Number.isInteger(n.index) && n.index >= 0 && n.index < I)) {
      throw new LapeError(`neuron ${n.layer}:${n.index} does not exist (the model has ${L} layers × ${I} neurons)`);
    }
    if (seen.has(n.layer * I + n.index)) throw new LapeError(`neuron ${n.layer}:${n.index} is given twice`);
    seen.add(n.layer * I + n.index);
  }
  const langOrder = opts.corpora.map((c) => c.lang);
  // Column of each neuron within its layer's probe.
  const perLayer = new Map<number, ProbedNeuron[]>();
  for (const n of opts.neurons) perLayer.set(n.layer, [...(perLayer.get(n.layer) ?? []), n]);
  const layers = [...perLayer.keys()].sort((a, b) => a - b);
  const indices = new Map(layers.map((l) => [l, perLayer.get(l)!.map((n) => n.index)]));
  const keepers = new Map<ProbedNeuron, Keeper>(opts.neurons.map((n) => [n, { top: [], bar: -Infinity }]));
  const E = opts.edges.length;
  const atLeast = new Map<ProbedNeuron, Map<string, Float64Array>>(opts.neurons.map((n) => [n, new Map()]));
  const tokens: Record<string, number> = {};
  const plan = { probeLayers: layers };
  const probe = { neurons: indices, k: opts.perNeuron, edges: Float32Array.from(opts.edges) };
  const K = opts.perNeuron;
  const order = (a: TopToken, b: TopToken): number =>
    b.activation - a.activation || langOrder.indexOf(a.lang) - langOrder.indexOf(b.lang) || a.chunk - b.chunk || a.position - b.position;

  const started = performance.now();
  const chunksPerLang = opts.maxTokens === undefined ? undefined : Math.floor(opts.maxTokens / opts.seqLen);
  if (chunksPerLang === 0) throw new LapeError(`${opts.maxTokens} tokens per language is less than one chunk of ${opts.seqLen} tokens`);
  const total = chunksPerLang === undefined ? undefined : chunksPerLang * opts.seqLen * opts.corpora.length;
  let done = 0;
  for (const { lang, files } of opts.corpora) {
    if (lang in tokens) throw new LapeError(`language "${lang}" is given twice`);
    tokens[lang] = 0;
    for (const n of opts.neurons) atLeast.get(n)!.set(lang, new Float64Array(E));
    let batch: number[][] = [];
    let firstChunk = 0;
    const flush = async (): Promise<void> => {
      const T = batch[0]!.length;
      const r = await model.run({ ids: batch }, plan, { probe });
      for (const l of layers) {
        const res = r.probe!.get(l)!;
        const cols = perLayer.get(l)!;
        const n = cols.length;
        cols.forEach((neuron, c) => {
          const keep = keepers.get(neuron)!;
          for (let j = 0; j < res.k; j++) {
            const v = res.top[j * n + c]!;
            if (v === -Infinity || v < keep.bar) break; // sorted: nothing further can enter
            const flat = Number(res.at[j * n + c]!);
            const b = Math.floor(flat / T);
            const t = flat % T;
            const ids = batch[b]!;
            keep.top.push({
              lang, chunk: firstChunk + b, position: t, activation: v, tokenId: ids[t]!,
              before: ids.slice(Math.max(0, t - opts.window), t), after: ids.slice(t + 1, t + 1 + opts.window),
            });
          }
          if (keep.top.length > K) {
            keep.top.sort(order);
            keep.top.length = K;
            keep.bar = keep.top[K - 1]!.activation;
          }
          const acc = atLeast.get(neuron)!.get(lang)!;
          for (let e = 0; e < E; e++) acc[e]! += res.atLeast[e * n + c]!;
        });
      }
      const valid = batch.length * T;
      tokens[lang]! += valid;
      done += valid;
      firstChunk += batch.length;
      batch = [];
      opts.onProgress?.(done, total);
    };
    for await (const chunk of tokenChunks(tokenizer, files, { seqLen: opts.seqLen, maxChunks: chunksPerLang, bosId: opts.bosId ?? null })) {
      batch.push(chunk);
      if (batch.length === opts.batchSize) await flush();
    }
    if (batch.length) await flush();
    if (tokens[lang] === 0) throw new LapeError(`corpus too short for one chunk of ${opts.seqLen} tokens`, files.join(', '));
  }

  const neurons = opts.neurons.map((n): NeuronExamples => {
    const keep = keepers.get(n)!;
    keep.top.sort(order);
    const hist: Record<string, number[]> = {};
    for (const lang of langOrder) {
      const c = atLeast.get(n)!.get(lang)!;
      const bins = [tokens[lang]! - c[0]!];
      for (let e = 1; e < E; e++) bins.push(c[e - 1]! - c[e]!);
      bins.push(c[E - 1]!);
      hist[lang] = bins;
    }
    return { ...n, top: keep.top.slice(0, K), hist };
  });
  return { neurons, tokens, seconds: (performance.now() - started) / 1000 };
}

/**
 * A top token as text: the context before, the token, the context after. With byte-level BPE a
 * token can hold part of a character (decoded alone it is U+FFFD); the highlighted part then
 * widens by up to 3 tokens on each side to whole characters. Where nothing lines up, each part
 * is decoded alone.
 */
export function decodeTop(tokenizer: LapeTokenizer, t: TopToken): { before: string; token: string; after: string } {
  const decode = (ids: number[]): string => (ids.length ? tokenizer.decode(ids) : ''); // the tokenizer refuses []
  const all = decode([...t.before, t.tokenId, ...t.after]);
  for (let widen = 0; widen <= 6; widen++) {
    for (let i = Math.min(widen, 3, t.before.length); i >= 0 && widen - i <= Math.min(3, t.after.length); i--) {
      const j = widen - i;
      const head = decode(t.before.slice(0, t.before.length - i));
      const span = decode([...t.before.slice(t.before.length - i), t.tokenId, ...t.after.slice(0, j)]);
      if (head.endsWith('\ufffd') || span.includes('\ufffd') || !all.startsWith(head + span)) continue;
      return { before: head, token: span, after: all.slice(head.length + span.length) };
    }
  }
  return { before: decode(t.before), token: decode([t.tokenId]), after: decode(t.after) };
}

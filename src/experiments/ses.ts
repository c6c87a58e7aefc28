/**
 * Sentence embedding similarity across layers (Tang et al. 2024, Fig. 6).
 *
 * A text's sentence embedding at layer l is blocks.{l}.hook_resid_post mean-pooled over the
 * text's tokens (by default without BOS, which is identical in every language; see
 * embedParallel). SES of a language pair at layer l = mean over aligned groups of the cosine
 * similarity of the two texts' embeddings; the layer's SES = mean over all language pairs.
 */
import { LapeError, ParamError } from '../errors.js';
import type { Model } from '../runtime/model.js';
import type { NeuronMasks } from '../select/types.js';
import type { LapeTokenizer } from '../tokenizer/tokenizer.js';
import type { ParallelSet } from './parallel.js';

/** Sentence embeddings, row-major [languages × texts × layers × hidden]. */
export interface EmbeddingSet {
  languages: string[];
  texts: number;
  layers: number;
  hidden: number;
  data: Float64Array;
}

export interface SesResult {
  languages: string[];
  /** Layer indices (blocks.{l}.hook_resid_post). */
  layers: number[];
  texts: number;
  /** Per layer, mean over language pairs. */
  ses: number[];
  /** Per unordered pair (a before b in language order), per layer. */
  pairs: Array<{ a: string; b: string; ses: number[] }>;
}

export function checkEmbeddings(e: EmbeddingSet): void {
  const { languages, texts, layers, hidden, data } = e;
  if (languages.length < 2) throw new LapeError('SES needs at least two languages');
  if (!(texts > 0 && layers > 0 && hidden > 0)) throw new LapeError('embeddings must have texts, layers and hidden size > 0');
  if (data.length !== languages.length * texts * layers * hidden) {
    throw new LapeError(`embeddings hold ${data.length} numbers, expected ${languages.length}×${texts}×${layers}×${hidden}`);
  }
}

/** Offset of embedding (language k, text t, layer l) in EmbeddingSet.data. */
export function embOffset(e: EmbeddingSet, k: number, t: number, l: number): number {
  return ((k * e.texts + t) * e.layers + l) * e.hidden;
}

/** Cosine similarity of a[ao..ao+n) and b[bo..bo+n); 0 when either vector is zero. */
export function cosine(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, n: number): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[ao + i]!;
    const y = b[bo + i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

export function sesFromEmbeddings(e: EmbeddingSet): SesResult {
  checkEmbeddings(e);
  const K = e.languages.length;
  const pairs: SesResult['pairs'] = [];
  for (let a = 0; a < K; a++) {
    for (let b = a + 1; b < K; b++) {
      const ses: number[] = [];
      for (let l = 0; l < e.layers; l++) {
        let s = 0;
        for (let t = 0; t < e.texts; t++) s += cosine(e.data, embOffset(e, a, t, l), e.data, embOffset(e, b, t, l), e.hidden);
        ses.push(s / e.texts);
      }
      pairs.push({ a: e.languages[a]!, b: e.languages[b]!, ses });
    }
  }
  const ses = Array.from({ length: e.layers }, (_, l) => pairs.reduce((s, p) => s + p.ses[l]!, 0) / pairs.length);
  return { languages: [...e.languages], layers: Array.from({ length: e.layers }, (_, l) => l), texts: e.texts, ses, pairs };
}

export interface EmbedOptions {
  /** Texts per forward run (default 8). */
  batchSize?: number;
  /** Add the tokenizer's special tokens (BOS) and pool over them too (default false). */
  bos?: boolean;
  /** Keep at most this many tokens per text (default: no limit; longer than the context is an error). */
  maxTokens?: number;
  /** Called after each batch with the number of texts embedded so far and the total. */
  onProgress?: (done: number, total: number, tokens: number) => void;
}

/**
 * Sentence embeddings of every text of a parallel set: one residMean forward per batch (texts
 * right-padded; pooling covers each text's own tokens only).
 */
export async function embedParallel(
  model: Model,
  tokenizer: LapeTokenizer,
  set: ParallelSet,
  opts: EmbedOptions = {},
): Promise<EmbeddingSet & { tokens: number }> {
  const { numLayers: L, hiddenSize: H, maxPositionEmbeddings: maxPos } = model.spec;
  const batchSize = opts.batchSize ?? 8;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new LapeError(`batch size must be a positive integer, got ${batchSize}`);
  if (opts.maxTokens !== undefined && !(Number.isInteger(opts.maxTokens) && opts.maxTokens > 0)) {
    throw new LapeError(`max tokens must be a positive integer, got ${opts.maxTokens}`);
  }
  const N = set.groups.length;
  const K = set.languages.length;
  const data = new Float64Array(K * N * L * H);
  let tokens = 0;
  let done = 0;
  for (let k = 0; k < K; k++) {
    const lang = set.languages[k]!;
    const ids = set.texts[lang]!.map((text, t) => {
      let row = tokenizer.encode(text, { addSpecialTokens: opts.bos ?? false });
      if (opts.maxTokens !== undefined) row = row.slice(0, opts.maxTokens);
      if (row.length === 0) throw new LapeError(`group ${JSON.stringify(set.groups[t])} "${lang}" text encodes to no tokens`);
      if (row.length > maxPos) {
        throw new ParamError(
          `group ${JSON.stringify(set.groups[t])} "${lang}" text has ${row.length} tokens, longer than the model's context (${maxPos}); use a token limit`,
          'maxTokens',
          'data',
        );
      }
      return row;
    });
    for (let start = 0; start < N; start += batchSize) {
      const batch = ids.slice(start, start + batchSize);
      const r = await model.run({ ids: batch }, { residMean: true });
      const rm = r.residMean!;
      for (let b = 0; b < batch.length; b++) {
        const dst = (k * N + start + b) * L * H;
        for (let i = 0; i < L * H; i++) data[dst + i] = rm[b * L * H + i]!;
        tokens += batch[b]!.length;
      }
      done += batch.length;
      opts.onProgress?.(done, K * N, tokens);
    }
  }
  return { languages: [...set.languages], texts: N, layers: L, hidden: H, data, tokens };
}

/** Language-specific neurons per layer: distinct neurons over all languages, and per language. */
export function neuronsPerLayer(masks: NeuronMasks): { union: number[]; perLanguage: Record<string, number[]> } {
  const union: number[] = [];
  const mark = new Uint8Array(masks.neurons);
  for (let l = 0; l < masks.layers; l++) {
    mark.fill(0);
    let n = 0;
    for (const perLayer of masks.masks) {
      for (const j of perLayer[l]!) {
        if (!mark[j]) {
          mark[j] = 1;
          n++;
        }
      }
    }
    union.push(n);
  }
  const perLanguage: Record<string, number[]> = {};
  masks.languages.forEach((lang, k) => {
    perLanguage[lang] = masks.masks[k]!.map((idx) => idx.length);
  });
  return { union, perLanguage };
}

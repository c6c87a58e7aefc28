/** The facts `lape info` prints about a checkpoint (also recorded by lape demo in run.json). */
import { openCheckpoint } from '../checkpoint/checkpoint.js';
import { loadTokenizer } from '../tokenizer/tokenizer.js';
import { LapeError } from '../errors.js';
import { describeStructure } from '../archs/describe.js';
import { weightHoldings, type Holding, type WeightType } from '../checkpoint/derived-weights.js';

export interface ModelInfo {
  dir: string;
  architecture: string;
  layers: number;
  hiddenSize: number;
  ffnSize: number;
  neurons: number;
  heads: number;
  kvHeads: number;
  vocabSize: number;
  parameters: number;
  weightBytes: number;
  dtype: string;
  tokenizer: string;
  tokenizerVocab: number | null;
  /** Structural choices in words (norm, positions, attention, FFN, layout, biases, extras). */
  structure: Record<string, string>;
  /** Stored tensors deliberately not used (causal-mask buffers, a vision tower…). */
  ignoredTensors: number;
  /**
   * Only when some weight is not held as stored (a quantised GGUF file, a derived --weights type):
   * the weight type asked for, how each stored type is then held, and the bytes held.
   */
  weights?: WeightType;
  holdings?: Holding[];
  heldBytes?: number;
}

/** The facts `lape info` prints (also used by reports). */
export function modelInfo(dir: string, weights: WeightType = 'stored'): ModelInfo {
  const ck = openCheckpoint(dir);
  const s = ck.spec;
  let tokenizer = 'none (no tokenizer.json)';
  let tokenizerVocab: number | null = null;
  try {
    const tok = loadTokenizer(dir);
    tokenizer = tok.type;
    tokenizerVocab = tok.vocabSize;
  } catch (e) {
    // info still describes the weights; a tokenizer.json that is there but unusable is said so.
    if (!(e instanceof LapeError)) throw e;
    if (!/missing tokenizer\.json/.test(e.message)) tokenizer = `unusable: ${e.message}`;
  }
  const holdings = weightHoldings(ck, weights);
  return {
    dir,
    architecture: s.architecture,
    layers: s.numLayers,
    hiddenSize: s.hiddenSize,
    ffnSize: s.intermediateSize,
    neurons: s.numLayers * s.intermediateSize,
    heads: s.numHeads,
    kvHeads: s.numKvHeads,
    vocabSize: s.vocabSize,
    parameters: ck.parameterCount,
    weightBytes: ck.weightBytes,
    dtype: ck.dtypes.join('+'),
    tokenizer,
    tokenizerVocab,
    structure: Object.fromEntries(describeStructure(s)),
    ignoredTensors: ck.tensors.ignored.length,
    ...(holdings.some((h) => h.held !== h.stored) ? { weights, holdings, heldBytes: holdings.reduce((a, h) => a + h.heldBytes, 0) } : {}),
  };
}

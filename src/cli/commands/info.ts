import { loadTokenizer } from '../../tokenizer/tokenizer.js';
import { usageError } from '../../errors.js';
import { openCheckpoint } from '../../checkpoint/checkpoint.js';
import { describeStructure } from '../../archs/describe.js';
import type { Command } from '../command.js';

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
}

/** The facts `lape info` prints (also used by reports). */
export function modelInfo(dir: string): ModelInfo {
  const ck = openCheckpoint(dir);
  const s = ck.spec;
  let tokenizer = 'none (no tokenizer.json)';
  let tokenizerVocab: number | null = null;
  try {
    const tok = loadTokenizer(dir);
    tokenizer = tok.type;
    tokenizerVocab = tok.vocabSize;
  } catch {
    /* info still describes the weights without a tokenizer */
  }
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
  };
}

function human(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

export const infoCommand: Command = {
  name: 'info',
  summary: 'Describe a local Hugging Face checkpoint (architecture, sizes, neurons, dtype, tokenizer)',
  usage: 'lape info <checkpoint-dir>',
  details: [],
  examples: ['lape info models/tiny-multilingual', 'lape info ~/models/Qwen2.5-0.5B --json'],
  flags: {},
  async run(ctx) {
    const dir = ctx.positionals[0];
    if (!dir) throw usageError('info needs a checkpoint folder');
    const info = modelInfo(dir);
    const rows: Array<[string, string]> = [
      ['checkpoint', info.dir],
      ['architecture', info.architecture],
      ['layers', String(info.layers)],
      ['hidden size', String(info.hiddenSize)],
      ['FFN size', String(info.ffnSize)],
      ['FFN neurons', `${info.neurons} (${info.layers} × ${info.ffnSize})`],
      ['attention heads', `${info.heads} (key/value heads ${info.kvHeads})`],
      ['vocabulary', String(info.vocabSize)],
      ['parameters', `${info.parameters} (${human(info.parameters)})`],
      ['weights', `${info.dtype}, ${(info.weightBytes / 2 ** 20).toFixed(1)} MiB`],
      ['tokenizer', info.tokenizerVocab === null ? info.tokenizer : `${info.tokenizer}, ${info.tokenizerVocab} tokens`],
      ...Object.entries(info.structure),
    ];
    if (info.ignoredTensors) rows.push(['not used', `${info.ignoredTensors} stored tensors (buffers or other modalities)`]);
    const w = Math.max(...rows.map((r) => r[0].length));
    for (const [k, v] of rows) ctx.log(`${k.padEnd(w)}  ${v}`);
    return info;
  },
};

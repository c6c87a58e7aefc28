/**
 * GGUF architectures as data: `general.architecture` → the lape family whose structure it has,
 * llama.cpp's metadata keys → ModelSpec (with llama.cpp's defaults where a key may be absent), and
 * llama.cpp's tensor names → roles. What llama.cpp's converter changed on the way is part of the
 * entry: Llama's q/k rows are permuted into interleaved rotary pairs (`layout: 'pairs'`, used in
 * place); Gemma's norms are stored as 1 + w (plain `rms`); BLOOM's and NeoX's per-head fused
 * q/k/v is regrouped to [q | k | v] (`fused`); GPT-2's Conv1D weights are transposed to [out, in].
 * Biases and a separate LM head are used when the file has them (GGUF has no flags for them).
 */
import { LapeError } from '../../errors.js';
import type { ConfigReader } from '../config-reader.js';
import { LLAMA_LIKE, type FamilySpec, type TensorNames } from '../family.js';
import type { RopeScaling, RopeSpec } from '../model-spec.js';

/** What a family's spec function may look at besides the metadata. */
export interface GgufContext {
  /** `{arch}.` + key. */
  k(key: string): string;
  hasTensor(name: string): boolean;
  /** The `rope_freqs` tensor's values (llama3-style scaling written as per-frequency divisors), if stored. */
  ropeFactors: number[] | null;
  /** Vocabulary size: `{arch}.vocab_size`, else the tokenizer's token count. */
  vocabSize: number;
}

export interface GgufFamily {
  /** `general.architecture` values handled. */
  archs: string[];
  /** Key of the lape family with this structure (hooks, reports and masks name it). */
  key: string;
  spec(c: ConfigReader, x: GgufContext): FamilySpec;
  names: TensorNames;
}

/** llama.cpp's tensor names (gguf-py TENSOR_NAMES); a family uses the roles its spec has. */
export const GGUF_NAMES: TensorNames = {
  layouts: [{ model: '', head: '' }],
  global: { embed: 'token_embd', posEmbed: 'position_embd', embedNorm: 'token_embd_norm', finalNorm: 'output_norm', lmHead: 'output' },
  layer: 'blk.{i}.',
  roles: {
    attnNorm: 'attn_norm', q: 'attn_q', k: 'attn_k', v: 'attn_v', qkv: 'attn_qkv', o: 'attn_output',
    qNorm: 'attn_q_norm', kNorm: 'attn_k_norm', postAttnNorm: 'post_attention_norm',
    ffnNorm: 'ffn_norm', gate: 'ffn_gate', up: 'ffn_up', down: 'ffn_down', postFfnNorm: 'post_ffw_norm',
  },
};

/** Sizes as llama.cpp reads them (llama-model.cpp: n_embd, n_head, n_head_kv defaults to n_head, key_length). */
function sizes(c: ConfigReader, x: GgufContext) {
  const hiddenSize = c.int(x.k('embedding_length'));
  const numHeads = c.int(x.k('attention.head_count'));
  const headDim = c.int(x.k('attention.key_length'), hiddenSize / numHeads);
  const valueDim = c.int(x.k('attention.value_length'), headDim);
  c.refuse(valueDim !== headDim, x.k('attention.value_length'), `value heads of ${valueDim} dims differ from key heads of ${headDim}`);
  return {
    vocabSize: x.vocabSize,
    hiddenSize,
    intermediateSize: c.int(x.k('feed_forward_length')),
    numLayers: c.int(x.k('block_count')),
    numHeads,
    numKvHeads: c.int(x.k('attention.head_count_kv'), numHeads),
    headDim,
    maxPositionEmbeddings: c.int(x.k('context_length')),
  };
}

/** Rotary settings: freq_base (llama.cpp default 10000), dimension_count (default head size), scaling. */
function rope(c: ConfigReader, x: GgufContext, headDim: number, layout: RopeSpec['layout'], theta = c.positive(x.k('rope.freq_base'), 10000)): RopeSpec {
  const dim = c.int(x.k('rope.dimension_count'), headDim);
  if (dim % 2 !== 0 || dim > headDim) throw new LapeError(`${x.k('rope.dimension_count')} = ${dim} must be even and at most the head size ${headDim}`, c.file);
  const type = c.str(x.k('rope.scaling.type'), c.has(x.k('rope.scale_linear')) ? 'linear' : 'none');
  let scaling: RopeScaling;
  if (type === 'none') scaling = { type: 'default' };
  else if (type === 'linear') scaling = { type: 'linear', factor: c.positive([x.k('rope.scaling.factor'), x.k('rope.scale_linear')]) };
  else throw new LapeError(`${x.k('rope.scaling.type')} = ${JSON.stringify(type)} is not supported (none, linear)`, c.file);
  if (x.ropeFactors) {
    if (scaling.type !== 'default') throw new LapeError('rope_freqs together with rope scaling is not supported', c.file);
    scaling = { type: 'factors', factors: x.ropeFactors };
  }
  return { theta, scaling, dim, layout };
}

const rmsEps = (c: ConfigReader, x: GgufContext): number => c.positive(x.k('attention.layer_norm_rms_epsilon'));
const layerEps = (c: ConfigReader, x: GgufContext): number => c.positive(x.k('attention.layer_norm_epsilon'));

type Sizes = ReturnType<typeof sizes>;

/** The same attention settings on every layer, scaled by 1/√head_dim. */
function everyLayer(s: Sizes, rope: RopeSpec | null, window: number | null = null): FamilySpec['layers'] {
  return Array.from({ length: s.numLayers }, () => ({ window, rope, attnScale: s.headDim ** -0.5 }));
}

/** What the LayerNorm families (Phi-2, GPT-2, NeoX, BLOOM) share: LayerNorm with bias, plain FFN, uniform layers. */
function layerNormFamily(c: ConfigReader, x: GgufContext, s: Sizes, rope: RopeSpec | null) {
  return {
    ...LLAMA_LIKE,
    ...s,
    norm: 'layer' as const,
    normEps: layerEps(c, x),
    layers: everyLayer(s, rope),
    ffn: 'plain' as const,
    tieWordEmbeddings: !x.hasTensor('output.weight'),
  };
}

/** Llama-style: biases and separate head as stored. */
function linearBiases(x: GgufContext): FamilySpec['bias'] {
  return { qkv: x.hasTensor('blk.0.attn_q.bias'), o: x.hasTensor('blk.0.attn_output.bias'), ffn: x.hasTensor('blk.0.ffn_up.bias'), lmHead: false };
}

/** Llama / Mistral: q/k rows permuted by the converter, so rotary pairs are interleaved. */
const llama: GgufFamily = {
  archs: ['llama'],
  key: 'llama',
  spec(c, x) {
    const s = sizes(c, x);
    const r = rope(c, x, s.headDim, 'pairs');
    const window = c.optionalInt(x.k('attention.sliding_window'));
    return {
      ...LLAMA_LIKE,
      ...s,
      normEps: rmsEps(c, x),
      layers: everyLayer(s, r, window),
      activation: 'silu',
      bias: linearBiases(x),
      tieWordEmbeddings: !x.hasTensor('output.weight'),
    };
  },
  names: GGUF_NAMES,
};

/** Qwen2 (q/k/v biases) and Qwen3 (q/k norms): rotate-half rotary, rows as HF stores them. */
function qwen(qwen3: boolean): GgufFamily {
  return {
    archs: [qwen3 ? 'qwen3' : 'qwen2'],
    key: qwen3 ? 'qwen3' : 'qwen2',
    spec(c, x) {
      const s = sizes(c, x);
      const r = rope(c, x, s.headDim, 'halves');
      return {
        ...LLAMA_LIKE,
        ...s,
        normEps: rmsEps(c, x),
        layers: everyLayer(s, r),
        activation: 'silu',
        qkNorm: qwen3,
        bias: linearBiases(x),
        tieWordEmbeddings: !x.hasTensor('output.weight'),
      };
    },
    names: GGUF_NAMES,
  };
}

/**
 * llama.cpp's Gemma 2/3 attention scale: 1/√(n_embd / n_head) for the 27B models (46 and 62
 * layers), 1/√head_dim otherwise — query_pre_attn_scalar is not in the file.
 */
function gemmaAttnScale(s: { hiddenSize: number; numHeads: number; headDim: number; numLayers: number }, layers27b: number): number {
  return s.numLayers === layers27b ? (s.hiddenSize / s.numHeads) ** -0.5 : s.headDim ** -0.5;
}

/** Gemma 1-3: norms stored as 1 + w (plain RMSNorm), embeddings × √hidden, tanh-GELU GLU, tied head. */
function gemma(version: 1 | 2 | 3): GgufFamily {
  return {
    archs: [version === 1 ? 'gemma' : `gemma${version}`],
    key: version === 1 ? 'gemma' : `gemma${version}`,
    spec(c, x) {
      const s = sizes(c, x);
      const base = {
        ...LLAMA_LIKE,
        ...s,
        normEps: rmsEps(c, x),
        embedScale: Math.sqrt(s.hiddenSize),
        activation: 'gelu_tanh' as const,
        bias: { qkv: false, o: false, ffn: false, lmHead: false },
        tieWordEmbeddings: !x.hasTensor('output.weight'),
      };
      if (version === 1) {
        const r = rope(c, x, s.headDim, 'halves');
        return { ...base, layers: everyLayer(s, r) };
      }
      const window = c.int(x.k('attention.sliding_window'), 4096);
      if (version === 2) {
        // llama.cpp: every even layer is local (swa pattern 2); soft-caps default to 50 and 30.
        const r = rope(c, x, s.headDim, 'halves');
        const attnScale = gemmaAttnScale(s, 46);
        return {
          ...base,
          layers: Array.from({ length: s.numLayers }, (_, i) => ({ window: i % 2 === 0 ? window : null, rope: r, attnScale })),
          sandwichNorms: true,
          attnSoftcap: c.positive(x.k('attn_logit_softcapping'), 50),
          finalSoftcap: c.positive(x.k('final_logit_softcapping'), 30),
        };
      }
      // Gemma 3: every `sliding_window_pattern`-th layer is global (default 6); local layers use
      // rope.freq_base_swa (default 10000) and no scaling; q/k norms.
      const pattern = c.int(x.k('attention.sliding_window_pattern'), 6);
      const global = rope(c, x, s.headDim, 'halves', c.positive(x.k('rope.freq_base'), 1e6));
      const local: RopeSpec = { ...global, theta: c.positive(x.k('rope.freq_base_swa'), 10000), scaling: { type: 'default' } };
      const attnScale = gemmaAttnScale(s, 62);
      return {
        ...base,
        layers: Array.from({ length: s.numLayers }, (_, i) => {
          const sliding = (i + 1) % pattern !== 0;
          return { window: sliding ? window : null, rope: sliding ? local : global, attnScale };
        }),
        sandwichNorms: true,
        qkNorm: true,
        finalSoftcap: c.optionalPositive(x.k('final_logit_softcapping')),
      };
    },
    names: GGUF_NAMES,
  };
}

/** Phi-2: one LayerNorm feeds attention and FFN, partial rotary (rotate-half), biases everywhere, q/k/v separate or fused. */
const phi2: GgufFamily = {
  archs: ['phi2'],
  key: 'phi',
  spec(c, x) {
    const s = sizes(c, x);
    return {
      ...layerNormFamily(c, x, s, rope(c, x, s.headDim, 'halves')),
      qkv: x.hasTensor('blk.0.attn_qkv.weight') ? 'fused' : 'separate',
      block: 'parallel-shared-norm',
      activation: 'gelu_tanh',
      bias: { qkv: true, o: true, ffn: true, lmHead: x.hasTensor('output.bias') },
    };
  },
  names: GGUF_NAMES,
};

/** GPT-2: learned positions, [q|k|v] fused, weights transposed to [out, in] by the converter. */
const gpt2: GgufFamily = {
  archs: ['gpt2'],
  key: 'gpt2',
  spec(c, x) {
    const s = sizes(c, x);
    return {
      ...layerNormFamily(c, x, s, null),
      positions: 'learned',
      qkv: 'fused',
      activation: 'gelu_tanh',
      bias: { qkv: true, o: true, ffn: true, lmHead: false },
    };
  },
  names: GGUF_NAMES,
};

/**
 * GPT-NeoX / Pythia: q/k/v regrouped to [q|k|v], partial rotary, parallel residual by default.
 * The activation is HF's exact (erf) GELU, the model's own; llama.cpp computes the tanh form.
 */
const gptNeox: GgufFamily = {
  archs: ['gptneox'],
  key: 'gpt-neox',
  spec(c, x) {
    const s = sizes(c, x);
    return {
      ...layerNormFamily(c, x, s, rope(c, x, s.headDim, 'halves')),
      qkv: 'fused',
      block: c.bool(x.k('use_parallel_residual'), true) ? 'parallel' : 'sequential',
      activation: 'gelu',
      bias: { qkv: x.hasTensor('blk.0.attn_qkv.bias'), o: x.hasTensor('blk.0.attn_output.bias'), ffn: true, lmHead: false },
    };
  },
  names: GGUF_NAMES,
};

/** BLOOM: ALiBi, LayerNorm on the embeddings, q/k/v regrouped to [q|k|v], tanh-GELU, tied head. */
const bloom: GgufFamily = {
  archs: ['bloom'],
  key: 'bloom',
  spec(c, x) {
    const s = sizes(c, x);
    return {
      ...layerNormFamily(c, x, s, null),
      // ALiBi has no table to run out of (context_length is only what the model was trained on).
      maxPositionEmbeddings: 2 ** 20,
      positions: 'alibi',
      qkv: 'fused',
      activation: 'gelu_tanh',
      embedNorm: true,
      bias: { qkv: true, o: true, ffn: true, lmHead: false },
    };
  },
  names: GGUF_NAMES,
};

export const GGUF_FAMILIES: readonly GgufFamily[] = [
  llama, qwen(false), qwen(true), gemma(1), gemma(2), gemma(3), phi2, gpt2, gptNeox, bloom,
];

export function supportedGgufArchs(): string[] {
  return GGUF_FAMILIES.flatMap((f) => f.archs);
}

export function findGgufFamily(arch: string): GgufFamily | undefined {
  return GGUF_FAMILIES.find((f) => f.archs.includes(arch));
}

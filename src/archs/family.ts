/**
 * What a model family is, as data: config.json → ModelSpec (with the defaults of the family's HF
 * config class), and tensor roles → state-dict names. The decoder builder and the checkpoint
 * reader both read these entries; neither imports the other.
 */
import { LapeError } from '../errors.js';
import type { ConfigReader } from './config-reader.js';
import type { FfnActivation, LayerSpec, ModelSpec, RopeSpec } from './model-spec.js';

export type GlobalRole = 'embed' | 'posEmbed' | 'embedNorm' | 'finalNorm' | 'lmHead';
export type LayerRole =
  | 'attnNorm' | 'q' | 'k' | 'v' | 'qkv' | 'o' | 'qNorm' | 'kNorm' | 'postAttnNorm'
  | 'ffnNorm' | 'gate' | 'up' | 'down' | 'postFfnNorm';

/** State-dict names of the roles, without the `.weight` / `.bias` suffix. */
export interface TensorNames {
  /**
   * Prefix of the model part and of the LM head, in the layouts the family is stored in (e.g.
   * `transformer.` as save_pretrained writes GPT-2, none as OpenAI's files do); the first layout
   * whose embedding tensor exists is used.
   */
  layouts: Array<{ model: string; head: string }>;
  global: Partial<Record<GlobalRole, string>>;
  /** Path of layer i inside the model part, `{i}` replaced. */
  layer: string;
  roles: Partial<Record<LayerRole, string>>;
  /** Stored tensors that are deliberately not used (buffers, other modalities), as full-name patterns. */
  ignore?: RegExp[];
}

/** The per-family part of a ModelSpec (the registry adds class name, key and token ids). */
export type FamilySpec = Omit<ModelSpec, 'architecture' | 'arch' | 'bosTokenId' | 'eosTokenIds' | 'torchDtype'>;

export interface Family {
  key: string;
  /** HF `architectures` class names handled. */
  classNames: string[];
  /** Where the decoder's settings live, for multimodal wrappers (e.g. `text_config`). */
  configSection?: string;
  spec(c: ConfigReader): FamilySpec;
  names: TensorNames;
}

/** The choices most families share; an entry spreads this and overrides what differs. */
export const LLAMA_LIKE: Pick<
  FamilySpec,
  'norm' | 'positions' | 'positionOffset' | 'qkv' | 'block' | 'ffn' | 'weightLayout' | 'embedScale' | 'embedNorm' |
  'qkNorm' | 'sandwichNorms' | 'attnSoftcap' | 'finalSoftcap' | 'bias'
> = {
  norm: 'rms',
  positions: 'rope',
  positionOffset: 0,
  qkv: 'separate',
  block: 'sequential',
  ffn: 'gated',
  weightLayout: 'out-in',
  embedScale: null,
  embedNorm: false,
  qkNorm: false,
  sandwichNorms: false,
  attnSoftcap: null,
  finalSoftcap: null,
  bias: { qkv: false, o: false, ffn: false, lmHead: false },
};

/** HF's Llama naming (Llama, Mistral, Qwen2/3, Gemma 1–3 add or rename a few roles). */
export const LLAMA_NAMES: TensorNames = {
  layouts: [{ model: 'model.', head: '' }],
  global: { embed: 'embed_tokens', finalNorm: 'norm', lmHead: 'lm_head' },
  layer: 'layers.{i}.',
  roles: {
    attnNorm: 'input_layernorm',
    q: 'self_attn.q_proj', k: 'self_attn.k_proj', v: 'self_attn.v_proj', o: 'self_attn.o_proj',
    ffnNorm: 'post_attention_layernorm',
    gate: 'mlp.gate_proj', up: 'mlp.up_proj', down: 'mlp.down_proj',
  },
};

/** Sizes under the Llama-style keys (families with other key names read their own). */
export function sizes(c: ConfigReader, d: {
  vocab: number; hidden: number; inter?: number; layers: number; heads: number; kvHeads?: number;
  headDim?: number; maxPos: number;
}): Pick<FamilySpec, 'vocabSize' | 'hiddenSize' | 'intermediateSize' | 'numLayers' | 'numHeads' | 'numKvHeads' | 'headDim' | 'maxPositionEmbeddings'> {
  const hiddenSize = c.int('hidden_size', d.hidden);
  const numHeads = c.int('num_attention_heads', d.heads);
  const numKvHeads = c.int('num_key_value_heads', d.kvHeads ?? numHeads);
  const headDim = c.int('head_dim', d.headDim ?? hiddenSize / numHeads);
  return {
    vocabSize: c.int('vocab_size', d.vocab),
    hiddenSize,
    intermediateSize: c.int('intermediate_size', d.inter),
    numLayers: c.int('num_hidden_layers', d.layers),
    numHeads,
    numKvHeads,
    headDim,
    maxPositionEmbeddings: c.int('max_position_embeddings', d.maxPos),
  };
}

/** HF activation names (`hidden_act`, `activation_function`…) → the graph's activation. */
export function activationFrom(c: ConfigReader, keys: string | string[], fallback: string): FfnActivation {
  const name = c.str(keys, fallback);
  switch (name) {
    case 'silu': case 'swish': return 'silu';
    case 'gelu': return 'gelu';
    case 'gelu_new': case 'gelu_pytorch_tanh': case 'gelu_fast': return 'gelu_tanh';
    case 'relu': return 'relu';
    default:
      throw new LapeError(
        `activation ${JSON.stringify(name)} is not supported (silu, gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)`,
        c.file,
      );
  }
}

/**
 * Which layers use sliding-window attention: `layer_types` when the config lists it (transformers
 * ≥ 4.53 writes it), otherwise the family's own rule.
 */
export function slidingLayers(c: ConfigReader, numLayers: number, rule: (i: number) => boolean): boolean[] {
  const types = c.strings('layer_types');
  if (!types) return Array.from({ length: numLayers }, (_, i) => rule(i));
  if (types.length !== numLayers) {
    throw new LapeError(`"layer_types" has ${types.length} entries but the model has ${numLayers} layers`, c.file);
  }
  return types.map((t) => {
    if (t !== 'sliding_attention' && t !== 'full_attention') {
      throw new LapeError(`"layer_types" entry ${JSON.stringify(t)} is not supported (sliding_attention, full_attention)`, c.file);
    }
    return t === 'sliding_attention';
  });
}

/** The same settings for every layer. */
export function uniformLayers(n: number, layer: LayerSpec): LayerSpec[] {
  return Array.from({ length: n }, () => ({ ...layer }));
}

/** A rotary spec over `fraction` of the head dims (HF: int(head_dim · partial_rotary_factor)). */
export function ropeSpec(rope: Omit<RopeSpec, 'dim' | 'layout'>, headDim: number, fraction = 1, layout: RopeSpec['layout'] = 'halves'): RopeSpec {
  const dim = Math.floor(headDim * fraction);
  if (dim < 2 || dim % 2 !== 0) {
    throw new LapeError(`rotary dimension ${dim} (head_dim ${headDim} × ${fraction}) must be even and ≥ 2`);
  }
  return { ...rope, dim, layout };
}

import type { ConfigReader } from './config-reader.js';
import {
  LLAMA_LIKE, LLAMA_NAMES, activationFrom, sizes, slidingLayers, ropeSpec, uniformLayers, type Family, type FamilySpec, type TensorNames,
} from './family.js';

/** What all Gemmas share: (1+w) RMSNorm, embeddings scaled by √hidden, GeGLU, tied head. */
function gemmaBase(c: ConfigReader, d: { vocab: number; hidden: number; inter: number; layers: number; heads: number; kvHeads: number; maxPos: number }) {
  const s = sizes(c, { ...d, headDim: 256 });
  return {
    ...LLAMA_LIKE,
    ...s,
    norm: 'rms1p' as const,
    normEps: c.positive('rms_norm_eps', 1e-6),
    embedScale: Math.sqrt(s.hiddenSize),
    tieWordEmbeddings: c.bool('tie_word_embeddings', true),
  };
}

/** Gemma 2 and 3: local (sliding) and global layers, norms around attention and FFN outputs. */
function gemmaLocalGlobal(c: ConfigReader, gemma3: boolean): FamilySpec {
  const base = gemma3
    ? gemmaBase(c, { vocab: 262208, hidden: 2304, inter: 9216, layers: 26, heads: 8, kvHeads: 4, maxPos: 131072 })
    : gemmaBase(c, { vocab: 256000, hidden: 2304, inter: 9216, layers: 26, heads: 8, kvHeads: 4, maxPos: 8192 });
  c.refuse(c.bool('use_bidirectional_attention', false), 'use_bidirectional_attention', 'only causal decoders are supported');
  const window = c.int('sliding_window', 4096);
  const pattern = c.int('sliding_window_pattern', 6);
  const sliding = slidingLayers(c, base.numLayers, gemma3 ? (i) => (i + 1) % pattern !== 0 : (i) => i % 2 === 0);
  const attnScale = c.positive('query_pre_attn_scalar', 256) ** -0.5;
  const global = ropeSpec(c.rope('rope_theta', gemma3 ? 1e6 : 10000, 'full_attention'), base.headDim);
  // Gemma 3's local layers use their own base and never the scaling (HF rotary_emb_local).
  const local = gemma3
    ? ropeSpec(c.sub('rope_parameters')?.sub('sliding_attention')
      ? c.rope('rope_local_base_freq', 10000, 'sliding_attention')
      : { theta: c.positive('rope_local_base_freq', 10000), scaling: { type: 'default' } }, base.headDim)
    : global;
  return {
    ...base,
    layers: sliding.map((sl) => ({ window: sl ? window : null, rope: sl ? local : global, attnScale })),
    activation: activationFrom(c, ['hidden_activation', 'hidden_act'], 'gelu_pytorch_tanh'),
    sandwichNorms: true,
    qkNorm: gemma3,
    attnSoftcap: c.optionalPositive('attn_logit_softcapping') ?? (gemma3 || 'attn_logit_softcapping' in c.raw ? null : 50),
    finalSoftcap: c.optionalPositive('final_logit_softcapping') ?? (gemma3 || 'final_logit_softcapping' in c.raw ? null : 30),
  };
}

/** Gemma 2/3 rename the FFN norm and add the output norms. */
const SANDWICH_NAMES: TensorNames = {
  ...LLAMA_NAMES,
  roles: {
    ...LLAMA_NAMES.roles,
    postAttnNorm: 'post_attention_layernorm',
    ffnNorm: 'pre_feedforward_layernorm',
    postFfnNorm: 'post_feedforward_layernorm',
  },
};

/**
 * Gemma 1. Released configs say `hidden_act: "gelu"` although the model was trained with the tanh
 * approximation; transformers 5 maps that legacy value to gelu_pytorch_tanh (4.57's GemmaMLP used
 * it literally), and `hidden_activation`, where given, names the activation outright.
 */
export const gemma: Family = {
  key: 'gemma',
  classNames: ['GemmaForCausalLM'],
  spec(c) {
    const base = gemmaBase(c, { vocab: 256000, hidden: 3072, inter: 24576, layers: 28, heads: 16, kvHeads: 16, maxPos: 8192 });
    const rope = ropeSpec(c.rope('rope_theta', 10000), base.headDim);
    return {
      ...base,
      layers: uniformLayers(base.numLayers, { window: null, rope, attnScale: base.headDim ** -0.5 }),
      activation: c.has('hidden_activation') || c.str('hidden_act', 'gelu_pytorch_tanh') !== 'gelu'
        ? activationFrom(c, ['hidden_activation', 'hidden_act'], 'gelu_pytorch_tanh')
        : 'gelu_tanh',
      bias: { qkv: c.bool('attention_bias', false), o: c.bool('attention_bias', false), ffn: false, lmHead: false },
    };
  },
  names: LLAMA_NAMES,
};

export const gemma2: Family = {
  key: 'gemma2',
  classNames: ['Gemma2ForCausalLM'],
  spec: (c) => gemmaLocalGlobal(c, false),
  names: SANDWICH_NAMES,
};

const GEMMA3_ROLES = { ...SANDWICH_NAMES.roles, qNorm: 'self_attn.q_norm', kNorm: 'self_attn.k_norm' };

/** Gemma 3 text (Gemma3TextConfig): q/k norms; local layers with their own rope base. */
export const gemma3: Family = {
  key: 'gemma3',
  classNames: ['Gemma3ForCausalLM'],
  spec: (c) => gemmaLocalGlobal(c, true),
  names: { ...SANDWICH_NAMES, roles: GEMMA3_ROLES },
};

/**
 * The text decoder of a Gemma 3 image-text checkpoint. Both layouts that transformers has
 * written are read; the vision tower and projector are stored but not used.
 */
export const gemma3Multimodal: Family = {
  key: 'gemma3',
  classNames: ['Gemma3ForConditionalGeneration'],
  configSection: 'text_config',
  spec: (c) => gemmaLocalGlobal(c, true),
  names: {
    ...SANDWICH_NAMES,
    roles: GEMMA3_ROLES,
    layouts: [{ model: 'model.language_model.', head: '' }, { model: 'language_model.model.', head: 'language_model.' }],
    ignore: [/^(model\.)?vision_tower\./, /^(model\.)?multi_modal_projector\./],
  },
};

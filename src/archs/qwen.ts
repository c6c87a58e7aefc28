import type { ConfigReader } from './config-reader.js';
import { LLAMA_LIKE, LLAMA_NAMES, activationFrom, sizes, slidingLayers, ropeSpec, type Family, type FamilySpec } from './family.js';

/** Qwen2 and Qwen3 share their config layout; Qwen3 adds q/k norms and drops the fixed q/k/v biases. */
function qwenSpec(c: ConfigReader, qwen3: boolean): FamilySpec {
  const s = sizes(c, { vocab: 151936, hidden: 4096, inter: 22016, layers: 32, heads: 32, headDim: qwen3 ? 128 : undefined, maxPos: 32768 });
  // HF: sliding_window counts only with use_sliding_window, and then (by default) from max_window_layers on.
  const window = c.bool('use_sliding_window', false) ? c.int('sliding_window', 4096) : null;
  const fromLayer = c.num('max_window_layers', 28);
  const sliding = slidingLayers(c, s.numLayers, (i) => window !== null && i >= fromLayer);
  const rope = ropeSpec(c.rope('rope_theta', 10000), s.headDim);
  const attnBias = qwen3 && c.bool('attention_bias', false);
  return {
    ...LLAMA_LIKE,
    ...s,
    normEps: c.positive('rms_norm_eps', 1e-6),
    layers: sliding.map((sl) => ({ window: sl ? window : null, rope, attnScale: s.headDim ** -0.5 })),
    activation: activationFrom(c, 'hidden_act', 'silu'),
    qkNorm: qwen3,
    bias: { qkv: qwen3 ? attnBias : true, o: attnBias, ffn: false, lmHead: false },
    tieWordEmbeddings: c.bool('tie_word_embeddings', false),
  };
}

/** Qwen2 / Qwen2.5: Llama with biases on q/k/v. */
export const qwen2: Family = {
  key: 'qwen2',
  classNames: ['Qwen2ForCausalLM'],
  spec: (c) => qwenSpec(c, false),
  names: LLAMA_NAMES,
};

/** Qwen3: RMSNorm on each head's q and k before rotary; explicit head_dim. */
export const qwen3: Family = {
  key: 'qwen3',
  classNames: ['Qwen3ForCausalLM'],
  spec: (c) => qwenSpec(c, true),
  names: { ...LLAMA_NAMES, roles: { ...LLAMA_NAMES.roles, qNorm: 'self_attn.q_norm', kNorm: 'self_attn.k_norm' } },
};

import { LLAMA_LIKE, activationFrom, sizes, uniformLayers, ropeSpec, type Family } from './family.js';

/** Phi-1/1.5/2 (PhiConfig): one LayerNorm feeds attention and FFN in parallel; partial rotary; biases everywhere. */
export const phi: Family = {
  key: 'phi',
  classNames: ['PhiForCausalLM'],
  spec(c) {
    const s = sizes(c, { vocab: 51200, hidden: 2048, inter: 8192, layers: 24, heads: 32, maxPos: 2048 });
    const rope = ropeSpec(c.rope('rope_theta', 10000), s.headDim, c.positive('partial_rotary_factor', 0.5));
    return {
      ...LLAMA_LIKE,
      ...s,
      norm: 'layer',
      normEps: c.positive('layer_norm_eps', 1e-5),
      layers: uniformLayers(s.numLayers, { window: null, rope, attnScale: s.headDim ** -0.5 }),
      block: 'parallel-shared-norm',
      ffn: 'plain',
      activation: activationFrom(c, 'hidden_act', 'gelu_new'),
      qkNorm: c.bool('qk_layernorm', false),
      bias: { qkv: true, o: true, ffn: true, lmHead: true },
      tieWordEmbeddings: c.bool('tie_word_embeddings', false),
    };
  },
  names: {
    layouts: [{ model: 'model.', head: '' }],
    global: { embed: 'embed_tokens', finalNorm: 'final_layernorm', lmHead: 'lm_head' },
    layer: 'layers.{i}.',
    roles: {
      attnNorm: 'input_layernorm',
      q: 'self_attn.q_proj', k: 'self_attn.k_proj', v: 'self_attn.v_proj', o: 'self_attn.dense',
      qNorm: 'self_attn.q_layernorm', kNorm: 'self_attn.k_layernorm',
      up: 'mlp.fc1', down: 'mlp.fc2',
    },
  },
};

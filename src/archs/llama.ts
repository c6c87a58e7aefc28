import { LLAMA_LIKE, LLAMA_NAMES, activationFrom, sizes, uniformLayers, ropeSpec, type Family } from './family.js';

/** Llama 1–3 (LlamaConfig defaults); attention_bias puts biases on q/k/v/o, mlp_bias on gate/up/down. */
export const llama: Family = {
  key: 'llama',
  classNames: ['LlamaForCausalLM'],
  spec(c) {
    const s = sizes(c, { vocab: 32000, hidden: 4096, inter: 11008, layers: 32, heads: 32, maxPos: 2048 });
    const attnBias = c.bool('attention_bias', false);
    return {
      ...LLAMA_LIKE,
      ...s,
      normEps: c.positive('rms_norm_eps', 1e-6),
      layers: uniformLayers(s.numLayers, { window: null, rope: ropeSpec(c.rope('rope_theta', 10000), s.headDim), attnScale: s.headDim ** -0.5 }),
      activation: activationFrom(c, 'hidden_act', 'silu'),
      bias: { qkv: attnBias, o: attnBias, ffn: c.bool('mlp_bias', false), lmHead: false },
      tieWordEmbeddings: c.bool('tie_word_embeddings', false),
    };
  },
  names: LLAMA_NAMES,
};

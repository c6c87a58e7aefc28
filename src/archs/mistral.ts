import { LLAMA_LIKE, LLAMA_NAMES, activationFrom, sizes, uniformLayers, ropeSpec, type Family } from './family.js';

/** Mistral (MistralConfig defaults): Llama with a sliding window on every layer (null = off). */
export const mistral: Family = {
  key: 'mistral',
  classNames: ['MistralForCausalLM'],
  spec(c) {
    const s = sizes(c, { vocab: 32000, hidden: 4096, inter: 14336, layers: 32, heads: 32, kvHeads: 8, maxPos: 4096 * 32 });
    // The class default is 4096; an explicit null in config.json turns the window off.
    const window = 'sliding_window' in c.raw ? c.optionalInt('sliding_window') : 4096;
    return {
      ...LLAMA_LIKE,
      ...s,
      normEps: c.positive('rms_norm_eps', 1e-6),
      layers: uniformLayers(s.numLayers, { window, rope: ropeSpec(c.rope('rope_theta', 10000), s.headDim), attnScale: s.headDim ** -0.5 }),
      activation: activationFrom(c, 'hidden_act', 'silu'),
      tieWordEmbeddings: c.bool('tie_word_embeddings', false),
    };
  },
  names: LLAMA_NAMES,
};

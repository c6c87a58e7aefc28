import { LLAMA_LIKE, activationFrom, type Family } from './family.js';

/** GPT-2 (GPT2Config): learned positions, Conv1D [in, out] weights, q/k/v fused as [q|k|v]. */
export const gpt2: Family = {
  key: 'gpt2',
  classNames: ['GPT2LMHeadModel'],
  spec(c) {
    // reorder_and_upcast_attn only changes where the f16 upcast happens: the same math in f32.
    const hiddenSize = c.int('n_embd', 768);
    const numHeads = c.int('n_head', 12);
    const headDim = hiddenSize / numHeads;
    const numLayers = c.int('n_layer', 12);
    const scaled = c.bool('scale_attn_weights', true);
    const byLayer = c.bool('scale_attn_by_inverse_layer_idx', false);
    return {
      ...LLAMA_LIKE,
      vocabSize: c.int('vocab_size', 50257),
      hiddenSize,
      intermediateSize: c.int('n_inner', 4 * hiddenSize),
      numLayers,
      numHeads,
      numKvHeads: numHeads,
      headDim,
      maxPositionEmbeddings: c.int('n_positions', 1024),
      norm: 'layer',
      normEps: c.positive('layer_norm_epsilon', 1e-5),
      positions: 'learned',
      layers: Array.from({ length: numLayers }, (_, i) => ({
        window: null,
        rope: null,
        attnScale: (scaled ? headDim ** -0.5 : 1) / (byLayer ? i + 1 : 1),
      })),
      qkv: 'fused',
      ffn: 'plain',
      activation: activationFrom(c, 'activation_function', 'gelu_new'),
      weightLayout: 'in-out',
      bias: { qkv: true, o: true, ffn: true, lmHead: false },
      tieWordEmbeddings: c.bool('tie_word_embeddings', true),
    };
  },
  names: {
    // save_pretrained writes `transformer.`; OpenAI's original files have no prefix.
    layouts: [{ model: 'transformer.', head: '' }, { model: '', head: '' }],
    global: { embed: 'wte', posEmbed: 'wpe', finalNorm: 'ln_f', lmHead: 'lm_head' },
    layer: 'h.{i}.',
    roles: {
      attnNorm: 'ln_1', qkv: 'attn.c_attn', o: 'attn.c_proj',
      ffnNorm: 'ln_2', up: 'mlp.c_fc', down: 'mlp.c_proj',
    },
    ignore: [/(^|\.)h\.\d+\.attn\.(bias|masked_bias)$/],
  },
};

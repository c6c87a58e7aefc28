import { LLAMA_LIKE, activationFrom, uniformLayers, ropeSpec, type Family } from './family.js';

/** GPT-NeoX / Pythia (GPTNeoXConfig): q/k/v fused per head, partial rotary, parallel residual by default. */
export const gptNeox: Family = {
  key: 'gpt-neox',
  classNames: ['GPTNeoXForCausalLM'],
  spec(c) {
    const hiddenSize = c.int('hidden_size', 6144);
    const numHeads = c.int('num_attention_heads', 64);
    const headDim = hiddenSize / numHeads;
    const numLayers = c.int('num_hidden_layers', 44);
    const rope = ropeSpec(c.rope(['rotary_emb_base', 'rope_theta'], 10000), headDim, c.positive(['rotary_pct', 'partial_rotary_factor'], 0.25));
    const bias = c.bool('attention_bias', true);
    return {
      ...LLAMA_LIKE,
      vocabSize: c.int('vocab_size', 50432),
      hiddenSize,
      intermediateSize: c.int('intermediate_size', 24576),
      numLayers,
      numHeads,
      numKvHeads: numHeads,
      headDim,
      maxPositionEmbeddings: c.int('max_position_embeddings', 2048),
      norm: 'layer',
      normEps: c.positive('layer_norm_eps', 1e-5),
      layers: uniformLayers(numLayers, { window: null, rope, attnScale: headDim ** -0.5 }),
      qkv: 'fused-per-head',
      block: c.bool('use_parallel_residual', true) ? 'parallel' : 'sequential',
      ffn: 'plain',
      activation: activationFrom(c, 'hidden_act', 'gelu'),
      bias: { qkv: bias, o: bias, ffn: true, lmHead: false },
      tieWordEmbeddings: c.bool('tie_word_embeddings', false),
    };
  },
  names: {
    layouts: [{ model: 'gpt_neox.', head: '' }],
    global: { embed: 'embed_in', finalNorm: 'final_layer_norm', lmHead: 'embed_out' },
    layer: 'layers.{i}.',
    roles: {
      attnNorm: 'input_layernorm', qkv: 'attention.query_key_value', o: 'attention.dense',
      ffnNorm: 'post_attention_layernorm', up: 'mlp.dense_h_to_4h', down: 'mlp.dense_4h_to_h',
    },
    // Causal-mask and rotary buffers that older releases stored.
    ignore: [/\.attention\.(bias|masked_bias|rotary_emb\.inv_freq)$/],
  },
};

import { LLAMA_LIKE, uniformLayers, type Family } from './family.js';

/** BLOOM (BloomConfig): ALiBi, LayerNorm on the embeddings, q/k/v fused per head, tanh-GELU, tied head. */
export const bloom: Family = {
  key: 'bloom',
  classNames: ['BloomForCausalLM'],
  spec(c) {
    c.refuse(c.bool('apply_residual_connection_post_layernorm', false), 'apply_residual_connection_post_layernorm', 'not implemented');
    c.refuse(c.bool('slow_but_exact', false), 'slow_but_exact', 'the tensor-parallel emulation is not implemented');
    const hiddenSize = c.int(['hidden_size', 'n_embed'], 64);
    const numHeads = c.int(['n_head', 'num_attention_heads'], 8);
    const headDim = hiddenSize / numHeads;
    const numLayers = c.int(['n_layer', 'num_hidden_layers'], 2);
    return {
      ...LLAMA_LIKE,
      vocabSize: c.int('vocab_size', 250880),
      hiddenSize,
      intermediateSize: 4 * hiddenSize,
      numLayers,
      numHeads,
      numKvHeads: numHeads,
      headDim,
      // ALiBi has no table to run out of; the limit only bounds the attention-bias size.
      maxPositionEmbeddings: 2 ** 20,
      norm: 'layer',
      normEps: c.positive('layer_norm_epsilon', 1e-5),
      positions: 'alibi',
      layers: uniformLayers(numLayers, { window: null, rope: null, attnScale: headDim ** -0.5 }),
      qkv: 'fused-per-head',
      ffn: 'plain',
      activation: 'gelu_tanh', // BloomGelu: the tanh approximation, whatever the config says
      embedNorm: true,
      bias: { qkv: true, o: true, ffn: true, lmHead: false },
      tieWordEmbeddings: c.bool('tie_word_embeddings', true),
    };
  },
  names: {
    // save_pretrained writes `transformer.`; BigScience's original files have no prefix.
    layouts: [{ model: 'transformer.', head: '' }, { model: '', head: '' }],
    global: { embed: 'word_embeddings', embedNorm: 'word_embeddings_layernorm', finalNorm: 'ln_f', lmHead: 'lm_head' },
    layer: 'h.{i}.',
    roles: {
      attnNorm: 'input_layernorm', qkv: 'self_attention.query_key_value', o: 'self_attention.dense',
      ffnNorm: 'post_attention_layernorm', up: 'mlp.dense_h_to_4h', down: 'mlp.dense_4h_to_h',
    },
  },
};

import { LLAMA_LIKE, activationFrom, uniformLayers, type Family } from './family.js';

/** OPT (OPTConfig): learned positions offset by 2, pre-LayerNorm, ReLU FFN, biases. */
export const opt: Family = {
  key: 'opt',
  classNames: ['OPTForCausalLM'],
  spec(c) {
    c.refuse(!c.bool('do_layer_norm_before', true), 'do_layer_norm_before', 'post-LayerNorm OPT (opt-350m) is not implemented');
    c.refuse(c.bool('_remove_final_layer_norm', false), '_remove_final_layer_norm', 'OPT without a final LayerNorm is not implemented');
    c.refuse(!c.bool('layer_norm_elementwise_affine', true), 'layer_norm_elementwise_affine', 'LayerNorms without weights are not implemented');
    const hiddenSize = c.int('hidden_size', 768);
    c.refuse(c.int('word_embed_proj_dim', hiddenSize) !== hiddenSize, 'word_embed_proj_dim', 'project_in/project_out (word_embed_proj_dim ≠ hidden_size) is not implemented');
    const numHeads = c.int('num_attention_heads', 12);
    const headDim = hiddenSize / numHeads;
    const numLayers = c.int('num_hidden_layers', 12);
    const bias = c.bool('enable_bias', true);
    return {
      ...LLAMA_LIKE,
      vocabSize: c.int('vocab_size', 50272),
      hiddenSize,
      intermediateSize: c.int('ffn_dim', 3072),
      numLayers,
      numHeads,
      numKvHeads: numHeads,
      headDim,
      maxPositionEmbeddings: c.int('max_position_embeddings', 2048),
      norm: 'layer',
      normEps: 1e-5, // torch.nn.LayerNorm's default; OPTConfig has no eps
      positions: 'learned',
      positionOffset: 2,
      layers: uniformLayers(numLayers, { window: null, rope: null, attnScale: headDim ** -0.5 }),
      ffn: 'plain',
      activation: activationFrom(c, 'activation_function', 'relu'),
      bias: { qkv: bias, o: bias, ffn: bias, lmHead: false },
      tieWordEmbeddings: c.bool('tie_word_embeddings', true),
    };
  },
  names: {
    // save_pretrained writes `model.decoder.`; Meta's converted releases store `decoder.`.
    layouts: [{ model: 'model.decoder.', head: '' }, { model: 'decoder.', head: '' }],
    global: { embed: 'embed_tokens', posEmbed: 'embed_positions', finalNorm: 'final_layer_norm', lmHead: 'lm_head' },
    layer: 'layers.{i}.',
    roles: {
      attnNorm: 'self_attn_layer_norm',
      q: 'self_attn.q_proj', k: 'self_attn.k_proj', v: 'self_attn.v_proj', o: 'self_attn.out_proj',
      ffnNorm: 'final_layer_norm', up: 'fc1', down: 'fc2',
    },
  },
};

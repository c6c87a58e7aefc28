import { LLAMA_STYLE_WEIGHTS, type ArchDefinition } from './arch.js';

/** Llama 1/2/3: full causal attention; optional attention_bias (rare) applies to q/k/v/o in HF. */
export const llama: ArchDefinition = {
  key: 'llama',
  classNames: ['LlamaForCausalLM'],
  specFromConfig: (c) => ({ slidingWindow: null, attentionQkvBias: c.attention_bias === true }),
  weights: LLAMA_STYLE_WEIGHTS,
};

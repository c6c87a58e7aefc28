import { LLAMA_STYLE_WEIGHTS, type ArchDefinition } from './arch.js';

/** Mistral: Llama plus a sliding attention window (config `sliding_window`, null = off). */
export const mistral: ArchDefinition = {
  key: 'mistral',
  classNames: ['MistralForCausalLM'],
  specFromConfig: (c) => ({
    slidingWindow: typeof c.sliding_window === 'number' ? c.sliding_window : null,
    attentionQkvBias: false,
  }),
  weights: LLAMA_STYLE_WEIGHTS,
};

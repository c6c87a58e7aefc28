import { LLAMA_STYLE_WEIGHTS, type ArchDefinition } from './arch.js';

/**
 * Qwen2 / Qwen2.5: Llama plus biases on q/k/v. HF applies `sliding_window` only when
 * `use_sliding_window` is true (and then only from `max_window_layers` on); released
 * checkpoints set it false, and we refuse the per-layer variant rather than guess.
 */
export const qwen2: ArchDefinition = {
  key: 'qwen2',
  classNames: ['Qwen2ForCausalLM'],
  specFromConfig: (c) => {
    if (c.use_sliding_window === true) {
      throw new Error('use_sliding_window=true (per-layer sliding window from max_window_layers) is not supported');
    }
    return { slidingWindow: null, attentionQkvBias: true };
  },
  weights: LLAMA_STYLE_WEIGHTS,
};

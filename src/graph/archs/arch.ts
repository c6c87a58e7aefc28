import type { ModelSpec } from '../../checkpoint/model-spec.js';

/** Hugging Face tensor names of one architecture. */
export interface WeightNames {
  embed: string;
  finalNorm: string;
  lmHead: string;
  layer(i: number): {
    inputNorm: string;
    postAttnNorm: string;
    q: string; k: string; v: string; o: string;
    qBias: string; kBias: string; vBias: string;
    gate: string; up: string; down: string;
  };
}

/** What differs between architectures: how config.json maps to a ModelSpec, and weight names. */
export interface ArchDefinition {
  key: string;
  /** HF class names handled. */
  classNames: string[];
  /** Architecture-specific ModelSpec fields, read from config.json (common fields are read elsewhere). */
  specFromConfig(config: Record<string, unknown>): Pick<ModelSpec, 'slidingWindow' | 'attentionQkvBias'>;
  weights: WeightNames;
}

/** The HF Llama naming, shared by Llama, Mistral and Qwen2 checkpoints. */
export const LLAMA_STYLE_WEIGHTS: WeightNames = {
  embed: 'model.embed_tokens.weight',
  finalNorm: 'model.norm.weight',
  lmHead: 'lm_head.weight',
  layer: (i) => {
    const p = `model.layers.${i}`;
    return {
      inputNorm: `${p}.input_layernorm.weight`,
      postAttnNorm: `${p}.post_attention_layernorm.weight`,
      q: `${p}.self_attn.q_proj.weight`,
      k: `${p}.self_attn.k_proj.weight`,
      v: `${p}.self_attn.v_proj.weight`,
      o: `${p}.self_attn.o_proj.weight`,
      qBias: `${p}.self_attn.q_proj.bias`,
      kBias: `${p}.self_attn.k_proj.bias`,
      vBias: `${p}.self_attn.v_proj.bias`,
      gate: `${p}.mlp.gate_proj.weight`,
      up: `${p}.mlp.up_proj.weight`,
      down: `${p}.mlp.down_proj.weight`,
    };
  },
};

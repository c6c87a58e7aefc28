/**
 * One normalised description of a decoder-only model, whatever its Hugging Face family. The
 * decoder builder reads only this and the resolved tensor roles, so families differ as data:
 * each field below is a structural choice that some family makes differently.
 */
export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    }
  /** Each inverse frequency divided by its own factor (GGUF `rope_freqs`: llama.cpp's form of llama3 scaling). */
  | { type: 'factors'; factors: number[] };

/** Rotary embedding of one layer: base, scaling, and how many leading head dims rotate. */
export interface RopeSpec {
  theta: number;
  scaling: RopeScaling;
  /** Rotated dims (even, ≤ headDim): partial rotary (Phi, NeoX) rotates only the first ones. */
  dim: number;
  /**
   * Which dims rotate together: halves = (i, i + dim/2), HF's rotate_half; pairs = (2i, 2i+1), the
   * interleaved (GPT-J) layout that llama.cpp's converter gives Llama's q/k rows by permuting them.
   * Frequency i drives pair i in both.
   */
  layout: 'halves' | 'pairs';
}

/** What differs between layers of one model (Gemma 2/3 alternate local and global layers). */
export interface LayerSpec {
  /** Attention sees only the last `window` keys; null = full causal. */
  window: number | null;
  /** Rotary embedding of this layer; null when positions are not rotary. */
  rope: RopeSpec | null;
  /** Multiplier of q·k (head_dim^-0.5, query_pre_attn_scalar^-0.5, GPT-2's 1/(layer+1)…). */
  attnScale: number;
}

export type FfnActivation = 'silu' | 'gelu' | 'gelu_tanh' | 'relu';

/** rms: w·x/rms(x); rms1p: (1+w)·x/rms(x) (Gemma); layer: LayerNorm with weight and bias. */
export type NormKind = 'rms' | 'rms1p' | 'layer';

export interface ModelSpec {
  /** HF class name from config.json `architectures[0]`, e.g. LlamaForCausalLM. */
  architecture: string;
  /** Key of the family entry in src/archs (llama, bloom, gemma2, …). */
  arch: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  norm: NormKind;
  normEps: number;
  /** rope: rotary per layer (LayerSpec.rope); learned: a position table; alibi: linear biases per head. */
  positions: 'rope' | 'learned' | 'alibi';
  /** Learned positions: the table row of position p is p + offset (OPT: 2). */
  positionOffset: number;
  layers: LayerSpec[];
  /** separate q/k/v; fused [q|k|v] (GPT-2 c_attn); fused-per-head [head][q,k,v] (BLOOM, NeoX). */
  qkv: 'separate' | 'fused' | 'fused-per-head';
  /**
   * sequential: x += attn(norm(x)); x += ffn(norm(x)). parallel: x += attn(norm₁(x)) + ffn(norm₂(x))
   * (NeoX); parallel-shared-norm: both read one norm (Phi, GPT-J).
   */
  block: 'sequential' | 'parallel' | 'parallel-shared-norm';
  /** gated: down(act(gate)·up); plain: down(act(up)). */
  ffn: 'gated' | 'plain';
  activation: FfnActivation;
  /** out-in: torch Linear [out, in]; in-out: GPT-2's Conv1D [in, out]. */
  weightLayout: 'out-in' | 'in-out';
  /** Embedding output multiplied by this (Gemma: √hidden); null = none. */
  embedScale: number | null;
  /** LayerNorm right after the embedding (BLOOM). */
  embedNorm: boolean;
  /** Norms on each head's q and k before rotary (Qwen3, Gemma 3, Phi with qk_layernorm). */
  qkNorm: boolean;
  /** Norms on the attention and FFN outputs before each residual add (Gemma 2/3). */
  sandwichNorms: boolean;
  /** tanh soft-capping of attention scores / final logits (Gemma 2); null = off. */
  attnSoftcap: number | null;
  finalSoftcap: number | null;
  /** Which linear roles carry a bias (from config.json; the tensors must then exist). */
  bias: { qkv: boolean; o: boolean; ffn: boolean; lmHead: boolean };
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** torch_dtype from config.json (informative; actual tensor dtypes come from the files). */
  torchDtype: string;
}

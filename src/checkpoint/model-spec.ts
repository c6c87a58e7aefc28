/**
 * One normalised description of a decoder-only model, whatever its Hugging Face architecture.
 * The graph builder reads only this (plus weight names), so architectures differ as data.
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
    };

export type FfnActivation = 'silu' | 'gelu' | 'gelu_tanh' | 'relu';

export interface ModelSpec {
  /** HF class name from config.json `architectures[0]`, e.g. LlamaForCausalLM. */
  architecture: string;
  /** Short key of the architecture table entry (llama, mistral, qwen2). */
  arch: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  maxPositionEmbeddings: number;
  /** Attention sees only the last `slidingWindow` keys (Mistral); null = full causal. */
  slidingWindow: number | null;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry biases (Qwen2). */
  attentionQkvBias: boolean;
  /** The FFN is gated (down(act(gate) * up)), as in every architecture supported today. */
  gatedFfn: boolean;
  activation: FfnActivation;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** torch_dtype from config.json (informative; actual tensor dtypes come from the files). */
  torchDtype: string;
}

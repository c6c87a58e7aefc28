/** Where a tensor's bytes are, for the graph: a byte range of a file in the weights folder. */

/** A plain tensor (f32, f16 or bf16). */
export interface WeightLocation {
  kind?: 'plain';
  /** File name relative to the folder the session reads external data from. */
  file: string;
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  offset: number;
  length: number;
}

/**
 * A projection as ONNX Runtime MatMulNBits blocks, y = x · Wᵀ with W [n, k] (outputs × inputs):
 * codes uint8 [n, ⌈k/blockSize⌉, blockSize·bits/8], scales f32 [n·⌈k/blockSize⌉], the default zero
 * point 2^(bits−1).
 */
export interface NBitsLocation {
  kind: 'nbits';
  file: string;
  bits: 4 | 8;
  blockSize: number;
  n: number;
  k: number;
  codes: { offset: number; length: number };
  scales: { offset: number; length: number };
  /**
   * MatMulNBits accuracy_level (default 4: activations quantised to int8 per block, VNNI; 0: float
   * compute on the same weights, exact up to summation order, slower).
   */
  accuracyLevel?: 0 | 4;
}

/**
 * A projection as int8 weights with one f32 scale per output (w ≈ q · scale[n]), stored transposed
 * as codes int8 [k, n] for ONNX MatMulInteger; the graph quantises activations to int8 per token
 * (symmetric, per row) so the product runs on int8 (VNNI) kernels: W8A8.
 */
export interface Int8Location {
  kind: 'w8a8';
  file: string;
  n: number;
  k: number;
  codes: { offset: number; length: number };
  scales: { offset: number; length: number };
}

export type TensorLocation = WeightLocation | NBitsLocation | Int8Location;

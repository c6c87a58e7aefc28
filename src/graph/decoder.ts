/**
 * The one decoder builder: ModelSpec + weight locations + hook plan → an ONNX graph.
 *
 * Tokens travel as a 2-D [batch*seq, hidden] matrix so every projection is one Gemm on the
 * HF [out, in] weight (transB = 1); attention reshapes to heads. Masks (causal, padding,
 * sliding window) arrive as an additive bias computed by the runtime, so the graph has no
 * architecture-specific masking code. Captures are reductions inside the graph: what comes
 * back to JavaScript is small.
 */
import type { ModelSpec } from '../checkpoint/model-spec.js';
import type { WeightNames } from './archs/arch.js';
import { ElemType, GraphBuilder } from './onnx-builder.js';
import { planNeedsHead, parseHookName, type HookPlan } from '../runtime/hook-plan.js';
import { ropeInverseFrequencies } from './rope.js';
import { LapeError } from '../errors.js';

/** Where a weight's bytes are: a file relative to the checkpoint folder, and a byte range. */
export interface WeightLocation {
  file: string;
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  offset: number;
  length: number;
}

export interface DecoderGraph {
  bytes: Uint8Array;
  inputNames: string[];
  outputNames: string[];
}

const DTYPE_ELEM: Record<WeightLocation['dtype'], ElemType> = {
  F32: ElemType.FLOAT,
  F16: ElemType.FLOAT16,
  BF16: ElemType.BFLOAT16,
};

export function buildDecoderGraph(
  spec: ModelSpec,
  names: WeightNames,
  locate: (name: string) => WeightLocation,
  plan: HookPlan,
): DecoderGraph {
  const g = new GraphBuilder();
  const H = spec.hiddenSize;
  const I = spec.intermediateSize;
  const nH = spec.numHeads;
  const nKV = spec.numKvHeads;
  const hd = spec.headDim;
  const rep = nH / nKV;
  const L = spec.numLayers;
  const inputNames: string[] = [];
  const outputNames: string[] = [];
  const addInput = (name: string, t: ElemType, dims: (number | string)[]): string => {
    inputNames.push(name);
    return g.input(name, t, dims);
  };
  const addOutput = (value: string, name: string, t: ElemType, dims: (number | string)[]): void => {
    g.op('Identity', [value], {}, name);
    g.output(name, t, dims);
    outputNames.push(name);
  };

  const fullHooks = new Set(plan.fullHooks ?? []);
  for (const h of fullHooks) {
    const parsed = parseHookName(h);
    if (!parsed || (parsed.layer !== null && parsed.layer >= L)) {
      throw new LapeError(`unknown hook "${h}" (model has ${L} layers)`);
    }
  }
  const patchLayers = new Set(plan.patchLayers ?? []);
  for (const l of patchLayers) {
    if (!Number.isInteger(l) || l < 0 || l >= L) throw new LapeError(`patch layer ${l} outside 0..${L - 1}`);
  }
  const needsHead = planNeedsHead(plan);
  const lastLayer = plan.residMean || needsHead || plan.kvCache
    ? L - 1
    : lastLayerNeeded(plan, fullHooks, patchLayers, L);

  // Weights: external byte ranges of the safetensors files; half types are cast once (ORT folds it).
  const weightCache = new Map<string, string>();
  const weight = (name: string): string => {
    const hit = weightCache.get(name);
    if (hit) return hit;
    const loc = locate(name);
    const raw = g.external(`w:${name}`, DTYPE_ELEM[loc.dtype], loc.shape, loc.file, loc.offset, loc.length);
    const value = loc.dtype === 'F32' ? raw : g.op('Cast', [raw], { to: ElemType.FLOAT });
    weightCache.set(name, value);
    return value;
  };
  const linear = (x: string, w: string, b?: string): string =>
    g.op('Gemm', b ? [x, weight(w), weight(b)] : [x, weight(w)], { transB: 1 });
  const rmsNorm = (x: string, w: string, gate: (weight: string) => string = (v) => v): string => {
    const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, g.f32([spec.rmsNormEps], [])])])]);
    return g.op('Mul', [g.op('Mul', [x, inv]), gate(weight(w))]);
  };

  // Inputs.
  const ids = addInput('input_ids', ElemType.INT64, ['batch', 'seq']);
  const pos = addInput('position_ids', ElemType.INT64, ['batch', 'seq']);
  const bias = addInput('attn_bias', ElemType.FLOAT, ['batch', 1, 1, 'seq', 'total']);
  const tokenMask = plan.ffnStats || plan.residMean ? addInput('token_mask', ElemType.FLOAT, ['batch', 'seq']) : '';

  const bt = g.op('Shape', [ids]); // [B, T]
  const shapeBTHD = (heads: number): string => g.op('Concat', [bt, g.i64([heads, hd])], { axis: 0 });

  // Embedding → [B*T, H].
  const emb = g.op('Gather', [weight(names.embed), ids], { axis: 0 });
  let x = g.op('Reshape', [emb, g.i64([-1, H])]);
  if (fullHooks.has('hook_embed')) addOutput(x, 'hook_embed', ElemType.FLOAT, ['tokens', H]);

  // RoPE tables [B, 1, T, hd] (HF rotate_half convention: the two halves share frequencies).
  const invFreq = g.f32(ropeInverseFrequencies(spec), [1, 1, hd / 2]);
  const freqs = g.op('Mul', [g.op('Unsqueeze', [g.op('Cast', [pos], { to: ElemType.FLOAT }), g.i64([2])]), invFreq]);
  const angles = g.op('Unsqueeze', [g.op('Concat', [freqs, freqs], { axis: -1 }), g.i64([1])]);
  const cos = g.op('Cos', [angles]);
  const sin = g.op('Sin', [angles]);
  const rope = (t: string): string => {
    const [a, b] = g.opMulti('Split', [t, g.i64([hd / 2, hd / 2])], 2, { axis: -1 });
    const rotated = g.op('Concat', [g.op('Neg', [b!]), a!], { axis: -1 });
    return g.op('Add', [g.op('Mul', [t, cos]), g.op('Mul', [rotated, sin])]);
  };
  const scale = g.f32([1 / Math.sqrt(hd)], []);

  const statsCount: string[] = [];
  const statsSum: string[] = [];
  const statsSq: string[] = [];
  const residMeans: string[] = [];
  const maskRow = tokenMask ? g.op('Reshape', [tokenMask, g.i64([1, -1])]) : '';
  let poolWeights = '';
  if (plan.residMean) {
    const denom = g.op('Max', [g.op('ReduceSum', [tokenMask, g.i64([1])], { keepdims: 1 }), g.f32([1], [])]);
    poolWeights = g.op('Unsqueeze', [g.op('Div', [tokenMask, denom]), g.i64([1])]); // [B, 1, T]
  }

  // Sequence point for the statistics. Their reductions are branches that only the final Concat
  // consumes, and ORT's topological sort schedules them after the whole decoder, so every layer's
  // [B·T, I] activations (act, act², the count mask) stay alive to the end: measured on a
  // Qwen2.5-0.5B-shaped model at 1×512 tokens, +590 MiB of arena (vs +67 MiB without statistics),
  // growing with layers and batch. Making the next layer's input norm weight depend on them, with a
  // Where whose two branches are the same tensor (the value never changes, costs a [H] copy), makes
  // ORT run layer i's reductions before layer i+1 and free those activations.
  let pendingStats: string[] = [];
  const afterStats = (value: string): string => {
    if (!pendingStats.length) return value;
    const probe = g.op('ReduceMax', [g.op('Concat', pendingStats, { axis: 0 })], { keepdims: 0 });
    pendingStats = [];
    return g.op('Where', [g.op('IsNaN', [probe]), value, value]);
  };

  for (let i = 0; i <= lastLayer; i++) {
    const w = names.layer(i);
    // Attention.
    const xn = rmsNorm(x, w.inputNorm, afterStats);
    const qb = spec.attentionQkvBias;
    const q2 = linear(xn, w.q, qb ? w.qBias : undefined);
    const k2 = linear(xn, w.k, qb ? w.kBias : undefined);
    const v2 = linear(xn, w.v, qb ? w.vBias : undefined);
    const toHeads = (t: string, heads: number): string =>
      g.op('Transpose', [g.op('Reshape', [t, shapeBTHD(heads)])], { perm: [0, 2, 1, 3] }); // [B, h, T, hd]
    const q = rope(toHeads(q2, nH));
    let k = rope(toHeads(k2, nKV));
    let v = toHeads(v2, nKV);
    if (plan.kvCache) {
      const pk = addInput(`past_key.${i}`, ElemType.FLOAT, ['batch', nKV, 'past', hd]);
      const pv = addInput(`past_value.${i}`, ElemType.FLOAT, ['batch', nKV, 'past', hd]);
      k = g.op('Concat', [pk, k], { axis: 2 });
      v = g.op('Concat', [pv, v], { axis: 2 });
      addOutput(k, `present_key.${i}`, ElemType.FLOAT, ['batch', nKV, 'total', hd]);
      addOutput(v, `present_value.${i}`, ElemType.FLOAT, ['batch', nKV, 'total', hd]);
    }
    // GQA without copying K/V: queries grouped as [B, nKV, rep, T, hd], K/V broadcast over rep.
    const qShape = g.op('Concat', [g.op('Slice', [bt, g.i64([0]), g.i64([1])]), g.i64([nKV, rep, -1, hd])], { axis: 0 });
    const q5 = g.op('Reshape', [g.op('Mul', [q, scale]), qShape]);
    const k5 = g.op('Unsqueeze', [k, g.i64([2])]);
    const v5 = g.op('Unsqueeze', [v, g.i64([2])]);
    const scores = g.op('Add', [g.op('MatMul', [q5, g.op('Transpose', [k5], { perm: [0, 1, 2, 4, 3] })]), bias]);
    const ctx = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v5]); // [B, nKV, rep, T, hd]
    const ctxHeads = g.op('Reshape', [ctx, g.op('Concat', [g.op('Slice', [bt, g.i64([0]), g.i64([1])]), g.i64([nH, -1, hd])], { axis: 0 })]);
    const ctx2 = g.op('Reshape', [g.op('Transpose', [ctxHeads], { perm: [0, 2, 1, 3] }), g.i64([-1, nH * hd])]);
    x = g.op('Add', [x, linear(ctx2, w.o)]);

    // Gated FFN.
    const xm = rmsNorm(x, w.postAttnNorm);
    const pre = linear(xm, w.gate);
    let act = activation(g, pre, spec.activation);
    if (patchLayers.has(i)) {
      const s = addInput(`patch_scale.${i}`, ElemType.FLOAT, [I]);
      const b = addInput(`patch_shift.${i}`, ElemType.FLOAT, [I]);
      act = g.op('Add', [g.op('Mul', [act, s]), b]);
    }
    const post = g.op('Mul', [act, linear(xm, w.up)]);
    if (fullHooks.has(`blocks.${i}.mlp.hook_pre`)) addOutput(pre, `blocks.${i}.mlp.hook_pre`, ElemType.FLOAT, ['tokens', I]);
    if (fullHooks.has(`blocks.${i}.mlp.hook_act`)) addOutput(act, `blocks.${i}.mlp.hook_act`, ElemType.FLOAT, ['tokens', I]);
    if (fullHooks.has(`blocks.${i}.mlp.hook_post`)) addOutput(post, `blocks.${i}.mlp.hook_post`, ElemType.FLOAT, ['tokens', I]);
    if (plan.ffnStats) {
      // Reductions over valid tokens as [1, B*T] × [B*T, I] products: MLAS does them at GEMV speed.
      const positive = g.op('Cast', [g.op('Greater', [act, g.f32([0], [])])], { to: ElemType.FLOAT });
      statsCount.push(g.op('MatMul', [maskRow, positive]));
      statsSum.push(g.op('MatMul', [maskRow, act]));
      statsSq.push(g.op('MatMul', [maskRow, g.op('Mul', [act, act])]));
      pendingStats = [statsCount.at(-1)!, statsSum.at(-1)!, statsSq.at(-1)!];
    }
    if (i === lastLayer && !needsHead && !plan.residMean && !fullHooks.has(`blocks.${i}.hook_resid_post`)) break;
    x = g.op('Add', [x, linear(post, w.down)]);
    if (fullHooks.has(`blocks.${i}.hook_resid_post`)) addOutput(x, `blocks.${i}.hook_resid_post`, ElemType.FLOAT, ['tokens', H]);
    if (plan.residMean) {
      const x3 = g.op('Reshape', [x, g.op('Concat', [bt, g.i64([H])], { axis: 0 })]);
      residMeans.push(g.op('MatMul', [poolWeights, x3])); // [B, 1, H]
    }
  }

  if (plan.ffnStats) {
    addOutput(g.op('Concat', statsCount, { axis: 0 }), 'ffn_count', ElemType.FLOAT, [lastLayer + 1, I]);
    addOutput(g.op('Concat', statsSum, { axis: 0 }), 'ffn_sum', ElemType.FLOAT, [lastLayer + 1, I]);
    addOutput(g.op('Concat', statsSq, { axis: 0 }), 'ffn_sumsq', ElemType.FLOAT, [lastLayer + 1, I]);
  }
  if (plan.residMean) {
    addOutput(g.op('Concat', residMeans, { axis: 1 }), 'resid_mean', ElemType.FLOAT, ['batch', L, H]);
  }

  if (needsHead) {
    const headW = weight(spec.tieWordEmbeddings ? names.embed : names.lmHead);
    if (plan.logits === 'last') {
      const last = addInput('last_index', ElemType.INT64, ['batch']);
      const hLast = rmsNorm(g.op('Gather', [x, last], { axis: 0 }), names.finalNorm);
      addOutput(g.op('Gemm', [hLast, headW], { transB: 1 }), 'logits_last', ElemType.FLOAT, ['batch', spec.vocabSize]);
    }
    if (plan.logits === 'all' || plan.tokenLogprobs) {
      const logits = g.op('Gemm', [rmsNorm(x, names.finalNorm), headW], { transB: 1 }); // [B*T, V]
      if (plan.logits === 'all') addOutput(logits, 'logits', ElemType.FLOAT, ['tokens', spec.vocabSize]);
      if (plan.tokenLogprobs) {
        const targets = addInput('targets', ElemType.INT64, ['batch', 'seq']);
        const lp = g.op('GatherElements', [g.op('LogSoftmax', [logits], { axis: 1 }), g.op('Reshape', [targets, g.i64([-1, 1])])], { axis: 1 });
        addOutput(g.op('Reshape', [lp, bt]), 'token_logprobs', ElemType.FLOAT, ['batch', 'seq']);
      }
    }
  }
  return { bytes: g.build('lape_decoder'), inputNames, outputNames };
}

/** The deepest layer whose FFN a recording-only plan needs. */
function lastLayerNeeded(plan: HookPlan, fullHooks: Set<string>, patchLayers: Set<number>, L: number): number {
  if (plan.ffnStats) return L - 1;
  let last = 0;
  for (const h of fullHooks) last = Math.max(last, parseHookName(h)?.layer ?? 0);
  for (const p of patchLayers) last = Math.max(last, p);
  return last;
}

function activation(g: GraphBuilder, x: string, kind: ModelSpec['activation']): string {
  switch (kind) {
    case 'silu':
      return g.op('Mul', [x, g.op('Sigmoid', [x])]);
    case 'relu':
      return g.op('Relu', [x]);
    case 'gelu': {
      const erf = g.op('Erf', [g.op('Mul', [x, g.f32([Math.SQRT1_2], [])])]);
      return g.op('Mul', [g.op('Mul', [x, g.f32([0.5], [])]), g.op('Add', [erf, g.f32([1], [])])]);
    }
    case 'gelu_tanh': {
      const cube = g.op('Mul', [g.op('Mul', [x, x]), x]);
      const inner = g.op('Mul', [g.op('Add', [x, g.op('Mul', [cube, g.f32([0.044715], [])])]), g.f32([Math.sqrt(2 / Math.PI)], [])]);
      return g.op('Mul', [g.op('Mul', [x, g.f32([0.5], [])]), g.op('Add', [g.op('Tanh', [inner]), g.f32([1], [])])]);
    }
  }
}

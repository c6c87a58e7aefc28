/**
 * The one decoder builder: ModelSpec + the checkpoint's tensor roles + hook plan → ONNX graph.
 * Every family is this loop; ModelSpec's fields select norm, positions, q/k/v layout, block
 * shape, FFN and extras. Instrumentation happens only through `hooks.at(point, value)`.
 *
 * Tokens travel as a [batch·seq, hidden] matrix so every projection is one Gemm; attention
 * reshapes to heads. Masks (causal, padding, per-layer windows) arrive as additive biases built by
 * the runtime, ALiBi from key positions. The graph describes the whole model; GraphBuilder.build
 * keeps only what the plan's outputs need (recording plans end after the last FFN activation).
 */
import type { LayerSpec, ModelSpec, RopeSpec } from '../archs/model-spec.js';
import type { LayerRole } from '../archs/family.js';
import type { ResolvedTensors, RoleRef } from '../archs/tensors.js';
import { ElemType, GraphBuilder } from './onnx-builder.js';
import { planNeedsHead, type HookPlan } from './hook-plan.js';
import { instrument } from './hooks.js';
import { alibiSlopes, ropeInverseFrequencies } from './positions.js';
import { LapeError } from '../errors.js';
import type { Int8Location, NBitsLocation, TensorLocation, WeightLocation } from '../archs/tensor-locations.js';

/**
 * How weights live in the session. mapped: each weight is an external initializer that is also a
 * graph input, so ORT neither constant-folds its Cast nor prepacks it: the bytes stay the file's
 * memory-mapped pages, shared by every session of the process, and f16/bf16 weights are cast per
 * run (measured: +12–15 % Gemm time for bf16 at 512 tokens). folded: half weights are cast to f32
 * once at session creation and prepacked (2× memory for half checkpoints, one copy per session).
 */
export type WeightResidency = 'mapped' | 'folded';

/**
 * Which operators the graph uses. plain: standard ONNX operators only (attention as MatMul, mask
 * Add, Softmax, MatMul over [B, heads, T, hd]; norms as elementwise chains). fused: ONNX Runtime's
 * fused kernels where the architecture allows them — com.microsoft MultiHeadAttention (one kernel
 * per layer instead of ~15 ops over the [B, heads, T, T] scores, no head transposes) and
 * SimplifiedLayerNormalization for RMS norms. Same math; results differ in rounding only
 * (bench/README.md, bench/small.ts).
 */
export type DecoderOps = 'plain' | 'fused';

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

/** The distinct attention windows of a spec; each gets its own mask input. */
export function attentionWindows(spec: ModelSpec): Array<number | null> {
  return [...new Set(spec.layers.map((l) => l.window))];
}

/** Name of the additive mask input for layers with this window. */
export function maskInputName(window: number | null): string {
  return window === null ? 'attn_bias' : `attn_bias_w${window}`;
}

export function buildDecoderGraph(
  spec: ModelSpec,
  tensors: ResolvedTensors,
  locate: (name: string) => TensorLocation,
  plan: HookPlan,
  residency: WeightResidency = 'mapped',
  ops: DecoderOps = 'plain',
): DecoderGraph {
  const g = new GraphBuilder();
  const { hiddenSize: H, numHeads: nH, numKvHeads: nKV, headDim: hd, vocabSize: V } = spec;
  const rep = nH / nKV;
  const hooks = instrument(g, spec, plan);

  // Weights: external byte ranges of the safetensors files; half types are cast to f32.
  const cache = new Map<string, string>();
  const rawCache = new Set<string>();
  let anchor = '';
  /** The stored initializer (f32, f16 or bf16), without a cast. */
  const plain = (name: string): WeightLocation => {
    const loc = locate(name);
    if (loc.kind === 'nbits' || loc.kind === 'w8a8') throw new LapeError(`internal: "${name}" is quantised but used as a plain tensor`);
    return loc;
  };
  const stored = (name: string): { value: string; dtype: WeightLocation['dtype']; shape: number[] } => {
    const loc = plain(name);
    const value = `w:${name}`;
    if (!rawCache.has(name)) {
      g.external(value, DTYPE_ELEM[loc.dtype], loc.shape, loc.file, loc.offset, loc.length);
      if (residency === 'mapped') g.input(value, DTYPE_ELEM[loc.dtype], loc.shape, { overridable: true });
      rawCache.add(name);
    }
    return { value, dtype: loc.dtype, shape: loc.shape };
  };
  /** A weight as f32. */
  const param = (name: string): string => {
    let v = cache.get(name);
    if (!v) {
      const w = stored(name);
      let src = w.value;
      if (residency === 'mapped' && w.dtype !== 'F32' && anchor && w.shape.length === 2) {
        // Tie the per-run Cast to the current block's input, so ORT casts each weight just before
        // its layer instead of all of them up front (which holds every f32 copy at once: measured
        // 1.6 GiB instead of 0.13 GiB of arena on a bf16 Qwen2.5-0.5B shape).
        const zeros = g.op('Mul', [g.op('Shape', [anchor]), g.i64([0, 0])]);
        src = g.op('Reshape', [w.value, g.op('Add', [g.i64(w.shape), zeros])]);
      }
      v = w.dtype === 'F32' ? w.value : g.op('Cast', [src], { to: ElemType.FLOAT });
      cache.set(name, v);
    }
    return v;
  };
  const role = (ref: RoleRef | undefined, what: string): RoleRef => {
    if (!ref) throw new LapeError(`internal: the decoder needs the ${what} tensor, which was not resolved`);
    return ref;
  };
  // Quantised projections: constant initializers (ORT prepacks them), activations quantised to
  // int8 per block (accuracy level 4, VNNI) — 1.6–2× f32 Gemm here, against 0.36× at level 0 for 8-bit.
  const nbits = (x: string, name: string, q: NBitsLocation): string => {
    const codes = g.external(`q:${name}`, ElemType.UINT8, [q.n, Math.ceil(q.k / q.blockSize), (q.blockSize * q.bits) / 8], q.file, q.codes.offset, q.codes.length);
    const scales = g.external(`s:${name}`, ElemType.FLOAT, [q.n * Math.ceil(q.k / q.blockSize)], q.file, q.scales.offset, q.scales.length);
    return g.contribOp('MatMulNBits', [x, codes, scales], { K: q.k, N: q.n, bits: q.bits, block_size: q.blockSize, accuracy_level: q.accuracyLevel ?? 4 });
  };
  // W8A8: each token's activations quantised to int8 symmetrically (scale = max|x| / 127 over its
  // row, so a row never depends on the other rows of the batch), MatMulInteger (u8 × s8, the VNNI
  // kernels; 2.7–3.2× f32 Gemm measured here at 7B shapes), then both scales applied in f32.
  const w8a8 = (x: string, name: string, q: Int8Location): string => {
    const codes = g.external(`q:${name}`, ElemType.INT8, [q.k, q.n], q.file, q.codes.offset, q.codes.length);
    const scales = g.external(`s:${name}`, ElemType.FLOAT, [q.n], q.file, q.scales.offset, q.scales.length);
    const amax = g.op('ReduceMax', [g.op('Abs', [x])], { axes: [-1], keepdims: 1 });
    const rowScale = g.op('Div', [g.op('Max', [amax, g.f32([1e-30], [])]), g.f32([127], [])]);
    // round(x / s) ∈ [−127, 127]; + 128 gives the uint8 code with zero point 128.
    const codesX = g.op('Cast', [g.op('Add', [g.op('Round', [g.op('Div', [x, rowScale])]), g.f32([128], [])])], { to: ElemType.UINT8 });
    const acc = g.op('MatMulInteger', [codesX, codes, g.u8([128], [])]);
    return g.op('Mul', [g.op('Mul', [g.op('Cast', [acc], { to: ElemType.FLOAT }), rowScale]), scales]);
  };
  const linear = (x: string, ref: RoleRef): string => {
    const loc = locate(ref.weight);
    if (loc.kind === 'nbits' || loc.kind === 'w8a8') {
      const y = loc.kind === 'nbits' ? nbits(x, ref.weight, loc) : w8a8(x, ref.weight, loc);
      return ref.bias ? g.op('Add', [y, param(ref.bias)]) : y;
    }
    const inputs = ref.bias ? [x, param(ref.weight), param(ref.bias)] : [x, param(ref.weight)];
    return g.op('Gemm', inputs, { transB: spec.weightLayout === 'out-in' ? 1 : 0 });
  };
  const norm = (x: string, ref: RoleRef): string => {
    if (spec.norm === 'layer') {
      const inputs = ref.bias ? [x, param(ref.weight), param(ref.bias)] : [x, param(ref.weight)];
      return g.op('LayerNormalization', inputs, { axis: -1, epsilon: { float: spec.normEps } });
    }
    const w = spec.norm === 'rms1p' ? g.op('Add', [param(ref.weight), g.f32([1], [])]) : param(ref.weight);
    if (ops === 'fused') return g.op('SimplifiedLayerNormalization', [x, w], { axis: -1, epsilon: { float: spec.normEps } });
    const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, g.f32([spec.normEps], [])])])]);
    return g.op('Mul', [g.op('Mul', [x, inv]), w]);
  };
  const softcap = (x: string, cap: number | null, b: GraphBuilder = g): string =>
    cap === null ? x : b.op('Mul', [b.op('Tanh', [b.op('Div', [x, b.f32([cap], [])])]), b.f32([cap], [])]);

  // Inputs.
  const ids = g.input('input_ids', ElemType.INT64, ['batch', 'seq']);
  const pos = g.input('position_ids', ElemType.INT64, ['batch', 'seq']);
  const masks = new Map(attentionWindows(spec).map((w) => [w, g.input(maskInputName(w), ElemType.FLOAT, ['batch', 1, 1, 'seq', 'total'])]));
  const bt = g.op('Shape', [ids]); // [B, T]
  const batchDim = g.op('Slice', [bt, g.i64([0]), g.i64([1])]);

  // ALiBi: slope_h · key position, broadcast over queries (softmax ignores the per-row constant
  // by which this differs from slope_h · (key − query)).
  let alibi = '';
  if (spec.positions === 'alibi') {
    const keyPos = g.input('key_positions', ElemType.FLOAT, ['batch', 'total']);
    const slopes = g.f32(alibiSlopes(nH), [1, nKV, rep, 1, 1]);
    const kp = g.op('Unsqueeze', [keyPos, g.i64([1, 2, 3])]); // [B, 1, 1, 1, S]
    alibi = g.op('Mul', [slopes, kp]);
  }

  // The fused attention kernel reads q/k/v as [B, T, heads·hd]: heads then stay in the second-last
  // axis ([B, T, heads, hd], no transposes). It has no soft-capping, ALiBi or past-key inputs here.
  const fusedAttention = ops === 'fused' && spec.attnSoftcap === null && spec.positions !== 'alibi' && !plan.kvCache;
  const headAxis = fusedAttention ? 2 : 1;

  // Rotary tables [B, 1, T, dim] per distinct rope setting (HF rotate_half: halves share frequencies);
  // [B, T, 1, dim] for the fused attention's layout.
  const ropeTables = new Map<string, { cos: string; sin: string; dim: number }>();
  const ropeTable = (r: RopeSpec): { cos: string; sin: string; dim: number } => {
    const key = JSON.stringify(r);
    let t = ropeTables.get(key);
    if (!t) {
      const invFreq = g.f32(ropeInverseFrequencies(r), [1, 1, r.dim / 2]);
      const freqs = g.op('Mul', [g.op('Unsqueeze', [g.op('Cast', [pos], { to: ElemType.FLOAT }), g.i64([2])]), invFreq]);
      const angles = g.op('Unsqueeze', [g.op('Concat', [freqs, freqs], { axis: -1 }), g.i64([headAxis])]);
      t = { cos: g.op('Cos', [angles]), sin: g.op('Sin', [angles]), dim: r.dim };
      ropeTables.set(key, t);
    }
    return t;
  };
  // Fused: com.microsoft RotaryEmbedding on [B, T, heads·hd], with cos/sin caches [P, dim/2] for
  // positions 0 … P−1 (P = the batch's largest position + 1), the same f32 angles as the tables above.
  const ropeCaches = new Map<string, { cos: string; sin: string }>();
  const ropeCache = (r: RopeSpec): { cos: string; sin: string } => {
    const key = JSON.stringify(r);
    let c = ropeCaches.get(key);
    if (!c) {
      const limit = g.op('Cast', [g.op('Add', [g.op('ReduceMax', [pos], { keepdims: 0 }), g.i64([1], [])])], { to: ElemType.FLOAT });
      const positions = g.op('Unsqueeze', [g.op('Range', [g.f32([0], []), limit, g.f32([1], [])]), g.i64([1])]); // [P, 1]
      const angles = g.op('Mul', [positions, g.f32(ropeInverseFrequencies(r), [1, r.dim / 2])]);
      c = { cos: g.op('Cos', [angles]), sin: g.op('Sin', [angles]) };
      ropeCaches.set(key, c);
    }
    return c;
  };
  const rotate = (t: string, r: RopeSpec, heads: number): string => {
    if (fusedAttention) {
      const { cos, sin } = ropeCache(r);
      const rows = g.op('Reshape', [t, g.i64([0, 0, -1])]);
      const out = g.contribOp('RotaryEmbedding', [rows, pos, cos, sin], {
        interleaved: r.layout === 'pairs' ? 1 : 0, num_heads: heads, rotary_embedding_dim: r.dim,
      });
      return g.op('Reshape', [out, g.i64([0, 0, -1, hd])]);
    }
    const { cos, sin, dim } = ropeTable(r);
    const [rot, pass] = dim < hd ? g.opMulti('Split', [t, g.i64([dim, hd - dim])], 2, { axis: -1 }) : [t, ''];
    let out: string;
    if (r.layout === 'halves') {
      const [a, b] = g.opMulti('Split', [rot!, g.i64([dim / 2, dim / 2])], 2, { axis: -1 });
      const rotated = g.op('Concat', [g.op('Neg', [b!]), a!], { axis: -1 });
      out = g.op('Add', [g.op('Mul', [rot!, cos]), g.op('Mul', [rotated, sin])]);
    } else {
      // Interleaved pairs (x[2i], x[2i+1]) rotate by frequency i: view [..., dim/2, 2], rotate, view back.
      const pairs = g.op('Reshape', [rot!, g.i64([0, 0, 0, dim / 2, 2])]);
      const [a, b] = g.opMulti('Split', [pairs, g.i64([1, 1])], 2, { axis: -1 });
      const half = (x: string): string => g.op('Unsqueeze', [g.op('Slice', [x, g.i64([0]), g.i64([dim / 2]), g.i64([-1])]), g.i64([-1])]);
      const c = half(cos);
      const s = half(sin);
      const even = g.op('Sub', [g.op('Mul', [a!, c]), g.op('Mul', [b!, s])]);
      const odd = g.op('Add', [g.op('Mul', [b!, c]), g.op('Mul', [a!, s])]);
      out = g.op('Reshape', [g.op('Concat', [even, odd], { axis: -1 }), g.i64([0, 0, 0, dim])]);
    }
    return pass ? g.op('Concat', [out, pass], { axis: -1 }) : out;
  };

  /** [B·T, heads·hd] → [B, heads, T, hd], or [B, T, heads, hd] for the fused attention. */
  const toHeads = (t: string, heads: number): string => {
    const split = g.op('Reshape', [t, g.op('Concat', [bt, g.i64([heads, hd])], { axis: 0 })]);
    return fusedAttention ? split : g.op('Transpose', [split], { perm: [0, 2, 1, 3] });
  };

  /** q, k, v per head (toHeads' layout), from separate, [q|k|v]-fused or per-head-fused projections. */
  const projectQkv = (x: string, w: Partial<Record<LayerRole, RoleRef>>): [string, string, string] => {
    if (spec.qkv === 'separate') {
      return [toHeads(linear(x, role(w.q, 'q')), nH), toHeads(linear(x, role(w.k, 'k')), nKV), toHeads(linear(x, role(w.v, 'v')), nKV)];
    }
    const fused = linear(x, role(w.qkv, 'qkv'));
    if (spec.qkv === 'fused') {
      const [q, k, v] = g.opMulti('Split', [fused, g.i64([nH * hd, nKV * hd, nKV * hd])], 3, { axis: 1 });
      return [toHeads(q!, nH), toHeads(k!, nKV), toHeads(v!, nKV)];
    }
    // Per head: [q_h | k_h | v_h] blocks of hd rows each (BLOOM, NeoX).
    const perHead = g.op('Reshape', [fused, g.op('Concat', [bt, g.i64([nH, 3, hd])], { axis: 0 })]);
    const parts = g.opMulti('Split', [perHead, g.i64([1, 1, 1])], 3, { axis: 3 });
    const heads = parts.map((p) => {
      const head = g.op('Squeeze', [p, g.i64([3])]);
      return fusedAttention ? head : g.op('Transpose', [head], { perm: [0, 2, 1, 3] });
    });
    return [heads[0]!, heads[1]!, heads[2]!];
  };

  const attention = (x: string, i: number, layer: LayerSpec, w: Partial<Record<LayerRole, RoleRef>>): string => {
    let [q, k, v] = projectQkv(x, w);
    if (spec.qkNorm) {
      q = norm(q, role(w.qNorm, 'q norm'));
      k = norm(k, role(w.kNorm, 'k norm'));
    }
    if (layer.rope) {
      q = rotate(q, layer.rope, nH);
      k = rotate(k, layer.rope, nKV);
    }
    if (fusedAttention) {
      // MultiHeadAttention wants as many K/V heads as query heads: GQA's K/V are repeated (cheap
      // beside the scores). Mask [B, 1, 1, T, S] → attention_bias [B, 1, T, S], broadcast over heads.
      const rows = (t: string): string => g.op('Reshape', [t, g.i64([0, 0, -1])]); // [B, T, heads·hd]
      const repeat = (t: string): string => rep === 1 ? t
        : g.op('Expand', [g.op('Unsqueeze', [t, g.i64([3])]), g.op('Concat', [bt, g.i64([nKV, rep, hd])], { axis: 0 })]);
      const bias = g.op('Squeeze', [masks.get(layer.window)!, g.i64([1])]);
      const ctx = g.contribOp('MultiHeadAttention', [rows(q), rows(repeat(k)), rows(repeat(v)), '', '', bias], { num_heads: nH, scale: { float: layer.attnScale } });
      return linear(g.op('Reshape', [ctx, g.i64([-1, nH * hd])]), role(w.o, 'o'));
    }
    if (plan.kvCache) {
      const pk = g.input(`past_key.${i}`, ElemType.FLOAT, ['batch', nKV, 'past', hd]);
      const pv = g.input(`past_value.${i}`, ElemType.FLOAT, ['batch', nKV, 'past', hd]);
      k = g.op('Concat', [pk, k], { axis: 2 });
      v = g.op('Concat', [pv, v], { axis: 2 });
      g.expose(k, `present_key.${i}`, ElemType.FLOAT, ['batch', nKV, 'total', hd]);
      g.expose(v, `present_value.${i}`, ElemType.FLOAT, ['batch', nKV, 'total', hd]);
    }
    // GQA without copying K/V: queries grouped as [B, nKV, rep, T, hd], K/V broadcast over rep.
    const q5 = g.op('Reshape', [g.op('Mul', [q, g.f32([layer.attnScale], [])]), g.op('Concat', [batchDim, g.i64([nKV, rep, -1, hd])], { axis: 0 })]);
    const kT = g.op('Transpose', [g.op('Unsqueeze', [k, g.i64([2])])], { perm: [0, 1, 2, 4, 3] });
    let scores = softcap(g.op('MatMul', [q5, kT]), spec.attnSoftcap);
    if (alibi) scores = g.op('Add', [scores, alibi]);
    scores = g.op('Add', [scores, masks.get(layer.window)!]);
    const ctx = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), g.op('Unsqueeze', [v, g.i64([2])])]); // [B, nKV, rep, T, hd]
    const ctxHeads = g.op('Reshape', [ctx, g.op('Concat', [batchDim, g.i64([nH, -1, hd])], { axis: 0 })]);
    return linear(g.op('Reshape', [g.op('Transpose', [ctxHeads], { perm: [0, 2, 1, 3] }), g.i64([-1, nH * hd])]), role(w.o, 'o'));
  };

  const mlp = (x: string, i: number, w: Partial<Record<LayerRole, RoleRef>>): string => {
    const up = role(w.up, 'up');
    const pre = hooks.at(`blocks.${i}.mlp.hook_pre`, linear(x, spec.ffn === 'gated' ? role(w.gate, 'gate') : up));
    const act = hooks.at(`blocks.${i}.mlp.hook_act`, activation(g, pre, spec.activation));
    const post = hooks.at(`blocks.${i}.mlp.hook_post`, spec.ffn === 'gated' ? g.op('Mul', [act, linear(x, up)]) : act);
    return linear(post, role(w.down, 'down'));
  };

  // Embedding → [B·T, H], then learned positions, scaling, embedding norm as the family has them.
  const global = tensors.global;
  const embed = role(global.embed, 'embedding');
  // Rows are gathered from the stored table and cast afterwards (a half table is never cast whole here).
  const table = stored(embed.weight);
  const rows = g.op('Gather', [table.value, ids], { axis: 0 });
  let x = hooks.at('hook_embed', g.op('Reshape', [table.dtype === 'F32' ? rows : g.op('Cast', [rows], { to: ElemType.FLOAT }), g.i64([-1, H])]));
  if (spec.positions === 'learned') {
    const at = spec.positionOffset ? g.op('Add', [pos, g.i64([spec.positionOffset], [])]) : pos;
    x = g.op('Add', [x, g.op('Reshape', [g.op('Gather', [param(role(global.posEmbed, 'position').weight), at], { axis: 0 }), g.i64([-1, H])])]);
  }
  if (spec.embedScale !== null) x = g.op('Mul', [x, g.f32([spec.embedScale], [])]);
  if (spec.embedNorm) x = norm(x, role(global.embedNorm, 'embedding norm'));

  for (let i = 0; i < spec.numLayers; i++) {
    const w = tensors.layers[i]!;
    x = hooks.at(`blocks.${i}.hook_resid_pre`, x);
    anchor = x;
    const h = norm(x, role(w.attnNorm, 'attention norm'));
    let a = attention(h, i, spec.layers[i]!, w);
    if (spec.sandwichNorms) a = norm(a, role(w.postAttnNorm, 'post-attention norm'));
    let m: string;
    if (spec.block === 'sequential') {
      x = g.op('Add', [x, a]);
      m = mlp(norm(x, role(w.ffnNorm, 'FFN norm')), i, w);
    } else {
      m = mlp(spec.block === 'parallel' ? norm(x, role(w.ffnNorm, 'FFN norm')) : h, i, w);
      x = g.op('Add', [x, a]);
    }
    if (spec.sandwichNorms) m = norm(m, role(w.postFfnNorm, 'post-FFN norm'));
    x = hooks.at(`blocks.${i}.hook_resid_post`, g.op('Add', [x, m]));
  }
  hooks.finish();
  anchor = x;

  if (planNeedsHead(plan)) {
    const finalNorm = role(global.finalNorm, 'final norm');
    const head = global.lmHead ?? { weight: embed.weight };
    const logitsOf = (hidden: string): string => {
      const inputs = [norm(hidden, finalNorm), param(head.weight)];
      if (head.bias) inputs.push(param(head.bias));
      return softcap(g.op('Gemm', inputs, { transB: 1 }), spec.finalSoftcap);
    };
    if (plan.logits === 'last') {
      const last = g.input('last_index', ElemType.INT64, ['batch']);
      g.expose(logitsOf(g.op('Gather', [x, last], { axis: 0 })), 'logits_last', ElemType.FLOAT, ['batch', V]);
    }
    if (plan.tokenLogprobs && plan.logits !== 'all' && ops === 'fused') {
      // One sequence at a time (Scan over the batch): each [T, V] block of logits is reduced while
      // it is in cache instead of writing and re-reading all [B·T, V] (the head Gemm ran at ~60 %
      // of the projections' GFLOPS on the embedded model's 2048 × 6144 logits).
      const targets = g.input('targets', ElemType.INT64, ['batch', 'seq']);
      const hidden = g.op('Reshape', [norm(x, finalNorm), g.op('Concat', [bt, g.i64([H])], { axis: 0 })]); // [B, T, H]
      const weight = param(head.weight);
      const bias = head.bias ? param(head.bias) : '';
      const [lp] = g.scan(
        [{ value: hidden, elemType: ElemType.FLOAT, sliceDims: ['seq', H] }, { value: targets, elemType: ElemType.INT64, sliceDims: ['seq'] }],
        [{ elemType: ElemType.FLOAT, sliceDims: ['seq'] }],
        bias ? [weight, bias] : [weight],
        (b, [h, t]) => {
          const logits = softcap(b.op('Gemm', bias ? [h!, weight, bias] : [h!, weight], { transB: 1 }), spec.finalSoftcap, b);
          const picked = b.op('GatherElements', [b.op('LogSoftmax', [logits], { axis: 1 }), b.op('Unsqueeze', [t!, b.i64([1])])], { axis: 1 });
          return [b.op('Reshape', [picked, b.i64([-1])])];
        },
      );
      g.expose(lp!, 'token_logprobs', ElemType.FLOAT, ['batch', 'seq']);
    } else if (plan.logits === 'all' || plan.tokenLogprobs) {
      const logits = logitsOf(x); // [B·T, V]
      if (plan.logits === 'all') g.expose(logits, 'logits', ElemType.FLOAT, ['tokens', V]);
      if (plan.tokenLogprobs) {
        const targets = g.input('targets', ElemType.INT64, ['batch', 'seq']);
        const lp = g.op('GatherElements', [g.op('LogSoftmax', [logits], { axis: 1 }), g.op('Reshape', [targets, g.i64([-1, 1])])], { axis: 1 });
        g.expose(g.op('Reshape', [lp, bt]), 'token_logprobs', ElemType.FLOAT, ['batch', 'seq']);
      }
    }
  }
  return { bytes: g.build('lape_decoder'), inputNames: g.inputNames, outputNames: g.outputNames };
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

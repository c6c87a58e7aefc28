/**
 * Compiles a hook plan into what happens at each hook point of the decoder. The model code calls
 * `at(point, value)` at every named point and continues with the value returned; whether that
 * point is captured whole, reduced over tokens, patched or left alone is decided here, so the
 * model math never mentions instrumentation.
 */
import type { ModelSpec } from '../archs/model-spec.js';
import { LapeError } from '../errors.js';
import { parseHookName, type HookPlan } from './hook-plan.js';
import { ElemType, type GraphBuilder } from './onnx-builder.js';

export interface Instrumentation {
  /** The value the model continues with at hook point `point` (often `value` itself). */
  at(point: string, value: string): string;
  /** Adds the plan's reduced outputs (statistics, pooled residuals); call after the last layer. */
  finish(): void;
}

export function instrument(g: GraphBuilder, spec: ModelSpec, plan: HookPlan): Instrumentation {
  const { numLayers: L, intermediateSize: I, hiddenSize: H } = spec;
  const fullHooks = new Set(plan.fullHooks ?? []);
  for (const h of fullHooks) {
    const parsed = parseHookName(h);
    if (!parsed || (parsed.layer !== null && parsed.layer >= L)) throw new LapeError(`unknown hook "${h}" (model has ${L} layers)`);
  }
  const patchLayers = new Set(plan.patchLayers ?? []);
  if (plan.sequencePatches && patchLayers.size) throw new LapeError('a hook plan has either patchLayers or sequencePatches, not both');
  for (const l of patchLayers) {
    if (!Number.isInteger(l) || l < 0 || l >= L) throw new LapeError(`patch layer ${l} outside 0..${L - 1}`);
  }

  const probeLayers = new Set(plan.probeLayers ?? []);
  for (const l of probeLayers) {
    if (!Number.isInteger(l) || l < 0 || l >= L) throw new LapeError(`probe layer ${l} outside 0..${L - 1}`);
  }
  const tokenMask = plan.ffnStats || plan.residMean || probeLayers.size ? g.input('token_mask', ElemType.FLOAT, ['batch', 'seq']) : '';
  const maskRow = tokenMask ? g.op('Reshape', [tokenMask, g.i64([1, -1])]) : '';
  let poolWeights = '';
  if (plan.residMean) {
    const denom = g.op('Max', [g.op('ReduceSum', [tokenMask, g.i64([1])], { keepdims: 1 }), g.f32([1], [])]);
    poolWeights = g.op('Unsqueeze', [g.op('Div', [tokenMask, denom]), g.i64([1])]); // [B, 1, T]
  }
  const counts: string[] = [];
  const sums: string[] = [];
  const squares: string[] = [];
  const residMeans: string[] = [];

  // Sequence point for the statistics. Their reductions are branches that only the final Concat
  // consumes, and ORT's topological sort schedules them after the whole decoder, so every layer's
  // [B·T, I] activations stay alive to the end (measured on a Qwen2.5-0.5B shape at 1×512 tokens:
  // +590 MiB of arena vs +67 MiB without statistics). Making the next block's input depend on
  // them, through a Where whose two branches are the same tensor, makes ORT run layer i's
  // reductions before layer i+1 and free those activations.
  // Probe outputs (other shapes) join the same sequence point, each reduced to a scalar first.
  let pending: string[] = [];
  let pendingProbes: string[] = [];
  const afterStats = (value: string): string => {
    if (!pending.length && !pendingProbes.length) return value;
    const scalars = pendingProbes.map((t) => g.op('ReduceMax', [t], { keepdims: 0 }));
    if (pending.length) scalars.unshift(g.op('ReduceMax', [g.op('Concat', pending, { axis: 0 })], { keepdims: 0 }));
    const probe = scalars.length === 1 ? scalars[0]! : g.op('Max', scalars);
    pending = [];
    pendingProbes = [];
    return g.op('Where', [g.op('IsNaN', [probe]), value, value]);
  };
  // Shared probe inputs: K (≤ B·T) and the histogram edges.
  const probeK = probeLayers.size ? g.input('probe_k', ElemType.INT64, [1]) : '';
  const probeEdges = probeLayers.size ? g.op('Unsqueeze', [g.input('probe_edges', ElemType.FLOAT, ['edges']), g.i64([0, 2])]) : ''; // [1, E, 1]
  const validCol = probeLayers.size ? g.op('Greater', [g.op('Reshape', [tokenMask, g.i64([-1, 1])]), g.f32([0], [])]) : ''; // [B·T, 1]

  const width = (point: string): number => (point.startsWith('mlp.') ? I : H);

  return {
    at(name, value) {
      const hook = parseHookName(name);
      if (!hook) throw new LapeError(`the decoder used an unknown hook point "${name}"`);
      const { layer, point } = hook;
      let v = value;
      if (point === 'hook_resid_pre') v = afterStats(v);
      if (point === 'mlp.hook_act' && layer !== null) {
        if (patchLayers.has(layer)) {
          const scale = g.input(`patch_scale.${layer}`, ElemType.FLOAT, [I]);
          const shift = g.input(`patch_shift.${layer}`, ElemType.FLOAT, [I]);
          v = g.op('Add', [g.op('Mul', [v, scale]), shift]);
        } else if (plan.sequencePatches) {
          // [B·T, I] → [B, T, I], times/plus the sequence's [B, 1, I] vectors, back to [B·T, I].
          const scale = g.input(`patch_scale.${layer}`, ElemType.FLOAT, ['batch', 1, I]);
          const shift = g.input(`patch_shift.${layer}`, ElemType.FLOAT, ['batch', 1, I]);
          const perSeq = g.op('Concat', [g.op('Slice', [g.op('Shape', [scale]), g.i64([0]), g.i64([1])]), g.i64([-1, I])], { axis: 0 });
          const v3 = g.op('Reshape', [v, perSeq]);
          v = g.op('Reshape', [g.op('Add', [g.op('Mul', [v3, scale]), shift]), g.i64([-1, I])]);
        }
        if (plan.ffnStats) {
          // Reductions over valid tokens as [1, B·T] × [B·T, I] products: MLAS does them at GEMV speed.
          const positive = g.op('Cast', [g.op('Greater', [v, g.f32([0], [])])], { to: ElemType.FLOAT });
          counts.push(g.op('MatMul', [maskRow, positive]));
          sums.push(g.op('MatMul', [maskRow, v]));
          squares.push(g.op('MatMul', [maskRow, g.op('Mul', [v, v])]));
          pending = [counts.at(-1)!, sums.at(-1)!, squares.at(-1)!];
        }
        if (probeLayers.has(layer)) {
          const sel = g.op('Gather', [v, g.input(`probe_index.${layer}`, ElemType.INT64, [`probe_n${layer}`])], { axis: 1 }); // [B·T, n]
          // Padding never ranks above a real token: it gets −∞ (K is capped at B·T, so a batch with
          // fewer valid tokens than K returns −∞ entries, which the caller skips).
          const valid = g.op('Where', [validCol, sel, g.f32([-Infinity], [])]);
          const [top, at] = g.opMulti('TopK', [valid, probeK], 2, { axis: 0, largest: 1, sorted: 1 });
          // count(x ≥ edge) per edge and neuron over valid tokens: [1, B·T] × [B·T, E·n].
          const ge = g.op('Cast', [g.op('GreaterOrEqual', [g.op('Unsqueeze', [sel, g.i64([1])]), probeEdges])], { to: ElemType.FLOAT });
          const hist = g.op('MatMul', [maskRow, g.op('Reshape', [ge, g.i64([0, -1])])]);
          g.expose(top!, `probe_top.${layer}`, ElemType.FLOAT, ['k', `probe_n${layer}`]);
          g.expose(at!, `probe_at.${layer}`, ElemType.INT64, ['k', `probe_n${layer}`]);
          g.expose(hist, `probe_hist.${layer}`, ElemType.FLOAT, [1, 'edges_x_n']);
          pendingProbes.push(top!, hist);
        }
      }
      if (point === 'hook_resid_post' && plan.residMean) {
        const x3 = g.op('Reshape', [v, g.op('Concat', [g.op('Shape', [tokenMask]), g.i64([H])], { axis: 0 })]);
        residMeans.push(g.op('MatMul', [poolWeights, x3])); // [B, 1, H]
      }
      if (fullHooks.has(name)) g.expose(v, name, ElemType.FLOAT, ['tokens', width(point)]);
      return v;
    },
    finish() {
      if (plan.ffnStats) {
        g.expose(g.op('Concat', counts, { axis: 0 }), 'ffn_count', ElemType.FLOAT, [L, I]);
        g.expose(g.op('Concat', sums, { axis: 0 }), 'ffn_sum', ElemType.FLOAT, [L, I]);
        g.expose(g.op('Concat', squares, { axis: 0 }), 'ffn_sumsq', ElemType.FLOAT, [L, I]);
      }
      if (plan.residMean) g.expose(g.op('Concat', residMeans, { axis: 1 }), 'resid_mean', ElemType.FLOAT, ['batch', L, H]);
    },
  };
}

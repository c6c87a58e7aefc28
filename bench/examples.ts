/**
 * Benchmark (not a test): the cost of lape examples' in-graph probes against plain recording.
 * Same model, same 1 × 512-token batches, plans run interleaved (median of --reps runs each):
 *   record    { ffnStats }                      what lape record runs
 *   probe N%  { probeLayers } on N % of each layer's neurons, K = 20, 19 histogram edges
 *   copy-out  { fullHooks: every hook_act }     the alternative: activations copied to JS (the
 *                                               top-K and histograms in JS not even counted)
 * The model is Qwen2.5-0.5B's layer shape (hidden 896, FFN 4864) with 4 layers and a 32 k vocabulary
 * (no plan here runs the LM head, and the per-layer ratio does not depend on the layer count).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/examples.js [--reps 7] [--threads N] [--model DIR --seq 256]
 *
 * --model runs a checkpoint instead (e.g. models/tiny-multilingual, --seq 256, its window).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, type RunOptions } from '../src/runtime/model.js';
import type { HookPlan } from '../src/graph/hook-plan.js';
import { DEFAULT_EDGES } from '../src/experiments/examples.js';
import { writeSyntheticCheckpoint } from './synthetic-checkpoint.js';
import { randomIds, timed } from './flops.js';

const { values: args } = parseArgs({
  options: { reps: { type: 'string', default: '7' }, threads: { type: 'string' }, model: { type: 'string' }, seq: { type: 'string', default: '512' } },
});
const reps = Number(args.reps);
const threads = args.threads ? Number(args.threads) : availableParallelism();
const T = Number(args.seq);

const dir = args.model ?? mkdtempSync(join(tmpdir(), 'lape-bench-examples-'));
try {
  if (!args.model) writeSyntheticCheckpoint(dir, { vocab: 32000, hidden: 896, intermediate: 4864, layers: 4, heads: 14, kvHeads: 2 });
  const model = loadModel(dir, { threads });
  const spec = model.spec;
  const shape = { vocab: spec.vocabSize, hidden: spec.hiddenSize, intermediate: spec.intermediateSize, layers: spec.numLayers };
  const layers = Array.from({ length: shape.layers }, (_, l) => l);
  const probeOf = (share: number): RunOptions => {
    const n = Math.round(shape.intermediate * share);
    // Spread over the layer (every (I/n)-th neuron), as selected neurons are.
    const idx = Array.from({ length: n }, (_, i) => Math.floor((i * shape.intermediate) / n));
    return { probe: { neurons: new Map(layers.map((l) => [l, idx])), k: 20, edges: Float32Array.from(DEFAULT_EDGES) } };
  };
  const cases: Array<{ name: string; plan: HookPlan; opts?: RunOptions }> = [
    { name: 'record (ffnStats)', plan: { ffnStats: true } },
    { name: 'probe 1% of neurons', plan: { probeLayers: layers }, opts: probeOf(0.01) },
    { name: 'probe 10% of neurons', plan: { probeLayers: layers }, opts: probeOf(0.1) },
    { name: 'copy-out every hook_act', plan: { fullHooks: layers.map((l) => `blocks.${l}.mlp.hook_act`) } },
  ];
  const times = cases.map(() => [] as number[]);
  const foreign: number[] = [];
  for (let r = 0; r <= reps; r++) {
    const ids = [randomIds(T, shape.vocab, 1000 + r)];
    for (let c = 0; c < cases.length; c++) {
      const t = await timed(() => model.run({ ids }, cases[c]!.plan, cases[c]!.opts));
      if (r > 0) {
        times[c]!.push(t.ms); // run 0 builds the sessions
        if (Number.isFinite(t.foreign)) foreign.push(t.foreign);
      }
    }
  }
  await model.release();
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = median(times[0]!);
  console.log(`${args.model ?? 'synthetic'}: ${shape.layers} layers, hidden ${shape.hidden}, FFN ${shape.intermediate}; batch 1 × ${T}; ${threads} threads; median of ${reps}`);
  cases.forEach((c, i) => {
    const m = median(times[i]!);
    console.log(`${c.name.padEnd(26)} ${m.toFixed(1).padStart(7)} ms  ${((T / m) * 1000).toFixed(0).padStart(6)} tokens/s  ${(m / base).toFixed(3)}× record`);
  });
  console.log(`other processes used ${(100 * median(foreign)).toFixed(0)} % of the machine (median over runs)`);
} finally {
  if (!args.model) rmSync(dir, { recursive: true, force: true });
}

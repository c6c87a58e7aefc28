/**
 * Continuous batching vs run-to-end batching in lape serve's batcher (src/runtime/continuous-batch.ts),
 * in-process (no HTTP), on the embedded model or --model DIR.
 *
 * Workload: REQUESTS completions arriving one every GAP ms (a steady stream, as from several
 * clients), greedy, new-token budgets cycling through 2..32 so that sequences end at different
 * steps; every third request steered (add, alpha 4, on random neurons of the model — the cost of
 * steering does not depend on which neurons). Both policies get the same arrivals, one after the
 * other, after a warm-up. Printed per policy: wall time, tokens/s, p50/p95 latency (arrival → last
 * token), decoding steps, prefills, requests that joined a running batch.
 *
 *   node dist/bench/serve.js [--model DIR] [--requests 96] [--gap 15] [--max-batch 8] [--threads N]
 */
import { parseArgs } from 'node:util';
import { ContinuousBatcher } from '../src/runtime/continuous-batch.js';
import { generationSettings } from '../src/runtime/generate.js';
import { loadModel, type Model } from '../src/runtime/model.js';
import { patchVectors } from '../src/runtime/patches.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { Prng } from '../src/runtime/sampling.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/tiny-multilingual' },
    requests: { type: 'string', default: '96' },
    gap: { type: 'string', default: '15' },
    'max-batch': { type: 'string', default: '8' },
    threads: { type: 'string' },
  },
});
const REQUESTS = Number(values.requests);
const GAP = Number(values.gap);
const MAX_BATCH = Number(values['max-batch']);

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function workload(model: Model, continuous: boolean, prompts: number[][], decode: (ids: number[]) => string) {
  const { numLayers: L, intermediateSize: I } = model.spec;
  const rng = new Prng(1);
  const steer = patchVectors(
    Array.from({ length: L }, (_, layer) => ({ layer, indices: Array.from({ length: Math.max(1, I >> 5) }, () => Math.floor(rng.next() * I)), mode: 'add' as const, values: 4 })),
    L,
    I,
  );
  const b = new ContinuousBatcher(model, { maxBatch: MAX_BATCH, maxQueue: REQUESTS, continuous, decode });
  const latencies: number[] = [];
  let tokens = 0;
  const t0 = performance.now();
  const jobs = prompts.map(async (prompt, i) => {
    await new Promise((r) => setTimeout(r, i * GAP));
    const arrived = performance.now();
    const g = await b.submit({
      prompt,
      settings: generationSettings(model, { maxNewTokens: 2 + (i % 16) * 2, eosTokenIds: [] }),
      vectors: i % 3 === 0 ? steer : new Map(),
    });
    latencies.push(performance.now() - arrived);
    tokens += g.ids.length;
  });
  await Promise.all(jobs);
  const s = (performance.now() - t0) / 1000;
  return { s, tokens, latencies, stats: b.stats() };
}

const model = loadModel(values.model, values.threads ? { threads: Number(values.threads) } : {});
const tok = loadTokenizer(values.model);
const decode = (ids: number[]): string => tok.decode(ids, { skipSpecialTokens: true });
const words = ['The menu bar', 'Choose Format - Cells', 'To insert a table', 'Click the icon', 'Select the range of cells'];
const prompts = Array.from({ length: REQUESTS }, (_, i) => tok.encode(words[i % words.length]!, { addSpecialTokens: true }));
console.log(`model ${values.model}: ${REQUESTS} requests, one every ${GAP} ms, budgets 2..32 tokens, max batch ${MAX_BATCH}, threads ${model.threads}`);
await workload(model, true, prompts.slice(0, 8), decode); // warm-up: session creation
for (const continuous of [true, false, true, false]) {
  const r = await workload(model, continuous, prompts, decode);
  console.log(
    `${continuous ? 'continuous ' : 'run-to-end '}: ${r.s.toFixed(2)} s, ${r.tokens} tokens, ${(r.tokens / r.s).toFixed(0)} tokens/s, ` +
      `latency p50 ${pct(r.latencies, 50).toFixed(0)} ms p95 ${pct(r.latencies, 95).toFixed(0)} ms, ` +
      `${r.stats.steps} steps, ${r.stats.prefills} prefills, ${r.stats.joinedRunning} joined a running batch`,
  );
}
await model.release();

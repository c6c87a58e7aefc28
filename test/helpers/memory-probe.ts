/**
 * Runs hook plans on a model in a fresh process and prints, as JSON, how much anonymous memory and
 * proportional set size grew after each: a measure that memory freed by earlier tests in the same
 * process (kept by malloc for reuse) cannot hide.
 *   node dist/test/helpers/memory-probe.js DIR mapped|folded '[{"ffnStats":true},...]'
 */
import { readFileSync } from 'node:fs';
import { loadModel } from '../../src/runtime/model.js';
import type { HookPlan } from '../../src/graph/hook-plan.js';

const rollup = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))![1]) * 1024;
const [dir, residency, plansJson] = process.argv.slice(2) as [string, 'mapped' | 'folded', string];
// `node --test dist/test/` also loads this file, without arguments: then it is a module that does nothing.
if (plansJson) await probe(JSON.parse(plansJson) as HookPlan[]);

async function probe(plans: HookPlan[]): Promise<void> {
  const model = loadModel(dir, { threads: 1, residency, maxSessions: plans.length });
  const ids = [Array.from({ length: 32 }, (_, i) => (i * 37) % model.spec.vocabSize)];
  const [anon0, pss0] = [rollup('Anonymous'), rollup('Pss')];
  const growth: Array<{ anon: number; pss: number }> = [];
  for (const plan of plans) {
    await model.run({ ids }, plan);
    growth.push({ anon: rollup('Anonymous') - anon0, pss: rollup('Pss') - pss0 });
  }
  console.log(JSON.stringify({ sessions: model.sessionCount(), growth }));
  await model.release();
}

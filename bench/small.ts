/**
 * Benchmark (not a test): the small-model path against today's, in one process, on the embedded
 * model and on a random-weight checkpoint of the next embedded model's likely shape.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/small.js [--cases embedded,next] [--rounds 6]
 *     [--seq 256] [--record-tokens 16384] [--eval-chunks 2] [--langs 7] [--threads N]
 *     [--shape L,H,I,heads,kvHeads,vocab] [--model DIR]
 *
 * Two paths per model, measured alternately (the order flips every round) so that the load of
 * other processes on the shared machine falls on both alike:
 *   today: standard ONNX operators, weights memory-mapped, ONNX Runtime's spinning thread pool
 *          (LoadOptions { ops: 'plain', residency: 'mapped', spinning: true }): the engine as it
 *          was before the small-model path;
 *   new:   loadModel's defaults (fused attention and norms, prepacked weights for small models,
 *          no spinning).
 * Both use the batch shapes lape uses: recording `lape record`'s 2048 tokens per pass, the PPL
 * matrix defaultBatchSize (2048 tokens per run below the logits budget).
 * Per round and path:
 *   recording: `record-tokens` random tokens in chunks of `seq`, the statistics plan, float64
 *              accumulation as src/stats/record.ts does it;
 *   PPL matrix: pplMatrix over `langs` languages × `eval-chunks` random chunks, random masks of
 *              5 % of the neurons per language (the demo's top rate) and the random control —
 *              1 + 2·langs rows, every row evaluating every language.
 * Prints tokens/s per round (and the share of the machine other processes used meanwhile), the
 * best and the median, GFLOPS at the median (bench/flops.ts: recordFlopsPerToken; the PPL matrix
 * adds the last down projection and the LM head), the ratio new / today of the medians and the
 * median of the per-round ratios; and that results agree: counts per neuron (equal, or the number
 * that differ), largest relative PPL difference over the matrix.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadModel, type LoadOptions, type Model } from '../src/runtime/model.js';
import type { ModelSpec } from '../src/archs/model-spec.js';
import { defaultBatchSize } from '../src/experiments/perplexity.js';
import { pplMatrix, type PplMatrix } from '../src/experiments/deactivation.js';
import type { EvalSet } from '../src/experiments/ppl-eval-sets.js';
import { randomMasks } from '../src/select/rs.js';
import { writeSyntheticCheckpoint, type SyntheticShape } from './synthetic-checkpoint.js';
import { randomIds, recordFlopsPerToken, timed } from './flops.js';

const { values: args } = parseArgs({
  options: {
    cases: { type: 'string', default: 'embedded,next' },
    model: { type: 'string' },
    shape: { type: 'string', default: '8,256,1024,8,4,6144' },
    rounds: { type: 'string', default: '6' },
    seq: { type: 'string', default: '256' },
    'record-tokens': { type: 'string', default: '16384' },
    'eval-chunks': { type: 'string', default: '2' },
    langs: { type: 'string', default: '7' },
    threads: { type: 'string' },
  },
});

const EMBEDDED = fileURLToPath(new URL('../../models/tiny-multilingual', import.meta.url));
/** `lape record`'s default: 2048 tokens per pass (src/cli/commands/record.ts). */
const RECORD_BATCH_TOKENS = 2048;
/** The demo's top rate: 5 % of the neurons per language. */
const MASK_RATE = 0.05;

const PATHS: Record<'today' | 'new', Partial<LoadOptions>> = {
  today: { ops: 'plain', residency: 'mapped', spinning: true },
  new: {},
};

const seqLen = Number(args.seq);
const rounds = Number(args.rounds);
const threads = args.threads ? Number(args.threads) : availableParallelism();
const recordTokens = Number(args['record-tokens']);
const evalChunks = Number(args['eval-chunks']);
const langCount = Number(args.langs);

/** FLOPs per token of a full forward with the LM head (the PPL plan), causal attention. */
function pplFlopsPerToken(s: ModelSpec, keys: number): number {
  return recordFlopsPerToken(s, keys).total + 2 * s.intermediateSize * s.hiddenSize + 2 * s.hiddenSize * s.vocabSize;
}

interface Sample {
  tokS: number;
  foreign: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function recordOnce(model: Model, chunks: number[][]): Promise<Float64Array> {
  const { numLayers: L, intermediateSize: I } = model.spec;
  const batch = Math.max(1, Math.floor(RECORD_BATCH_TOKENS / seqLen));
  const count = new Float64Array(L * I);
  const sum = new Float64Array(L * I);
  const sumSq = new Float64Array(L * I);
  for (let i = 0; i < chunks.length; i += batch) {
    const r = await model.run({ ids: chunks.slice(i, i + batch) }, { ffnStats: true });
    for (let k = 0; k < L * I; k++) {
      count[k]! += r.ffnCount![k]!;
      sum[k]! += r.ffnSum![k]!;
      sumSq[k]! += r.ffnSumSq![k]!;
    }
  }
  return count;
}

async function runCase(name: string, dir: string): Promise<void> {
  const models = { today: loadModel(dir, { threads, ...PATHS.today }), new: loadModel(dir, { threads, ...PATHS.new }) };
  const spec = models.new.spec;
  const { numLayers: L, intermediateSize: I, vocabSize: V } = spec;
  console.log(`\n== ${name}: ${dir}`);
  console.log(
    `   ${L} layers, hidden ${spec.hiddenSize}, FFN ${I}, ${spec.numHeads}/${spec.numKvHeads} heads × ${spec.headDim}, vocab ${V}; ` +
      `${(models.new.checkpoint.parameterCount / 1e6).toFixed(2)} M parameters; ${threads} threads, seq ${seqLen}`,
  );
  const recChunks = Array.from({ length: Math.max(1, Math.floor(recordTokens / seqLen)) }, (_, i) => randomIds(seqLen, V, 1000 + i));
  const langs = Array.from({ length: langCount }, (_, k) => `l${k}`);
  const evalSets: EvalSet[] = langs.map((lang, k) => ({
    lang,
    files: [],
    chunks: Array.from({ length: evalChunks }, (_, i) => randomIds(seqLen, V, 5000 + 100 * k + i)),
  }));
  const perLayer = Math.max(1, Math.round(MASK_RATE * I / langCount));
  const masks = randomMasks(langs, L, I, langs.map(() => Array.from({ length: L }, () => perLayer)), { seed: 7 });
  const pplBatch = defaultBatchSize(seqLen, V);
  const rows = 1 + 2 * langs.length;
  const pplTokens = rows * langs.length * evalChunks * seqLen;
  const recTokens = recChunks.length * seqLen;
  const recFlops = recordFlopsPerToken(spec, (seqLen + 1) / 2).total;
  const pplFlops = pplFlopsPerToken(spec, (seqLen + 1) / 2);
  console.log(`   recording: ${recTokens} tokens per round, ${Math.max(1, Math.floor(RECORD_BATCH_TOKENS / seqLen))} × ${seqLen} per pass, ${(recFlops / 1e6).toFixed(3)} MFLOP/token`);
  console.log(`   PPL matrix: ${rows} rows × ${langs.length} languages × ${evalChunks} chunks = ${pplTokens} tokens per round, ${pplBatch} × ${seqLen} per run, ${(pplFlops / 1e6).toFixed(3)} MFLOP/token`);

  // Warm-up (sessions, arenas) and the agreement check.
  const counts = { today: await recordOnce(models.today, recChunks), new: await recordOnce(models.new, recChunks) };
  const matrices: Record<string, PplMatrix> = {};
  for (const p of ['today', 'new'] as const) matrices[p] = await pplMatrix(models[p], masks, evalSets, { randomControl: true, batchSize: pplBatch });
  let differing = 0;
  let maxCountDiff = 0;
  for (let k = 0; k < L * I; k++) {
    const d = Math.abs(counts.today[k]! - counts.new[k]!);
    if (d) differing++;
    maxCountDiff = Math.max(maxCountDiff, d);
  }
  let maxPplRel = 0;
  matrices.today!.rows.forEach((row, r) => {
    for (const l of langs) maxPplRel = Math.max(maxPplRel, Math.abs(matrices.new!.rows[r]!.ppl[l]! / row.ppl[l]! - 1));
  });
  console.log(`   agreement: counts differ at ${differing} of ${L * I} neurons (largest difference ${maxCountDiff} of ${recTokens} tokens); PPL largest relative difference ${maxPplRel.toExponential(2)}`);

  const samples: Record<string, Record<'today' | 'new', Sample[]>> = { rec: { today: [], new: [] }, ppl: { today: [], new: [] } };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? (['new', 'today'] as const) : (['today', 'new'] as const);
    const line: string[] = [];
    for (const what of ['rec', 'ppl'] as const) {
      for (const p of order) {
        const x = await timed<unknown>(() => (what === 'rec' ? recordOnce(models[p], recChunks) : pplMatrix(models[p], masks, evalSets, { randomControl: true, batchSize: pplBatch })));
        const tokS = (what === 'rec' ? recTokens : pplTokens) / (x.ms / 1000);
        samples[what]![p].push({ tokS, foreign: x.foreign });
        line.push(`${what} ${p} ${tokS.toFixed(0)} tok/s (${(100 * x.foreign).toFixed(0)} %)`);
      }
    }
    console.log(`   round ${r + 1}: ${line.join(', ')}`);
  }
  const summary: Record<string, unknown> = { case: name, threads, seq: seqLen };
  for (const what of ['rec', 'ppl'] as const) {
    const flops = what === 'rec' ? recFlops : pplFlops;
    const label = what === 'rec' ? 'recording' : 'PPL matrix';
    const s = samples[what]!;
    const stat = (p: 'today' | 'new') => {
      const tok = s[p].map((x) => x.tokS);
      return { best: Math.max(...tok), median: median(tok), foreign: median(s[p].map((x) => x.foreign)) };
    };
    const a = stat('today');
    const b = stat('new');
    const perRound = median(s.new.map((x, i) => x.tokS / s.today[i]!.tokS));
    for (const [p, v] of [['today', a], ['new', b]] as const) {
      console.log(
        `   ${label.padEnd(10)} ${p.padEnd(5)}: best ${v.best.toFixed(0)} tok/s, median ${v.median.toFixed(0)} tok/s = ${((v.median * flops) / 1e9).toFixed(1)} GFLOPS` +
          ` (median foreign load ${(100 * v.foreign).toFixed(0)} %)`,
      );
    }
    console.log(`   ${label.padEnd(10)} new / today: ${(b.median / a.median).toFixed(2)}× (medians), ${perRound.toFixed(2)}× (median of per-round ratios), ${(b.best / a.best).toFixed(2)}× (bests)`);
    summary[what] = { today: a, new: b, ratioMedians: b.median / a.median, ratioPerRound: perRound, gflopsToday: (a.median * flops) / 1e9, gflopsNew: (b.median * flops) / 1e9 };
  }
  summary.agreement = { countsDiffering: differing, maxCountDiff, maxPplRel };
  console.log(`SMALL ${JSON.stringify(summary)}`);
  await models.today.release();
  await models.new.release();
}

function parseShape(s: string): SyntheticShape {
  const [layers, hidden, intermediate, heads, kvHeads, vocab] = s.split(',').map(Number);
  return { layers: layers!, hidden: hidden!, intermediate: intermediate!, heads: heads!, kvHeads: kvHeads!, vocab: vocab!, family: 'llama' };
}

for (const c of args.cases.split(',')) {
  if (c === 'embedded') await runCase('embedded model', args.model ?? EMBEDDED);
  else if (c === 'next') {
    const shape = parseShape(args.shape);
    const dir = mkdtempSync(join(tmpdir(), 'lape-small-'));
    try {
      writeSyntheticCheckpoint(dir, shape, { dtype: 'F32', seed: 17 });
      await runCase(`random Llama ${args.shape} (layers, hidden, FFN, heads, KV heads, vocab)`, dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else throw new Error(`unknown case "${c}" (embedded, next)`);
}

/**
 * Benchmark (not a test): recording throughput of FFN statistics on a synthetic
 * Qwen2.5-0.5B-shaped f32 checkpoint, the fraction of this machine's fp32 peak it reaches, and
 * peak RSS against the weight bytes.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/record.js [--batch 1] [--seq 512] [--tokens 8192]
 *     [--threads N] [--keep-dir] [--dir PATH] [--no-peak | --peak-only] [--sgemm M,K,N]
 *     [--flops-per-cycle N] [--clock-ghz G] [--residency mapped|folded]
 *
 * --batch takes a comma list (e.g. 1,2,4,8) to compare batch sizes in one process; peak RSS is
 * then that of the largest. --dir reuses a checkpoint written earlier with --keep-dir (it is
 * never deleted). The checkpoint (~2 GB) goes under os.tmpdir() and is removed at the end
 * unless --keep-dir.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../src/runtime/model.js';
import { QWEN25_05B, writeSyntheticCheckpoint } from './synthetic-checkpoint.js';
import { flopsPerCycle, measureClockGHz, measureSgemm, readCpuInfo } from './peak.js';
import { randomIds, recordFlopsPerToken, timed } from './flops.js';

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '1' },
    seq: { type: 'string', default: '512' },
    tokens: { type: 'string', default: '8192' },
    threads: { type: 'string' },
    'keep-dir': { type: 'boolean', default: false },
    dir: { type: 'string' },
    'no-peak': { type: 'boolean', default: false },
    residency: { type: 'string', default: 'mapped' },
    'peak-only': { type: 'boolean', default: false },
    'flops-per-cycle': { type: 'string' },
    'clock-ghz': { type: 'string' },
    sgemm: { type: 'string', default: '2048,896,4864' },
  },
});

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const fmt = (x: number, d = 1): string => x.toFixed(d);
const rssNow = (): number => process.memoryUsage().rss;
const rssPeak = (): number => process.resourceUsage().maxRSS * 1024;

/**
 * The ORT sgemm peak, measured in a child process (this file with --peak-only) so that its session
 * leaves nothing in this process's RSS; best of 30 runs, twice.
 */
function sgemmInChild(spec: string, threads: number): { gflops: number[]; foreign: number[] } | null {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--peak-only', '--sgemm', spec, '--threads', String(threads)], {
    encoding: 'utf8',
  });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('PEAK '));
  if (r.status !== 0 || !line) {
    console.log(`sgemm measurement failed: ${r.stderr || r.error}`);
    return null;
  }
  return JSON.parse(line.slice(5)) as { gflops: number[]; foreign: number[] };
}

async function peakOnly(spec: string, threads: number): Promise<void> {
  const [m, k, n] = spec.split(',').map(Number) as [number, number, number];
  const gflops: number[] = [];
  const foreign: number[] = [];
  for (let i = 0; i < 2; i++) {
    const x = await timed(() => measureSgemm(m, k, n, threads));
    gflops.push(x.value.gflops);
    foreign.push(x.foreign);
  }
  console.log(`PEAK ${JSON.stringify({ gflops, foreign })}`);
}

async function main(): Promise<void> {
  const seq = Number(args.seq);
  const batches = args.batch!.split(',').map(Number);
  const tokens = Number(args.tokens);
  const threads = args.threads ? Number(args.threads) : availableParallelism();
  for (const [name, v] of [['--seq', seq], ['--tokens', tokens], ['--threads', threads], ...batches.map((b) => ['--batch', b] as const)] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
  }
  if (args['peak-only']) return peakOnly(args.sgemm!, threads);
  const cpu = readCpuInfo();
  console.log(`lape record benchmark — ${new Date().toISOString()}`);
  console.log(`machine: ${cpu.model || 'unknown CPU'} (vendor ${cpu.vendor}, family ${cpu.family}, model ${cpu.modelNumber}), ` +
    `${availableParallelism()} cores, node ${process.version}, threads ${threads}`);
  console.log(`GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES ?? '(unset)'}`);

  // 0. Measured peak, before the recording (and again after it: the best counts).
  const sgemmRuns: { gflops: number[]; foreign: number[] }[] = [];
  if (!args['no-peak']) {
    const r = sgemmInChild(args.sgemm!, threads);
    if (r) sgemmRuns.push(r);
  }

  // 1. Checkpoint.
  const reuse = args.dir !== undefined && existsSync(join(args.dir, 'model.safetensors'));
  const dir = args.dir ?? mkdtempSync(join(tmpdir(), 'lape-bench-'));
  if (!reuse) {
    const t = performance.now();
    const w = writeSyntheticCheckpoint(dir, QWEN25_05B);
    console.log(`wrote ${w.tensors} f32 tensors, ${fmt(w.weightBytes / GiB, 2)} GiB to ${dir} in ${fmt((performance.now() - t) / 1000)} s ` +
      `(RSS ${fmt(rssNow() / MiB, 0)} MiB)`);
  } else {
    console.log(`reusing checkpoint ${dir}`);
  }

  try {
    // 2. Load + session creation.
    const rssStart = rssNow();
    const model = loadModel(dir, { threads, residency: args.residency as 'mapped' | 'folded' });
    const spec = model.spec;
    const weightBytes = model.checkpoint.weightBytes;
    const plan = { ffnStats: true };
    let t = performance.now();
    await model.run({ ids: [randomIds(8, spec.vocabSize, 7)] }, plan); // builds the session
    const createMs = performance.now() - t;
    const rssLoaded = rssNow();
    console.log(`session created in ${fmt(createMs / 1000, 2)} s; weights ${fmt(weightBytes / MiB, 0)} MiB ` +
      `(${model.checkpoint.parameterCount} params); RSS before load ${fmt(rssStart / MiB, 0)} MiB, after session ` +
      `${fmt(rssLoaded / MiB, 0)} MiB (${fmt(rssLoaded / weightBytes, 2)}× weights), peak so far ${fmt(rssPeak() / MiB, 0)} MiB`);

    // 3. FLOPs per token.
    const causal = recordFlopsPerToken(spec, (seq + 1) / 2);
    const full = recordFlopsPerToken(spec, seq);
    console.log(`model FLOPs/token (causal attention, keys = (T+1)/2): ${fmt(causal.total / 1e9, 4)} GFLOP`);
    console.log(`  = ${causal.formula}`);
    console.log(`executed FLOPs/token (graph computes full T×T scores): ${fmt(full.total / 1e9, 4)} GFLOP; ` +
      `norms, RoPE, softmax, SiLU and the statistics reductions (6·I·L FLOP/token) not counted`);

    // 4. Recording throughput.
    const results: { batch: number; bestTokS: number; meanTokS: number; runs: number; foreign: number; meanForeign: number }[] = [];
    let seed = 100;
    for (const B of batches) {
      const perRun = B * seq;
      const runs = Math.max(2, Math.ceil(tokens / perRun));
      const mk = () => ({ ids: Array.from({ length: B }, () => randomIds(seq, spec.vocabSize, seed++)) });
      let r = await model.run(mk(), plan); // warm-up at this shape
      const times: number[] = [];
      const foreign: number[] = [];
      for (let i = 0; i < runs; i++) {
        const batch = mk();
        const x = await timed(() => model.run(batch, plan));
        r = x.value;
        times.push(x.ms);
        foreign.push(x.foreign);
      }
      let pos = 0, finite = true;
      for (let j = 0; j < r.ffnCount!.length; j++) {
        pos += r.ffnCount![j]!;
        if (!Number.isFinite(r.ffnSum![j]!) || !Number.isFinite(r.ffnSumSq![j]!)) finite = false;
      }
      const best = Math.min(...times);
      const bestAt = times.indexOf(best);
      const total = times.reduce((a, b) => a + b, 0);
      const meanForeign = foreign.reduce((a, b) => a + b, 0) / foreign.length;
      const res = { batch: B, bestTokS: perRun / (best / 1000), meanTokS: (perRun * runs) / (total / 1000), runs, foreign: foreign[bestAt]!, meanForeign };
      results.push(res);
      console.log(`batch ${B}×${seq}: run times ${times.map((x) => fmt(x, 0)).join(' ')} ms; other processes used ` +
        `${foreign.map((x) => fmt(100 * x, 0)).join(' ')} % of the machine`);
      console.log(`batch ${B}×${seq}: ${runs} runs, best ${fmt(best, 0)} ms = ${fmt(res.bestTokS)} tok/s ` +
        `(${fmt((res.bestTokS * causal.total) / 1e9)} GFLOPS model, ${fmt((res.bestTokS * full.total) / 1e9)} executed); ` +
        `mean ${fmt(res.meanTokS)} tok/s; P(act>0) ${fmt(pos / (r.ffnCount!.length * perRun), 3)}, sums finite: ${finite}; ` +
        `peak RSS ${fmt(rssPeak() / MiB, 0)} MiB`);
    }
    const peakRss = rssPeak();
    await model.release();

    // 5. Peaks.
    const bestRes = results.reduce((a, b) => (b.bestTokS > a.bestTokS ? b : a));
    const achieved = (bestRes.bestTokS * causal.total) / 1e9;
    const fpc = args['flops-per-cycle'] ? { value: Number(args['flops-per-cycle']), why: '--flops-per-cycle' } : flopsPerCycle(cpu);
    const clock = args['clock-ghz'] ? Number(args['clock-ghz']) : measureClockGHz();
    const cores = Math.min(threads, availableParallelism());
    const theoretical = cores * fpc.value * clock;
    console.log(`clock: ${fmt(clock, 2)} GHz ${args['clock-ghz'] ? '(--clock-ghz)' : '(measured: dependent add chain)'}; ` +
      `/proc/cpuinfo says ${cpu.nominalMHz ?? '?'} MHz`);
    console.log(`theoretical fp32 peak = ${cores} cores × ${fpc.value} FLOP/cycle (${fpc.why}) × ${fmt(clock, 2)} GHz = ${fmt(theoretical)} GFLOPS`);
    let sgemm = NaN;
    if (!args['no-peak']) {
      const r = sgemmInChild(args.sgemm!, threads);
      if (r) sgemmRuns.push(r);
      const all = sgemmRuns.flatMap((x) => x.gflops.map((g, i) => ({ g, f: x.foreign[i]! })));
      if (all.length) {
        sgemm = Math.max(...all.map((x) => x.g));
        console.log(`ORT sgemm ${args.sgemm!.replace(/,/g, '×')} (transB), ${threads} threads, best of 30 runs, twice before and ` +
          `twice after the recording: ${all.map((x) => `${fmt(x.g)} (others ${fmt(100 * x.f, 0)} %)`).join(', ')} GFLOPS`);
      }
    }

    console.log('\n== summary ==');
    console.log(`recording (ffnStats), seq ${seq}, best batch ${bestRes.batch}: ${fmt(bestRes.bestTokS)} tok/s (best of ${bestRes.runs} runs; ` +
      `other processes used ${fmt(100 * bestRes.foreign, 0)} % of the machine during it), mean ${fmt(bestRes.meanTokS)} tok/s ` +
      `(other processes ${fmt(100 * bestRes.meanForeign, 0)} % on average)`);
    console.log(`achieved ${fmt(achieved)} GFLOPS (model FLOPs, causal) = ${fmt((100 * achieved) / theoretical)} % of theoretical ${fmt(theoretical)}` +
      (Number.isNaN(sgemm) ? '' : `, ${fmt((100 * achieved) / sgemm)} % of ORT sgemm ${fmt(sgemm)}`) + '  (target ≥ 60 %)');
    console.log(`RSS after session ${fmt(rssLoaded / MiB, 0)} MiB, peak ${fmt(peakRss / MiB, 0)} MiB; weights ${fmt(weightBytes / MiB, 0)} MiB; ` +
      `peak/weights ${fmt(peakRss / weightBytes, 2)}× (target ≤ 1.3×)`);
  } finally {
    if (!args['keep-dir'] && !reuse) rmSync(dir, { recursive: true, force: true });
    else console.log(`checkpoint kept at ${dir}`);
  }
}

await main();

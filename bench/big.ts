/**
 * Benchmark (not a test): a 7B model on this machine. Writes a LLaMA-2-7B-shaped random BF16
 * checkpoint (12.55 GiB, sharded like Hugging Face's: model-0000i-of-00003.safetensors + index)
 * and the Qwen2.5-0.5B shape (f32 and bf16) into a temporary folder, then, for each case (a model
 * and a weight type, each in its own child process so that its peak RSS means something), times
 * loading and two recording batches of 1 × 512 tokens ({ ffnStats: true }) and reports:
 * load time, marginal tok/s (the second batch), achieved GFLOPS (bench/flops.ts's recording
 * formula, causal attention) and its share of the measured ORT sgemm and of the theoretical peak,
 * peak RSS and the proportional set size (Pss: anonymous vs file-backed) against the file size.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/big.js [--dir PATH] [--keep] [--cases a,b,...]
 *     [--threads N] [--seq 512] [--no-peak]
 *
 * --dir: where the checkpoints go (default a new folder under os.tmpdir()); checkpoints already
 * there (written by an earlier --keep run) are reused and never deleted. --keep: keep what this
 * run wrote. int8/int4/w8a8 derive their weights into a cache: <dir>/cache unless LAPE_CACHE_DIR is
 * set (kept and removed with the checkpoints). Cases (default all): q05-f32, q05-f32-folded,
 * q05-bf16, q05-bf16-f32, q05-int8, q05-int4, q05-w8a8, 7b-bf16, 7b-int8, 7b-int4, 7b-w8a8; those with a weight type
 * this build's loadModel does not accept are skipped with a message. A case whose checkpoint
 * (or derived cache) would not fit on the disk is skipped with a message.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadModel, type LoadOptions } from '../src/runtime/model.js';
import { LLAMA2_7B, QWEN25_05B, syntheticCheckpointBytes, writeSyntheticCheckpoint, type SyntheticShape } from './synthetic-checkpoint.js';
import { flopsPerCycle, measureClockGHz, readCpuInfo } from './peak.js';
import { randomIds, recordFlopsPerToken, timed } from './flops.js';

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    cases: { type: 'string' },
    threads: { type: 'string' },
    seq: { type: 'string', default: '512' },
    'no-peak': { type: 'boolean', default: false },
    child: { type: 'string' },
  },
});

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const fmt = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '—');
const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const COMPLETE = '.lape-bench-complete';

type WeightsOpt = 'stored' | 'f32' | 'bf16' | 'int8' | 'int4' | 'w8a8';

interface CheckpointKind {
  key: string;
  shape: SyntheticShape;
  dtype: 'F32' | 'BF16';
  label: string;
}
const CHECKPOINTS: Record<string, CheckpointKind> = {
  'q05-f32': { key: 'qwen2.5-0.5b-f32', shape: QWEN25_05B, dtype: 'F32', label: 'Qwen2.5-0.5B shape, f32' },
  'q05-bf16': { key: 'qwen2.5-0.5b-bf16', shape: QWEN25_05B, dtype: 'BF16', label: 'Qwen2.5-0.5B shape, bf16' },
  '7b-bf16': { key: 'llama2-7b-bf16', shape: LLAMA2_7B, dtype: 'BF16', label: 'LLaMA-2-7B shape, bf16, 3 shards' },
};

interface Case {
  name: string;
  checkpoint: keyof typeof CHECKPOINTS;
  weights: WeightsOpt;
  residency: 'mapped' | 'folded';
  /** Derived-cache bytes per parameter (int8/int4/f32 derive a file), for the disk check. */
  cachePerParam: number;
}
const CASES: Case[] = [
  { name: 'q05-f32', checkpoint: 'q05-f32', weights: 'stored', residency: 'mapped', cachePerParam: 0 },
  { name: 'q05-f32-folded', checkpoint: 'q05-f32', weights: 'stored', residency: 'folded', cachePerParam: 0 },
  { name: 'q05-bf16', checkpoint: 'q05-bf16', weights: 'stored', residency: 'mapped', cachePerParam: 0 },
  { name: 'q05-bf16-f32', checkpoint: 'q05-bf16', weights: 'f32', residency: 'folded', cachePerParam: 4 },
  { name: 'q05-int8', checkpoint: 'q05-bf16', weights: 'int8', residency: 'mapped', cachePerParam: 1.1 },
  { name: 'q05-int4', checkpoint: 'q05-bf16', weights: 'int4', residency: 'mapped', cachePerParam: 0.7 },
  { name: 'q05-w8a8', checkpoint: 'q05-bf16', weights: 'w8a8', residency: 'mapped', cachePerParam: 1.1 },
  { name: '7b-bf16', checkpoint: '7b-bf16', weights: 'stored', residency: 'mapped', cachePerParam: 0 },
  { name: '7b-int8', checkpoint: '7b-bf16', weights: 'int8', residency: 'mapped', cachePerParam: 1.1 },
  { name: '7b-int4', checkpoint: '7b-bf16', weights: 'int4', residency: 'mapped', cachePerParam: 0.7 },
  { name: '7b-w8a8', checkpoint: '7b-bf16', weights: 'w8a8', residency: 'mapped', cachePerParam: 1.1 },
];

/**
 * The weight types this build's loadModel accepts, from its declaration file
 * (dist/src/runtime/model.d.ts, written by tsc from LoadOptions): 'stored' always.
 */
function acceptedWeightTypes(): Set<WeightsOpt> {
  const ok = new Set<WeightsOpt>(['stored']);
  let dts = '';
  try {
    dts = readFileSync(join(here, '../src/runtime/model.d.ts'), 'utf8');
  } catch {
    return ok;
  }
  const block = /interface LoadOptions\s*\{([\s\S]*?)\n\}/.exec(dts)?.[1] ?? '';
  const decl = /\bweights\?\s*:\s*([^;]+);/.exec(block)?.[1];
  if (!decl) return ok;
  let types = decl;
  if (!/'/.test(decl)) {
    // A named type (e.g. WeightType): look for its union in the declaration files of src.
    const name = decl.trim();
    for (const f of findDts(join(here, '../src'))) {
      const m = new RegExp(`type ${name}\\s*=\\s*([^;]+);`).exec(readFileSync(f, 'utf8'));
      if (m) {
        types = m[1]!;
        break;
      }
    }
  }
  for (const t of ['f32', 'bf16', 'int8', 'int4', 'w8a8'] as const) if (types.includes(`'${t}'`) || types.includes(`"${t}"`)) ok.add(t);
  return ok;
}
function findDts(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...findDts(join(dir, e.name)));
    else if (e.name.endsWith('.d.ts')) out.push(join(dir, e.name));
  }
  return out;
}

/** `key: N kB` lines of a /proc file, in bytes. */
function procKb(path: string): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const m of readFileSync(path, 'utf8').matchAll(/^(\w+):\s+(\d+) kB$/gm)) out[m[1]!] = Number(m[2]) * 1024;
  } catch {
    /* not Linux */
  }
  return out;
}

interface ChildArgs {
  name: string;
  dir: string;
  weights: WeightsOpt;
  residency: 'mapped' | 'folded';
  threads: number;
  seq: number;
}

interface BatchTiming {
  ms: number;
  foreign: number;
}

interface ChildResult {
  name: string;
  loadMs: number;
  progress: { atMs: number; message: string }[];
  batches: BatchTiming[];
  /** First batch minus session creation (when the session was built inside it). */
  firstComputeMs: number;
  gflopPerToken: number;
  gflopPerTokenExecuted: number;
  maxRss: number;
  /**
   * Largest RssAnon / RssFile / VmRSS of the child seen by the parent's 100 ms sampler of
   * /proc/<pid>/status (ORT's run blocks the child's event loop, so the child cannot sample itself).
   */
  sampled: { rssAnon: number; rssFile: number; rss: number; samples: number };
  end: { rss: number; pss: number; pssAnon: number; pssFile: number; anonymous: number; rssAnon: number; rssFile: number };
  fileBytes: number;
  weightBytes: number;
  parameterCount: number;
  activeShare: number;
  finite: boolean;
}

function checkpointFileBytes(dir: string): number {
  return readdirSync(dir).filter((f) => f.endsWith('.safetensors')).reduce((a, f) => a + statSync(join(dir, f)).size, 0);
}

async function child(a: ChildArgs): Promise<void> {
  const progress: { atMs: number; message: string }[] = [];
  const t0 = performance.now();
  let readyAt = NaN;
  const opts: Record<string, unknown> = {
    threads: a.threads,
    residency: a.residency,
    onProgress: (message: string) => {
      const atMs = performance.now() - t0;
      progress.push({ atMs, message });
      if (/session ready/.test(message)) readyAt = atMs;
      console.log(`  [${a.name} ${fmt(atMs / 1000)} s] ${message}`);
    },
  };
  if (a.weights !== 'stored') opts.weights = a.weights;
  const model = loadModel(a.dir, opts as LoadOptions);
  const spec = model.spec;
  const plan = { ffnStats: true };
  const batches: BatchTiming[] = [];
  let active = 0, finite = true;
  let batch1End = NaN;
  for (let i = 0; i < 2; i++) {
    const ids = { ids: [randomIds(a.seq, spec.vocabSize, 100 + i)] };
    const x = await timed(() => model.run(ids, plan));
    if (i === 0) batch1End = performance.now() - t0;
    batches.push({ ms: x.ms, foreign: x.foreign });
    console.log(`  [${a.name} ${fmt((performance.now() - t0) / 1000)} s] batch ${i + 1}: ${fmt(x.ms / 1000, 2)} s ` +
      `(other processes used ${fmt(100 * x.foreign, 0)} % of the machine); RSS ${fmt(process.memoryUsage().rss / GiB, 2)} GiB`);
    const r = x.value;
    active = 0;
    for (let j = 0; j < r.ffnCount!.length; j++) {
      active += r.ffnCount![j]!;
      if (!Number.isFinite(r.ffnSum![j]!) || !Number.isFinite(r.ffnSumSq![j]!)) finite = false;
    }
    active /= r.ffnCount!.length * a.seq;
  }
  const roll = procKb('/proc/self/smaps_rollup');
  const status = procKb('/proc/self/status');
  const res: ChildResult = {
    name: a.name,
    loadMs: readyAt,
    progress,
    batches,
    firstComputeMs: batch1End - readyAt,
    gflopPerToken: recordFlopsPerToken(spec, (a.seq + 1) / 2).total / 1e9,
    gflopPerTokenExecuted: recordFlopsPerToken(spec, a.seq).total / 1e9,
    maxRss: process.resourceUsage().maxRSS * 1024,
    sampled: { rssAnon: NaN, rssFile: NaN, rss: NaN, samples: 0 }, // filled in by the parent
    end: {
      rss: roll.Rss ?? NaN, pss: roll.Pss ?? NaN, pssAnon: roll.Pss_Anon ?? NaN, pssFile: roll.Pss_File ?? NaN,
      anonymous: roll.Anonymous ?? NaN, rssAnon: status.RssAnon ?? NaN, rssFile: status.RssFile ?? NaN,
    },
    fileBytes: checkpointFileBytes(a.dir),
    weightBytes: model.checkpoint.weightBytes,
    parameterCount: model.checkpoint.parameterCount,
    activeShare: active,
    finite,
  };
  await model.release();
  console.log(`RESULT ${JSON.stringify(res)}`);
}

function runChild(a: ChildArgs, env: NodeJS.ProcessEnv): Promise<{ result: ChildResult | null; error: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify(a)], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let result: ChildResult | null = null;
    const sampled = { rssAnon: 0, rssFile: 0, rss: 0, samples: 0 };
    const timer = setInterval(() => {
      const st = procKb(`/proc/${p.pid}/status`);
      if (st.VmRSS === undefined) return;
      sampled.rssAnon = Math.max(sampled.rssAnon, st.RssAnon ?? 0);
      sampled.rssFile = Math.max(sampled.rssFile, st.RssFile ?? 0);
      sampled.rss = Math.max(sampled.rss, st.VmRSS);
      sampled.samples++;
    }, 100);
    let buf = '';
    let err = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('RESULT ')) result = JSON.parse(line.slice(7)) as ChildResult;
        else console.log(line);
      }
    });
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => {
      err += d;
      process.stderr.write(d);
    });
    p.on('close', (code, signal) => {
      clearInterval(timer);
      if (result) (result as ChildResult).sampled = sampled;
      resolve({ result, error: result ? '' : `child exited ${signal ?? code}: ${err.trim().split('\n').slice(-3).join(' | ')}` });
    });
  });
}

/** The ORT sgemm (bench/peak.ts) in a child: record.js --peak-only, best of 2 × 30 runs. */
function sgemmInChild(spec: string, threads: number): { gflops: number; foreign: number } | null {
  const r = spawnSync(process.execPath, [join(here, 'record.js'), '--peak-only', '--sgemm', spec, '--threads', String(threads)], { encoding: 'utf8' });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('PEAK '));
  if (r.status !== 0 || !line) {
    console.log(`sgemm ${spec} failed: ${r.stderr || r.error}`);
    return null;
  }
  const j = JSON.parse(line.slice(5)) as { gflops: number[]; foreign: number[] };
  const i = j.gflops.indexOf(Math.max(...j.gflops));
  return { gflops: j.gflops[i]!, foreign: j.foreign[i]! };
}

const freeDisk = (dir: string): number => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

async function main(): Promise<void> {
  if (args.child) return child(JSON.parse(args.child) as ChildArgs);
  const threads = args.threads ? Number(args.threads) : availableParallelism();
  const seq = Number(args.seq);
  for (const [n, v] of [['--threads', threads], ['--seq', seq]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${n} must be a positive integer, got ${v}`);
  }
  const wanted = args.cases ? args.cases.split(',').map((s) => s.trim()) : CASES.map((c) => c.name);
  for (const w of wanted) if (!CASES.some((c) => c.name === w)) throw new Error(`unknown case ${w}; cases: ${CASES.map((c) => c.name).join(', ')}`);
  const cases = CASES.filter((c) => wanted.includes(c.name));

  const cpu = readCpuInfo();
  console.log(`lape big-model benchmark — ${new Date().toISOString()}`);
  console.log(`machine: ${cpu.model || 'unknown CPU'} (vendor ${cpu.vendor}, family ${cpu.family}, model ${cpu.modelNumber}), ` +
    `${availableParallelism()} cores, ${fmt(totalmem() / GiB)} GiB RAM, node ${process.version}, threads ${threads}, batch 1 × ${seq}`);
  const clock = measureClockGHz();
  const fpc = flopsPerCycle(cpu);
  const theoretical = Math.min(threads, availableParallelism()) * fpc.value * clock;
  console.log(`clock ${fmt(clock, 2)} GHz (measured; /proc/cpuinfo says ${cpu.nominalMHz ?? '?'} MHz); theoretical fp32 peak ` +
    `${Math.min(threads, availableParallelism())} × ${fpc.value} FLOP/cycle (${fpc.why}) × ${fmt(clock, 2)} GHz = ${fmt(theoretical)} GFLOPS`);
  const sgemmShapes = ['2048,896,4864', '512,4096,11008'];
  const sgemm: Record<string, { gflops: number; foreign: number } | null> = {};
  if (!args['no-peak']) {
    for (const s of sgemmShapes) {
      sgemm[s] = sgemmInChild(s, threads);
      if (sgemm[s]) console.log(`ORT sgemm ${s.replace(/,/g, '×')} (transB), ${threads} threads, best of 2 × 30: ${fmt(sgemm[s]!.gflops)} GFLOPS ` +
        `(other processes ${fmt(100 * sgemm[s]!.foreign, 0)} %)`);
    }
  }
  const peak = sgemm[sgemmShapes[0]!]?.gflops ?? NaN;

  const accepted = acceptedWeightTypes();
  console.log(`weight types this build's loadModel accepts: ${[...accepted].join(', ')}`);

  const baseGiven = args.dir !== undefined;
  const base = args.dir ?? mkdtempSync(join(tmpdir(), 'lape-big-'));
  const baseExisted = baseGiven && existsSync(base);
  mkdirSync(base, { recursive: true });
  const cacheDir = process.env.LAPE_CACHE_DIR ?? join(base, 'cache');
  const cacheExisted = existsSync(cacheDir);
  const env = { ...process.env, LAPE_CACHE_DIR: cacheDir };
  console.log(`checkpoints under ${base}; derived weights cache ${cacheDir}`);

  const written: string[] = [];
  const ready = new Map<string, { dir: string; fileBytes: number } | string>(); // string = why not
  const ensure = (k: keyof typeof CHECKPOINTS): { dir: string; fileBytes: number } | string => {
    const have = ready.get(k);
    if (have !== undefined) return have;
    const ck = CHECKPOINTS[k]!;
    const dir = join(base, ck.key);
    let r: { dir: string; fileBytes: number } | string;
    if (existsSync(join(dir, COMPLETE))) {
      r = { dir, fileBytes: checkpointFileBytes(dir) };
      console.log(`reusing ${ck.label}: ${dir} (${fmt(r.fileBytes / GiB, 2)} GiB)`);
    } else {
      const bytes = syntheticCheckpointBytes(ck.shape, ck.dtype);
      const free = freeDisk(base);
      if (free < bytes + GiB) {
        r = `skipped: ${ck.label} needs ${fmt(bytes / GiB, 2)} GiB (+1 GiB margin) of disk, ${base} has ${fmt(free / GiB, 2)} GiB free`;
        console.log(r);
      } else {
        rmSync(dir, { recursive: true, force: true });
        written.push(dir);
        const t = performance.now();
        let nextPct = 10;
        const w = writeSyntheticCheckpoint(dir, ck.shape, {
          dtype: ck.dtype,
          onProgress: (done, total) => {
            if ((100 * done) / total >= nextPct) {
              console.log(`  writing ${ck.key}: ${nextPct} % (${fmt((performance.now() - t) / 1000)} s)`);
              nextPct += 10;
            }
          },
        });
        writeFileSync(join(dir, COMPLETE), JSON.stringify({ ...w, shape: ck.shape, dtype: ck.dtype }) + '\n');
        r = { dir, fileBytes: w.fileBytes };
        console.log(`wrote ${ck.label}: ${w.tensors} tensors in ${w.files.length} file(s), ${fmt(w.fileBytes / GiB, 2)} GiB, ` +
          `in ${fmt((performance.now() - t) / 1000)} s to ${dir}`);
      }
    }
    ready.set(k, r);
    return r;
  };

  const results: ChildResult[] = [];
  const skipped: { name: string; why: string }[] = [];
  try {
    for (const c of cases) {
      if (!accepted.has(c.weights)) {
        const why = `skipped: --weights ${c.weights} not available in this build`;
        console.log(`${c.name}: ${why}`);
        skipped.push({ name: c.name, why });
        continue;
      }
      const ck = ensure(c.checkpoint);
      if (typeof ck === 'string') {
        skipped.push({ name: c.name, why: ck });
        continue;
      }
      if (c.cachePerParam > 0) {
        const params = syntheticCheckpointBytes(CHECKPOINTS[c.checkpoint]!.shape, 'F32') / 4;
        mkdirSync(cacheDir, { recursive: true });
        const need = params * c.cachePerParam;
        const free = freeDisk(cacheDir);
        const cached = existsSync(join(cacheDir, 'weights')) && readdirSync(join(cacheDir, 'weights')).some((f) => f.endsWith(`-${c.weights}`));
        if (!cached && free < need + GiB) {
          const why = `skipped: --weights ${c.weights} derives ≈ ${fmt(need / GiB, 2)} GiB into ${cacheDir}, which has ${fmt(free / GiB, 2)} GiB free`;
          console.log(`${c.name}: ${why}`);
          skipped.push({ name: c.name, why });
          continue;
        }
      }
      console.log(`\n== ${c.name}: ${CHECKPOINTS[c.checkpoint]!.label}, weights ${c.weights}, residency ${c.residency} ==`);
      const { result, error } = await runChild({ name: c.name, dir: ck.dir, weights: c.weights, residency: c.residency, threads, seq }, env);
      if (!result) {
        console.log(`${c.name}: failed: ${error}`);
        skipped.push({ name: c.name, why: `failed: ${error}` });
        continue;
      }
      results.push(result);
    }
  } finally {
    if (!args.keep) {
      for (const d of written) rmSync(d, { recursive: true, force: true });
      if (!process.env.LAPE_CACHE_DIR && !cacheExisted) rmSync(cacheDir, { recursive: true, force: true });
      if (!baseExisted) {
        try {
          if (readdirSync(base).length === 0) rmSync(base, { recursive: true, force: true });
        } catch {
          /* gone */
        }
      }
      if (written.length) console.log(`removed the checkpoints written by this run (--keep keeps them)`);
    } else {
      console.log(`checkpoints kept under ${base}`);
    }
  }

  // Table.
  const row = (r: ChildResult) => {
    const b2 = r.batches[1]!;
    const tokS = seq / (b2.ms / 1000);
    const gflops = tokS * r.gflopPerToken;
    return { r, tokS, gflops, b2 };
  };
  const rows = results.map(row);
  console.log('\n== summary ==');
  console.log(`sgemm peak ${fmt(peak)} GFLOPS (2048×896×4864), ${fmt(sgemm[sgemmShapes[1]!]?.gflops ?? NaN)} (512×4096×11008); ` +
    `theoretical ${fmt(theoretical)}; GFLOPS = marginal tok/s × model FLOPs/token (causal attention)`);
  const header = ['case', 'load s', 'batch 1 s', 'batch 2 s', 'tok/s', 'GFLOPS', '% sgemm', '% theor.', 'peak RSS GiB', 'RSS/file', 'Pss GiB', 'Pss/file', 'Pss anon / file GiB', 'file GiB', 'others %'];
  const lines = rows.map(({ r, tokS, gflops, b2 }) => [
    r.name, fmt(r.loadMs / 1000, 1), fmt(r.batches[0]!.ms / 1000, 2), fmt(b2.ms / 1000, 2), fmt(tokS, 1), fmt(gflops, 1),
    fmt((100 * gflops) / peak, 1), fmt((100 * gflops) / theoretical, 1), fmt(r.maxRss / GiB, 2), fmt(r.maxRss / r.fileBytes, 2) + '×',
    fmt(r.end.pss / GiB, 2), fmt(r.end.pss / r.fileBytes, 2) + '×', `${fmt(r.end.pssAnon / GiB, 2)} / ${fmt(r.end.pssFile / GiB, 2)}`,
    fmt(r.fileBytes / GiB, 2), `${fmt(100 * r.batches[0]!.foreign, 0)}/${fmt(100 * b2.foreign, 0)}`,
  ]);
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const l of lines) console.log(`| ${l.join(' | ')} |`);
  for (const s of skipped) console.log(`${s.name}: ${s.why}`);
  for (const { r } of rows) {
    console.log(`${r.name}: load = loadModel → session ready: ${r.progress.filter((p) => !/^writing /.test(p.message)).map((p) => `${fmt(p.atMs / 1000)} s ${p.message}`).join('; ')}; ` +
      `first batch compute ${fmt(r.firstComputeMs / 1000, 2)} s; sampled every 100 ms: max VmRSS ${fmt(r.sampled.rss / GiB, 2)} GiB, RssAnon ${fmt(r.sampled.rssAnon / GiB, 2)} GiB, RssFile ` +
      `${fmt(r.sampled.rssFile / GiB, 2)} GiB (${r.sampled.samples} samples); at the end RssAnon ${fmt(r.end.rssAnon / GiB, 2)}, RssFile ` +
      `${fmt(r.end.rssFile / GiB, 2)} GiB; P(act>0) ${fmt(r.activeShare, 3)}, sums finite ${r.finite}; ` +
      `${fmt(r.gflopPerToken, 4)} GFLOP/token model (${fmt(r.gflopPerTokenExecuted, 4)} executed)`);
  }

  // Targets.
  const get = (n: string) => rows.find((x) => x.r.name === n);
  const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  const targets: Record<string, unknown> = {};
  const b7 = get('7b-bf16');
  const f32Ref = [get('q05-f32'), get('q05-f32-folded')].filter((x) => x !== undefined);
  if (b7) {
    const rssRatio = b7.r.maxRss / b7.r.fileBytes;
    console.log(`target 7B bf16 peak RSS ≤ 1.25 × file: ${fmt(rssRatio, 2)}× — ${verdict(rssRatio <= 1.25)}`);
    targets.bf16Rss = { ratio: rssRatio, met: rssRatio <= 1.25 };
    console.log(`target 7B bf16 load ≤ 120 s: ${fmt(b7.r.loadMs / 1000, 1)} s — ${verdict(b7.r.loadMs <= 120_000)}`);
    targets.bf16Load = { s: b7.r.loadMs / 1000, met: b7.r.loadMs <= 120_000 };
    for (const ref of f32Ref) {
      const q = b7.gflops / ref.gflops;
      console.log(`target 7B bf16 GFLOPS ≥ 85 % of ${ref.r.name}'s: ${fmt(b7.gflops)} / ${fmt(ref.gflops)} = ${fmt(100 * q)} % — ${verdict(q >= 0.85)}`);
      targets[`bf16VsF32.${ref.r.name}`] = { ratio: q, met: q >= 0.85 };
    }
  }
  // The int8 targets are the issue's; both int8 paths are judged by them (w8a8 also quantises activations per token).
  const int8ish = (n: string): boolean => n === '7b-int8' || n === '7b-w8a8';
  for (const n of ['7b-int8', '7b-int4', '7b-w8a8']) {
    const x = get(n);
    if (!x) continue;
    const bf16File = b7?.r.fileBytes ?? x.r.fileBytes;
    const rssRatio = x.r.maxRss / bf16File;
    const lim = int8ish(n) ? 0.7 : NaN;
    console.log(`${n} peak RSS / bf16 file: ${fmt(rssRatio, 2)}×${Number.isNaN(lim) ? '' : ` (target ≤ ${lim}×) — ${verdict(rssRatio <= lim)}`}`);
    targets[`${n}.rss`] = { ratio: rssRatio, met: Number.isNaN(lim) ? null : rssRatio <= lim };
    if (b7) {
      const q = x.tokS / b7.tokS;
      console.log(`${n} throughput / 7B bf16: ${fmt(q, 2)}×${int8ish(n) ? ` (target ≥ 1.5×) — ${verdict(q >= 1.5)}` : ''}`);
      targets[`${n}.speed`] = { ratio: q, met: int8ish(n) ? q >= 1.5 : null };
    }
  }

  console.log(`BIG ${JSON.stringify({
    date: new Date().toISOString(), cpu: cpu.model, family: cpu.family, model: cpu.modelNumber, cores: availableParallelism(), threads, seq,
    clockGHz: clock, theoretical, sgemm, base, kept: args.keep,
    cases: rows.map(({ r, tokS, gflops }) => ({
      name: r.name, loadS: r.loadMs / 1000, batchS: r.batches.map((b) => b.ms / 1000), foreign: r.batches.map((b) => b.foreign), tokS, gflops,
      pctSgemm: (100 * gflops) / peak, pctTheoretical: (100 * gflops) / theoretical, maxRss: r.maxRss, fileBytes: r.fileBytes,
      rssPerFile: r.maxRss / r.fileBytes, pss: r.end.pss, pssAnon: r.end.pssAnon, pssFile: r.end.pssFile, pssPerFile: r.end.pss / r.fileBytes,
      sampledRssAnon: r.sampled.rssAnon, sampledRssFile: r.sampled.rssFile,
    })),
    skipped, targets,
  })}`);
}

await main();

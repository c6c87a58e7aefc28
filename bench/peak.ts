/**
 * This machine's fp32 peak, two ways:
 *  - theoretical: cores × FLOP/cycle × clock. The clock is *measured* with a chain of dependent
 *    integer adds (one cycle each on every x86 core of the last decade), because under KVM
 *    /proc/cpuinfo reports the nominal TSC rate (2.6 GHz here) while the cores run at ≈ 3.6 GHz.
 *    FLOP/cycle comes from the CPU model (see flopsPerCycle); override with --flops-per-cycle.
 *  - measured: an ORT sgemm (one Gemm graph built with our GraphBuilder, transB = 1 like the
 *    decoder) at the same thread count, best of several runs.
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { ElemType, GraphBuilder } from '../src/graph/onnx-builder.js';

/** Chain of dependent 32-bit adds; ~1 add per cycle. `y` comes from the caller so V8 cannot fold. */
function addChain(n: number, y: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) {
    x = (x + y) | 0; x = (x + y) | 0; x = (x + y) | 0; x = (x + y) | 0;
    x = (x + y) | 0; x = (x + y) | 0; x = (x + y) | 0; x = (x ^ y) | 0;
    x = (x + y) | 0; x = (x + y) | 0; x = (x + y) | 0; x = (x + y) | 0;
    x = (x + y) | 0; x = (x + y) | 0; x = (x + y) | 0; x = (x + y) | 0;
  }
  return x;
}

/**
 * Core clock in GHz: best of `reps` short (~10 ms) timings of a dependent add chain, short so that
 * on a shared machine some of them run without being preempted.
 */
export function measureClockGHz(reps = 100): number {
  const y = 1 + (Date.now() & 1);
  addChain(1e6, y); // tier up
  let best = 0;
  for (let r = 0; r < reps; r++) {
    const n = 2e6;
    const t = process.hrtime.bigint();
    addChain(n, y);
    const ns = Number(process.hrtime.bigint() - t);
    best = Math.max(best, (16 * n) / ns);
  }
  return best;
}

export interface CpuInfo {
  model: string;
  vendor: string;
  family: number;
  modelNumber: number;
  nominalMHz: number | null;
  avx512: boolean;
  fma: boolean;
}

export function readCpuInfo(): CpuInfo {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    /* not Linux */
  }
  const field = (k: string): string => new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  const flags = new Set(field('flags').split(/\s+/));
  const mhz = Number(field('cpu MHz'));
  return {
    model: field('model name'),
    vendor: field('vendor_id'),
    family: Number(field('cpu family')) || 0,
    modelNumber: Number(field('model')) || 0,
    nominalMHz: Number.isFinite(mhz) && mhz > 0 ? mhz : null,
    avx512: flags.has('avx512f'),
    fma: flags.has('fma'),
  };
}

/**
 * fp32 FLOP per cycle per core (FMA = 2 FLOP): AMD family 0x19 (Zen 3/4) has two 256-bit FMA
 * pipes (Zen 4 runs AVX-512 double-pumped) = 32; family 0x1A (Zen 5) two 512-bit = 64; Intel with
 * AVX-512 assumed two 512-bit FMA ports = 64; AVX2+FMA = 32. On this machine (family 25, model 17 =
 * Zen 4 Genoa) a C loop of 12 independent zmm FMAs ran at 115 GFLOPS on one core at 3.6 GHz,
 * i.e. 32 FLOP/cycle, and the same loop on ymm gave the same.
 */
export function flopsPerCycle(cpu: CpuInfo): { value: number; why: string } {
  if (cpu.vendor === 'AuthenticAMD' && cpu.family === 0x19) return { value: 32, why: 'AMD Zen 3/4 (family 0x19): 2×256-bit FMA pipes' };
  if (cpu.vendor === 'AuthenticAMD' && cpu.family >= 0x1a) return { value: 64, why: 'AMD Zen 5 (family 0x1A): 2×512-bit FMA pipes' };
  if (cpu.avx512) return { value: 64, why: 'AVX-512, assuming 2×512-bit FMA ports' };
  if (cpu.fma) return { value: 32, why: 'AVX2 + FMA: 2×256-bit FMA ports' };
  return { value: 8, why: 'no FMA: SSE, 4-wide mul + add' };
}

export interface SgemmResult {
  m: number;
  k: number;
  n: number;
  threads: number;
  bestMs: number;
  gflops: number;
}

/**
 * Y = A · Wᵀ (Gemm transB = 1, W as [n, k] like HF weights) on ORT. Only Y's first row leaves the
 * graph (Slice), so the timing is the Gemm in ORT's reused arena, not the copy of a 40 MB output.
 */
export async function measureSgemm(m: number, k: number, n: number, threads: number, reps = 30): Promise<SgemmResult> {
  const g = new GraphBuilder();
  const a = g.input('a', ElemType.FLOAT, [m, k]);
  const wData = new Float32Array(n * k);
  let s = 12345;
  for (let i = 0; i < wData.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) | 0;
    wData[i] = (s >>> 8) / (1 << 24) - 0.5;
  }
  const w = g.raw('w', ElemType.FLOAT, [n, k], new Uint8Array(wData.buffer));
  const y = g.op('Gemm', [a, w], { transB: 1 });
  g.op('Slice', [y, g.i64([0]), g.i64([1])], {}, 'y0');
  g.output('y0', ElemType.FLOAT, [1, n]);
  const session = await ort.InferenceSession.create(g.build('sgemm'), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  try {
    const x = new ort.Tensor('float32', new Float32Array(m * k).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5), [m, k]);
    for (let i = 0; i < 3; i++) await session.run({ a: x });
    let best = Infinity;
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      await session.run({ a: x });
      best = Math.min(best, performance.now() - t);
    }
    return { m, k, n, threads, bestMs: best, gflops: (2 * m * k * n) / best / 1e6 };
  } finally {
    await session.release();
  }
}

/**
 * Shared by the benchmarks: the FLOP count of a recording pass, and timings that note how much of
 * the machine other processes used meanwhile (the project machine is shared).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { ModelSpec } from '../src/archs/model-spec.js';

/**
 * FLOPs per token of a recording pass ({ ffnStats: true }: every layer up to the last FFN's
 * activation, no down projection in the last layer, no final norm or LM head), 1 FMA = 2 FLOP.
 * `keysPerQuery` = (T+1)/2 for causal attention (work a causal kernel needs: the model FLOPs we
 * report against the peak) or T (what our graph executes: full T×T scores, masked by the bias).
 */
export function recordFlopsPerToken(s: ModelSpec, keysPerQuery: number): { total: number; formula: string } {
  const H = s.hiddenSize, I = s.intermediateSize, L = s.numLayers, hd = s.headDim;
  const qkvo = 2 * H * (s.numHeads * hd) + 2 * 2 * H * (s.numKvHeads * hd) + 2 * (s.numHeads * hd) * H;
  const ffn = 3 * 2 * H * I;
  const attn = 4 * hd * s.numHeads * keysPerQuery;
  const total = L * (qkvo + ffn + attn) - 2 * I * H;
  const formula =
    `L·[2H(nH·hd) + 4H(nKV·hd) + 2(nH·hd)H + 6HI + 4·hd·nH·keys] − 2IH` +
    ` with L=${L} H=${H} I=${I} nH=${s.numHeads} nKV=${s.numKvHeads} hd=${hd} keys=${keysPerQuery}`;
  return { total, formula };
}

/** Busy and total CPU ticks of the whole machine (/proc/stat), to see what else ran during a timing. */
export function machineTicks(): { busy: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3]! + (f[4] ?? 0);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}
export const TICK_S = 0.01; // USER_HZ = 100 on Linux

/** Times one call; `foreign` = share of the machine's cores busy with other processes meanwhile. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; foreign: number; value: T }> {
  const m0 = machineTicks();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  const c1 = process.cpuUsage(c0);
  const m1 = machineTicks();
  let foreign = NaN;
  if (m0 && m1) {
    const busyS = (m1.busy - m0.busy) * TICK_S;
    const ownS = (c1.user + c1.system) / 1e6;
    foreign = Math.max(0, busyS - ownS) / ((ms / 1000) * availableParallelism());
  }
  return { ms, foreign, value };
}

/** Seeded xorshift token ids in [0, vocab): the benchmarks' inputs. */
export function randomIds(n: number, vocab: number, seed: number): number[] {
  let s = seed | 0 || 1;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    out[i] = (s >>> 0) % vocab;
  }
  return out;
}

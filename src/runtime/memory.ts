/**
 * Will it fit? Memory available to this process (the smallest of MemAvailable, the cgroup limit
 * and the address-space limit), the memory a session of a model needs, and the error that says so
 * before ONNX Runtime fails with a raw allocator error or the kernel kills the process.
 */
import { readFileSync } from 'node:fs';
import type { ModelSpec } from '../archs/model-spec.js';
import { LapeError } from '../errors.js';
import type { HookPlan } from '../graph/hook-plan.js';
import { planNeedsHead } from '../graph/hook-plan.js';

const GiB = 2 ** 30;
export const gib = (b: number): string => `${(b / GiB).toFixed(2)} GiB`;

export interface MemoryLimits {
  /** Bytes this process can still use for new anonymous memory and resident file pages. */
  physical: number;
  /** Bytes of address space still free under RLIMIT_AS (Infinity when unlimited). */
  addressSpace: number;
  /** Where the figures come from, for messages. */
  describe: string;
}

function readOr(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function kib(text: string | null, key: string): number | null {
  const m = text && new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

/**
 * What this process may still allocate. LAPE_MEMORY_LIMIT (bytes, or with a GiB/MiB suffix)
 * replaces the physical figure: a way to keep lape under a budget, and how the tests fake a
 * small machine.
 */
export function memoryLimits(): MemoryLimits {
  const parts: string[] = [];
  let physical = Infinity;
  const available = kib(readOr('/proc/meminfo'), 'MemAvailable');
  if (available !== null) {
    physical = available;
    parts.push(`MemAvailable ${gib(available)}`);
  }
  // cgroup v2, then v1.
  const max = readOr('/sys/fs/cgroup/memory.max')?.trim() ?? readOr('/sys/fs/cgroup/memory/memory.limit_in_bytes')?.trim();
  const current = readOr('/sys/fs/cgroup/memory.current')?.trim() ?? readOr('/sys/fs/cgroup/memory/memory.usage_in_bytes')?.trim();
  if (max && max !== 'max' && Number(max) < 2 ** 60 && current) {
    const free = Number(max) - Number(current);
    parts.push(`cgroup limit ${gib(Number(max))}, ${gib(free)} free`);
    physical = Math.min(physical, free);
  }
  const override = process.env.LAPE_MEMORY_LIMIT;
  if (override) {
    const m = /^(\d+(?:\.\d+)?)\s*(GiB|MiB|)$/i.exec(override.trim());
    if (!m) throw new LapeError(`LAPE_MEMORY_LIMIT must be bytes or a number with GiB/MiB, got "${override}"`);
    const bytes = Number(m[1]) * (m[2]?.toLowerCase() === 'gib' ? GiB : m[2]?.toLowerCase() === 'mib' ? 2 ** 20 : 1);
    physical = bytes;
    parts.splice(0, parts.length, `LAPE_MEMORY_LIMIT ${gib(bytes)}`);
  }
  let addressSpace = Infinity;
  const limit = /^Max address space\s+(\S+)/m.exec(readOr('/proc/self/limits') ?? '')?.[1];
  if (limit && limit !== 'unlimited') {
    const used = kib(readOr('/proc/self/status'), 'VmSize') ?? 0;
    addressSpace = Number(limit) - used;
    parts.push(`address-space limit ${gib(Number(limit))}, ${gib(addressSpace)} free`);
  }
  return { physical, addressSpace, describe: parts.join('; ') || 'no limits known' };
}

/** Bytes a session needs beyond what the process already holds. */
export interface SessionNeed {
  /** Weight bytes that become resident (mapped file pages the first time, f32 copies when folded). */
  weights: number;
  /** Address space the session maps (mapped weights count once per session). */
  mapped: number;
  /** Working memory of one run (activations, per-run casts, logits). */
  working: number;
  /** Words for the message, e.g. "3.1 GiB bf16 memory-mapped". */
  describe: string;
}

/**
 * Working memory of one run of `tokens` tokens, from the shapes: the residual stream and FFN
 * activations of a layer (a few live copies), the largest per-run f32 cast of a half weight, and
 * for plans with logits the [tokens × vocab] logits with their log-softmax and the cast head.
 * Measured on a bf16 Qwen2.5-0.5B shape at 512 tokens (recording): 0.21 GiB of anonymous memory;
 * this gives 0.22.
 */
export function workingBytes(spec: ModelSpec, plan: HookPlan, tokens: number, halfWeights: boolean): number {
  const { hiddenSize: H, intermediateSize: I, vocabSize: V, numHeads: nH } = spec;
  const f = 4;
  const perLayer = tokens * (6 * H + 4 * I) * f + nH * tokens * Math.min(tokens, spec.maxPositionEmbeddings) * f * 2;
  const largestCast = halfWeights ? 2 * I * H * f : 0;
  let head = 0;
  if (planNeedsHead(plan)) {
    const rows = plan.logits === 'last' && !plan.tokenLogprobs ? Math.max(1, tokens / 64) : tokens;
    head = rows * V * f * 3 + (halfWeights ? V * H * f : 0);
  }
  return perLayer + largestCast + head + 64 * 2 ** 20; // + ORT's own overhead
}

/** Throws a LapeError that names the checkpoint, the need, what is available and what would fit. */
export function checkFits(checkpoint: string, need: SessionNeed, suggestion: string): void {
  const lim = memoryLimits();
  const physical = need.weights + need.working;
  const short =
    physical > lim.physical ? `needs ≈ ${gib(physical)} (${need.describe}, ${gib(need.working)} working memory) but ${gib(lim.physical)} is available` :
    need.mapped + need.working > lim.addressSpace ? `maps ≈ ${gib(need.mapped + need.working)} of address space but the limit leaves ${gib(lim.addressSpace)}` :
    '';
  if (short) {
    throw new LapeError(`not enough memory to run this model: it ${short} (${lim.describe}). ${suggestion}`, checkpoint);
  }
}

/** ONNX Runtime's allocation failures, as a LapeError; other errors pass through. */
export function explainAllocationFailure(e: unknown, checkpoint: string, what: string): unknown {
  const msg = e instanceof Error ? e.message : String(e);
  if (/bad_alloc|failed to allocate|out of memory|cannot allocate/i.test(msg)) {
    const lim = memoryLimits();
    return new LapeError(
      `ONNX Runtime ran out of memory while ${what} (${lim.describe}); try --weights int8 or int4, fewer tokens per batch, or a machine with more memory`,
      checkpoint,
    );
  }
  return e;
}

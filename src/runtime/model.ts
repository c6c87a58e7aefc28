/**
 * loadModel(dir) → a Model whose run(batch, plan) executes the decoder graph on onnxruntime-node.
 * One ORT session per distinct hook plan, created on first use and cached.
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { openCheckpoint, type Checkpoint } from '../checkpoint/checkpoint.js';
import type { ModelSpec } from '../archs/model-spec.js';
import { LapeError } from '../errors.js';
import { buildDecoderGraph, type DecoderOps, type WeightResidency } from '../graph/decoder.js';
import type { TensorLocation } from '../archs/tensor-locations.js';
import { derivedWeights, QUANTISED_TYPES, type DerivedWeights, type WeightType } from '../checkpoint/derived-weights.js';
import { isQuantType } from '../checkpoint/gguf-quants.js';
import { describePlan, planKey, type HookPlan } from '../graph/hook-plan.js';
import { checkFits, explainAllocationFailure, gib, workingBytes, type SessionNeed } from './memory.js';
import { identityVectors, patchVectors, type AffineVectors, type NeuronPatch } from './patches.js';
import { prepareBatch, type TokenBatch } from './batch.js';
import { executionProviders, type Device } from './device.js';

export interface LoadOptions {
  /** Intra-op threads (default: all cores). */
  threads?: number;
  /**
   * Weight type (default stored: as the files hold them, memory-mapped; half types cast per run).
   * f32: half weights cast once at load (faster compute, 2× memory). bf16 / int8 / int4 / w8a8: derived
   * weights written once into the cache folder (src/checkpoint/derived-weights.ts). A GGUF file
   * with quantised tensors always loads through a derived file: with stored, projections whose
   * blocks map exactly run as MatMulNBits, the rest is decoded to f32.
   */
  weights?: WeightType;
  /** MatMulNBits accuracy level (default 4, int8 activations; 0 computes in float, for checks). */
  nbitsAccuracy?: 0 | 4;
  /**
   * Weight residency in sessions (default mapped; folded with --weights f32, and for models of at
   * most SMALL_MODEL_BYTES as f32, whose Gemms then run on prepacked weights). Mostly for tests and
   * benchmarks.
   */
  residency?: WeightResidency;
  /**
   * Let idle intra-op threads spin between operators (ONNX Runtime's default; lape's default off for
   * models of at most SMALL_MODEL_BYTES as f32, on for larger ones).
   * Spinning pays only when every thread has a core to itself: with another process on one of
   * two cores, small models ran up to 2× slower with it (bench/README.md, bench/small.ts).
   */
  spinning?: boolean;
  /**
   * Sessions kept at once (default 3); the least recently used idle one is released beyond that.
   * Each keeps its own working memory (and, with mapped weights, its own mapping of the files).
   */
  maxSessions?: number;
  /**
   * Operators of the graph (default fused on the CPU for models of at most SMALL_MODEL_BYTES as f32,
   * plain otherwise): plain keeps to standard ONNX
   * operators, fused uses ONNX Runtime's fused attention and norm kernels (src/graph/decoder.ts).
   * For benchmarks and tests that compare the two.
   */
  ops?: DecoderOps;
  /** Told what loading is doing (session creation can take a while on large models). */
  onProgress?: (message: string) => void;
  /**
   * Execution provider (default cpu). webgpu / cuda: the same graph, ops the provider lacks on the
   * CPU provider (src/runtime/device.ts; resolveDevice picks `auto` and checks that one starts).
   */
  device?: Device;
}

export interface KvCache {
  /** Per layer [B, nKV, past, hd] keys and values. */
  keys: ort.Tensor[];
  values: ort.Tensor[];
  /** Past length (same for every sequence of the batch). */
  length: number;
  /** Per sequence, positions of the cached keys (-1 = padding slot). */
  keyPositions: Int32Array[];
}

export interface RunOptions {
  patches?: NeuronPatch[];
  /** sequencePatches plans: per layer, [B, 1, I] scale/shift (stackSequenceVectors). */
  sequenceVectors?: AffineVectors[];
  /** Past keys/values from an earlier run of a kvCache plan (generation). */
  past?: KvCache;
  /** Inputs of a probeLayers plan: the neurons probed per layer, K, and the histogram edges. */
  probe?: ProbeInputs;
}

export interface ProbeInputs {
  /** Per probed layer, the neuron indices (at least one per layer of the plan). */
  neurons: ReadonlyMap<number, readonly number[]>;
  /** Largest values kept per neuron; capped at the batch's token count. */
  k: number;
  /** Ascending histogram edges: the run counts tokens with hook_act ≥ each edge. */
  edges: Float32Array;
}

/** One probed layer of a run: [k × n] top values (−∞ past the valid tokens) and their flat token positions (b·T + t), [E × n] counts ≥ edge. */
export interface ProbeResult {
  k: number;
  top: Float32Array;
  at: BigInt64Array;
  atLeast: Float32Array;
}

export interface RunResult {
  batch: number;
  seq: number;
  /** [layers × I]: count(hook_act > 0), sum, sum² over the batch's valid tokens. */
  ffnCount?: Float32Array;
  ffnSum?: Float32Array;
  ffnSumSq?: Float32Array;
  /** [B × layers × H] mean-pooled hook_resid_post. */
  residMean?: Float32Array;
  /** [B × T] log p(target | prefix); 0 where the position has no target. */
  tokenLogprobs?: Float32Array;
  /** [B × T] 1 where tokenLogprobs holds a real target. */
  logprobMask?: Uint8Array;
  /** [B × V] logits at each sequence's last valid position. */
  logitsLast?: Float32Array;
  /** [B·T × V] logits at every position. */
  logits?: Float32Array;
  /** Whole hook tensors [B·T × width]. */
  hooks: Record<string, Float32Array>;
  /** Present keys/values for the next step (kvCache plans). */
  cache?: KvCache;
  /** Per probed layer (probeLayers plans). */
  probe?: Map<number, ProbeResult>;
}

export interface Model {
  dir: string;
  spec: ModelSpec;
  checkpoint: Checkpoint;
  threads: number;
  /** The weight type the sessions use (part of a result's identity: int8 statistics differ from f32). */
  weights: WeightType;
  /** The execution provider the sessions run on. */
  device: Device;
  run(batch: TokenBatch, plan: HookPlan, opts?: RunOptions): Promise<RunResult>;
  /** Number of sessions built so far (one per distinct plan). */
  sessionCount(): number;
  release(): Promise<void>;
}

/**
 * Models up to this many bytes as f32 fold their weights into each session by default: one private
 * copy per hook plan is cheap at this size, and prepacked Gemm weights ran the embedded model's
 * projection shapes 7–15 % faster than mapped ones (bench/README.md, bench/small.ts).
 */
export const SMALL_MODEL_BYTES = 256 * 2 ** 20;

export function loadModel(dir: string, opts: LoadOptions = {}): Model {
  const checkpoint = openCheckpoint(dir);
  const spec = checkpoint.spec;
  const threads = opts.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new LapeError(`threads must be a positive integer, got ${threads}`);
  const type = opts.weights ?? 'stored';
  const allBf16 = checkpoint.dtypes.every((d) => d === 'BF16');
  const quantised = checkpoint.dtypes.some(isQuantType);
  const derived: DerivedWeights | null =
    quantised || QUANTISED_TYPES.includes(type) || (type === 'bf16' && !allBf16) ? derivedWeights(checkpoint, type, opts.onProgress) : null;
  const small = !derived && checkpoint.parameterCount * 4 <= SMALL_MODEL_BYTES;
  const residency = opts.residency ?? (type === 'f32' || small ? 'folded' : 'mapped');
  const weightBytes = derived?.bytes ?? checkpoint.weightBytes;
  const weightsLabel = derived ? derived.label : checkpoint.dtypes.join('+');
  const maxSessions = opts.maxSessions ?? 3;
  const device = opts.device ?? 'cpu';
  // The small-model path (fused kernels, no spinning) is measured faster up to SMALL_MODEL_BYTES;
  // larger models keep the path bench/big.ts measured (7B bf16 was 10 % slower with it, 2026-12-02).
  const smallPath = device === 'cpu' && checkpoint.parameterCount * 4 <= SMALL_MODEL_BYTES;
  const ops = opts.ops ?? (smallPath ? 'fused' : 'plain');
  const spinning = opts.spinning ?? !smallPath;
  if (!Number.isInteger(maxSessions) || maxSessions < 1) throw new LapeError(`maxSessions must be a positive integer, got ${maxSessions}`);
  // Insertion order = recency (a hit is re-inserted); busy counts runs in flight per session.
  const sessions = new Map<string, Promise<ort.InferenceSession>>();
  const busy = new Map<string, number>();
  const halfWeights = derived ? derived.halfWeights : checkpoint.dtypes.some((d) => d !== 'F32');
  let mappedOnce = false;

  const locate = (name: string): TensorLocation => {
    if (derived) {
      const loc = derived.locate(name);
      return loc.kind === 'nbits' && opts.nbitsAccuracy !== undefined ? { ...loc, accuracyLevel: opts.nbitsAccuracy } : loc;
    }
    const w = checkpoint.weights.get(name);
    if (!w) throw new LapeError(`weight "${name}" is missing`, dir);
    return { file: w.file, dtype: w.dtype as 'F32' | 'F16' | 'BF16', shape: w.shape, offset: w.fileOffset, length: w.byteLength };
  };

  const need = (plan: HookPlan, tokens: number): SessionNeed => {
    const f32Bytes = checkpoint.parameterCount * 4;
    const mapped = residency === 'mapped';
    return {
      weights: mapped ? (mappedOnce ? 0 : weightBytes) : f32Bytes,
      mapped: weightBytes,
      working: workingBytes(spec, plan, tokens, halfWeights && mapped),
      describe: mapped
        ? `weights ${gib(weightBytes)} ${weightsLabel} memory-mapped${mappedOnce ? ', already resident' : ''}`
        : `weights ${gib(f32Bytes)} as f32 in this session`,
    };
  };
  const suggestion = `Try --weights int8 (≈ ${gib(checkpoint.parameterCount * 1.04)}) or --weights int4 (≈ ${gib(checkpoint.parameterCount * 0.53)}), or fewer tokens per batch.`;

  const evictBeyond = async (limit: number): Promise<void> => {
    for (const [key, s] of sessions) {
      if (sessions.size <= limit) break;
      if (busy.get(key)) continue;
      sessions.delete(key);
      await (await s).release();
    }
  };

  const session = async (plan: HookPlan, tokens: number): Promise<{ key: string; s: ort.InferenceSession }> => {
    const key = planKey(plan);
    let s = sessions.get(key);
    if (s) {
      sessions.delete(key); // refresh recency
      sessions.set(key, s);
      return { key, s: await s };
    }
    await evictBeyond(maxSessions - 1);
    checkFits(dir, need(plan, tokens), suggestion);
    const started = Date.now();
    opts.onProgress?.(`building the ONNX session for ${describePlan(plan)} (${gib(weightBytes)} of ${weightsLabel} weights, ${residency}${device === 'cpu' ? '' : `, on ${device}`})`);
    const graph = buildDecoderGraph(spec, checkpoint.tensors, locate, plan, residency, ops);
    s = ort.InferenceSession.create(graph.bytes, {
      logSeverityLevel: 3, // mapped weights are initializers that are also inputs: ORT warns about each
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // Only a non-CPU device names providers: the CPU path stays exactly as it was.
      ...(device === 'cpu' ? {} : { executionProviders: executionProviders(device) }),
      extra: {
        session: {
          model_external_initializers_file_folder_path: derived?.dir ?? checkpoint.folder,
          ...(spinning ? {} : { 'intra_op.allow_spinning': '0' }),
        },
      },
    }).catch((e: unknown) => {
      sessions.delete(key);
      throw explainAllocationFailure(e, dir, 'creating the session');
    });
    sessions.set(key, s);
    const ready = await s;
    mappedOnce = true;
    opts.onProgress?.(`session ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { key, s: ready };
  };

  return {
    dir,
    spec,
    checkpoint,
    threads,
    weights: type,
    device,
    sessionCount: () => sessions.size,
    async release() {
      for (const s of sessions.values()) await (await s).release();
      sessions.clear();
    },
    async run(batch, plan, runOpts = {}) {
      const prep = prepareBatch(batch, spec, runOpts.past);
      const { B, T } = prep;
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', prep.ids, [B, T]),
        position_ids: new ort.Tensor('int64', prep.positions, [B, T]),
      };
      for (const [name, bias] of prep.attnBiases) feeds[name] = new ort.Tensor('float32', bias, [B, 1, 1, T, prep.total]);
      if (spec.positions === 'alibi') feeds.key_positions = new ort.Tensor('float32', prep.keyPositions, [B, prep.total]);
      const probeLayers = plan.probeLayers ?? [];
      const probeK = Math.min(runOpts.probe?.k ?? 0, B * T);
      if (probeLayers.length) {
        const probe = runOpts.probe;
        if (!probe || !(probeK >= 1)) throw new LapeError('a probeLayers plan needs probe inputs with k ≥ 1');
        feeds.probe_k = new ort.Tensor('int64', BigInt64Array.of(BigInt(probeK)), [1]);
        feeds.probe_edges = new ort.Tensor('float32', probe.edges, [probe.edges.length]);
        for (const l of probeLayers) {
          const idx = probe.neurons.get(l);
          if (!idx?.length) throw new LapeError(`probe layer ${l} has no neurons`);
          feeds[`probe_index.${l}`] = new ort.Tensor('int64', BigInt64Array.from(idx, BigInt), [idx.length]);
        }
      }
      if (plan.ffnStats || plan.residMean || probeLayers.length) feeds.token_mask = new ort.Tensor('float32', prep.tokenMask, [B, T]);
      if (plan.tokenLogprobs) feeds.targets = new ort.Tensor('int64', prep.targets, [B, T]);
      if (plan.logits === 'last') feeds.last_index = new ort.Tensor('int64', prep.lastIndex, [B]);
      const patchLayers = new Set(plan.patchLayers ?? []);
      const vectors = patchVectors(runOpts.patches ?? [], spec.numLayers, spec.intermediateSize);
      for (const layer of vectors.keys()) {
        if (!patchLayers.has(layer)) {
          throw new LapeError(`a patch targets layer ${layer}, which the hook plan does not list in patchLayers`);
        }
      }
      for (const layer of patchLayers) {
        const v = vectors.get(layer) ?? identityVectors(spec.intermediateSize);
        feeds[`patch_scale.${layer}`] = new ort.Tensor('float32', v.scale, [spec.intermediateSize]);
        feeds[`patch_shift.${layer}`] = new ort.Tensor('float32', v.shift, [spec.intermediateSize]);
      }
      if (plan.sequencePatches) {
        const sv = runOpts.sequenceVectors;
        if (!sv || sv.length !== spec.numLayers) throw new LapeError(`a per-sequence patch plan needs ${spec.numLayers} layers of sequence vectors`);
        sv.forEach((v, layer) => {
          if (v.scale.length !== B * spec.intermediateSize) throw new LapeError(`sequence vectors of layer ${layer} are not ${B} × ${spec.intermediateSize}`);
          feeds[`patch_scale.${layer}`] = new ort.Tensor('float32', v.scale, [B, 1, spec.intermediateSize]);
          feeds[`patch_shift.${layer}`] = new ort.Tensor('float32', v.shift, [B, 1, spec.intermediateSize]);
        });
      } else if (runOpts.sequenceVectors) {
        throw new LapeError('sequence vectors were given but the hook plan has no sequencePatches');
      }
      if (plan.kvCache) {
        const P = runOpts.past?.length ?? 0;
        for (let i = 0; i < spec.numLayers; i++) {
          const empty = (): ort.Tensor =>
            new ort.Tensor('float32', new Float32Array(0), [B, spec.numKvHeads, 0, spec.headDim]);
          feeds[`past_key.${i}`] = P ? runOpts.past!.keys[i]! : empty();
          feeds[`past_value.${i}`] = P ? runOpts.past!.values[i]! : empty();
        }
      } else if (runOpts.past) {
        throw new LapeError('a past cache was given but the hook plan has no kvCache');
      }

      const { key, s } = await session(plan, B * T);
      busy.set(key, (busy.get(key) ?? 0) + 1);
      let out: ort.InferenceSession.OnnxValueMapType;
      try {
        out = await s.run(feeds);
      } catch (e) {
        throw explainAllocationFailure(e, dir, `running ${describePlan(plan)} on ${B} × ${T} tokens`);
      } finally {
        busy.set(key, busy.get(key)! - 1);
      }
      const f32 = (name: string): Float32Array => out[name]!.data as Float32Array;
      const result: RunResult = { batch: B, seq: T, hooks: {} };
      if (plan.ffnStats) {
        result.ffnCount = f32('ffn_count');
        result.ffnSum = f32('ffn_sum');
        result.ffnSumSq = f32('ffn_sumsq');
      }
      if (plan.residMean) result.residMean = f32('resid_mean');
      if (plan.tokenLogprobs) {
        const lp = f32('token_logprobs');
        for (let i = 0; i < lp.length; i++) if (!prep.targetMask[i]) lp[i] = 0;
        result.tokenLogprobs = lp;
        result.logprobMask = prep.targetMask;
      }
      if (plan.logits === 'last') result.logitsLast = f32('logits_last');
      if (plan.logits === 'all') result.logits = f32('logits');
      for (const h of plan.fullHooks ?? []) result.hooks[h] = f32(h);
      if (probeLayers.length) {
        result.probe = new Map(probeLayers.map((l) => [l, {
          k: probeK,
          top: f32(`probe_top.${l}`),
          at: out[`probe_at.${l}`]!.data as BigInt64Array,
          atLeast: f32(`probe_hist.${l}`),
        }]));
      }
      if (plan.kvCache) {
        result.cache = {
          keys: Array.from({ length: spec.numLayers }, (_, i) => out[`present_key.${i}`]!),
          values: Array.from({ length: spec.numLayers }, (_, i) => out[`present_value.${i}`]!),
          length: prep.total,
          keyPositions: prep.keyPositionsAfter,
        };
      }
      return result;
    },
  };
}

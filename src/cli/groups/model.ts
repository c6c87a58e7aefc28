/**
 * The model group: every command that loads a model includes MODEL_GROUP and opens the model with
 * openModel/withModel, so an option added here (e.g. --weights, --device) reaches all of them:
 * declare it, add it to MODEL_GROUP, and map it in modelLoadOptions — nothing else changes.
 */
import { availableParallelism } from 'node:os';
import { loadModel, type LoadOptions, type Model } from '../../runtime/model.js';
import { WEIGHT_TYPES } from '../../checkpoint/derived-weights.js';
import { DEVICE_CHOICES, resolveDevice, type DeviceChoice } from '../../runtime/device.js';
import type { CommandContext } from '../command.js';
import { group, opt, type AnyOption } from '../options/option.js';

export const MODEL_DIR = opt.path('model', {
  metavar: 'PATH',
  required: true,
  io: { role: 'model' },
  help: 'Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json) or a .gguf file',
});

export const THREADS = opt.int('threads', { help: 'ONNX Runtime intra-op threads', defaultText: 'all cores' });

export const WEIGHTS = opt.enum('weights', WEIGHT_TYPES, {
  default: 'stored',
  help:
    'weights in memory: stored (as the files hold them, memory-mapped; f16/bf16 cast per run), f32 (half weights cast once: faster, 2× memory), ' +
    'bf16, int8 or int4 (ONNX Runtime MatMulNBits, activations quantised per block of 128/32), ' +
    'w8a8 (int8 per channel, activations int8 per token, MatMulInteger: fastest on CPUs with VNNI); derived types are written once into $LAPE_CACHE_DIR, default ~/.cache/lape',
});

export const DEVICE = opt.enum('device', DEVICE_CHOICES, {
  default: 'cpu',
  help:
    "where the graph runs (ONNX Runtime execution providers): cpu; webgpu (bundled; Vulkan on Linux); " +
    'cuda (needs the optional CUDA provider install, untested); auto = cuda, else a GPU adapter through webgpu, else cpu',
});

export const MODEL_GROUP = group('Model', MODEL_DIR, THREADS, WEIGHTS, DEVICE);

/** The model group's options as loadModel options: the one place a new model option is mapped. */
export function modelLoadOptions(ctx: CommandContext): LoadOptions {
  let threads = ctx.get(THREADS);
  // More threads than the cores this process may use (CPU affinity, cgroups) only slows ONNX Runtime down.
  const cores = availableParallelism();
  if (threads !== undefined && threads > cores) {
    if (!ctx.quiet) process.stderr.write(`warning: --threads ${threads} is more than the ${cores} cores this process may use; using ${cores}\n`);
    threads = cores;
  }
  // Session creation on a large model is the silent minute before the first progress bar: say it.
  const onProgress = ctx.quiet ? undefined : (m: string): void => void process.stderr.write(`lape: ${m}\n`);
  return { ...(threads === undefined ? {} : { threads }), weights: ctx.get(WEIGHTS), onProgress };
}

/** Opens the model on the --device (auto resolved, an unavailable device refused before loading). */
export async function openModel(ctx: CommandContext): Promise<Model> {
  const choice: DeviceChoice = ctx.get(DEVICE);
  const device = choice === 'cpu' ? 'cpu' : await resolveDevice(choice);
  if (choice === 'auto' && !ctx.quiet) process.stderr.write(`lape: --device auto: ${device}\n`);
  return loadModel(ctx.get(MODEL_DIR), { ...modelLoadOptions(ctx), device });
}

/** Opens the model, runs fn, and releases the model whatever happens. */
export async function withModel<T>(ctx: CommandContext, fn: (model: Model) => Promise<T>): Promise<T> {
  const model = await openModel(ctx);
  try {
    return await fn(model);
  } finally {
    await model.release();
  }
}

/** The model facts result files record. */
export function modelFacts(model: Model): Record<string, string | number> {
  const s = model.spec;
  return { dir: model.dir, architecture: s.architecture, layers: s.numLayers, neurons: s.intermediateSize, vocabSize: s.vocabSize };
}

/** Command-line arguments that pass the given options on to another command (lape demo's steps). */
export function forwardArgs(ctx: CommandContext, options: readonly AnyOption[]): string[] {
  return options.flatMap((o) => {
    if (!ctx.given(o)) return [];
    const v = ctx.get(o);
    if (o.type === 'bool') return [`--${o.name}`];
    return [`--${o.name}`, Array.isArray(v) ? v.join(',') : String(v)];
  });
}

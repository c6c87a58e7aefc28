/**
 * Where the decoder graph runs: ONNX Runtime's execution providers, chosen by `--device`.
 *
 * - cpu: ONNX Runtime's CPU provider (the default; what every figure and test of lape is measured on).
 * - webgpu: the WebGPU provider bundled in onnxruntime-node's Linux/Windows/macOS builds (Dawn; on
 *   Linux through Vulkan). Ops it lacks run on the CPU provider (ONNX Runtime's own fallback), so the
 *   same graph — statistics reductions included — runs unchanged.
 * - cuda: the CUDA provider, which onnxruntime-node does not bundle: it needs
 *   `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` (a download from NuGet) and an
 *   NVIDIA driver + CUDA 12 runtime. Implemented, but untested by lape (no such machine was reachable).
 * - auto: cuda if its provider library is installed and a session starts on it, else webgpu if an
 *   adapter answers and (on Linux) a GPU device node exists, else cpu.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { LapeError } from '../errors.js';
import { ElemType, GraphBuilder } from '../graph/onnx-builder.js';

export const DEVICES = ['cpu', 'webgpu', 'cuda'] as const;
export type Device = (typeof DEVICES)[number];
export const DEVICE_CHOICES = [...DEVICES, 'auto'] as const;
export type DeviceChoice = (typeof DEVICE_CHOICES)[number];

/** The execution providers a session on this device is created with (CPU last: ONNX Runtime's fallback for ops the device lacks). */
export function executionProviders(device: Device): ort.InferenceSession.ExecutionProviderConfig[] {
  switch (device) {
    case 'cpu':
      return ['cpu'];
    case 'webgpu':
      return [{ name: 'webgpu' }, 'cpu'];
    case 'cuda':
      return [{ name: 'cuda', deviceId: 0 }, 'cpu'];
  }
}

/** Whether onnxruntime-node lists the provider, and whether its library is present (bundled or installed). */
export function providerInstalled(device: Device): boolean {
  const entry = ort.listSupportedBackends().find((b) => b.name === device);
  if (!entry) return false;
  if (entry.bundled) return true;
  // Not bundled (cuda): present only if `npm rebuild` with ONNXRUNTIME_NODE_INSTALL put the provider library beside the binding.
  try {
    const req = createRequire(import.meta.url);
    const root = dirname(req.resolve('onnxruntime-node/package.json'));
    const bin = join(root, 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(join(bin, 'libonnxruntime_providers_cuda.so')) || existsSync(join(bin, 'onnxruntime_providers_cuda.dll'));
  } catch {
    return false;
  }
}

/** Whether Linux shows a GPU: a DRM render node or an NVIDIA device. */
export function hasGpuDeviceNode(): boolean {
  try {
    if (existsSync('/dev/nvidia0')) return true;
    return readdirSync('/dev/dri').some((n) => n.startsWith('renderD'));
  } catch {
    return false;
  }
}

/** A one-node graph (Relu), for finding out whether a provider starts here. */
function probeGraph(): Uint8Array {
  const g = new GraphBuilder();
  const x = g.input('x', ElemType.FLOAT, [2]);
  g.expose(g.op('Relu', [x]), 'y', ElemType.FLOAT, [2]);
  return g.build('device-probe');
}

const probed = new Map<Device, Promise<string | null>>();

/** Null when a session runs on the device here, else why not (the provider's own message). */
export function deviceProblem(device: Device): Promise<string | null> {
  let p = probed.get(device);
  if (!p) {
    p = (async () => {
      if (device === 'cpu') return null;
      if (!providerInstalled(device)) {
        return device === 'cuda'
          ? 'the CUDA execution provider is not installed (ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node; untested by lape)'
          : `this onnxruntime-node build has no ${device} execution provider`;
      }
      try {
        // No CPU fallback here: the probe must run on the device itself.
        const s = await ort.InferenceSession.create(probeGraph(), { executionProviders: executionProviders(device).slice(0, 1), logSeverityLevel: 3 });
        const r = await s.run({ x: new ort.Tensor('float32', Float32Array.from([-1, 2]), [2]) });
        const y = Array.from(r.y!.data as Float32Array);
        await s.release();
        return y[0] === 0 && y[1] === 2 ? null : `a test graph on ${device} computed ${JSON.stringify(y)}`;
      } catch (e) {
        return String((e as Error).message ?? e).replace(/^.*?(Failed to|No supported)/s, '$1').trim().slice(0, 300);
      }
    })();
    probed.set(device, p);
  }
  return p;
}

/** The device a choice means here: auto = the best one that starts; an explicit device that cannot start is an error. */
export async function resolveDevice(choice: DeviceChoice): Promise<Device> {
  if (choice === 'auto') {
    if ((await deviceProblem('cuda')) === null) return 'cuda';
    // A software Vulkan (Mesa's lavapipe) also answers as a WebGPU adapter, slower than the CPU
    // provider: on Linux, auto takes webgpu only where a GPU device node exists.
    if ((process.platform !== 'linux' || hasGpuDeviceNode()) && (await deviceProblem('webgpu')) === null) return 'webgpu';
    return 'cpu';
  }
  const problem = await deviceProblem(choice);
  if (problem !== null) throw new LapeError(`device ${choice} is not available here: ${problem}`);
  return choice;
}

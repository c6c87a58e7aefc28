/**
 * The family registry: config.json → (family, ModelSpec), with the checks every family shares.
 * Adding a family = one file in this folder + one line below.
 */
import { LapeError } from '../errors.js';
import { ConfigReader } from './config-reader.js';
import type { Family } from './family.js';
import type { ModelSpec } from './model-spec.js';
import { bloom } from './bloom.js';
import { gemma, gemma2, gemma3, gemma3Multimodal } from './gemma.js';
import { gpt2 } from './gpt2.js';
import { gptNeox } from './gpt-neox.js';
import { llama } from './llama.js';
import { mistral } from './mistral.js';
import { opt } from './opt.js';
import { phi } from './phi.js';
import { qwen2, qwen3 } from './qwen.js';

export const FAMILIES: readonly Family[] = [
  llama, mistral, qwen2, qwen3, gemma, gemma2, gemma3, gemma3Multimodal, phi, gptNeox, gpt2, opt, bloom,
];

export function supportedClassNames(): string[] {
  return FAMILIES.flatMap((f) => f.classNames);
}

export function findFamily(className: string): Family | undefined {
  return FAMILIES.find((f) => f.classNames.includes(className));
}

function tokenIds(c: ConfigReader, section: ConfigReader): Pick<ModelSpec, 'bosTokenId' | 'eosTokenIds' | 'torchDtype'> {
  const pick = (key: string): unknown => c.raw[key] ?? section.raw[key];
  const bos = pick('bos_token_id');
  const eos = pick('eos_token_id');
  const dtype = pick('torch_dtype') ?? pick('dtype');
  return {
    bosTokenId: typeof bos === 'number' ? bos : null,
    eosTokenIds: Array.isArray(eos) ? eos.filter((x): x is number => typeof x === 'number') : typeof eos === 'number' ? [eos] : [],
    torchDtype: typeof dtype === 'string' ? dtype : 'float32',
  };
}

/** config.json → ModelSpec; every impossible or unsupported value is a LapeError naming config.json. */
export function specFromConfig(config: Record<string, unknown>, file: string): { spec: ModelSpec; family: Family } {
  const archs = config.architectures;
  const className = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  if (!className) throw new LapeError('missing "architectures" (e.g. ["LlamaForCausalLM"])', file);
  const family = findFamily(className);
  if (!family) {
    throw new LapeError(`architecture ${className} is not supported; supported: ${supportedClassNames().join(', ')}`, file);
  }
  const top = new ConfigReader(config, file);
  const section = family.configSection ? top.sub(family.configSection) : top;
  if (!section) throw new LapeError(`missing "${family.configSection}" (the decoder's settings of a ${className})`, file);
  let familySpec: ReturnType<Family['spec']>;
  try {
    familySpec = family.spec(section);
  } catch (e) {
    if (e instanceof LapeError) throw e;
    throw new LapeError((e as Error).message, file);
  }
  const spec: ModelSpec = { architecture: className, arch: family.key, ...familySpec, ...tokenIds(top, section) };
  validateSpec(spec, file);
  return { spec, family };
}

/** Consistency that no single config key shows. */
function validateSpec(s: ModelSpec, file: string): void {
  const fail = (m: string): never => {
    throw new LapeError(m, file);
  };
  if (!Number.isInteger(s.headDim) || s.headDim <= 0) fail(`head size ${s.headDim} is not a positive integer (hidden size ${s.hiddenSize} / ${s.numHeads} heads)`);
  if (s.numHeads % s.numKvHeads !== 0) fail(`${s.numHeads} attention heads are not a multiple of ${s.numKvHeads} key/value heads`);
  if (s.qkv !== 'separate' && s.numHeads * s.headDim !== s.hiddenSize) {
    fail(`fused q/k/v needs heads × head size = hidden size, got ${s.numHeads} × ${s.headDim} ≠ ${s.hiddenSize}`);
  }
  if (s.layers.length !== s.numLayers) fail(`${s.layers.length} layer settings for ${s.numLayers} layers`);
  for (const [i, l] of s.layers.entries()) {
    if (l.window !== null && !(Number.isInteger(l.window) && l.window > 0)) fail(`layer ${i}: sliding window must be a positive integer, got ${l.window}`);
    if ((s.positions === 'rope') !== (l.rope !== null)) fail(`layer ${i}: rotary settings disagree with positions "${s.positions}"`);
    if (l.rope && l.rope.dim > s.headDim) fail(`layer ${i}: rotary dimension ${l.rope.dim} exceeds head size ${s.headDim}`);
    if (!(l.attnScale > 0) || !Number.isFinite(l.attnScale)) fail(`layer ${i}: attention scale ${l.attnScale} is not a positive number`);
  }
}

import type { ArchDefinition } from './arch.js';
import { llama } from './llama.js';
import { mistral } from './mistral.js';
import { qwen2 } from './qwen2.js';

export const ARCHITECTURES: readonly ArchDefinition[] = [llama, mistral, qwen2];

export function supportedClassNames(): string[] {
  return ARCHITECTURES.flatMap((a) => a.classNames);
}

export function findArchitecture(className: string): ArchDefinition | undefined {
  return ARCHITECTURES.find((a) => a.classNames.includes(className));
}

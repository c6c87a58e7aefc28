import { saveMasks } from '../select/masks-io.js';
import type { NeuronMasks } from '../select/types.js';

/** The sibling of a file with another extension: masks.json → masks.safetensors. */
export function withExtension(path: string, ext: string): string {
  const dot = path.lastIndexOf('.');
  const slash = path.lastIndexOf('/');
  return (dot > slash ? path.slice(0, dot) : path) + ext;
}

/** Writes masks as JSON at `out` and as safetensors beside it; returns the safetensors path. */
export function writeMasksFiles(out: string, masks: NeuronMasks): string {
  const st = withExtension(out, '.safetensors');
  saveMasks(out, masks, 'json');
  saveMasks(st, masks, 'safetensors');
  return st;
}

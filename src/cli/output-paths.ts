import { dirname, join } from 'node:path';

/** The sibling of a file with another extension: masks.json → masks.safetensors. */
export function withExtension(path: string, ext: string): string {
  const dot = path.lastIndexOf('.');
  const slash = path.lastIndexOf('/');
  return (dot > slash ? path.slice(0, dot) : path) + ext;
}

export function sibling(path: string, name: string): string {
  return join(dirname(path), name);
}

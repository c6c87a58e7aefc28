import { fileURLToPath } from 'node:url';

/** Absolute path of a file in the repository (tests run compiled from dist/test/). */
export function repoPath(rel: string): string {
  return fileURLToPath(new URL(`../../../${rel}`, import.meta.url));
}

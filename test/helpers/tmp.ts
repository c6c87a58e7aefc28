import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/** A temporary folder removed when the test file ends. */
export function tempDir(prefix = 'lape-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A writable copy of a folder in a temporary place. */
export function copyToTemp(src: string): string {
  const dir = join(tempDir(), 'copy');
  cpSync(src, dir, { recursive: true });
  return dir;
}

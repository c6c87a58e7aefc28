import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { LapeError } from '../errors.js';
import { fsError } from './fs-errors.js';

export interface FileToWrite {
  path: string;
  data: string | Uint8Array;
}

function tempName(path: string, tag: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(3).toString('hex')}.${tag}`);
}

function writeAll(path: string, data: string | Uint8Array): void {
  const fd = openSync(path, 'wx');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes several files so that a failure leaves either all the old files or all the new ones:
 * 1. every target is checked (a folder where a file belongs is refused before anything is written);
 * 2. every new file is written and flushed under a temporary name beside its target (a full disk
 *    fails here, with nothing replaced);
 * 3. the old files are kept under backup names (hard links), then each temporary file is renamed
 *    over its target; if a rename fails, the targets already replaced get their old files back.
 * Only a crash of the machine between two renames (microseconds) can leave a mix.
 */
export function writeFilesAtomic(files: readonly FileToWrite[]): void {
  for (const f of files) {
    let st;
    try {
      st = lstatSync(f.path);
    } catch {
      st = null;
    }
    if (st && st.isDirectory()) throw new LapeError('cannot write the result: a folder is in the way (expected a file or nothing)', f.path);
  }
  const temps: string[] = [];
  const cleanup = (): void => {
    for (const t of temps) rmSync(t, { force: true });
  };
  for (const f of files) {
    try {
      mkdirSync(dirname(f.path), { recursive: true });
      const tmp = tempName(f.path, 'tmp');
      temps.push(tmp);
      writeAll(tmp, f.data);
    } catch (e) {
      cleanup();
      throw fsError(e, f.path, 'write');
    }
  }
  const existed = files.map((f) => existsSync(f.path));
  const backups: Array<string | null> = files.map((f, i) => {
    if (!existed[i]) return null;
    const bak = tempName(f.path, 'bak');
    try {
      linkSync(f.path, bak);
      return bak;
    } catch {
      return null; // a filesystem without hard links: no rollback for this file
    }
  });
  let done = 0;
  try {
    for (; done < files.length; done++) renameSync(temps[done]!, files[done]!.path);
  } catch (e) {
    for (let j = 0; j < done; j++) {
      const bak = backups[j];
      try {
        if (bak) renameSync(bak, files[j]!.path);
        else if (!existed[j]) rmSync(files[j]!.path, { force: true });
      } catch {
        /* best effort: the error below names the file */
      }
    }
    cleanup();
    for (const b of backups) if (b) rmSync(b, { force: true });
    throw fsError(e, files[done]?.path, 'write');
  }
  for (const b of backups) if (b) rmSync(b, { force: true });
}

/**
 * Writes a file so that readers see either the old file or the complete new one: data goes to
 * a temporary name in the same folder, is flushed, then renamed over the target.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  writeFilesAtomic([{ path, data }]);
}

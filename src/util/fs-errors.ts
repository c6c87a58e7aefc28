/**
 * Filesystem conditions (full disk, read-only filesystem, a folder where a file is expected…) as
 * LapeErrors with a plain message naming the path, the same way content errors are reported.
 */
import { LapeError } from '../errors.js';

const WHY: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the filesystem is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a folder, expected a file',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'already exists (as something else)',
  ENOENT: 'does not exist',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many levels of symbolic links',
  EIO: 'input/output error',
  EFBIG: 'file too large for the filesystem',
  EBUSY: 'the file is busy',
  ETXTBSY: 'the file is busy',
  EXDEV: 'cannot rename across filesystems',
};

export function isErrno(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && /^E[A-Z0-9]+$/.test((e as NodeJS.ErrnoException).code!);
}

/** A filesystem error as a LapeError: `path: cannot write: no space left on the device (ENOSPC)`. */
export function fsError(e: unknown, path: string | undefined, action: string): LapeError | unknown {
  if (e instanceof LapeError || !isErrno(e)) return e;
  const code = e.code!;
  const p = path ?? e.path;
  return new LapeError(`cannot ${action}: ${WHY[code] ?? e.message.replace(/^[A-Z0-9]+: /, '')} (${code})`, p);
}

/** Runs fn; a filesystem error becomes a LapeError naming `path`. */
export function withFsErrors<T>(path: string | undefined, action: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fsError(e, path, action);
  }
}

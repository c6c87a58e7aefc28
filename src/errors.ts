/**
 * The one error type lape throws for bad input. `file` names what was being read (a path, or a
 * flag for bad usage), so the CLI can print "file: problem" and exit non-zero.
 */
export class LapeError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    /** 1 = failure (bad input, runtime problem), 2 = bad usage (flags). */
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(file ? `${file}: ${message}` : message);
    this.name = 'LapeError';
  }
}

/** Bad command-line usage: exit code 2. */
export function usageError(message: string): LapeError {
  return new LapeError(message, undefined, 2);
}

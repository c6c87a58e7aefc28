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

/**
 * A bad value for a parameter of a library function, or input that does not fit a parameter's
 * setting. `param` is the parameter's name in the library's options (e.g. `topRate`), so a caller
 * can point at its own spelling of it (the CLI maps it to a flag). The message names no flag.
 * `fault`: 'value' = the value itself is invalid; 'data' = the input does not fit the setting, and
 * changing the parameter is the remedy.
 */
export class ParamError extends LapeError {
  constructor(
    message: string,
    readonly param: string,
    readonly fault: 'value' | 'data' = 'value',
  ) {
    super(message);
    this.name = 'ParamError';
  }
}

/**
 * A command-line option, declared once: name, type, metavar, default, help line, parser, and the
 * conditions under which it applies. Help text, parsing and validation are all derived from these
 * declarations (src/cli/options/parse.ts, help.ts); commands read values only through them.
 *
 * Syntax rules (the same for every command, stated in every --help):
 * - a `list` option takes comma-separated values and may be repeated: `--langs en,zh --langs fr`;
 * - every other option takes exactly one value, given once;
 * - an option that does not apply (see `appliesWhen`) is an error, never silently ignored.
 */

export type OptionType = 'string' | 'path' | 'int' | 'float' | 'bool' | 'list' | 'enum';

/** The option applies only when another option is given, or has (as given or by default) one of `values`. */
export interface AppliesWhen {
  /** One option; or several, meaning "any of them is given" (then without values/test). */
  option: string | readonly string[];
  values?: readonly string[];
  /** A condition that is not a list of values, e.g. `(t) => t > 0`; `text` says it in help and errors. */
  test?: (value: unknown) => boolean;
  text?: string;
}

/** Thrown by a parser/validator; the message reads after the flag: `--seq-len must be …`. */
export class OptionValueError extends Error {}

export interface Option<T = unknown, R = T | undefined> {
  readonly name: string;
  readonly type: OptionType;
  /** Shown after the flag in help: `--seq-len N`; '' for booleans. */
  readonly metavar: string;
  readonly help: string;
  readonly default?: T;
  /** How help shows a default that is computed or described rather than a constant. */
  readonly defaultText?: string;
  readonly required?: boolean;
  readonly short?: string;
  readonly choices?: readonly string[];
  readonly appliesWhen?: AppliesWhen;
  /** Options that cannot be given together with this one. */
  readonly conflicts?: readonly string[];
  /** The library parameter this option feeds (ParamError.param), so library errors name the flag. */
  readonly param?: string;
  /** Old names, accepted with a deprecation warning. */
  readonly aliases?: readonly string[];
  /** Lists: whether values are split at commas (true) or only repeated (free text such as --stop). */
  readonly commas?: boolean;
  /** Parses one value (one item of a list); throws OptionValueError. */
  readonly parse: (raw: string) => unknown;
  /** The option's paths as the output guard sees them (path options are inputs unless said otherwise). */
  readonly io?: OptionIo;
  /** Phantom: the type `ctx.get` returns. */
  readonly __result?: R;
}

export type AnyOption = Option<unknown, unknown>;

/** A file a command writes: a name in its output folder, or a suffix that replaces (`.safetensors`) or extends (`+.partial`) its --out FILE. */
export interface OutputFile {
  /** `masks.json` (in the folder) for `--out DIR`; `.safetensors` (twin) or `+.partial` (appended) for `--out FILE`; '' = the file itself. */
  name: string;
  /** What an existing file must be to be replaced without --force (output-guard.ts sniffs it): a lape `format`, a CSV header start, a JSONL key. */
  format: string;
  /** A folder of such files (demo's stats/). */
  dir?: boolean;
}

/**
 * What an option's paths are to the output guard (src/cli/output-guard.ts):
 * - `in`: files or folders the command reads (items may be `LANG=PATH`); `reads`: the extensions
 *   a folder's reader consumes (an output there would become an input of the next run);
 * - `model`: a checkpoint (nothing is ever written inside it);
 * - `out`: the result — one FILE with its twins, or a DIR with fixed names.
 */
export type OptionIo =
  | { role: 'in'; reads?: readonly string[] }
  | { role: 'model' }
  | { role: 'out'; kind: 'file' | 'dir'; files: readonly OutputFile[]; report?: boolean; ext?: string };

/** A titled set of options; help prints one section per group. */
export interface OptionGroup {
  readonly title: string;
  readonly options: readonly AnyOption[];
}

export function group(title: string, ...options: AnyOption[]): OptionGroup {
  return { title, options };
}

interface Common<T> {
  help: string;
  metavar?: string;
  default?: T;
  defaultText?: string;
  required?: boolean;
  short?: string;
  appliesWhen?: AppliesWhen;
  conflicts?: readonly string[];
  param?: string;
  aliases?: readonly string[];
  io?: OptionIo;
}

type Result<T, S> = S extends { default: unknown } ? T : S extends { required: true } ? T : T | undefined;

/** Checks a parsed value; returns a problem ("must be a positive integer") or null. */
export type Check<T> = (v: T) => string | null;

function build<T, R>(name: string, type: OptionType, metavar: string, spec: Common<T>, parse: (raw: string) => unknown, extra: Partial<AnyOption> = {}): Option<T, R> {
  return { name, type, metavar: spec.metavar ?? metavar, ...spec, ...extra, parse } as Option<T, R>;
}

function checked<T>(v: T, check: Check<T> | undefined): T {
  const problem = check?.(v);
  if (problem) throw new OptionValueError(problem);
  return v;
}

function parseNumber(raw: string, integer: boolean): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) throw new OptionValueError(integer ? 'must be an integer' : 'must be a number');
  if (integer && !Number.isSafeInteger(n)) throw new OptionValueError('must be an integer');
  return n;
}

// ---- validators ---------------------------------------------------------------------------------

export const positive: Check<number> = (n) => (n > 0 ? null : 'must be positive');
export const atLeast = (min: number): Check<number> => (n) => (n >= min ? null : `must be at least ${min}`);
/** Interval check; brackets as in math: '[)' = lo ≤ n < hi. */
export const inRange = (lo: number, hi: number, brackets: '[]' | '[)' | '(]' | '()' = '[]'): Check<number> => (n) => {
  const okLo = brackets[0] === '[' ? n >= lo : n > lo;
  const okHi = brackets[1] === ']' ? n <= hi : n < hi;
  return okLo && okHi ? null : `must be in ${brackets[0]}${lo}, ${hi}${brackets[1]}`;
};

// ---- builders -----------------------------------------------------------------------------------

export const opt = {
  string<S extends Common<string>>(name: string, spec: S & { check?: Check<string> }): Option<string, Result<string, S>> {
    return build(name, 'string', 'TEXT', spec, (raw) => checked(raw, spec.check));
  },
  path<S extends Common<string>>(name: string, spec: S & { check?: Check<string> }): Option<string, Result<string, S>> {
    return build(name, 'path', 'PATH', { io: { role: 'in' }, ...spec }, (raw) => {
      if (raw === '') throw new OptionValueError('needs a path');
      return checked(raw, spec.check);
    });
  },
  /** An integer; `min` defaults to 1 (a positive integer), the common case. */
  int<S extends Common<number>>(name: string, spec: S & { min?: number | null; check?: Check<number> }): Option<number, Result<number, S>> {
    const min = spec.min === undefined ? 1 : spec.min;
    return build(name, 'int', 'N', spec, (raw) => {
      const n = parseNumber(raw, true);
      if (min !== null && n < min) throw new OptionValueError(min === 1 ? 'must be a positive integer' : min === 0 ? 'must be a non-negative integer' : `must be an integer ≥ ${min}`);
      return checked(n, spec.check);
    });
  },
  float<S extends Common<number>>(name: string, spec: S & { check?: Check<number> }): Option<number, Result<number, S>> {
    return build(name, 'float', 'X', spec, (raw) => checked(parseNumber(raw, false), spec.check));
  },
  bool(name: string, spec: Omit<Common<boolean>, 'default' | 'metavar' | 'required'>): Option<boolean, boolean> {
    return build(name, 'bool', '', { ...spec, default: false }, () => true);
  },
  enum<C extends string, S extends Common<C>>(name: string, choices: readonly C[], spec: S): Option<C, Result<C, S>> {
    return build(name, 'enum', choices.join('|'), spec, (raw) => {
      if (!(choices as readonly string[]).includes(raw)) throw new OptionValueError(`must be one of ${choices.join(', ')}`);
      return raw;
    }, { choices });
  },
  /** A value with its own parser (e.g. --shard i/n, --layers 0-3,28-31). */
  custom<T, S extends Common<T>>(name: string, spec: S & { metavar: string; parse: (raw: string) => T }): Option<T, Result<T, S>> {
    return build(name, 'string', spec.metavar, spec, spec.parse);
  },
  /** Comma-separated values, repeatable; `item` parses each value. The result is [] when not given. */
  list<E = string, S extends Common<E[]> = Common<E[]>>(name: string, spec: S & { item?: (raw: string) => E; commas?: boolean }): Option<E[], E[]> {
    const item = spec.item ?? ((raw: string) => raw as unknown as E);
    return build(name, 'list', 'A,B', { default: [], ...spec }, item, { commas: spec.commas ?? true });
  },
};

/** The same option with other help, default, condition… (never another name or type). */
export function variant<T, R>(o: Option<T, R>, over: Partial<Pick<Option<T, R>, 'help' | 'defaultText' | 'appliesWhen' | 'conflicts' | 'metavar' | 'param' | 'aliases' | 'io'>>): Option<T, R> {
  return { ...o, ...over };
}

/** The same option with a default (so `ctx.get` returns T). */
export function withDefault<T, R>(o: Option<T, R>, value: T, defaultText?: string): Option<T, T> {
  const r = { ...o, default: value } as Option<T, T>;
  return defaultText === undefined ? r : { ...r, defaultText };
}

/** The same option, required. */
export function requiredOption<T, R>(o: Option<T, R>): Option<T, T> {
  return { ...o, required: true } as Option<T, T>;
}

/** The same option, not required (and without a default unless given). */
export function optionalOption<T, R>(o: Option<T, R>, help?: string): Option<T, T | undefined> {
  const r = { ...o, required: false } as Option<T, T | undefined>;
  return help === undefined ? r : { ...r, help };
}

export function flag(o: AnyOption): string {
  return `--${o.name}`;
}

/** How help and errors state an applies-when condition: "--method lap", "--eval-dir", "--temperature > 0". */
export function conditionText(a: AppliesWhen): string {
  if (a.text) return a.text;
  if (typeof a.option !== 'string') return a.option.map((n) => `--${n}`).join(' or ');
  if (a.values) return `--${a.option} ${a.values.join('|')}`;
  return `--${a.option}`;
}

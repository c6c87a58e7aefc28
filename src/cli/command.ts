/**
 * The shape of a lape command: its options as declared groups (src/cli/options/), positional
 * arguments, examples, and an async run that returns a JSON-able summary for --json. Help text and
 * parsing are generated from the declarations; a command reads values only via `ctx.get(option)`.
 */
import type { AnyOption, Option, OptionGroup, OptionIo } from './options/option.js';

export interface Positionals {
  /** Shown in usage and errors: `FILE.neuron.pth`, `SHARD.safetensors...`. */
  metavar: string;
  help: string;
  min: number;
  /** Infinity = any number. */
  max: number;
  /** What the arguments are to the output guard (default: inputs). */
  io?: OptionIo;
}

export interface CommandContext {
  /** The value of a declared option: parsed, defaulted, validated. Reading an undeclared option is a bug (throws). */
  get<R>(option: Option<unknown, R>): R;
  /** Whether the option was given on the command line. */
  given(option: AnyOption): boolean;
  /** Positional arguments (already checked against the command's `positionals`). */
  positionals: string[];
  quiet: boolean;
  json: boolean;
  /** Human-readable output (suppressed by --json, which prints the summary instead). */
  log(line: string): void;
}

export interface Command {
  name: string;
  summary: string;
  /** Option groups, in the order help shows them (the global options are added by the parser). */
  options: readonly OptionGroup[];
  positionals?: Positionals;
  /** Sets of options of which exactly one must be given (usage shows `(--a X | --b Y)`). */
  oneOf?: ReadonlyArray<readonly string[]>;
  /** For option names a user may try that this command deliberately lacks: the reason, shown instead of "unknown option". */
  refuses?: Readonly<Record<string, string>>;
  /** Free-text lines printed after the options. */
  notes?: readonly string[];
  examples: readonly string[];
  run(ctx: CommandContext): Promise<unknown>;
}

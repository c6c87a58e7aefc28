/**
 * The shape of a lape command: flags declared as data (parsed by node:util parseArgs), a help
 * text with examples, and an async run that returns a JSON-able summary for --json.
 */
import type { ParseArgsConfig } from 'node:util';

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

export interface CommandContext {
  /** Parsed flag values. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** Positional arguments. */
  positionals: string[];
  quiet: boolean;
  json: boolean;
  /** Human-readable output (suppressed by --json, which prints the summary instead). */
  log(line: string): void;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Lines shown under "Options:"; flags are documented here, not derived. */
  details: string[];
  examples: string[];
  flags: FlagSpec;
  run(ctx: CommandContext): Promise<unknown>;
}

import { parseArgs } from 'node:util';
import { usageError } from '../errors.js';
import type { Command, CommandContext } from './command.js';

export const GLOBAL_FLAGS = {
  help: { type: 'boolean', short: 'h' },
  quiet: { type: 'boolean', short: 'q' },
  json: { type: 'boolean' },
} as const;

/** Parses a command's flags (strict) into a context; throws LapeError(exit 2) on bad usage. */
export function commandContext(cmd: Command, args: string[], log: (line: string) => void = console.log): CommandContext & { help: boolean } {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...cmd.flags, ...GLOBAL_FLAGS }, allowPositionals: true, strict: true });
  } catch (e) {
    throw usageError((e as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const json = values.json === true;
  return {
    values,
    positionals: parsed.positionals,
    quiet: values.quiet === true,
    json,
    help: values.help === true,
    log: (line) => {
      if (!json) log(line);
    },
  };
}


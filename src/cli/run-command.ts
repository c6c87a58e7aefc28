/**
 * Runs a parsed command the one way main and lape demo's steps both use: the output guard's checks
 * (output-guard.ts), the locks on its results, then the command; library parameter errors are
 * mapped to flags and filesystem errors to plain messages.
 */
import { fsError } from '../util/fs-errors.js';
import type { Command, CommandContext } from './command.js';
import { checkOutputs, lockOutputs } from './output-guard.js';
import { commandOptions, mapLibraryError } from './options/parse.js';

export async function runCommand(cmd: Command, ctx: CommandContext): Promise<unknown> {
  const force = commandOptions(cmd).find((o) => o.name === 'force');
  checkOutputs(cmd, ctx, force ? ctx.get(force) === true : false);
  const release = lockOutputs(cmd, ctx);
  try {
    return await cmd.run(ctx);
  } catch (e) {
    throw fsError(mapLibraryError(cmd, e), undefined, 'read or write');
  } finally {
    release();
  }
}

import type { Command } from './command.js';
import { infoCommand } from './commands/info.js';

/** Every CLI command, in the order `lape --help` lists them. */
export const COMMANDS: Command[] = [infoCommand];

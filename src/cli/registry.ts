import type { Command } from './command.js';
import { infoCommand } from './commands/info.js';
import { mergeCommand } from './commands/merge.js';
import { recordCommand } from './commands/record.js';

/** Every CLI command, in the order `lape --help` lists them. */
export const COMMANDS: Command[] = [
  infoCommand,
  recordCommand,
  mergeCommand,
];

import type { Command } from './command.js';
import { infoCommand } from './commands/info.js';
import { demoCommand } from './commands/demo.js';
import { identifyCommand } from './commands/identify.js';
import { importTangCommand } from './commands/import-tang.js';
import { layersCommand, overlapCommand } from './commands/layers.js';
import { mergeCommand } from './commands/merge.js';
import { pplCommand } from './commands/ppl.js';
import { recordCommand } from './commands/record.js';
import { recordLangsCommand } from './commands/record-langs.js';
import { stabilityCommand } from './commands/stability.js';
import { reportCommand } from './commands/report.js';
import { sweepCommand } from './commands/sweep.js';
import { generateCommand } from './commands/generate.js';
import { steerEvalCommand } from './commands/steer-eval.js';
import { sesCommand } from './commands/ses.js';
import { dominanceCommand } from './commands/dominance.js';
import { slurmCommand } from './commands/slurm.js';
import { examplesCommand } from './commands/examples.js';
import { judgeCommand } from './commands/judge.js';
import { exploreCommand, serveCommand } from './commands/serve.js';

/** Every CLI command, in the order `lape --help` lists them. */
export const COMMANDS: Command[] = [
  demoCommand,
  infoCommand,
  recordCommand,
  recordLangsCommand,
  mergeCommand,
  slurmCommand,
  identifyCommand,
  stabilityCommand,
  importTangCommand,
  layersCommand,
  overlapCommand,
  pplCommand,
  sweepCommand,
  generateCommand,
  steerEvalCommand,
  sesCommand,
  dominanceCommand,
  examplesCommand,
  judgeCommand,
  reportCommand,
  serveCommand,
  exploreCommand,
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}

#!/usr/bin/env node
/**
 * lape CLI entry: `lape <command> [options]`. Exit codes: 0 ok, 1 failure, 2 bad usage.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { LapeError } from '../errors.js';
import { LAPE_VERSION } from '../version.js';
import { commandHelp, usageLine } from './options/help.js';
import { commandContext, suggest } from './options/parse.js';
import { runCommand } from './run-command.js';
import { fsError } from '../util/fs-errors.js';
import { COMMANDS, findCommand } from './registry.js';

function topHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `lape ${LAPE_VERSION} — language-specific neurons of LLMs (LAPE, Tang et al. 2024)`,
    '',
    'Usage: lape <command> [options]        lape <command> --help for details',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Global options: --help, --quiet (no progress), --json (machine-readable summary on stdout)',
    'Exit codes: 0 success, 1 failure (bad input, runtime error), 2 bad usage',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(topHelp());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') {
    console.log(LAPE_VERSION);
    return 0;
  }
  const cmd = findCommand(name);
  if (!cmd) {
    const s = suggest(name, COMMANDS.map((c) => c.name));
    console.error(`lape: unknown command "${name}"${s ? `; did you mean ${s}?` : ''}\n\n${topHelp()}`);
    return 2;
  }
  try {
    const ctx = commandContext(cmd, rest);
    if (ctx.help) {
      console.log(commandHelp(cmd));
      return 0;
    }
    const summary = await runCommand(cmd, ctx);
    if (ctx.json) console.log(JSON.stringify(summary ?? {}, null, 2));
    return 0;
  } catch (err) {
    const e = fsError(err, undefined, 'read or write');
    if (e instanceof LapeError) {
      console.error(`lape ${name}: ${e.message}`);
      if (e.exitCode === 2) console.error(`Usage: ${usageLine(cmd)}   (lape ${name} --help)`);
      return e.exitCode;
    }
    console.error(`lape ${name}: internal error: ${(e as Error).stack ?? e}`);
    return 1;
  }
}

// Run only as the program (not when imported, e.g. by lape demo or tests).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}

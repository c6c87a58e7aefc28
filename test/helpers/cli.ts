import { spawnSync } from 'node:child_process';
import { repoPath } from './paths.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (dist/src/cli/main.js) as a user would. */
export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [repoPath('dist/src/cli/main.js'), ...args], {
    cwd: opts.cwd ?? repoPath('.'),
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    timeout: 600_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

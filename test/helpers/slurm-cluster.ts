/**
 * A one-node Slurm cluster on localhost for tests: its own munged (key, socket), slurmctld and
 * slurmd with their own config, state, spool, logs and ports in a temporary folder. No systemd,
 * no cgroups: proctrack/linuxproc, task/none. Every daemon it starts is stopped by stop().
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';

const DAEMONS = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'scontrol', 'squeue', 'sinfo', 'scancel'] as const;

/** Where each Slurm/munge program is, or null when one is missing (the packages are absent). */
export function findSlurmPrograms(): Record<(typeof DAEMONS)[number], string> | null {
  const found: Partial<Record<string, string>> = {};
  for (const name of DAEMONS) {
    const p = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'].map((d) => join(d, name)).find((f) => existsSync(f));
    if (!p) return null;
    found[name] = p;
  }
  return found as Record<(typeof DAEMONS)[number], string>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function readPid(file: string): number | null {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface SlurmCluster {
  dir: string;
  /** Environment for Slurm client commands (SLURM_CONF). */
  env: NodeJS.ProcessEnv;
  /** Runs a Slurm client command; returns stdout (throws with stderr on failure). */
  cmd(program: 'sbatch' | 'scontrol' | 'squeue' | 'sinfo' | 'scancel', args: string[]): string;
  /** The daemons' logs, for a failure message. */
  logs(): string;
  stop(): Promise<void>;
}

export async function startSlurmCluster(dir: string, opts: { cpus?: number } = {}): Promise<SlurmCluster> {
  const bin = findSlurmPrograms();
  if (!bin) throw new Error('slurm-wlm / munge programs not found');
  const cpus = opts.cpus ?? 2;
  for (const d of ['munge', 'state', 'spool', 'log']) mkdirSync(join(dir, d), { recursive: true, mode: 0o700 });
  chmodSync(join(dir, 'munge'), 0o700);
  const key = join(dir, 'munge', 'munge.key');
  writeFileSync(key, randomBytes(1024), { mode: 0o400 });
  const socket = join(dir, 'munge', 'munge.socket');
  const pids = { munged: join(dir, 'munge', 'munged.pid'), slurmctld: join(dir, 'slurmctld.pid'), slurmd: join(dir, 'slurmd.pid') };
  const started: number[] = [];
  const host = hostname().split('.')[0]!;
  const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
  const conf = join(dir, 'slurm.conf');
  writeFileSync(conf, [
    'ClusterName=lapetest',
    `SlurmctldHost=${host}(127.0.0.1)`,
    `SlurmctldPort=${ctldPort}`,
    `SlurmdPort=${slurmdPort}`,
    'SlurmUser=root',
    'SlurmdUser=root',
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${socket}`,
    `StateSaveLocation=${join(dir, 'state')}`,
    `SlurmdSpoolDir=${join(dir, 'spool')}`,
    `SlurmctldPidFile=${pids.slurmctld}`,
    `SlurmdPidFile=${pids.slurmd}`,
    `SlurmctldLogFile=${join(dir, 'log', 'slurmctld.log')}`,
    `SlurmdLogFile=${join(dir, 'log', 'slurmd.log')}`,
    // No systemd, no cgroups (CI containers): track processes through /proc, bind nothing.
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'SwitchType=switch/none',
    'MpiDefault=none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_CPU',
    'SchedulerType=sched/backfill',
    'SchedulerParameters=sched_interval=2',
    'ReturnToService=2',
    'SlurmdParameters=config_overrides',
    'JobRequeue=1',
    'MinJobAge=600',
    'KillWait=5',
    `NodeName=lapenode NodeAddr=127.0.0.1 NodeHostname=${host} CPUs=${cpus} RealMemory=2000 State=UNKNOWN`,
    'PartitionName=debug Nodes=lapenode Default=YES MaxTime=INFINITE State=UP',
    '',
  ].join('\n'));
  const env = { ...process.env, SLURM_CONF: conf };
  const cmd: SlurmCluster['cmd'] = (program, args) => execFileSync(bin[program], args, { env, encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = (): string =>
    ['munged.log', 'slurmctld.log', 'slurmd.log']
      .map((f) => {
        const p = join(dir, 'log', f);
        return existsSync(p) ? `--- ${f} (last lines)\n${readFileSync(p, 'utf8').split('\n').slice(-15).join('\n')}` : `--- ${f}: none`;
      })
      .join('\n');

  const stop = async (): Promise<void> => {
    // Cancel what is still queued or running, then shut the daemons down; kill what stays.
    spawnSync(bin.scancel, ['--full', '--partition=debug'], { env, timeout: 10_000 });
    spawnSync(bin.scontrol, ['shutdown'], { env, timeout: 10_000 });
    const daemons = [pids.slurmd, pids.slurmctld].map(readPid).filter((p): p is number => p !== null);
    for (const p of started) if (!daemons.includes(p)) daemons.push(p);
    const t0 = Date.now();
    while (daemons.some(alive) && Date.now() - t0 < 10_000) await sleep(100);
    for (const p of daemons) if (alive(p)) process.kill(p, 'SIGKILL');
    spawnSync(bin.munged, ['--stop', `--socket=${socket}`], { timeout: 10_000 });
    const m = readPid(pids.munged);
    if (m !== null && alive(m)) process.kill(m, 'SIGKILL');
  };

  try {
    execFileSync(bin.munged, ['--force', `--socket=${socket}`, `--key-file=${key}`, `--log-file=${join(dir, 'log', 'munged.log')}`,
      `--pid-file=${pids.munged}`, `--seed-file=${join(dir, 'munge', 'seed')}`], { timeout: 15_000, stdio: 'pipe' });
    // -i: ignore saved state (a fresh cluster). Both daemons fork into the background.
    execFileSync(bin.slurmctld, ['-f', conf, '-i'], { env, timeout: 15_000, stdio: 'pipe' });
    execFileSync(bin.slurmd, ['-f', conf, '-N', 'lapenode'], { env, timeout: 15_000, stdio: 'pipe' });
    for (const f of [pids.slurmctld, pids.slurmd]) {
      const t0 = Date.now();
      while (readPid(f) === null && Date.now() - t0 < 10_000) await sleep(50);
      const p = readPid(f);
      if (p !== null) started.push(p);
    }
    // Bounded wait for the node to be idle.
    const t0 = Date.now();
    let state = '';
    while (Date.now() - t0 < 30_000) {
      try {
        state = cmd('sinfo', ['-h', '-N', '-o', '%T']).trim();
        if (state === 'idle') break;
      } catch (e) {
        state = String((e as { stderr?: string }).stderr ?? e);
      }
      await sleep(250);
    }
    if (state !== 'idle') throw new Error(`the test cluster's node did not become idle within 30 s (state: ${state})\n${logs()}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { dir, env, cmd, logs, stop };
}

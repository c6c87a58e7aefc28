/**
 * Output locks: while a command writes a result, `<result>.lock` (for a folder: `<dir>/.lape.lock`)
 * holds who writes it — host, PID, process start time, heartbeat. A second writer gets a clear
 * error instead of both "succeeding" with one result lost.
 *
 * Works on a filesystem shared between hosts (Slurm): the lock is created with O_EXCL, and the
 * holder rewrites its heartbeat every minute. A lock is stale when
 * - it was taken on this host and its PID no longer exists (or is another process: start time differs), or
 * - it was taken on another host and its heartbeat is older than LAPE_LOCK_STALE_HOURS (default 6);
 * a stale lock is replaced with a warning. Otherwise the message says how to remove it by hand.
 * Locks are re-entrant within one process (lape demo's steps write into the folder demo holds).
 */
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { LapeError } from '../errors.js';
import { fsError } from './fs-errors.js';

export interface LockInfo {
  format: 'lape-lock';
  host: string;
  pid: number;
  /** Process start, ms since the epoch (tells a reused PID from the holder). */
  started: number;
  /** Last heartbeat, ISO time. */
  heartbeat: string;
  command: string;
}

const HEARTBEAT_MS = 60_000;
const held = new Map<string, { count: number; timer: NodeJS.Timeout }>();

function processStart(): number {
  return Math.round(Date.now() - process.uptime() * 1000);
}

/** Start time (ms since the epoch) of a process of this host, from /proc; null where unknown. */
function startOfPid(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    const boot = /btime (\d+)/.exec(readFileSync('/proc/stat', 'utf8'))?.[1];
    if (!Number.isFinite(ticks) || !boot) return null;
    return Number(boot) * 1000 + (ticks / 100) * 1000; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function staleHours(): number {
  const v = Number(process.env.LAPE_LOCK_STALE_HOURS);
  return Number.isFinite(v) && v > 0 ? v : 6;
}

/** Why an existing lock is stale, or null when its holder may still be writing. */
export function staleReason(info: LockInfo, lockPath: string, now = Date.now()): string | null {
  if (info.host === hostname()) {
    if (!pidAlive(info.pid)) return `process ${info.pid} no longer exists`;
    const start = startOfPid(info.pid);
    // Start times from /proc are accurate to about a second; the holder's own is to the millisecond.
    if (start !== null && Math.abs(start - info.started) > 5_000) return `PID ${info.pid} now belongs to another process`;
    return null;
  }
  let beat = Date.parse(info.heartbeat);
  try {
    beat = Math.max(Number.isFinite(beat) ? beat : 0, statSync(lockPath).mtimeMs);
  } catch {
    /* removed meanwhile */
  }
  const hours = (now - beat) / 3_600_000;
  return hours > staleHours() ? `no heartbeat from ${info.host} for ${hours.toFixed(1)} hours` : null;
}

function readLock(path: string): LockInfo | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    return o && o.format === 'lape-lock' && typeof o.pid === 'number' && typeof o.host === 'string' ? o : null;
  } catch {
    return null;
  }
}

function tryCreate(path: string, info: LockInfo): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw fsError(e, path, 'create the lock file');
  }
  try {
    writeSync(fd, JSON.stringify(info) + '\n');
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Takes the lock at `lockPath`; returns the function that releases it. */
export function acquireLock(lockPath: string, command: string): () => void {
  const mine = held.get(lockPath);
  if (mine) {
    mine.count++;
    return () => release(lockPath);
  }
  const info = (): LockInfo => ({ format: 'lape-lock', host: hostname(), pid: process.pid, started: processStart(), heartbeat: new Date().toISOString(), command });
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(lockPath, info())) {
      const timer = setInterval(() => {
        try {
          writeFileSync(lockPath, JSON.stringify(info()) + '\n');
          const t = new Date();
          utimesSync(lockPath, t, t);
        } catch {
          /* the next beat tries again */
        }
      }, HEARTBEAT_MS);
      timer.unref();
      held.set(lockPath, { count: 1, timer });
      return () => release(lockPath);
    }
    const other = readLock(lockPath);
    if (other === null) {
      // Unreadable: being written this instant, or not a lock. Only an old one is replaced.
      let age = 0;
      try {
        age = Date.now() - statSync(lockPath).mtimeMs;
      } catch {
        continue;
      }
      if (age < 10_000) continue;
      throw new LapeError(`a lock file that lape cannot read is in the way; remove it if no lape command is writing here`, lockPath);
    }
    const stale = staleReason(other, lockPath);
    if (stale === null) {
      throw new LapeError(
        `is being written by another lape process (${other.command}, PID ${other.pid} on ${other.host}, since ${new Date(other.started).toISOString()}); ` +
          `wait for it to finish, or if that process is gone, remove ${lockPath}`,
        lockPath.replace(/(\/\.lape)?\.lock$/, ''),
      );
    }
    if (process.env.LAPE_QUIET_LOCKS !== '1') process.stderr.write(`warning: replacing a stale lock ${lockPath} (${stale})\n`);
    rmSync(lockPath, { force: true });
  }
  throw new LapeError('could not take the lock (another process keeps replacing it)', lockPath);
}

function release(lockPath: string): void {
  const h = held.get(lockPath);
  if (!h) return;
  if (--h.count > 0) return;
  clearInterval(h.timer);
  held.delete(lockPath);
  const cur = readLock(lockPath);
  if (cur && cur.pid === process.pid && cur.host === hostname()) rmSync(lockPath, { force: true });
}

/** The lock file that guards a result: FILE.lock, or DIR/.lape.lock for a folder of results. */
export function lockPathFor(path: string, isDir: boolean): string {
  return isDir ? `${path.replace(/\/+$/, '')}/.lape.lock` : `${path}.lock`;
}

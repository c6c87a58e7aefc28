/**
 * The one rule for where lape writes, applied to every command before it runs (driven by the
 * option declarations, so a new command is covered by declaring its options):
 * - real paths are compared (symlinks, `..`, hard links): an output is never an input of the same
 *   run, never the twin of an input (masks.json → masks.safetensors), never inside a checkpoint
 *   folder (an input `--model`, or any folder holding config.json + weights), and never a file a
 *   folder input reads (a .safetensors inside `--stats DIR`);
 * - an existing file that lape did not write (another format) is replaced only with --force;
 * - a folder where a file belongs, a file where a folder belongs, a read-only or full filesystem
 *   are reported before any work starts;
 * - the result is locked while the command runs (util/lock.ts): a second writer gets a clear error.
 * Rerunning a command into its own earlier outputs (lape demo twice into one folder) is allowed.
 */
import { accessSync, closeSync, constants, existsSync, openSync, readSync, readdirSync, realpathSync, rmdirSync, statSync, statfsSync, mkdirSync } from 'node:fs';
import { basename, dirname, extname, join, resolve, sep } from 'node:path';
import { LapeError, usageError } from '../errors.js';
import { readSafetensorsHeader } from '../checkpoint/safetensors.js';
import { acquireLock, lockPathFor } from '../util/lock.js';
import type { Command, CommandContext } from './command.js';
import type { AnyOption, OptionIo, OutputFile } from './options/option.js';
import { commandOptions } from './options/parse.js';
import { withExtension } from './groups/output.js';

interface InputPath {
  /** As given. */
  given: string;
  real: string;
  /** `--stats`, or the positional's metavar. */
  flag: string;
  io: OptionIo;
}

export interface PlannedOutput {
  given: string;
  real: string;
  format: string;
  /** A folder of results (demo's stats/), or the --out DIR itself. */
  dir: boolean;
}

/** The absolute real path: symlinks of the longest existing prefix resolved. */
export function realPath(p: string): string {
  const abs = resolve(p);
  let head = abs;
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(head), ...rest.reverse());
    } catch {
      const parent = dirname(head);
      if (parent === head) return abs;
      rest.push(basename(head));
      head = parent;
    }
  }
}

const inside = (child: string, folder: string): boolean => child.startsWith(folder.endsWith(sep) ? folder : folder + sep);

/** `LANG=PATH` → PATH (a `=` after a slash is part of the path). */
function stripLang(s: string): string {
  const eq = s.indexOf('=');
  return eq > 0 && !s.slice(0, eq).includes('/') ? s.slice(eq + 1) : s;
}

function pathsOf(value: unknown): string[] {
  if (value === undefined || value === null || value === false || value === true) return [];
  if (Array.isArray(value)) return value.flatMap(pathsOf);
  if (typeof value === 'string') return value === '' ? [] : [stripLang(value)];
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    for (const k of ['dir', 'file', 'path']) if (typeof o[k] === 'string') return [o[k] as string];
  }
  return [];
}

/** A folder that holds a checkpoint: config.json beside safetensors weights (or a GGUF file). */
export function looksLikeCheckpoint(dir: string): boolean {
  try {
    if (!statSync(dir).isDirectory()) return false;
    if (!existsSync(join(dir, 'config.json'))) return false;
    return readdirSync(dir).some((f) => f.endsWith('.safetensors') || f === 'model.safetensors.index.json' || f.endsWith('.bin') || f.endsWith('.gguf'));
  } catch {
    return false;
  }
}

function readHead(path: string, n: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** Whether the existing file at `path` is the kind of file lape writes there (`format`, see OutputFile). */
export function isLapeOutput(path: string, format: string): boolean {
  try {
    const size = statSync(path).size;
    if (size === 0) return true;
    if (format === 'html') {
      const head = readHead(path, 8192).toString('utf8');
      return head.startsWith('<!DOCTYPE html>') && head.includes('lape');
    }
    if (format.startsWith('csv:')) return readHead(path, 4096).toString('utf8').startsWith(format.slice(4));
    if (format.startsWith('jsonl:')) {
      const first = readHead(path, 1 << 20).toString('utf8').split('\n')[0]!;
      const o = JSON.parse(first) as Record<string, unknown>;
      return typeof o === 'object' && o !== null && format.slice(6) in o;
    }
    if (format === 'lape-partial') {
      const m = readSafetensorsHeader(path).metadata;
      return typeof m.job === 'string' && typeof m.chunks_done === 'string';
    }
    if (extname(path) === '.safetensors') return readSafetensorsHeader(path).metadata.format === format;
    if (size > 512 * 2 ** 20) return false;
    const o = JSON.parse(readHead(path, size).toString('utf8')) as Record<string, unknown>;
    return typeof o === 'object' && o !== null && o.format === format;
  } catch {
    return false;
  }
}

function describe(format: string): string {
  if (format === 'html') return 'a lape report';
  if (format.startsWith('csv:')) return `a lape CSV (header "${format.slice(4)}…")`;
  if (format.startsWith('jsonl:')) return `lape JSON lines (with "${format.slice(6)}")`;
  if (format === 'lape-partial') return 'lape resume state';
  return `a ${format} file`;
}

/** The files a command will write, from its --out (or output positional) and the declarations. */
export function plannedOutputs(cmd: Command, ctx: CommandContext): { outputs: PlannedOutput[]; locks: Array<{ path: string; dir: boolean; create: boolean }> } {
  const outputs: PlannedOutput[] = [];
  const locks: Array<{ path: string; dir: boolean; create: boolean }> = [];
  const opts = commandOptions(cmd);
  const noReport = opts.find((o) => o.name === 'no-report');
  const reportOff = noReport ? ctx.get(noReport) === true : false;
  const add = (given: string, f: OutputFile | { format: string; dir?: boolean }): void => {
    outputs.push({ given, real: realPath(given), format: f.format, dir: !!f.dir });
  };
  const plan = (io: Extract<OptionIo, { role: 'out' }>, value: string, create = true): void => {
    if (io.kind === 'file') {
      for (const f of io.files) {
        const p = f.name === '' ? value : f.name.startsWith('+') ? value + f.name.slice(1) : withExtension(value, f.name);
        add(p, f);
      }
      if (io.report && !reportOff) add(join(dirname(value), 'report.html'), { format: 'html' });
      locks.push({ path: value, dir: false, create });
    } else {
      outputs.push({ given: value, real: realPath(value), format: '', dir: true });
      for (const f of io.files) add(join(value, f.name), f);
      if (io.report && !reportOff) add(join(value, 'report.html'), { format: 'html' });
      locks.push({ path: value, dir: true, create });
    }
  };
  for (const o of opts) {
    if (o.io?.role !== 'out') continue;
    const v = ctx.get(o);
    if (typeof v === 'string') plan(o.io, v);
  }
  // An output positional names an existing folder (lape report DIR): it is not created here.
  if (cmd.positionals?.io?.role === 'out') for (const p of ctx.positionals) plan(cmd.positionals.io, p, false);
  return { outputs, locks };
}

function inputsOf(cmd: Command, ctx: CommandContext): InputPath[] {
  const inputs: InputPath[] = [];
  const add = (given: string, flag: string, io: OptionIo): void => {
    inputs.push({ given, real: realPath(given), flag, io });
  };
  for (const o of commandOptions(cmd) as AnyOption[]) {
    const io = o.io ?? (o.type === 'path' ? { role: 'in' as const } : undefined);
    if (!io || io.role === 'out') continue;
    for (const p of pathsOf(ctx.get(o))) add(p, `--${o.name}`, io);
  }
  const pio = cmd.positionals?.io ?? { role: 'in' as const };
  if (pio.role !== 'out') for (const p of ctx.positionals) add(p, cmd.positionals!.metavar, pio);
  return inputs;
}

function sameFile(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.isFile() && sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** The nearest existing folder at or above `p`; throws when a file is in the way. */
function existingAncestor(p: string, given: string): string {
  let d = p;
  for (;;) {
    if (existsSync(d)) {
      if (!statSync(d).isDirectory()) throw new LapeError(`cannot write here: ${d} is a file, not a folder`, given);
      return d;
    }
    const parent = dirname(d);
    if (parent === d) return d;
    d = parent;
  }
}

function checkWritable(dir: string, given: string): void {
  try {
    accessSync(dir, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'the filesystem is read-only' : 'permission denied';
    throw new LapeError(`cannot write into ${dir}: ${why} (${code})`, given);
  }
  try {
    const s = statfsSync(dir);
    const free = Number(s.bavail) * Number(s.bsize);
    if (free < 1 << 20) throw new LapeError(`cannot write into ${dir}: no space left on the device (${free} bytes free)`, given);
  } catch (e) {
    if (e instanceof LapeError) throw e;
  }
}

/** Checks every rule above; throws a LapeError naming the output and the input it would destroy. */
export function checkOutputs(cmd: Command, ctx: CommandContext, force: boolean): PlannedOutput[] {
  const { outputs } = plannedOutputs(cmd, ctx);
  if (outputs.length === 0) return outputs;
  const inputs = inputsOf(cmd, ctx);
  const models = inputs.filter((i) => i.io.role === 'model' && existsSync(i.real) && statSync(i.real).isDirectory());
  for (const out of outputs) {
    const what = out.dir ? 'output folder' : 'output';
    for (const inp of inputs) {
      if (sameFile(out.real, inp.real)) {
        throw usageError(`${what} ${out.given} is ${inp.flag} ${inp.given}, an input of this run: lape never overwrites its inputs; choose another --out`);
      }
    }
  }
  for (const out of outputs) {
    const what = out.dir ? 'output folder' : 'output';
    for (const inp of inputs) {
      if (inp.io.role === 'in' && inp.io.reads && existsSync(inp.real) && statSync(inp.real).isDirectory()) {
        const readsIt = dirname(out.real) === inp.real && inp.io.reads.some((e) => out.real.endsWith(e));
        if (readsIt || (out.dir && out.real === inp.real)) {
          throw usageError(`${what} ${out.given} is inside ${inp.flag} ${inp.given}, whose files are inputs of this run: choose another --out`);
        }
      }
    }
    for (const m of models) {
      if (out.real === m.real || inside(out.real, m.real)) {
        throw usageError(`${what} ${out.given} is inside the checkpoint folder ${m.given} (${m.flag}): lape never writes into a checkpoint; choose another --out`);
      }
    }
    for (let d = out.dir ? out.real : dirname(out.real); ; d = dirname(d)) {
      if (looksLikeCheckpoint(d)) {
        throw usageError(`${what} ${out.given} is inside the checkpoint folder ${d} (it holds config.json and weights): lape never writes into a checkpoint; choose another --out`);
      }
      if (dirname(d) === d) break;
    }
    if (existsSync(out.real)) {
      const st = statSync(out.real);
      if (out.dir && !st.isDirectory()) throw usageError(`${out.given} is a file; lape writes a folder there (choose another --out, or remove the file)`);
      if (!out.dir && st.isDirectory()) throw usageError(`${out.given} is a folder; lape writes a file there (choose another --out, or remove the folder)`);
      if (!out.dir && !force && !isLapeOutput(out.real, out.format)) {
        throw usageError(`${out.given} exists and is not ${describe(out.format)}: lape does not replace a file of another kind (give --force to replace it)`);
      }
    }
    checkWritable(existingAncestor(out.dir ? out.real : dirname(out.real), out.given), out.given);
  }
  return outputs;
}

/** Removes the folders from `deepest` up to `first` (as mkdirSync created them) that are still empty. */
function removeIfEmpty(deepest: string, first: string): void {
  for (let d = deepest; ; d = dirname(d)) {
    try {
      if (readdirSync(d).length > 0) return;
      rmdirSync(d);
    } catch {
      return;
    }
    if (d === first || dirname(d) === d) return;
  }
}

/**
 * Takes the locks of a command's results; returns the function that releases them. A folder made
 * to hold a lock is removed again when the command wrote nothing into it (a failed run leaves no
 * empty output folder).
 */
export function lockOutputs(cmd: Command, ctx: CommandContext): () => void {
  const { locks } = plannedOutputs(cmd, ctx);
  const releases: Array<() => void> = [];
  const made: Array<[string, string]> = [];
  const releaseAll = (): void => {
    for (const r of releases.reverse()) r();
    for (const [deepest, first] of made.reverse()) removeIfEmpty(deepest, first);
  };
  try {
    for (const l of locks) {
      const real = realPath(l.path);
      const folder = l.dir ? real : dirname(real);
      if (!existsSync(folder)) {
        if (!l.create) continue; // the command itself reports the missing folder
        const first = mkdirSync(folder, { recursive: true });
        if (first) made.push([folder, first]);
      }
      releases.push(acquireLock(lockPathFor(real, l.dir), `lape ${cmd.name}`));
    }
  } catch (e) {
    releaseAll();
    throw e;
  }
  return releaseAll;
}

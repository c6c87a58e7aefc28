/**
 * The output group and the one tail every result-writing command shares: write its files
 * atomically, say what was written, rebuild report.html in the folder.
 *
 * The --out rule: a command that writes one result takes `--out FILE` (record, merge, identify and
 * import-tang — the masks, as JSON with a .safetensors twin beside it —, layers, overlap, generate);
 * a command that writes several files with fixed names takes `--out DIR` (ppl, sweep, ses,
 * dominance, steer-eval, demo). Both are checked: a FILE is not a folder and has the right
 * extension; a DIR is not a file.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LapeError } from '../../errors.js';
import { buildReport } from '../../report/build-report.js';
import { encodeMasksSafetensors, masksToJson } from '../../select/masks-io.js';
import type { NeuronMasks } from '../../select/types.js';
import { writeFilesAtomic } from '../../util/atomic-write.js';
import type { CommandContext } from '../command.js';
import { group, opt, type Option, type OptionGroup, type OutputFile } from '../options/option.js';

export const DEFAULT_OUT = './lape-out';

const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();

/** report.html, which commands that refresh the folder's report write too. */
export const REPORT_OUTPUT: OutputFile = { name: 'report.html', format: 'html' };

/** `--out DIR`: the folder a multi-file command writes into; `files`: the names it writes there (output-guard.ts). */
export function outDir(files: readonly OutputFile[], defaultDir = DEFAULT_OUT): Option<string, string> {
  return opt.path('out', {
    metavar: 'DIR',
    default: defaultDir,
    io: { role: 'out', kind: 'dir', files, report: true },
    help: 'output folder; the files in it have fixed names (docs/outputs.md)',
    check: (p) => (existsSync(p) && !isDir(p) ? 'must be a folder (this command writes several files), not a file' : null),
  });
}

/**
 * `--out FILE`: the one result file a command writes, with its extension; `format` is what an
 * existing file there must be to be replaced without --force, `twins` the files written beside it
 * (output-guard.ts), `report` whether the folder's report.html is refreshed.
 */
export function outFile<Req extends boolean>(spec: { ext: string; help: string; required: Req; format: string; twins?: readonly OutputFile[]; report?: boolean }): Option<string, Req extends true ? string : string | undefined> {
  return opt.path('out', {
    metavar: 'FILE',
    help: spec.help,
    required: spec.required,
    io: { role: 'out', kind: 'file', ext: spec.ext, files: [{ name: '', format: spec.format }, ...(spec.twins ?? [])], report: spec.report ?? false },
    check: (p) => (isDir(p) ? 'must be a file (this command writes one result), not a folder' : p.endsWith(spec.ext) ? null : `must end in ${spec.ext}`),
  }) as Option<string, Req extends true ? string : string | undefined>;
}

export const NO_REPORT = opt.bool('no-report', { help: 'do not rebuild report.html in the output folder' });

/** Every command that writes results takes --force (output-guard.ts). */
export const FORCE = opt.bool('force', { help: 'replace an existing output file that lape did not write (another format)' });

/** The output group of a multi-file command: --out DIR with the files it writes there, --no-report, --force. */
export function outputGroup(files: readonly OutputFile[]): { group: OptionGroup; out: Option<string, string> } {
  const out = outDir(files);
  return { group: group('Output', out, NO_REPORT, FORCE), out };
}

/** The masks --out FILE of identify and import-tang: JSON with its .safetensors twin. */
export function masksOut(): Option<string, string> {
  return outFile({
    ext: '.json',
    required: true,
    help: 'masks JSON; masks .safetensors is written beside it',
    format: 'lape-masks',
    twins: [{ name: '.safetensors', format: 'lape-masks' }],
    report: true,
  });
}

/**
 * Rebuilds report.html in `dir` unless --no-report. The results are the product: a report that
 * cannot be built is a warning, not a failure of the command.
 */
export async function refreshReport(ctx: CommandContext, dir: string): Promise<string | null> {
  if (ctx.get(NO_REPORT)) return null;
  try {
    const r = await buildReport(dir);
    ctx.log(`report: ${r.path}`);
    return r.path;
  } catch (e) {
    if (!(e instanceof LapeError)) throw e;
    if (!ctx.quiet) process.stderr.write(`warning: report.html not rebuilt: ${e.message}\n`);
    return null;
  }
}

/** Writes the files (name → text) into `dir`, logs them, refreshes the report; returns the paths. */
export async function writeResults(ctx: CommandContext, dir: string, files: Record<string, string>, note = ''): Promise<{ paths: string[]; report: string | null }> {
  const paths = Object.keys(files).map((name) => join(dir, name));
  writeFilesAtomic(paths.map((p, i) => ({ path: p, data: Object.values(files)[i]! })));
  ctx.log(`wrote ${Object.keys(files).join(', ')} to ${dir}${note}`);
  return { paths, report: await refreshReport(ctx, dir) };
}

/** The sibling of a file with another extension: masks.json → masks.safetensors. */
export function withExtension(path: string, ext: string): string {
  const dot = path.lastIndexOf('.');
  const slash = path.lastIndexOf('/');
  return (dot > slash ? path.slice(0, dot) : path) + ext;
}

/** Masks as JSON at `out` and as safetensors beside it; logs both and refreshes the folder's report. */
export async function writeMasksResult(ctx: CommandContext, out: string, masks: NeuronMasks): Promise<{ json: string; safetensors: string; report: string | null }> {
  const st = withExtension(out, '.safetensors');
  // As a pair: a failure leaves both old files or both new ones.
  writeFilesAtomic([{ path: out, data: masksToJson(masks) }, { path: st, data: encodeMasksSafetensors(masks) }]);
  ctx.log(`wrote ${out} and ${st}`);
  return { json: out, safetensors: st, report: await refreshReport(ctx, dirname(out)) };
}

/**
 * Commands that write results into a folder rebuild that folder's report.html afterwards, so the
 * picture is always current. The results are the product: a report that cannot be built is a
 * warning, not a failure of the command.
 */
import { LapeError } from '../errors.js';
import { buildReport } from '../report/build-report.js';
import type { CommandContext, FlagSpec } from './command.js';
import { bool } from './flags.js';

export const REPORT_FLAGS: FlagSpec = { 'no-report': { type: 'boolean' } };
export const REPORT_DETAIL = '--no-report                  do not rebuild report.html in the output folder';

export async function refreshReport(ctx: CommandContext, dir: string): Promise<string | null> {
  if (bool(ctx, 'no-report')) return null;
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

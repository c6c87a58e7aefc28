/**
 * `buildReport(dir)`: one self-contained report.html from the result files of an output folder.
 * Each section appears only when its files exist; charts are Vega-Lite specs rendered to inline
 * SVG in Node; the numbers of every chart are in a CSV in the folder, linked from the page.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LapeError } from '../errors.js';
import { writeFilesAtomic } from '../util/atomic-write.js';
import { LAPE_VERSION } from '../version.js';
import { ReportContext, type SectionOutput } from './context.js';
import { escapeHtml, page } from './html.js';
import { lapeHistSection } from './sections/lape-hist.js';
import { layersSection } from './sections/layers.js';
import { overlapSection } from './sections/overlap.js';
import { pplSection } from './sections/ppl.js';
import { layersPplSection, methodsSection } from './sections/ppl-compare.js';
import { sesSection } from './sections/ses.js';
import { steeringSection } from './sections/steering.js';
import { summarySection } from './sections/summary.js';
import { sweepSection } from './sections/sweep.js';
import { examplesSection } from './sections/examples.js';
import { judgeSection } from './sections/judge.js';
import { stabilitySection } from './sections/stability.js';

export const REPORT_FILE = 'report.html';

/** The sections in page order: id and builder. */
export const SECTIONS: ReadonlyArray<{ id: string; build: (ctx: ReportContext) => Promise<SectionOutput | null> }> = [
  { id: 'summary', build: summarySection },
  { id: 'ppl', build: pplSection },
  { id: 'methods', build: methodsSection },
  { id: 'ppl-layers', build: layersPplSection },
  { id: 'layers', build: layersSection },
  { id: 'overlap', build: overlapSection },
  { id: 'examples', build: examplesSection },
  { id: 'sweep', build: sweepSection },
  { id: 'ses', build: sesSection },
  { id: 'steering', build: steeringSection },
  { id: 'judge', build: judgeSection },
  { id: 'lape', build: lapeHistSection },
  { id: 'stability', build: stabilitySection },
];

export interface ReportResult {
  /** Path of report.html. */
  path: string;
  /** Ids of the sections shown, in page order. */
  sections: string[];
  /** Charts rendered. */
  charts: number;
  /** CSV files linked from the page (relative to the folder). */
  csv: string[];
  /** CSV files the report wrote itself. */
  written: string[];
  /** Build time in milliseconds. */
  ms: number;
  bytes: number;
}

export interface BuildReportOptions {
  /** Called before each section is built (progress display). */
  onSection?: (id: string, index: number, total: number) => void;
  /** Page title (default: "lape report — <folder>"). */
  title?: string;
}

/** Builds DIR/report.html from the files in DIR. Bad input files throw a LapeError naming the file. */
export async function buildReport(dir: string, opts: BuildReportOptions = {}): Promise<ReportResult> {
  const t0 = performance.now();
  if (!existsSync(dir)) throw new LapeError('output folder does not exist', dir);
  if (!statSync(dir).isDirectory()) throw new LapeError('is not a folder', dir);
  const ctx = new ReportContext(dir);
  const built: SectionOutput[] = [];
  for (let i = 0; i < SECTIONS.length; i++) {
    const s = SECTIONS[i]!;
    opts.onSection?.(s.id, i, SECTIONS.length);
    const out = await s.build(ctx);
    if (out) built.push(out);
  }
  const when = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const html = page({
    title: opts.title ?? `lape report — ${resolve(dir).split(/[\\/]/).pop()}`,
    subtitle: `Language-specific neurons (LAPE, Tang et al., ACL 2024). Built by lape ${escapeHtml(LAPE_VERSION)} on ${escapeHtml(when)} from the files in <code>${escapeHtml(resolve(dir))}</code>.`,
    sections: built,
    footer: 'Self-contained: every chart is inline SVG, nothing is fetched. The numbers behind each chart are in the CSV file linked under it. Colours: Okabe–Ito, blue–orange and blue scales (colour-blind safe); lines also differ by dash pattern.',
  });
  const path = join(dir, REPORT_FILE);
  // The report's CSVs and report.html as one set: a full disk leaves the old set, never a mix.
  writeFilesAtomic([...ctx.pending, { path, data: html }]);
  const csv = [...new Set(built.flatMap((s) => s.csv))];
  return {
    path,
    sections: built.map((s) => s.id),
    charts: built.reduce((a, s) => a + s.charts, 0),
    csv,
    written: ctx.written,
    ms: Math.round(performance.now() - t0),
    bytes: Buffer.byteLength(html),
  };
}

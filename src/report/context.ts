/**
 * What every section builder gets: the folder's files, the masks and statistics loaded once,
 * chart rendering and CSV writing (atomic, into the folder, recorded for the summary).
 */
import { LapeError } from '../errors.js';
import { loadMasks } from '../select/masks-io.js';
import type { NeuronMasks } from '../select/types.js';
import { expandStatsPaths, loadStatsSet } from '../stats/stats-file.js';
import type { LangStats } from '../stats/types.js';
import type { FileToWrite } from '../util/atomic-write.js';
import { renderChart, type ChartSpec } from './charts.js';
import { toCsv, type CsvValue } from '../util/csv.js';
import { OutputFolder } from './input.js';

export interface SectionOutput {
  /** HTML id of the section (stable: tests and links use it). */
  id: string;
  title: string;
  html: string;
  /** Number of charts in the section. */
  charts: number;
  /** CSV files (relative names) the section links. */
  csv: string[];
}

export class ReportContext {
  readonly folder: OutputFolder;
  /** CSV files this build wrote. */
  readonly written: string[] = [];
  private masksCache: NeuronMasks | null | undefined;
  private statsCache: LangStats[] | null | undefined;
  private chartCount = 0;

  constructor(readonly dir: string) {
    this.folder = new OutputFolder(dir);
  }

  /** masks.json (or masks.safetensors) when present. */
  masks(): NeuronMasks | undefined {
    if (this.masksCache === undefined) {
      const rel = this.folder.has('masks.json') ? 'masks.json' : this.folder.has('masks.safetensors') ? 'masks.safetensors' : null;
      this.masksCache = rel ? loadMasks(this.folder.path(rel)) : null;
    }
    return this.masksCache ?? undefined;
  }

  masksFile(): string {
    return this.folder.has('masks.json') ? 'masks.json' : 'masks.safetensors';
  }

  /** stats/<lang>.safetensors when the folder has any. */
  stats(): LangStats[] | undefined {
    if (this.statsCache === undefined) {
      this.statsCache = null;
      if (this.folder.hasDir('stats')) {
        let files: string[] = [];
        try {
          files = expandStatsPaths([this.folder.path('stats')]);
        } catch (e) {
          if (!(e instanceof LapeError)) throw e; // an empty stats folder: no statistics
        }
        if (files.length) this.statsCache = loadStatsSet(files);
      }
    }
    return this.statsCache ?? undefined;
  }

  /** Renders a chart; ids are unique within the page. */
  chart(spec: ChartSpec, name: string, title: string): Promise<string> {
    this.chartCount++;
    return renderChart(spec, `c${this.chartCount}-${name}`, title);
  }

  /** CSV files the report owns, written together with report.html (all or none: buildReport). */
  readonly pending: FileToWrite[] = [];

  /** Queues `name` (a CSV the report owns) for the folder; returns its relative name. */
  writeCsv(name: string, header: readonly string[], rows: readonly (readonly CsvValue[])[]): string {
    this.pending.push({ path: this.folder.path(name), data: toCsv(header, rows) });
    this.written.push(name);
    return name;
  }

  /**
   * The CSV to link for a chart: the command's own file `existing` when the folder has it,
   * otherwise the report writes `fallback` with the given rows.
   */
  csvFor(existing: string | null, fallback: string, header: readonly string[], rows: () => readonly (readonly CsvValue[])[]): string {
    if (existing && this.folder.has(existing)) return existing;
    return this.writeCsv(fallback, header, rows());
  }
}

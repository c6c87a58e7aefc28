/**
 * What every section builder gets: the folder's files, the masks and statistics loaded once,
 * chart rendering and CSV writing (atomic, into the folder, recorded for the summary).
 */
import { readdirSync } from 'node:fs';
import { LapeError } from '../errors.js';
import { languageColors, type LanguageScale } from './charts.js';
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
  private langOrder: string[] | undefined;
  private statsCache: LangStats[] | null | undefined;
  private chartCount = 0;

  constructor(readonly dir: string) {
    this.folder = new OutputFolder(dir);
  }

  /** The folder's files whose names match `re`, sorted. */
  files(re: RegExp): string[] {
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names.filter((n) => re.test(n) && this.folder.has(n)).sort();
  }

  /**
   * Every masks file of the folder: masks.json and masks.NAME.json (identify --out), and
   * masks*.safetensors without a JSON twin; masks.json first.
   */
  masksFiles(): string[] {
    const json = this.files(/^masks(\.[^/]+)?\.json$/);
    const st = this.files(/^masks(\.[^/]+)?\.safetensors$/).filter((f) => !json.includes(f.replace(/\.safetensors$/, '.json')));
    const all = [...json, ...st];
    return [...all.filter((f) => f === 'masks.json' || f === 'masks.safetensors'), ...all.filter((f) => f !== 'masks.json' && f !== 'masks.safetensors')];
  }

  private masksByFile = new Map<string, NeuronMasks>();

  /** The masks in `rel` (loaded once). */
  masksOf(rel: string): NeuronMasks {
    let m = this.masksByFile.get(rel);
    if (!m) {
      m = loadMasks(this.folder.path(rel));
      this.masksByFile.set(rel, m);
    }
    return m;
  }

  /** The folder's main masks: masks.json, else the first masks file (e.g. masks.lave.json). */
  masks(): NeuronMasks | undefined {
    if (this.masksCache === undefined) {
      const rel = this.masksFiles()[0];
      this.masksCache = rel ? this.masksOf(rel) : null;
    }
    return this.masksCache ?? undefined;
  }

  masksFile(): string {
    return this.masksFiles()[0] ?? 'masks.json';
  }

  /** Every ppl result of the folder: ppl.json first, then ppl.NAME.json. */
  pplFiles(): string[] {
    const all = this.files(/^ppl(\.[^/]+)?\.json$/);
    return [...all.filter((f) => f === 'ppl.json'), ...all.filter((f) => f !== 'ppl.json')];
  }

  /**
   * One language order for the whole report: the run's languages, else the main ppl result's
   * evaluation order, else the masks' languages; languages met later are appended (see `order`).
   */
  languages(): string[] {
    if (!this.langOrder) {
      const order: string[] = [];
      const add = (ls: readonly string[]): void => {
        for (const l of ls) if (!order.includes(l)) order.push(l);
      };
      try {
        if (this.folder.has('run.json')) {
          const s = this.folder.json('run.json').get('settings');
          if (s.present && s.get('languages').present) add(s.get('languages').strings());
        }
        const ppl = this.pplFiles()[0];
        if (ppl) add(this.folder.json(ppl).get('evalLanguages').strings());
      } catch (e) {
        if (!(e instanceof LapeError)) throw e; // the section that owns the file reports it
      }
      add(this.masks()?.languages ?? []);
      this.langOrder = order;
    }
    return this.langOrder;
  }

  /** `langs` in the report's language order (unknown ones after, in their order). */
  order(langs: readonly string[]): string[] {
    const known = this.languages();
    for (const l of langs) if (!known.includes(l)) known.push(l);
    return [...langs].sort((a, b) => known.indexOf(a) - known.indexOf(b));
  }

  /** The colour (and dash) scale of `langs`: one language, one colour, in every chart of the report. */
  colors(langs: readonly string[]): LanguageScale {
    this.order(langs);
    return languageColors(this.languages(), langs);
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

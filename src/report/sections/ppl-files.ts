/**
 * The ppl results of a folder (ppl.json, ppl.NAME.json from `lape ppl --compare` and `--layers`),
 * read once, and what the perplexity sections share: heatmap cells in both measures (relative:
 * % of the unmodified PPL; absolute: PPL points), a colour domain that spans only the values
 * present, and the relative/absolute switch (CSS only: the page has no scripts).
 */
import { escapeHtml } from '../html.js';
import type { ReportContext } from '../context.js';
import type { Field } from '../input.js';

export type Measure = 'relative' | 'absolute';

export interface PplRowData {
  id: string;
  kind: string;
  lang: string | null;
  label: string;
  neurons: number | undefined;
  change: number[];
  ppl: number[];
  ratio: number[];
  /** Random rows with ≥ 2 seeds: [lo, hi] per evaluated language, both measures. */
  intervalChange?: Array<[number, number]>;
  intervalRatio?: Array<[number, number]>;
  seeds?: number;
}

export interface PplDoc {
  file: string;
  method: string;
  /** Masks file the rows come from. */
  masksFile: string | undefined;
  /** Layers the deactivations were restricted to (undefined: all). */
  layers: number[] | undefined;
  layerSpec: string | undefined;
  evaluated: string[];
  rows: PplRowData[];
  columnsOnly: string[];
  randomSeeds: number | undefined;
  /** chunks per evaluated language (to tell whether two files used the same sets). */
  chunks: number[];
}

/** The label a row gets in the chart. */
export function rowLabel(id: string, kind: string, lang: string | null): string {
  if (kind === 'none') return 'none (unmodified)';
  if (kind === 'random') return `random, size of ${lang ?? id.replace(/^random:/, '')}`;
  return lang ?? id;
}

function intervals(f: Field, evaluated: string[]): Array<[number, number]> | undefined {
  if (!f.present) return undefined;
  return evaluated.map((l) => {
    const v = f.get(l).numbers();
    return [v[0]!, v[1]!] as [number, number];
  });
}

export function readPpl(ctx: ReportContext, file: string): PplDoc {
  const root = ctx.folder.json(file);
  const evaluated = root.get('evalLanguages').strings();
  const masksF = root.get('masks');
  const method = root.get('method').optionalString() ?? (masksF.present ? masksF.get('method').optionalString() : undefined) ?? 'masks';
  const settings = root.get('settings');
  const layersF = settings.present ? settings.get('layers') : settings;
  const rows = root.get('rows').array().map((f): PplRowData => {
    const kind = f.get('kind').string();
    const id = f.get('id').string();
    const langF = f.get('lang');
    const lang = langF.value === null ? null : langF.string();
    const interval = f.get('interval');
    return {
      id,
      kind,
      lang,
      label: rowLabel(id, kind, lang),
      neurons: f.get('neurons').optionalNumber(),
      change: f.get('change').numbersByKey(evaluated),
      ppl: f.get('ppl').numbersByKey(evaluated),
      ratio: f.get('pplRatio').numbersByKey(evaluated),
      intervalChange: interval.present ? intervals(interval.get('change'), evaluated) : undefined,
      intervalRatio: interval.present ? intervals(interval.get('pplRatio'), evaluated) : undefined,
      seeds: f.get('seeds').present ? f.get('seeds').numbers().length : undefined,
    };
  });
  const eval_ = root.get('eval');
  return {
    file,
    method,
    masksFile: masksF.present ? masksF.get('file').optionalString() : undefined,
    layers: layersF.present ? layersF.numbers() : undefined,
    layerSpec: settings.present && settings.get('layerSpec').present ? settings.get('layerSpec').string() : undefined,
    evaluated,
    rows,
    columnsOnly: root.get('columnsOnly').present ? root.get('columnsOnly').strings() : [],
    randomSeeds: settings.present ? settings.get('randomSeeds').optionalNumber() : undefined,
    chunks: eval_.present ? eval_.array().map((e) => e.get('chunks').optionalNumber() ?? NaN) : [],
  };
}

/** Every ppl result of the folder, read (ppl.json first). */
export function pplDocs(ctx: ReportContext): PplDoc[] {
  return ctx.pplFiles().map((f) => readPpl(ctx, f));
}

/** The main result: ppl.json, else the first file that deactivates every layer. */
export function mainPpl(docs: PplDoc[]): PplDoc | undefined {
  return docs.find((d) => d.file === 'ppl.json') ?? docs.find((d) => !d.layers) ?? docs[0];
}

/** Masks rows in the evaluation order, then rows of languages that are not evaluated. */
export function orderedMasksRows(d: PplDoc): PplRowData[] {
  const masks = d.rows.filter((r) => r.kind === 'masks');
  const pos = (r: PplRowData): number => {
    const i = r.lang === null ? -1 : d.evaluated.indexOf(r.lang);
    return i < 0 ? d.evaluated.length : i;
  };
  return masks.map((r, i) => ({ r, i })).sort((a, b) => pos(a.r) - pos(b.r) || a.i - b.i).map((x) => x.r);
}

/** The value of a cell in a measure: relative = % of the unmodified PPL, absolute = PPL points. */
export function cellValue(r: PplRowData, i: number, m: Measure): number {
  return m === 'relative' ? (r.ratio[i]! - 1) * 100 : r.change[i]!;
}

/** Legend titles (short: the chart's subtitle says the rest). */
export const MEASURE_TITLE: Record<Measure, string> = {
  relative: 'PPL change (%)',
  absolute: 'PPL change (points)',
};

export const MEASURE_NAME: Record<Measure, string> = {
  relative: 'relative change: 100 · (PPL − PPL unmodified) / PPL unmodified',
  absolute: 'absolute change: PPL − PPL unmodified',
};

/**
 * A diverging scale centred at 0 over the values present only: the domain runs from the smallest
 * to the largest value (no empty negative half), and the colour ramp is cut to the same share of
 * the blue–orange scheme, so that −x and +x keep equal intensity.
 */
export function divergingScale(values: number[]): { scale: object; maxAbs: number; format: string } {
  const finite = values.filter((v) => Number.isFinite(v));
  const lo = Math.min(0, ...finite);
  const hi = Math.max(0, ...finite);
  const maxAbs = Math.max(1e-9, -lo, hi);
  const format = maxAbs >= 100 ? ',.0f' : maxAbs >= 10 ? '.1f' : '.2f';
  const extent = [0.5 - (0.5 * -lo) / maxAbs, 0.5 + (0.5 * hi) / maxAbs];
  return { scale: { domain: [lo, hi], scheme: { name: 'blueorange', extent } }, maxAbs, format };
}

/**
 * Two views of the same figure, one visible at a time, chosen by radio buttons (CSS only; the
 * choice is named above the figure and in each chart's title).
 */
export function measureSwitch(id: string, views: Record<Measure, string>): string {
  const name = `measure-${id}`;
  return [
    `<div class="switch" role="group" aria-label="Measure of the perplexity change">`,
    `<input type="radio" class="m-rel" name="${escapeHtml(name)}" id="${escapeHtml(name)}-rel" checked><label for="${escapeHtml(name)}-rel">relative change (% of the unmodified PPL)</label>`,
    `<input type="radio" class="m-abs" name="${escapeHtml(name)}" id="${escapeHtml(name)}-abs"><label for="${escapeHtml(name)}-abs">absolute change (PPL points)</label>`,
    `<div class="view v-rel">${views.relative}</div>`,
    `<div class="view v-abs">${views.absolute}</div>`,
    '</div>',
  ].join('\n');
}

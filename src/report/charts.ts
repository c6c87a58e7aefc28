/**
 * Charts: a Vega-Lite spec → Vega → a static SVG string, rendered in Node with the "none"
 * renderer and `view.toSVG()`. No canvas package is needed: text widths come from a table of
 * the charts' font (text-metrics.ts) instead of Vega's 0.8 em guess. The SVG is inlined into the
 * page; nothing is loaded at view time.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { escapeHtml } from './html.js';
import { installTextMetrics } from './text-metrics.js';

/** Okabe & Ito's colour-blind safe palette (yellow last: low contrast on white). */
export const OKABE_ITO = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#000000', '#F0E442'];

/** Dash patterns so that lines stay distinguishable without colour. */
export const DASHES = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [4, 4], [1, 3], [10, 2], [3, 1, 1, 1]];

/**
 * One colour per language, the same in every chart and every report: the paper's seven languages
 * have fixed Okabe–Ito colours; other languages take the unused ones (then greys) in the report's
 * language order.
 */
export const LANGUAGE_COLORS: Readonly<Record<string, string>> = {
  en: '#0072B2', zh: '#D55E00', fr: '#009E73', es: '#E69F00', vi: '#CC79A7', id: '#56B4E9', ja: '#000000',
};
const SPARE_COLORS = ['#F0E442', '#7F7F7F', '#B3B3B3', '#4D4D4D', '#999933', '#882255', '#44AA99', '#332288'];

export interface LanguageScale {
  domain: string[];
  range: string[];
  dashes: number[][];
}

/** Colour of every language of `order` (the report's languages, in order). */
export function languageColorMap(order: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  let spare = 0;
  for (const l of order) {
    const c = LANGUAGE_COLORS[l];
    map.set(l, c ?? SPARE_COLORS[spare++ % SPARE_COLORS.length]!);
  }
  return map;
}

/** A Vega-Lite scale for the languages `langs` (domain in `langs` order), colours from `order`. */
export function languageColors(order: readonly string[], langs: readonly string[]): LanguageScale {
  const map = languageColorMap(order);
  return {
    domain: [...langs],
    range: langs.map((l) => map.get(l) ?? '#7F7F7F'),
    dashes: langs.map((l) => DASHES[order.indexOf(l) % DASHES.length]!),
  };
}

/** Legend for line charts: line symbols that show the dash pattern, not just the colour. */
export const LINE_LEGEND = { symbolType: 'stroke', symbolStrokeWidth: 2.5, symbolSize: 500 } as const;

/** Shared look: readable fonts, colour-blind safe ranges (diverging blue–orange, viridis). */
export const CHART_CONFIG = {
  font: 'DejaVu Sans, Verdana, sans-serif',
  background: 'white',
  padding: 8,
  title: { fontSize: 15, fontWeight: 'bold', anchor: 'start', offset: 10 },
  axis: { labelLimit: 320, labelFontSize: 12, titleFontSize: 13, titleFontWeight: 'normal', grid: true, gridColor: '#e6e6e6' },
  legend: { labelLimit: 320, labelFontSize: 12, titleFontSize: 13, titleFontWeight: 'normal', symbolSize: 120 },
  header: { labelFontSize: 13, titleFontSize: 13 },
  range: { category: OKABE_ITO, diverging: { scheme: 'blueorange' }, heatmap: { scheme: 'viridis' }, ramp: { scheme: 'viridis' } },
  view: { stroke: '#bbb' },
  text: { fontSize: 12 },
} as const;

export type ChartSpec = TopLevelSpec;

/**
 * Renders a Vega-Lite spec to an SVG string. `id` prefixes the SVG's internal ids (clip paths,
 * gradients) so that many charts can share one page; `title` becomes the SVG's <title>.
 */
export async function renderChart(spec: ChartSpec, id: string, title: string): Promise<string> {
  installTextMetrics();
  const full = { ...spec, config: { ...CHART_CONFIG, ...(spec as { config?: object }).config } } as TopLevelSpec;
  const vgSpec = compile(full).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none', logLevel: vega.Error });
  try {
    const svg = await view.toSVG();
    return postProcess(svg, id, title);
  } finally {
    view.finalize();
  }
}

/** Prefixes ids and their references, adds a title and an image role with a label. */
function postProcess(svg: string, id: string, title: string): string {
  const p = `${id.replace(/[^A-Za-z0-9_-]/g, '_')}-`;
  let out = svg
    .replace(/\bid="([^"]+)"/g, (_m, x: string) => `id="${p}${x}"`)
    .replace(/url\(#([^)]+)\)/g, (_m, x: string) => `url(#${p}${x})`)
    .replace(/(xlink:href|href)="#([^"]+)"/g, (_m, a: string, x: string) => `${a}="#${p}${x}"`);
  out = out.replace(/^<svg\b([^>]*)>/, (_m, attrs: string) => {
    const cleaned = attrs.replace(/\s(role|aria-label|aria-roledescription)="[^"]*"/g, '');
    return `<svg${cleaned} role="img" aria-label="${escapeHtml(title)}" data-chart="${escapeHtml(id)}"><title>${escapeHtml(title)}</title>`;
  });
  return out;
}

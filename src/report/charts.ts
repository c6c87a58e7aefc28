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

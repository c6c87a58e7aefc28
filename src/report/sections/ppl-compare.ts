/**
 * Deactivation matrices side by side, as small multiples on one colour scale:
 * - "methods" (paper Fig. 2): the identification methods (LAPE, LAP, LAVE, PV, RS …) on the same
 *   evaluation sets — ppl.json and the ppl.NAME.json of `lape ppl --compare`; with a table of the
 *   diagonal-dominance margins per method;
 * - "ppl-layers": the same neurons zeroed in all layers, only the bottom or only the top layers
 *   (`lape ppl --layers`), to test the U-shape of the layer distribution causally.
 * Both have the relative/absolute switch.
 */
import { figure, table, type Cell } from '../html.js';
import type { ReportContext, SectionOutput } from '../context.js';
import type { ChartSpec } from '../charts.js';
import { MEASURE_NAME, MEASURE_TITLE, cellValue, divergingScale, mainPpl, measureSwitch, orderedMasksRows, pplDocs, type Measure, type PplDoc } from './ppl-files.js';
import { heatmapSpec, matrixCells, type PplCell } from './ppl.js';

const METHOD_ORDER = ['lape', 'lap', 'lave', 'pv', 'rs'];
const METHOD_NAMES: Record<string, string> = { lape: 'LAPE', lap: 'LAP', lave: 'LAVE', pv: 'PV', rs: 'RS (random)', tang2024: 'Tang et al. (released)' };

interface Panel {
  label: string;
  doc: PplDoc;
}

/** Per language of the panel: own cell, and its margins over the rest of its row and column. */
export function margins(d: PplDoc, m: Measure): Array<{ lang: string; own: number; row: number | null; column: number | null }> {
  const rows = orderedMasksRows(d).filter((r) => r.lang !== null && d.evaluated.includes(r.lang));
  return rows.map((r) => {
    const i = d.evaluated.indexOf(r.lang!);
    const own = cellValue(r, i, m);
    const others = d.evaluated.map((_, j) => j).filter((j) => j !== i).map((j) => cellValue(r, j, m));
    const col = rows.filter((x) => x !== r).map((x) => cellValue(x, i, m));
    return { lang: r.lang!, own, row: others.length ? own - Math.max(...others) : null, column: col.length ? own - Math.max(...col) : null };
  });
}

async function panelsFigure(ctx: ReportContext, id: string, panels: Panel[], what: string): Promise<{ html: string; csv: string }> {
  const evaluated = ctx.order([...new Set(panels.flatMap((p) => p.doc.evaluated))]);
  const csvRows: Array<Array<string | number>> = [];
  for (const p of panels) for (const c of matrixCells(p.doc, 'absolute').cells) csvRows.push([p.label, c.row, c.evaluated, c.ppl, c.change, c.ratio]);
  const csv = ctx.writeCsv(`report-${id}.csv`, ['panel', 'deactivated', 'evaluated', 'ppl', 'change', 'ppl_ratio'], csvRows);
  const views = {} as Record<Measure, string>;
  for (const m of ['relative', 'absolute'] as const) {
    const cells: PplCell[] = [];
    const rowOrder: string[] = [];
    for (const p of panels) {
      const r = matrixCells(p.doc, m, { panel: p.label });
      cells.push(...r.cells);
      for (const l of r.rows) if (!rowOrder.includes(l)) rowOrder.push(l);
    }
    const { scale, maxAbs, format } = divergingScale(cells.map((c) => c.value));
    const inner = heatmapSpec({
      title: '',
      subtitle: '',
      description: '',
      values: [],
      x: { field: 'evaluated', title: 'Evaluated language', sort: evaluated },
      y: { field: 'row', title: 'Neurons deactivated', sort: ctx.order(rowOrder) },
      value: { field: 'value', title: MEASURE_TITLE[m], format },
      scale,
      darkAbove: maxAbs * 0.6,
    }) as unknown as Record<string, unknown>;
    const { title: _t, description: _d, data: _v, ...rest } = inner;
    const spec = {
      title: { text: `${what} — ${m}`, subtitle: `${MEASURE_NAME[m]}; one colour scale for all panels; rows: neurons zeroed, columns: evaluated language` },
      description: `Small multiples of the ${m} perplexity-change matrix: ${panels.map((p) => p.label).join(', ')}.`,
      data: { values: cells },
      facet: { field: 'panel', type: 'nominal', title: null, sort: panels.map((p) => p.label), header: { labelFontSize: 14, labelFontWeight: 'bold' } },
      columns: 2,
      spec: { ...rest, width: { step: 34 }, height: { step: 24 } },
    } as unknown as ChartSpec;
    views[m] = figure(await ctx.chart(spec, `${id}-${m}`, `${what} (${m})`), `${what}: ${m} perplexity change, one panel each, one colour scale.`, [csv]);
  }
  return { html: measureSwitch(id, views), csv };
}

function sameSets(a: PplDoc, b: PplDoc): boolean {
  return a.evaluated.join() === b.evaluated.join() && a.chunks.join() === b.chunks.join();
}

export async function methodsSection(ctx: ReportContext): Promise<SectionOutput | null> {
  const docs = pplDocs(ctx).filter((d) => !d.layers);
  if (docs.length < 2) return null;
  const main = mainPpl(docs)!;
  const rank = (d: PplDoc): number => {
    const i = METHOD_ORDER.indexOf(d.method);
    return i < 0 ? METHOD_ORDER.length : i;
  };
  const sorted = [...docs].sort((a, b) => rank(a) - rank(b));
  const names = sorted.map((d) => METHOD_NAMES[d.method] ?? d.method);
  const panels: Panel[] = sorted.map((d, i) => ({ label: names.filter((n) => n === names[i]).length > 1 ? `${names[i]} (${d.file})` : names[i]!, doc: d }));
  const { html, csv } = await panelsFigure(ctx, 'methods', panels, 'Identification methods side by side (paper Fig. 2)');
  const parts = [html];
  const differ = panels.filter((p) => !sameSets(p.doc, main));
  if (differ.length) parts.push(`<p class="note">Not on the same evaluation sets as ${main.file}: ${differ.map((p) => p.doc.file).join(', ')} (languages or chunks differ).</p>`);
  const langs = ctx.order([...new Set(panels.flatMap((p) => margins(p.doc, 'relative').map((x) => x.lang)))]);
  const pp = (x: number | null | undefined): Cell => (x === null || x === undefined ? null : `${x >= 0 ? '+' : ''}${x.toFixed(2)}`);
  const rows: Cell[][] = panels.map((p) => {
    const ms = margins(p.doc, 'relative');
    const dominant = ms.filter((x) => (x.row ?? 1) > 0 && (x.column ?? 1) > 0).length;
    const meanOwn = ms.reduce((a, x) => a + x.own, 0) / Math.max(1, ms.length);
    return [p.label, p.doc.file, ...langs.map((l) => pp(ms.find((x) => x.lang === l)?.row)), pp(meanOwn), `${dominant} of ${ms.length}`];
  });
  parts.push(
    table(['Method', 'File', ...langs, 'Mean own change', 'Own cell largest of row and column'], rows, {
      caption: 'Diagonal dominance per method: own cell − largest other cell of its row (relative change, percentage points)',
      rowHeaders: 1,
    }),
  );
  return { id: 'methods', title: 'Identification methods (Fig. 2)', html: parts.join('\n'), charts: 2, csv: [csv] };
}

export async function layersPplSection(ctx: ReportContext): Promise<SectionOutput | null> {
  const all = pplDocs(ctx);
  const restricted = all.filter((d) => d.layers);
  if (!restricted.length) return null;
  const full = all.find((d) => !d.layers && d.masksFile !== undefined && d.masksFile === restricted[0]!.masksFile) ?? mainPpl(all.filter((d) => !d.layers));
  const label = (d: PplDoc): string => (d.layers ? `layers ${d.layerSpec ?? ''} (${d.layers.join(', ')})`.replace('  ', ' ') : 'all layers');
  const panels: Panel[] = [...(full ? [full] : []), ...restricted].map((d) => ({ label: label(d), doc: d }));
  const { html, csv } = await panelsFigure(ctx, 'ppl-layers', panels, 'Deactivating only some layers’ neurons');
  const langs = ctx.order([...new Set(panels.flatMap((p) => margins(p.doc, 'relative').map((x) => x.lang)))]);
  const pct = (x: number | undefined): Cell => (x === undefined ? null : `${x >= 0 ? '+' : ''}${x.toFixed(2)} %`);
  const rows: Cell[][] = panels.map((p) => {
    const ms = margins(p.doc, 'relative');
    const neurons = orderedMasksRows(p.doc).reduce((a, r) => a + (r.neurons ?? 0), 0);
    return [p.label, neurons, ...langs.map((l) => pct(ms.find((x) => x.lang === l)?.own))];
  });
  return {
    id: 'ppl-layers',
    title: 'Layer-restricted deactivation',
    html: [
      html,
      table(['Layers', 'Neurons zeroed (all rows)', ...langs], rows, { caption: 'Each language’s own PPL change (relative) with its neurons zeroed in all layers or only in some' }),
      '<p class="note">The U-shape of the layer distribution, tested causally: compare how much of the all-layers effect zeroing only the bottom or only the top layers’ neurons keeps.</p>',
    ].join('\n'),
    charts: 2,
    csv: [csv],
  };
}

/**
 * Section 2, perplexity change under deactivation (paper Fig. 2/3): heatmap with rows = language
 * whose neurons are zeroed (then the random-control rows), columns = evaluated language, the PPL
 * change printed in each cell, on a diverging colour scale centred at 0. From ppl.json
 * (src/experiments/deactivation.ts PplMatrix).
 */
import { figure, table, type Cell } from '../html.js';
import type { ReportContext, SectionOutput } from '../context.js';
import type { ChartSpec } from '../charts.js';
import { MEASURE_NAME, MEASURE_TITLE, cellValue, divergingScale, mainPpl, measureSwitch, orderedMasksRows, pplDocs, rowLabel, type Measure, type PplDoc } from './ppl-files.js';

export interface PplCell {
  row: string;
  kind: string;
  evaluated: string;
  value: number;
  change: number;
  ppl: number;
  ratio: number;
  /** Small-multiple panel (method or layers), when several matrices share one chart. */
  panel?: string;
  /** A language's own cell that does not exceed the upper end of its random interval. */
  notAboveRandom?: boolean;
}

export { rowLabel };

/** A diverging heatmap with the values printed in the cells (shared with the overlap chart). */
export function heatmapSpec(opts: {
  title: string;
  subtitle: string;
  description: string;
  values: object[];
  x: { field: string; title: string; sort: string[] };
  y: { field: string; title: string; sort: string[] };
  value: { field: string; title: string; format: string };
  scale: object;
  /** |value| beyond which the cell text turns white. */
  darkAbove: number;
  darkBelow?: number;
  /** Boolean field: cells outlined with a dashed black border. */
  flag?: string;
}): ChartSpec {
  const cols = opts.x.sort.length;
  const step = Math.max(44, Math.min(72, Math.floor(640 / Math.max(1, cols))));
  const dark = opts.darkBelow === undefined
    ? `abs(datum['${opts.value.field}']) > ${opts.darkAbove}`
    : `datum['${opts.value.field}'] > ${opts.darkAbove} || datum['${opts.value.field}'] < ${opts.darkBelow}`;
  return {
    title: { text: opts.title, subtitle: opts.subtitle },
    description: opts.description,
    data: { values: opts.values },
    width: { step },
    height: { step: 30 },
    encoding: {
      x: { field: opts.x.field, type: 'nominal', title: opts.x.title, sort: opts.x.sort, axis: { orient: 'top', labelAngle: 0, grid: false, ticks: false, domain: false } },
      y: { field: opts.y.field, type: 'nominal', title: opts.y.title, sort: opts.y.sort, axis: { grid: false, ticks: false, domain: false } },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: { color: { field: opts.value.field, type: 'quantitative', title: opts.value.title, scale: opts.scale, legend: { gradientLength: 220 } } },
      },
      {
        mark: { type: 'text', fontSize: 11 },
        encoding: {
          text: { field: opts.value.field, type: 'quantitative', format: opts.value.format },
          color: { condition: { test: dark, value: 'white' }, value: 'black' },
        },
      },
      ...(opts.flag
        ? [{
            transform: [{ filter: `datum['${opts.flag}'] === true` }],
            mark: { type: 'rect', fill: null, stroke: 'black', strokeWidth: 2.5, strokeDash: [4, 2] },
          }]
        : []),
    ],
  } as ChartSpec;
}

/** Cells of one matrix in a measure: masks rows in evaluation order, then (optionally) random rows. */
export function matrixCells(d: PplDoc, m: Measure, opts: { random?: boolean; panel?: string } = {}): { cells: PplCell[]; rows: string[] } {
  const masksRows = orderedMasksRows(d);
  const randomRows = opts.random ? d.rows.filter((r) => r.kind === 'random') : [];
  const order = [...masksRows, ...randomRows];
  const cells = order.flatMap((r) =>
    d.evaluated.map((e, i) => {
      const own = r.kind === 'masks' && r.lang === e;
      const rnd = own ? d.rows.find((x) => x.kind === 'random' && x.lang === e) : undefined;
      const iv = rnd ? (m === 'relative' ? rnd.intervalRatio : rnd.intervalChange) : undefined;
      const hi = iv ? (m === 'relative' ? (iv[i]![1] - 1) * 100 : iv[i]![1]) : undefined;
      const cell: PplCell = { row: r.label, kind: r.kind, evaluated: e, value: cellValue(r, i, m), change: r.change[i]!, ppl: r.ppl[i]!, ratio: r.ratio[i]! };
      if (opts.panel !== undefined) cell.panel = opts.panel;
      if (hi !== undefined) cell.notAboveRandom = !(cellValue(r, i, m) > hi);
      return cell;
    }),
  );
  return { cells, rows: order.map((r) => r.label) };
}

export async function pplSection(ctx: ReportContext): Promise<SectionOutput | null> {
  const docs = pplDocs(ctx);
  const d = mainPpl(docs);
  if (!d) return null;
  const evaluated = d.evaluated;
  const base = d.rows.find((r) => r.kind === 'none');
  const hasRandom = d.rows.some((r) => r.kind === 'random');
  const hasInterval = d.rows.some((r) => r.intervalRatio);
  const csvName = d.file.replace(/\.json$/, '.csv');
  const csvFile = ctx.csvFor(csvName, `report-${csvName}`, ['row', 'kind', 'evaluated', 'ppl', 'change', 'ppl_ratio'], () =>
    matrixCells(d, 'absolute', { random: true }).cells.map((c) => [c.row, c.kind, c.evaluated, c.ppl, c.change, c.ratio]),
  );
  const layerNote = d.layers ? `; only layers ${d.layerSpec ?? d.layers.join(',')} deactivated` : '';
  const views = {} as Record<Measure, string>;
  for (const m of ['relative', 'absolute'] as const) {
    const { cells, rows } = matrixCells(d, m, { random: true });
    const { scale, maxAbs, format } = divergingScale(cells.map((c) => c.value));
    const spec = heatmapSpec({
      title: `Perplexity change when language-specific neurons are deactivated — ${m}`,
      subtitle: `${MEASURE_NAME[m]}; rows: neurons zeroed (${d.method}${layerNote}), columns: evaluated language`,
      description: `Heatmap of the ${m} perplexity change per deactivated language (rows) and evaluated language (columns)${hasRandom ? ', with random-control rows' : ''}.`,
      values: cells,
      x: { field: 'evaluated', title: 'Evaluated language', sort: evaluated },
      y: { field: 'row', title: 'Neurons deactivated', sort: rows },
      value: { field: 'value', title: MEASURE_TITLE[m], format },
      scale,
      darkAbove: maxAbs * 0.6,
      ...(hasInterval ? { flag: 'notAboveRandom' } : {}),
    });
    views[m] = figure(
      await ctx.chart(spec, `ppl-${m}`, `Perplexity change heatmap (${m})`),
      `Perplexity change (${m}) per deactivated language (rows) and evaluated language (columns). Orange: perplexity rises; blue: it falls.${hasRandom ? ` Random rows zero random neurons of the same per-layer sizes${d.randomSeeds && d.randomSeeds > 1 ? ` (mean of ${d.randomSeeds} seeds)` : ''}.` : ''}${hasInterval ? ' Dashed outline: a language’s own cell that does not exceed the upper end of its random 95 % interval.' : ''}${d.columnsOnly.length ? ` ${d.columnsOnly.join(', ')}: evaluated, no neurons in the masks (column without a row).` : ''}`,
      [csvFile],
    );
  }
  const parts = [measureSwitch('ppl', views)];
  const shown = [...orderedMasksRows(d), ...d.rows.filter((r) => r.kind === 'random')];
  if (base) {
    parts.push(
      table(
        ['', ...evaluated],
        [
          ['PPL, unmodified model', ...base.ppl],
          ...shown.map((r) => [`PPL, ${r.label}${r.neurons !== undefined ? ` (${r.neurons} neurons)` : ''}`, ...r.ppl] as Cell[]),
        ],
        { caption: 'Perplexity per evaluated language (columns)', digits: 2 },
      ),
    );
  }
  if (hasRandom) {
    const pct = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(2)} %`;
    const rows: Cell[][] = orderedMasksRows(d)
      .filter((r) => r.lang !== null && evaluated.includes(r.lang))
      .map((r) => {
        const i = evaluated.indexOf(r.lang!);
        const rnd = d.rows.find((x) => x.kind === 'random' && x.lang === r.lang);
        const own = (r.ratio[i]! - 1) * 100;
        const iv = rnd?.intervalRatio?.[i];
        const hi = iv ? (iv[1] - 1) * 100 : undefined;
        return [
          r.lang!,
          pct(own),
          rnd ? pct((rnd.ratio[i]! - 1) * 100) : null,
          iv ? `${pct((iv[0] - 1) * 100)} … ${pct(hi!)}` : null,
          hi === undefined ? null : { html: own > hi ? 'yes' : '<strong>no</strong>' },
        ];
      });
    parts.push(
      table(['Language', 'Own neurons zeroed', `Random neurons${d.randomSeeds && d.randomSeeds > 1 ? `, mean of ${d.randomSeeds} seeds` : ''}`, 'Random, 95 % interval', 'Own above the interval'], rows, {
        caption: 'Each language’s own PPL change (relative) against random neurons of the same per-layer sizes',
      }),
    );
    if (!hasInterval) parts.push('<p class="note">One random seed: no interval. <code>lape ppl --random-control --random-seeds N</code> (N ≥ 2) gives each random cell a 95 % interval of a random set’s value (Student t, N − 1 degrees of freedom).</p>');
  }
  return { id: 'ppl', title: 'Perplexity under deactivation', html: parts.join('\n'), charts: 2, csv: [csvFile] };
}

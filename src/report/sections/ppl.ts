/**
 * Section 2, perplexity change under deactivation (paper Fig. 2/3): heatmap with rows = language
 * whose neurons are zeroed (then the random-control rows), columns = evaluated language, the PPL
 * change printed in each cell, on a diverging colour scale centred at 0. From ppl.json
 * (src/experiments/deactivation.ts PplMatrix).
 */
import { figure, table, type Cell } from '../html.js';
import type { ReportContext, SectionOutput } from '../context.js';
import type { ChartSpec } from '../charts.js';

export interface PplCell {
  row: string;
  kind: string;
  evaluated: string;
  change: number;
  ppl: number;
  ratio: number;
}

/** The label a row gets in the chart. */
export function rowLabel(id: string, kind: string, lang: string | null): string {
  if (kind === 'none') return 'none (unmodified)';
  if (kind === 'random') return `random, size of ${lang ?? id.replace(/^random:/, '')}`;
  return lang ?? id;
}

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
    ],
  } as ChartSpec;
}

export async function pplSection(ctx: ReportContext): Promise<SectionOutput | null> {
  if (!ctx.folder.has('ppl.json')) return null;
  const root = ctx.folder.json('ppl.json');
  const evaluated = root.get('evalLanguages').strings();
  const method = root.get('method').optionalString() ?? (root.get('masks').present ? root.get('masks').get('method').optionalString() : undefined);
  const rowsF = root.get('rows').array();
  const rows = rowsF.map((f) => {
    const kind = f.get('kind').string();
    const id = f.get('id').string();
    const langF = f.get('lang');
    const lang = langF.value === null ? null : langF.string();
    return {
      id,
      kind,
      label: rowLabel(id, kind, lang),
      neurons: f.get('neurons').optionalNumber(),
      change: f.get('change').numbersByKey(evaluated),
      ppl: f.get('ppl').numbersByKey(evaluated),
      ratio: f.get('pplRatio').numbersByKey(evaluated),
    };
  });
  const base = rows.find((r) => r.kind === 'none');
  const shown = rows.filter((r) => r.kind !== 'none');
  const order = [...shown.filter((r) => r.kind !== 'random'), ...shown.filter((r) => r.kind === 'random')];
  const cells: PplCell[] = order.flatMap((r) =>
    evaluated.map((e, i) => ({ row: r.label, kind: r.kind, evaluated: e, change: r.change[i]!, ppl: r.ppl[i]!, ratio: r.ratio[i]! })),
  );
  const maxAbs = Math.max(1e-9, ...cells.map((c) => Math.abs(c.change)));
  const digits = maxAbs >= 100 ? ',.0f' : maxAbs >= 10 ? '.1f' : '.2f';
  const csvFile = ctx.csvFor('ppl.csv', 'report-ppl.csv', ['row', 'kind', 'evaluated', 'ppl', 'change', 'ppl_ratio'], () =>
    cells.map((c) => [c.row, c.kind, c.evaluated, c.ppl, c.change, c.ratio]),
  );
  const spec = heatmapSpec({
    title: 'Perplexity change when language-specific neurons are deactivated',
    subtitle: `PPL(deactivated) − PPL(unmodified); rows: neurons zeroed${method ? ` (${method})` : ''}, columns: evaluated language`,
    description: 'Heatmap of the perplexity change per deactivated language (rows) and evaluated language (columns), with random-control rows.',
    values: cells,
    x: { field: 'evaluated', title: 'Evaluated language', sort: evaluated },
    y: { field: 'row', title: 'Neurons deactivated', sort: order.map((r) => r.label) },
    value: { field: 'change', title: 'PPL change', format: digits },
    scale: { scheme: 'blueorange', domainMid: 0, domain: [-maxAbs, maxAbs] },
    darkAbove: maxAbs * 0.6,
  });
  const parts = [
    figure(
      await ctx.chart(spec, 'ppl', 'Perplexity change heatmap'),
      'Perplexity change per deactivated language (rows) and evaluated language (columns). Orange: perplexity rises; blue: it falls. Random rows zero random neurons of the same per-layer sizes.',
      [csvFile],
    ),
  ];
  if (base) {
    parts.push(
      table(
        ['', ...evaluated],
        [
          ['PPL, unmodified model', ...base.ppl],
          ...order.map((r) => [`PPL, ${r.label}${r.neurons !== undefined ? ` (${r.neurons} neurons)` : ''}`, ...r.ppl] as Cell[]),
        ],
        { caption: 'Perplexity per evaluated language (columns)', digits: 2 },
      ),
    );
  }
  return { id: 'ppl', title: 'Perplexity under deactivation', html: parts.join('\n'), charts: 1, csv: [csvFile] };
}

/**
 * Section 8, the selection's distribution: histogram of the per-neuron entropy that LAPE (or
 * LAVE) ranks by, the selected neurons in their own colour, and the threshold (the largest
 * selected entropy) as a rule. Recomputed from stats/<lang>.safetensors with the masks' knobs.
 * Writes lape-hist.csv (the chart's numbers).
 */
import { lapeSelection } from '../../select/lape.js';
import { laveSelection } from '../../select/lave.js';
import { DEFAULT_TOP_RATE, type EntropySelection } from '../../select/entropy.js';
import { factTable, figure } from '../html.js';
import type { ReportContext, SectionOutput } from '../context.js';
import type { ChartSpec } from '../charts.js';

export const HIST_BINS = 40;

export interface EntropyHistogram {
  binWidth: number;
  bins: Array<{ start: number; end: number; selected: number; other: number }>;
  /** Neurons with entropy +∞ (below the filter bar in every language). */
  filtered: number;
}

/** Bins the finite entropies over [smallest (rounded down to 0.05), largest] into `bins` equal bins. */
export function entropyHistogram(sel: EntropySelection, languages: number, bins = HIST_BINS): EntropyHistogram {
  const chosen = new Uint8Array(sel.entropy.length);
  for (const j of sel.selected) chosen[j] = 1;
  // The axis spans the entropies present (not 0 … ln K, which left most of it empty): from the
  // smallest finite entropy (rounded down to 0.05) to the largest.
  let max = -Infinity;
  let min = Infinity;
  let filtered = 0;
  for (const h of sel.entropy) {
    if (h === Infinity) filtered++;
    else {
      if (h > max) max = h;
      if (h < min) min = h;
    }
  }
  if (!(max > -Infinity)) {
    min = 0;
    max = Math.log(Math.max(2, languages));
  }
  const start = Math.max(0, Math.floor(min * 20) / 20);
  if (max <= start) max = start + 0.05;
  const width = (max - start) / bins;
  const out = Array.from({ length: bins }, (_, b) => ({ start: start + b * width, end: start + (b + 1) * width, selected: 0, other: 0 }));
  sel.entropy.forEach((h, j) => {
    if (h === Infinity) return;
    const b = Math.min(bins - 1, Math.max(0, Math.floor((h - start) / width)));
    if (chosen[j]) out[b]!.selected++;
    else out[b]!.other++;
  });
  return { binWidth: width, bins: out, filtered };
}

export async function lapeHistSection(ctx: ReportContext): Promise<SectionOutput | null> {
  const stats = ctx.stats();
  if (!stats || stats.length < 2) return null;
  const masks = ctx.masks();
  const num = (k: string): number | undefined => {
    const v = masks?.settings[k];
    return typeof v === 'number' ? v : undefined;
  };
  const method = masks?.method === 'lave' ? 'lave' : 'lape';
  const knobs = masks && (masks.method === 'lape' || masks.method === 'lave')
    ? { topRate: num('topRate'), filterRate: num('filterRate'), barRatio: num('barRatio') }
    : {};
  const sel = method === 'lave' ? laveSelection(stats, knobs) : lapeSelection(stats, knobs);
  const hist = entropyHistogram(sel, stats.length);
  const threshold = sel.thresholdEntropy;
  const file = ctx.writeCsv(
    'lape-hist.csv',
    ['entropy_from', 'entropy_to', 'neurons_selected', 'neurons_not_selected', 'threshold_entropy'],
    hist.bins.map((b) => [b.start, b.end, b.selected, b.other, threshold ?? null]),
  );
  const values = hist.bins.flatMap((b) => [
    { from: b.start, to: b.end, group: 'selected', neurons: b.selected },
    { from: b.start, to: b.end, group: 'not selected', neurons: b.other },
  ]);
  const name = method.toUpperCase();
  const score = method === 'lave' ? 'mean activation values' : 'activation probabilities';
  const layers = [
    {
      data: { values },
      mark: { type: 'bar', binSpacing: 0 },
      encoding: {
        x: { field: 'from', type: 'quantitative', bin: { binned: true, step: hist.binWidth }, scale: { zero: false, nice: false }, axis: { format: '.2f' }, title: `${name} entropy over languages (nats)` },
        x2: { field: 'to' },
        y: { field: 'neurons', type: 'quantitative', title: 'Neurons (count)', stack: 'zero' },
        color: { field: 'group', type: 'nominal', title: 'Neuron', sort: ['selected', 'not selected'], scale: { range: ['#D55E00', '#56B4E9'] } },
      },
    },
    ...(threshold === undefined
      ? []
      : [
          {
            data: { values: [{ threshold, label: `threshold ${threshold.toFixed(3)}` }] },
            layer: [
              { mark: { type: 'rule', color: '#000', strokeDash: [5, 3], strokeWidth: 1.5 }, encoding: { x: { field: 'threshold', type: 'quantitative' } } },
              { mark: { type: 'text', align: 'left', dx: 4, dy: -4, baseline: 'bottom', fontSize: 12 }, encoding: { x: { field: 'threshold', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } } },
            ],
          },
        ]),
  ];
  const spec = {
    title: {
      text: `${name} entropy distribution and the selection threshold`,
      subtitle: `entropy of the normalised ${score} of ${stats.length} languages; ${sel.candidates} candidate neurons, ${hist.filtered} below the filter bar not shown`,
    },
    description: `Histogram of the ${name} entropy of the candidate neurons; the selected neurons (lowest entropy) and the threshold are marked.`,
    width: 640,
    height: 280,
    layer: layers,
  } as unknown as ChartSpec;
  const note = masks && masks.method !== method
    ? `<p class="note">The masks in this folder were made by method “${masks.method}”; shown is LAPE with its default knobs on this folder’s statistics, for comparison.</p>`
    : '';
  return {
    id: 'lape',
    title: `${name} distribution`,
    html: [
      note,
      figure(await ctx.chart(spec, 'lape-hist', `${name} entropy histogram`), `Distribution of the per-neuron ${name} entropy over languages (lower = more language-specific). The ${sel.selected.length} neurons at or left of the dashed threshold are selected.`, [file]),
      factTable([
        ['method', method],
        ['top-rate', knobs.topRate ?? DEFAULT_TOP_RATE],
        ['neurons requested (round(L·I·top-rate))', sel.requested],
        ['candidate neurons (max over languages above the filter bar)', sel.candidates],
        ['neurons selected', sel.selected.length],
        [`filter bar (${score})`, sel.filterBar],
        [`activation bar (${score})`, sel.activationBar],
        ['threshold entropy (nats)', threshold ?? null],
      ], 'Selection facts'),
    ].join('\n'),
    charts: 1,
    csv: [file],
  };
}

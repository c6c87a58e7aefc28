/**
 * Section 4, overlap between languages: heatmap of |A ∩ B| / |A| (row A, column B) with the
 * percentages printed in the cells. From masks.json.
 */
import { intersectionMatrix, overlapMatrix } from '../../select/masks.js';
import { figure, table, type Cell } from '../html.js';
import type { ReportContext, SectionOutput } from '../context.js';
import { heatmapSpec } from './ppl.js';

export async function overlapSection(ctx: ReportContext): Promise<SectionOutput | null> {
  const masks = ctx.masks();
  if (!masks || masks.languages.length < 2) return null;
  const ov = overlapMatrix(masks);
  const inter = intersectionMatrix(masks);
  const langs = ctx.order(masks.languages);
  const idx = (l: string): number => masks.languages.indexOf(l);
  const values = langs.flatMap((a) =>
    langs.map((b) => ({ a, b, overlap: Number.isNaN(ov[idx(a)]![idx(b)]!) ? null : ov[idx(a)]![idx(b)]!, shared: inter[idx(a)]![idx(b)]! })),
  );
  const csvFile = ctx.csvFor('overlap.csv', 'report-overlap.csv', ['language_a', 'language_b', 'shared_neurons', 'overlap_share_of_a'], () =>
    values.map((v) => [v.a, v.b, v.shared, v.overlap]),
  );
  const spec = heatmapSpec({
    title: 'Overlap of language-specific neurons',
    subtitle: '|A ∩ B| / |A|: share of row language A’s neurons that column language B also has',
    description: 'Heatmap of the overlap between the neuron sets of each pair of languages.',
    values: values.filter((v) => v.overlap !== null),
    x: { field: 'b', title: 'Language B', sort: langs },
    y: { field: 'a', title: 'Language A', sort: langs },
    value: { field: 'overlap', title: 'Overlap (share of A)', format: '.0%' },
    scale: { scheme: 'blues', domain: [0, 1] },
    darkAbove: 0.55,
    darkBelow: -1,
  });
  const rows: Cell[][] = langs.map((a) => [a, ...langs.map((b) => inter[idx(a)]![idx(b)]!)]);
  return {
    id: 'overlap',
    title: 'Overlap between languages',
    html: [
      figure(await ctx.chart(spec, 'overlap', 'Overlap between languages'), 'Share of each row language’s neurons that the column language shares (the diagonal is 100 %; not symmetric).', [csvFile]),
      table(['A \\ B', ...langs], rows, { caption: 'Shared neurons |A ∩ B| (the diagonal is |A|)' }),
    ].join('\n'),
    charts: 1,
    csv: [csvFile],
  };
}

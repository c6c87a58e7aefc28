/**
 * Section 3, language-specific neurons per layer (paper Fig. 5, Tables 6, 8–10): stacked bars
 * over layers, one colour per language, and the table. From masks.json.
 */
import { layerCounts } from '../../select/masks.js';
import { figure, table, type Cell } from '../html.js';
import type { ReportContext, SectionOutput } from '../context.js';
import type { ChartSpec } from '../charts.js';

export async function layersSection(ctx: ReportContext): Promise<SectionOutput | null> {
  const masks = ctx.masks();
  if (!masks) return null;
  const counts = layerCounts(masks);
  const layers = Array.from({ length: masks.layers }, (_, l) => l);
  const langs = ctx.order(masks.languages);
  const colors = ctx.colors(langs);
  const values = layers.flatMap((l) => langs.map((lang) => ({ layer: l, lang, neurons: counts[masks.languages.indexOf(lang)]![l]! })));
  const csvFile = ctx.csvFor('layers.csv', 'report-layers.csv', ['layer', 'language', 'neurons'], () => values.map((v) => [v.layer, v.lang, v.neurons]));
  const spec: ChartSpec = {
    title: { text: 'Language-specific neurons per layer', subtitle: `method ${masks.method}; stacked over languages` },
    description: 'Stacked bar chart of the number of language-specific neurons in each layer, per language.',
    data: { values },
    width: Math.min(960, Math.max(560, masks.layers * 28)),
    height: 300,
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'layer', type: 'ordinal', title: 'Layer (0 = first)', axis: { labelAngle: 0, labelOverlap: true } },
      y: { field: 'neurons', type: 'quantitative', title: 'Neurons (count)', stack: 'zero' },
      color: { field: 'lang', type: 'nominal', title: 'Language', sort: langs, scale: { domain: colors.domain, range: colors.range } },
      order: { field: 'langIndex', type: 'quantitative' },
    },
  };
  (spec as { data: { values: object[] } }).data.values = values.map((v) => ({ ...v, langIndex: langs.indexOf(v.lang) }));
  const totals = layers.map((l) => counts.reduce((a, c) => a + c[l]!, 0));
  const ks = langs.map((l) => masks.languages.indexOf(l));
  const perLang = ks.map((k) => counts[k]!.reduce((a, b) => a + b, 0));
  const rows: Cell[][] = layers.map((l) => [l, ...ks.map((k) => counts[k]![l]!), totals[l]!]);
  rows.push(['all layers', ...perLang, perLang.reduce((a, b) => a + b, 0)]);
  const parts = [
    figure(await ctx.chart(spec, 'layers', 'Language-specific neurons per layer'), 'Number of language-specific neurons in each layer, stacked by language (paper Fig. 5). A neuron shared by two languages counts for both.', [csvFile]),
    table(['Layer', ...langs, 'Sum'], rows, { caption: 'Language-specific neurons per layer and language (paper Tables 6, 8–10)' }),
  ];
  return { id: 'layers', title: 'Neurons per layer', html: parts.join('\n'), charts: 1, csv: [csvFile] };
}

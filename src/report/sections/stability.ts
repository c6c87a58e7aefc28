/**
 * Selection stability against the token budget (lape stability): Jaccard of bootstrap resamples
 * with the full selection per budget (x: tokens per language, log scale) with its 95 % band, the
 * per-language neuron counts per budget with intervals, and the budgets that reach 0.9 / 0.95.
 * From stability.json (src/select/stability.ts StabilityResult).
 */
import { escapeHtml, figure, table, type Cell } from '../html.js';
import type { ReportContext, SectionOutput } from '../context.js';
import type { Field } from '../input.js';
import type { ChartSpec } from '../charts.js';
import { STABILITY_CSV_HEADER, stabilityCsvRows, type StabilityResult } from '../../select/stability.js';

interface Row {
  method: string;
  budget: number;
  mean: number;
  lo: number;
  hi: number;
  pairwise: number;
  counts: Record<string, { mean: number; lo: number; hi: number }>;
}

const stat = (f: Field): { mean: number; lo: number; hi: number } => ({ mean: f.get('mean').number(), lo: f.get('lo').number(), hi: f.get('hi').number() });

export async function stabilitySection(ctx: ReportContext): Promise<SectionOutput | null> {
  if (!ctx.folder.has('stability.json')) return null;
  const root = ctx.folder.json('stability.json');
  const languages = ctx.order(root.get('languages').strings());
  const methods = root.get('methods').strings();
  const resamples = root.get('resamples').number();
  const shortest = { lang: root.get('shortest').get('lang').string(), tokens: root.get('shortest').get('tokens').number() };
  const rows: Row[] = root.get('rows').array().map((r) => ({
    method: r.get('method').string(),
    budget: r.get('budget').number(),
    ...stat(r.get('jaccardFull')),
    pairwise: r.get('jaccardPairwise').get('mean').number(),
    counts: Object.fromEntries(languages.map((l) => [l, stat(r.get('counts').get(l))])),
  }));
  const reached = root.get('reached');
  const topRate = root.get('settings').get('topRate').optionalNumber();
  const csv = [ctx.csvFor('stability.csv', 'report-stability.csv', STABILITY_CSV_HEADER, () => stabilityCsvRows(root.value as StabilityResult))];
  const budgets = rows.map((r) => r.budget);
  // Log scale over exactly the budgets shown (a "nice" domain would run to the next power of ten).
  const x = { field: 'budget', type: 'quantitative', scale: { type: 'log', base: 2, domain: [Math.min(...budgets), Math.max(...budgets)], nice: false }, title: 'Tokens per language (log scale)', axis: { format: '~s', values: [...new Set(budgets)] } };
  const methodColor = { field: 'method', type: 'nominal', title: 'Method', sort: methods, scale: { domain: methods, range: ['#0072B2', '#D55E00', '#009E73'].slice(0, methods.length) } };
  const curve: ChartSpec = {
    title: { text: 'Selection stability against the token budget', subtitle: `${resamples} bootstrap resamples of recorded blocks per budget; band: 95 % interval` },
    description: 'Line chart of the mean Jaccard similarity between the selection on a resampled budget and the selection on all recorded tokens, per method, with a 95 % band; x on a log scale.',
    data: { values: rows.map((r) => ({ method: r.method, budget: r.budget, mean: r.mean, lo: r.lo, hi: r.hi })) },
    width: 560,
    height: 300,
    layer: [
      { mark: { type: 'area', opacity: 0.18 }, encoding: { x, color: methodColor, y: { field: 'lo', type: 'quantitative', scale: { domain: [0, 1] }, title: 'Jaccard with the full selection' }, y2: { field: 'hi' } } },
      { mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 40 } }, encoding: { x, color: methodColor, y: { field: 'mean', type: 'quantitative' } } },
      { data: { values: [{ y: 0.9 }, { y: 0.95 }] }, mark: { type: 'rule', strokeDash: [4, 4], color: '#555555' }, encoding: { y: { field: 'y', type: 'quantitative' } } },
    ],
  } as unknown as ChartSpec;
  const lape = methods.includes('lape') ? 'lape' : methods[0]!;
  const colors = ctx.colors(languages);
  const langColor = { field: 'lang', type: 'nominal', title: 'Language', sort: languages, scale: { domain: colors.domain, range: colors.range } };
  const countValues = rows.filter((r) => r.method === lape).flatMap((r) => languages.map((l) => ({ budget: r.budget, lang: l, ...r.counts[l]! })));
  const counts: ChartSpec = {
    title: { text: `Neurons per language against the budget (${lape})`, subtitle: 'mean over the resamples; band: 95 % interval' },
    description: 'Line chart of the number of neurons selected for each language per token budget, with 95 % bands; x on a log scale.',
    data: { values: countValues },
    width: 560,
    height: 300,
    layer: [
      { mark: { type: 'area', opacity: 0.12 }, encoding: { x, color: langColor, y: { field: 'lo', type: 'quantitative', title: 'Neurons (count)' }, y2: { field: 'hi' } } },
      { mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 30 } }, encoding: { x, color: langColor, y: { field: 'mean', type: 'quantitative' }, strokeDash: { field: 'lang', type: 'nominal', title: 'Language', sort: languages, scale: { domain: colors.domain, range: colors.dashes } } } },
    ],
  } as unknown as ChartSpec;
  const verdict = (m: string, t: string): Cell => {
    const b = reached.get(m).get(t).get('mean');
    return b.value === null ? `not reached (${shortest.lang} ran out at ${shortest.tokens})` : b.number();
  };
  const parts = [
    `<p>How many tokens per language are enough: the selection on a resampled budget compared with the selection on everything recorded (Jaccard over language × layer × neuron). Budgets beyond the shortest recording (${escapeHtml(shortest.lang)}, ${shortest.tokens} tokens) cannot be resampled${topRate === undefined ? '' : `; top rate ${topRate}`}.</p>`,
    table(['Method', 'Budget for Jaccard ≥ 0.9', 'Budget for Jaccard ≥ 0.95'], methods.map((m) => [m, verdict(m, '0.9'), verdict(m, '0.95')]), { caption: 'Smallest budget (tokens per language) from which on the mean Jaccard with the full selection stays at or above the target' }),
    figure(await ctx.chart(curve, 'stability', 'Selection stability against the token budget'), 'Mean Jaccard of the resampled selections with the full selection per budget (log scale), band: 95 % percentile interval; dashed: 0.9 and 0.95.', csv),
    figure(await ctx.chart(counts, 'stability-counts', 'Neurons per language against the budget'), `Neurons per language selected by ${lape} at each budget, mean and 95 % interval over the resamples.`, csv),
    table(['Method', 'Tokens per language', 'Jaccard (mean)', '95 % interval', 'Pairwise Jaccard', ...languages],
      rows.map((r) => [r.method, r.budget, r.mean, `${r.lo.toFixed(3)}–${r.hi.toFixed(3)}`, r.pairwise, ...languages.map((l) => `${r.counts[l]!.mean.toFixed(1)} (${r.counts[l]!.lo.toFixed(0)}–${r.counts[l]!.hi.toFixed(0)})`)]),
      { caption: 'Per budget: Jaccard with the full selection, between resamples, and neurons per language (mean, 95 % interval)', digits: 3 }),
  ];
  return { id: 'stability', title: 'Token budget and selection stability', html: parts.join('\n'), charts: 2, csv };
}

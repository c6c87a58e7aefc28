/**
 * Section 6, representations: sentence-embedding similarity (SES) across layers with the number
 * of language-specific neurons per layer on a second axis (paper Fig. 6), and language dominance
 * curves (Eq. 6, Fig. 7). From ses.json (src/experiments/ses.ts SesResult), dominance.json
 * (src/experiments/dominance.ts DominanceResult) and masks.json.
 */
import { LapeError } from '../../errors.js';
import type { NeuronMasks } from '../../select/types.js';
import { figure, table, type Cell } from '../html.js';
import type { ReportContext, SectionOutput } from '../context.js';
import { LINE_LEGEND, type ChartSpec } from '../charts.js';

/** Distinct language-specific neurons per layer (a neuron of two languages counts once). */
export function distinctPerLayer(masks: NeuronMasks): number[] {
  const out: number[] = [];
  for (let l = 0; l < masks.layers; l++) {
    const s = new Set<number>();
    for (const perLayer of masks.masks) for (const j of perLayer[l]!) s.add(j);
    out.push(s.size);
  }
  return out;
}

export async function sesSection(ctx: ReportContext): Promise<SectionOutput | null> {
  const hasSes = ctx.folder.has('ses.json');
  const hasDom = ctx.folder.has('dominance.json');
  if (!hasSes && !hasDom) return null;
  const parts: string[] = [];
  const csv: string[] = [];
  let charts = 0;
  const masks = ctx.masks();

  if (hasSes) {
    const root = ctx.folder.json('ses.json');
    const layers = root.get('layers').numbers();
    const ses = root.get('ses').numbers();
    if (ses.length !== layers.length) throw new LapeError(`"ses" has ${ses.length} values for ${layers.length} layers`, ctx.folder.path('ses.json'));
    // lape ses writes `groups` (aligned text groups) and, with --masks, `neurons.union` per layer
    // (then ses.csv has a neurons column); otherwise the counts come from masks.json.
    const texts = root.get('groups').optionalNumber() ?? root.get('texts').optionalNumber();
    const own = root.get('neurons').present ? root.get('neurons').get('union').numbers() : undefined;
    if (own && own.length < layers.length) throw new LapeError(`"neurons.union" has ${own.length} values for ${layers.length} layers`, ctx.folder.path('ses.json'));
    const counts = own ?? (masks ? distinctPerLayer(masks) : undefined);
    const values = layers.map((l, i) => ({ layer: l, ses: ses[i]!, neurons: counts && l >= 0 && l < counts.length ? counts[l] : null }));
    const file = ctx.csvFor(own || !counts ? 'ses.csv' : null, 'report-ses.csv', ['layer', 'ses_mean_over_pairs', 'language_specific_neurons'], () => values.map((v) => [v.layer, v.ses, v.neurons]));
    csv.push(file);
    const sesLayer = {
      mark: { type: 'line', point: { filled: true, size: 40 }, color: '#0072B2', strokeWidth: 2.5 },
      encoding: { y: { field: 'ses', type: 'quantitative', title: 'SES (mean cosine similarity)', axis: { titleColor: '#0072B2', orient: 'left' } } },
    };
    const barLayer = {
      mark: { type: 'bar', color: '#E69F00', opacity: 0.45, width: { band: 0.6 } },
      encoding: { y: { field: 'neurons', type: 'quantitative', title: 'Language-specific neurons (count)', axis: { titleColor: '#9A6A00', grid: false, orient: 'right' } } },
    };
    const spec = {
      title: {
        text: 'Sentence-embedding similarity across layers',
        subtitle: `mean cosine similarity of aligned texts over all language pairs${texts ? ` (${texts} texts per language)` : ''}${counts ? '; bars: language-specific neurons per layer' : ''}`,
      },
      description: 'Line chart of the mean sentence-embedding similarity per layer' + (counts ? ', with bars of the number of language-specific neurons per layer on a second axis.' : '.'),
      data: { values },
      width: Math.min(960, Math.max(560, layers.length * 30)),
      height: 300,
      encoding: { x: { field: 'layer', type: 'ordinal', title: 'Layer (residual stream after block l)', axis: { labelAngle: 0 } } },
      layer: counts ? [barLayer, sesLayer] : [sesLayer],
      ...(counts ? { resolve: { scale: { y: 'independent' } } } : {}),
    } as unknown as ChartSpec;
    parts.push('<h3>Sentence-embedding similarity (SES)</h3>');
    parts.push(figure(await ctx.chart(spec, 'ses', 'SES across layers'), `Mean SES of aligned texts per layer (blue line, left axis)${counts ? ' and the number of distinct language-specific neurons per layer (orange bars, right axis)' : ''} (paper Fig. 6).`, [file]));
    charts++;
    const pairs = root.get('pairs').present ? root.get('pairs').array() : [];
    if (pairs.length) {
      const rows: Cell[][] = pairs.map((p) => [`${p.get('a').string()}–${p.get('b').string()}`, ...p.get('ses').numbers()]);
      parts.push(`<details><summary>SES per language pair and layer (table)</summary>\n${table(['Pair', ...layers.map((l) => `L${l}`)], [['mean', ...ses], ...rows], { caption: 'SES per language pair (rows) and layer (columns)', digits: 3 })}\n</details>`);
    }
  }

  if (hasDom) {
    const root = ctx.folder.json('dominance.json');
    const layers = root.get('layers').numbers();
    const langs = root.get('languages').strings();
    const dom = root.get('dominance');
    const series = langs.map((c) => ({ c, v: dom.get(c).numbers() }));
    for (const s of series) {
      if (s.v.length !== layers.length) throw new LapeError(`"dominance.${s.c}" has ${s.v.length} values for ${layers.length} layers`, ctx.folder.path('dominance.json'));
    }
    const values = series.flatMap((s) => layers.map((l, i) => ({ layer: l, target: s.c, dominance: s.v[i]! })));
    const colors = ctx.colors(langs);
    const file = ctx.csvFor('dominance.csv', 'report-dominance.csv', ['layer', 'target_language', 'dominance'], () => values.map((v) => [v.layer, v.target, v.dominance]));
    csv.push(file);
    const spec = {
      title: { text: 'Language dominance across layers', subtitle: 'mean over k ≠ c of SES(h − v_k + v_c, h_c): higher = language c dominates' },
      description: 'Line chart of the dominance of each target language per layer.',
      data: { values },
      width: Math.min(960, Math.max(560, layers.length * 30)),
      height: 300,
      encoding: {
        x: { field: 'layer', type: 'ordinal', title: 'Layer (residual stream after block l)', axis: { labelAngle: 0 } },
        y: { field: 'dominance', type: 'quantitative', title: 'Dominance (mean SES)', scale: { zero: false } },
        color: { field: 'target', type: 'nominal', title: 'Target language c', sort: langs, legend: LINE_LEGEND, scale: { domain: colors.domain, range: colors.range } },
        strokeDash: { field: 'target', type: 'nominal', title: 'Target language c', sort: langs, scale: { domain: colors.domain, range: colors.dashes } },
      },
      mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 36 } },
    } as unknown as ChartSpec;
    parts.push('<h3>Language dominance</h3>');
    parts.push(figure(await ctx.chart(spec, 'dominance', 'Language dominance across layers'), 'Dominance of each target language per layer (paper Eq. 6, Fig. 7).', [file]));
    charts++;
    parts.push(table(['Target c', ...layers.map((l) => `L${l}`)], series.map((s) => [s.c, ...s.v]), { caption: 'Dominance per target language (rows) and layer (columns)', digits: 3 }));
  }
  return { id: 'ses', title: 'Representations: SES and dominance', html: parts.join('\n'), charts, csv };
}

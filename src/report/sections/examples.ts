/**
 * Section: what language neurons fire on (lape examples → examples.json). Per language a few of
 * its neurons with their top contexts, the activating token highlighted (every text
 * HTML-escaped), and their activation histograms per language as a chart.
 */
import { escapeHtml, figure, table, type Cell } from '../html.js';
import type { ReportContext, SectionOutput } from '../context.js';
import type { ChartSpec } from '../charts.js';
import type { Field } from '../input.js';
import { visibleControls } from './steering.js';

/** Neurons shown per language, and contexts per neuron. */
export const NEURONS_PER_LANGUAGE = 3;
export const CONTEXTS_PER_NEURON = 5;

interface Top { lang: string; activation: number; before: string; token: string; after: string }
interface Neuron { layer: number; index: number; langs: string[]; top: Top[]; hist: Record<string, number[]> }

function readNeuron(f: Field): Neuron {
  return {
    layer: f.get('layer').number(),
    index: f.get('index').number(),
    langs: f.get('langs').strings(),
    top: f.get('top').array().map((t) => ({
      lang: t.get('lang').string(),
      activation: t.get('activation').number(),
      before: t.get('before').string(),
      token: t.get('token').string(),
      after: t.get('after').string(),
    })),
    hist: Object.fromEntries(f.get('hist').entries().map(([k, v]) => [k, v.numbers()])),
  };
}

/** A context on one line: newlines as ↵, controls visible, the token in <mark>. */
export function contextHtml(t: Pick<Top, 'before' | 'token' | 'after'>): string {
  const show = (s: string): string => escapeHtml(visibleControls(s).replace(/\n/g, '↵ '));
  return `<span class="ctx">${show(t.before)}<mark>${show(t.token)}</mark>${show(t.after)}</span>`;
}

const binLabel = (edges: number[], i: number): string =>
  i === 0 ? `< ${edges[0]}` : i === edges.length ? `≥ ${edges.at(-1)}` : `[${edges[i - 1]}, ${edges[i]})`;

export interface ExamplesByLanguage {
  edges: number[];
  tokens: Record<string, number>;
  neurons: Neuron[];
  langs: string[];
  /** Per language the neurons shown (at most NEURONS_PER_LANGUAGE). */
  chosen: Map<string, Neuron[]>;
}

/** examples.json read, and per language the neurons to show (the report's and the explorer's choice). */
export function examplesByLanguage(ctx: ReportContext): ExamplesByLanguage | null {
  if (!ctx.folder.has('examples.json')) return null;
  const root = ctx.folder.json('examples.json');
  const edges = root.get('edges').numbers();
  const tokens = Object.fromEntries(root.get('tokens').entries().map(([k, v]) => [k, v.number()]));
  const neurons = root.get('neurons').array().map(readNeuron);
  const langs = ctx.order(Object.keys(tokens));
  // A language's neurons: those its masks give it, else those whose top tokens are mostly its own;
  // the ones with the most top tokens in the language first, then by the largest activation.
  const ownShare = (n: Neuron, l: string): number => n.top.filter((t) => t.lang === l).length;
  const chosen = new Map<string, Neuron[]>();
  for (const l of langs) {
    const own = neurons.filter((n) => n.langs.includes(l));
    const pool = own.length ? own : neurons.filter((n) => n.langs.length === 0 && ownShare(n, l) > n.top.length / 2);
    pool.sort((a, b) => ownShare(b, l) - ownShare(a, l) || (b.top[0]?.activation ?? 0) - (a.top[0]?.activation ?? 0));
    if (pool.length) chosen.set(l, pool.slice(0, NEURONS_PER_LANGUAGE));
  }
  return { edges, tokens, neurons, langs, chosen };
}

export async function examplesSection(ctx: ReportContext): Promise<SectionOutput | null> {
  const ex = examplesByLanguage(ctx);
  if (!ex) return null;
  const { edges, tokens, neurons, langs, chosen } = ex;
  const name = (n: Neuron): string => `${n.layer}:${n.index}`;
  const parts: string[] = [
    `<p class="note">${neurons.length} neurons probed over ${Object.values(tokens).reduce((a, b) => a + b, 0).toLocaleString('en-US')} tokens ` +
      `(${langs.map((l) => `${escapeHtml(l)} ${tokens[l]!.toLocaleString('en-US')}`).join(', ')}); for each, the tokens with the largest ` +
      `<code>hook_act</code> in context (<mark>highlighted</mark>: the token; ↵ a line break). All top tokens: ` +
      `<a href="examples.csv" download>examples.csv</a>; histograms: examples.json.</p>`,
  ];
  const csv: string[] = [];
  let charts = 0;
  for (const [l, ns] of chosen) {
    parts.push(`<h3>${escapeHtml(l)}</h3>`);
    const rows: Cell[][] = ns.flatMap((n) => n.top.slice(0, CONTEXTS_PER_NEURON).map((t, i): Cell[] => [
      i === 0 ? `${name(n)}${n.langs.length ? ` (${n.langs.join(', ')})` : ''}` : '',
      i + 1,
      t.lang,
      Math.round(t.activation * 1000) / 1000,
      { html: contextHtml(t) },
    ]));
    parts.push(table(['Neuron (its languages)', 'Rank', 'Language', 'Activation', 'Context'], rows, {
      caption: `Top contexts of ${ns.length} ${ns.some((n) => n.langs.includes(l)) ? `${l} neurons` : `neurons firing mostly on ${l}`}`,
      className: 'gen',
      digits: 3,
    }));
  }
  // Histograms of the first neuron shown per language: share of each language's tokens per bin.
  const shown = [...new Set([...chosen.values()].map((ns) => ns[0]!))];
  if (shown.length) {
    const values = shown.flatMap((n) => langs.flatMap((l) => (n.hist[l] ?? []).map((c, b) => ({
      neuron: `${name(n)}${n.langs.length ? ` (${n.langs.join(', ')})` : ''}`, lang: l, bin: b, label: binLabel(edges, b), share: tokens[l] ? c / tokens[l]! : 0, count: c,
    }))));
    const file = ctx.writeCsv('report-examples-hist.csv', ['neuron', 'language', 'bin', 'range', 'tokens', 'share'], values.map((v) => [v.neuron, v.lang, v.bin, v.label, v.count, v.share]));
    csv.push(file);
    const colors = ctx.colors(langs);
    const spec = {
      title: { text: 'Activation histograms per language', subtitle: 'share of each language\'s tokens per hook_act bin; one panel per neuron' },
      description: 'Line charts, one per neuron, of the share of tokens of each language in each activation bin.',
      data: { values },
      facet: { field: 'neuron', type: 'nominal', title: null, sort: values.map((v) => v.neuron).filter((x, i, a) => a.indexOf(x) === i) },
      columns: 2,
      spec: {
        width: 380,
        height: 160,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'label', type: 'ordinal', title: 'hook_act', sort: { field: 'bin' }, axis: { labelAngle: -45 } },
          y: { field: 'share', type: 'quantitative', title: 'Share of tokens', axis: { format: '.0%' } },
          color: { field: 'lang', type: 'nominal', title: 'Language', sort: langs, scale: { domain: colors.domain, range: colors.range } },
          strokeDash: { field: 'lang', type: 'nominal', sort: langs, scale: { domain: colors.domain, range: colors.dashes }, legend: null },
        },
      },
    } as unknown as ChartSpec;
    parts.push(figure(await ctx.chart(spec, 'examples-hist', 'Activation histograms per language'),
      'How often each neuron takes values in each range, per language (the first neuron shown for each language). A language neuron fires (positive values) more often on its own language.', [file]));
    charts++;
  }
  return { id: 'examples', title: 'What language neurons fire on', html: parts.join('\n'), charts, csv };
}

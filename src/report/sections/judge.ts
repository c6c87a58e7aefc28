/**
 * Section: generation quality rated by an LLM judge (lape judge → judge.json), in the shape of the
 * paper's Table 1: rows normal / random / deactivate each language, columns the question's
 * language. The page states the judge, the prompt and the number of questions, and says plainly
 * that a small judge or the project's 21 demo questions give no Table 1 result.
 */
import { escapeHtml, figure, table, type Cell } from '../html.js';
import type { ChartSpec } from '../charts.js';
import type { ReportContext, SectionOutput } from '../context.js';

/** Below this many questions per language (the paper: 80) the section says it is a demonstration. */
export const TABLE1_QUESTIONS = 80;

export async function judgeSection(ctx: ReportContext): Promise<SectionOutput | null> {
  if (!ctx.folder.has('judge.json')) return null;
  const root = ctx.folder.json('judge.json');
  const langs = ctx.order(root.get('languages').strings());
  const rows = root.get('rows').array().map((r) => ({
    condition: r.get('condition').string(),
    mean: Object.fromEntries(langs.map((l) => [l, r.get('mean').get(l).number(true)])),
    n: Object.fromEntries(langs.map((l) => [l, r.get('n').get(l).number()])),
    unparsed: langs.reduce((s, l) => s + r.get('unparsed').get(l).number(), 0),
    overall: r.get('overall').number(true),
  }));
  const judgeModel = root.get('judgeModel').string();
  const endpoint = root.get('endpoint').string();
  const promptSource = root.get('prompt').get('source').optionalString() ?? '';
  const normal = rows.find((r) => r.condition === 'normal');
  const cell = (mean: number, n: number): Cell => (Number.isNaN(mean) ? null : { html: `${mean.toFixed(2)} <span class="note">(${n})</span>` });
  const delta = (mean: number, l: string): string => {
    const base = normal?.mean[l];
    if (base === undefined || Number.isNaN(base) || Number.isNaN(mean)) return '';
    return ` ${mean - base >= 0 ? '+' : '−'}${Math.abs(mean - base).toFixed(2)}`;
  };
  const body: Cell[][] = rows.map((r) => [
    r.condition,
    ...langs.map((l): Cell => {
      const c = cell(r.mean[l]!, r.n[l]!);
      return c && typeof c === 'object' && r !== normal ? { html: `${c.html}<span class="note">${escapeHtml(delta(r.mean[l]!, l))}</span>` } : c;
    }),
    Number.isNaN(r.overall) ? null : Math.round(r.overall * 100) / 100,
    r.unparsed,
  ]);
  const perLang = Math.min(...langs.map((l) => Math.max(...rows.map((r) => r.n[l]!))));
  const parts = [
    `<p class="note"><strong>Not a Table 1 result unless the judge is a strong model and the questions are the full set.</strong> ` +
      `Judge: <code>${escapeHtml(judgeModel)}</code> at <code>${escapeHtml(endpoint)}</code>; at most ${perLang} rated answers per language and condition ` +
      `(the paper: ${TABLE1_QUESTIONS} multilingual Vicuna questions, GPT-4 as judge). ${perLang < TABLE1_QUESTIONS ? 'With this few questions the table shows the shape and the plumbing, not the effect. ' : ''}` +
      `Prompt: ${escapeHtml(promptSource)}. Every rating with the judge's reply: <a href="judgments.jsonl" download>judgments.jsonl</a>.</p>`,
    table(['Condition', ...langs, 'All', 'Unparsed'], body, {
      caption: 'Mean judge rating (1–10) by question language (rated answers in brackets; change from normal after it)',
      digits: 2,
    }),
  ];
  const values = rows.flatMap((r) => langs.filter((l) => !Number.isNaN(r.mean[l]!)).map((l) => ({ condition: r.condition, lang: l, mean: r.mean[l]!, n: r.n[l]! })));
  const file = ctx.csvFor('judge.csv', 'report-judge.csv', ['condition', 'language', 'mean', 'n'], () => values.map((v) => [v.condition, v.lang, v.mean, v.n]));
  const spec = {
    title: { text: 'Judge rating by condition and question language', subtitle: `mean rating 1–10 by ${judgeModel}; Table 1's shape` },
    description: 'Heatmap of the mean judge rating, conditions as rows and question languages as columns.',
    data: { values },
    width: { step: 46 },
    height: { step: 26 },
    encoding: {
      x: { field: 'lang', type: 'nominal', title: 'Question language', sort: langs, axis: { orient: 'top', labelAngle: 0, grid: false, ticks: false, domain: false } },
      y: { field: 'condition', type: 'nominal', title: 'Condition', sort: rows.map((r) => r.condition), axis: { grid: false, ticks: false, domain: false } },
    },
    layer: [
      { mark: { type: 'rect', stroke: 'white', strokeWidth: 1 }, encoding: { color: { field: 'mean', type: 'quantitative', title: 'Mean rating', scale: { scheme: 'viridis', domain: [1, 10] } } } },
      { mark: { type: 'text', fontSize: 11 }, encoding: { text: { field: 'mean', type: 'quantitative', format: '.1f' }, color: { condition: { test: 'datum.mean > 6', value: 'black' }, value: 'white' } } },
    ],
  } as unknown as ChartSpec;
  parts.splice(1, 0, figure(await ctx.chart(spec, 'judge', 'Judge rating by condition and question language'),
    'Mean rating of the answers under each condition (rows: no intervention, random neurons zeroed, a language\'s neurons zeroed) by the language of the question (columns), as in the paper\'s Table 1.', [file]));
  return { id: 'judge', title: 'Generation quality (LLM judge, Table 1 shape)', html: parts.join('\n'), charts: 1, csv: [file] };
}

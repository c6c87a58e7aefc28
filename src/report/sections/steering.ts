/**
 * Section 7, steering (paper Tables 4, 5): share of generations identified as the measured
 * language, without and with each intervention (activate a target language's neurons; or zero
 * the source language's), as a chart and a table, and a few example generations (normal vs
 * steered; every text HTML-escaped). From steering.json / steering.csv and generations.jsonl
 * (src/cli/commands/steer-eval.ts).
 */
import { escapeHtml, figure, table, type Cell } from '../html.js';
import type { ReportContext, SectionOutput } from '../context.js';
import type { Field } from '../input.js';
import type { ChartSpec } from '../charts.js';

/** Control characters (other than tab and newline) as visible Unicode control pictures. */
export function visibleControls(s: string): string {
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, (c) => String.fromCharCode(c === '\u007f' ? 0x2421 : 0x2400 + c.charCodeAt(0)));
}

/** Example generations shown (the file holds one per prompt and intervention). */
export const MAX_EXAMPLES = 8;

interface Row {
  kind: string;
  source: string;
  target: string;
  intervention: string;
  prompts: number | undefined;
  normal: number;
  steered: number;
  normalSource: number | undefined;
  steeredSource: number | undefined;
  normalTokens: number | undefined;
  steeredTokens: number | undefined;
  label: string;
}

function readRow(r: Field): Row {
  const kind = r.get('kind').optionalString() ?? 'activate';
  const source = r.get('source').optionalString() ?? '';
  const target = r.get('target').string();
  const intervention = r.get('intervention').optionalString() ?? `+${target}`;
  return {
    kind,
    source,
    target,
    intervention,
    prompts: r.get('prompts').optionalNumber(),
    normal: r.get('normal').number(true),
    steered: r.get('steered').number(true),
    normalSource: r.get('normalSource').optionalNumber(),
    steeredSource: r.get('steeredSource').optionalNumber(),
    normalTokens: r.get('normalTokens').optionalNumber(),
    steeredTokens: r.get('steeredTokens').optionalNumber(),
    label: `${intervention} → ${target}`,
  };
}

export async function steeringSection(ctx: ReportContext): Promise<SectionOutput | null> {
  const hasTable = ctx.folder.has('steering.json');
  const hasGen = ctx.folder.has('generations.jsonl');
  if (!hasTable && !hasGen) return null;
  const parts: string[] = [];
  const csv: string[] = [];
  let charts = 0;

  if (hasTable) {
    const root = ctx.folder.json('steering.json');
    const mode = root.get('mode').optionalString();
    const rows = root.get('rows').array().map(readRow);
    if (new Set(rows.map((r) => r.source)).size > 1) for (const r of rows) r.label = `${r.source}: ${r.label}`;
    const values = rows
      .flatMap((r) => [
        { label: r.label, condition: 'normal', share: r.normal },
        { label: r.label, condition: 'with intervention', share: r.steered },
      ])
      .filter((v) => !Number.isNaN(v.share));
    const file = ctx.csvFor('steering.csv', 'report-steering.csv', ['kind', 'source', 'target', 'intervention', 'prompts', 'normal', 'steered'], () =>
      rows.map((r) => [r.kind, r.source, r.target, r.intervention, r.prompts, r.normal, r.steered]),
    );
    csv.push(file);
    const spec = {
      title: {
        text: 'Steering the output language',
        subtitle: `share of generations identified as the measured language; +X: X's neurons set to X's mean activation${mode ? ` (mode ${mode})` : ''}, −X: X's neurons zeroed`,
      },
      description: 'Grouped bar chart of the share of generations in the measured language, without and with each intervention.',
      data: { values },
      width: 560,
      height: { step: 14 },
      encoding: {
        y: { field: 'label', type: 'nominal', title: 'Intervention → measured', sort: rows.map((r) => r.label) },
        yOffset: { field: 'condition', type: 'nominal', sort: ['normal', 'with intervention'] },
        x: { field: 'share', type: 'quantitative', title: 'Generations in the measured language (%)', scale: { domain: [0, 1] }, axis: { format: '.0%' } },
        color: { field: 'condition', type: 'nominal', title: 'Generation', sort: ['normal', 'with intervention'], scale: { range: ['#999999', '#0072B2'] } },
      },
      layer: [
        { mark: { type: 'bar' } },
        { mark: { type: 'text', align: 'left', dx: 3, fontSize: 11 }, encoding: { text: { field: 'share', type: 'quantitative', format: '.0%' }, color: { value: '#222' } } },
      ],
    } as unknown as ChartSpec;
    parts.push(
      figure(
        await ctx.chart(spec, 'steering', 'Steering: language of the generations'),
        'Share of generations in the measured language without (grey) and with (blue) the intervention (paper Table 4: steering towards a target; Table 5: zeroing the source language).',
        [file],
      ),
    );
    charts++;
    const pct = (x: number | undefined): Cell => (x === undefined || Number.isNaN(x) ? null : `${(x * 100).toFixed(1)} %`);
    const len = (x: number | undefined): Cell => (x === undefined ? null : Math.round(x * 10) / 10);
    parts.push(
      table(
        ['Source', 'Intervention', 'Measured language', 'Normal', 'With intervention', 'Source language, normal', 'Source language, with intervention', 'Mean new tokens, normal', 'Mean new tokens, with intervention', 'Prompts'],
        rows.map((r) => [r.source || null, r.intervention, r.target, pct(r.normal), pct(r.steered), pct(r.normalSource), pct(r.steeredSource), len(r.normalTokens), len(r.steeredTokens), r.prompts ?? null]),
        { caption: 'Share of generations identified as each language (Tables 4, 5)', rowHeaders: 2, digits: 1 },
      ),
    );
  }

  if (hasGen) {
    const records = ctx.folder.jsonl('generations.jsonl').map((f) => ({
      kind: f.get('kind').optionalString() ?? 'activate',
      source: f.get('source').optionalString(),
      target: f.get('target').string(),
      intervention: f.get('intervention').optionalString(),
      prompt: f.get('prompt').string(),
      normal: f.get('normal').string(),
      steered: f.get('steered').string(),
      normalLang: f.get('normal_lang').value === null ? 'none' : f.get('normal_lang').optionalString(),
      steeredLang: f.get('steered_lang').value === null ? 'none' : f.get('steered_lang').optionalString(),
    }));
    // Round-robin over interventions, steering towards a target first: a few of each.
    const groups = new Map<string, typeof records>();
    for (const r of [...records.filter((r) => r.kind === 'activate'), ...records.filter((r) => r.kind !== 'activate')]) {
      const key = `${r.source}|${r.intervention ?? r.target}`;
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    const shown: typeof records = [];
    for (let i = 0; shown.length < MAX_EXAMPLES && i < records.length; i++) {
      for (const g of groups.values()) if (g[i] && shown.length < MAX_EXAMPLES) shown.push(g[i]!);
    }
    const text = (s: string, lang: string | undefined): Cell => ({
      html: `${escapeHtml(visibleControls(s))}${lang !== undefined ? ` <span class="note">[${escapeHtml(lang)}]</span>` : ''}`,
    });
    parts.push('<h3>Example generations</h3>');
    parts.push(
      table(
        ['Source', 'Intervention', 'Prompt', 'Normal', 'With intervention'],
        shown.map((g) => [
          g.source ?? null,
          g.intervention ?? `+${g.target}`,
          text(g.prompt, undefined),
          text(g.normal, g.normalLang),
          text(g.steered, g.steeredLang),
        ]),
        { caption: `${shown.length} of ${records.length} generations (greedy decoding; [xx]: identified language)`, className: 'gen', rowHeaders: 2 },
      ),
    );
    parts.push(`<p class="note">All generations: <a href="generations.jsonl" download>generations.jsonl</a>.</p>`);
  }
  return { id: 'steering', title: 'Steering', html: parts.join('\n'), charts, csv };
}

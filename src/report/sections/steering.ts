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

/** What +X means under the file's mode. */
export function modeText(mode: string | undefined, alpha: number | undefined): string {
  const a = alpha ?? 1;
  if (mode === 'add') return `+X: ${a} × X's mean activation added to X's neurons (mode add)`;
  if (mode === 'diffmean') return `+X: ${a} × (X's mean activation − the other languages' mean) added to X's neurons (mode diffmean)`;
  return "+X: X's neurons set to X's mean activation (mode set, the paper's)";
}

/** Source × target matrices of the steered share, one panel per kind of intervention. */
async function matrixFigure(ctx: ReportContext, rows: Row[], mode: string | undefined, alpha: number | undefined): Promise<{ html: string; csv: string } | null> {
  const steer = rows.filter((r) => r.kind === 'activate' || r.kind === 'combined');
  const sources = ctx.order([...new Set(steer.map((r) => r.source))]);
  if (sources.length < 2 || steer.length === 0) return null;
  const targets = ctx.order([...new Set(steer.map((r) => r.target))]);
  const panelOf: Record<string, string> = { none: 'no intervention', activate: '+target', combined: '−source +target (Table 5)' };
  const values: Array<{ panel: string; source: string; target: string; share: number }> = [];
  const seen = new Set<string>();
  for (const r of steer) {
    const key = `${r.source}|${r.target}`;
    if (!seen.has(key)) {
      seen.add(key);
      values.push({ panel: panelOf.none!, source: r.source, target: r.target, share: r.normal });
    }
    values.push({ panel: panelOf[r.kind]!, source: r.source, target: r.target, share: r.steered });
  }
  const csv = ctx.writeCsv('report-steering-matrix.csv', ['panel', 'source', 'target', 'share_in_target'], values.map((v) => [v.panel, v.source, v.target, v.share]));
  const panels = ['none', 'activate', 'combined'].filter((k) => k === 'none' || steer.some((r) => r.kind === k)).map((k) => panelOf[k]!);
  const spec = {
    title: { text: 'Steering accuracy: source × target', subtitle: `share of generations from source-language prompts identified as the target language; ${modeText(mode, alpha)}` },
    description: 'Small multiples of source (rows) × target (columns) matrices of the share of generations in the target language, without intervention and with each intervention.',
    data: { values },
    facet: { field: 'panel', type: 'nominal', title: null, sort: panels, header: { labelFontSize: 14, labelFontWeight: 'bold' } },
    columns: 3,
    spec: {
      width: { step: 34 },
      height: { step: 26 },
      encoding: {
        x: { field: 'target', type: 'nominal', title: 'Target language', sort: targets, axis: { orient: 'top', labelAngle: 0, grid: false, ticks: false, domain: false } },
        y: { field: 'source', type: 'nominal', title: 'Source language (prompts)', sort: sources, axis: { grid: false, ticks: false, domain: false } },
      },
      layer: [
        { mark: { type: 'rect', stroke: 'white', strokeWidth: 1 }, encoding: { color: { field: 'share', type: 'quantitative', title: 'In the target language', scale: { scheme: 'blues', domain: [0, 1] }, legend: { format: '.0%', gradientLength: 180 } } } },
        { mark: { type: 'text', fontSize: 10 }, encoding: { text: { field: 'share', type: 'quantitative', format: '.0%' }, color: { condition: { test: 'datum.share > 0.55', value: 'white' }, value: 'black' } } },
      ],
    },
  } as unknown as ChartSpec;
  const html = figure(
    await ctx.chart(spec, 'steering-matrix', 'Steering accuracy matrix'),
    'Share of generations in the target language (columns) from prompts in each source language (rows): without intervention, with the target’s neurons activated, and with the source’s neurons zeroed as well (paper Tables 4–5).',
    [csv],
  );
  return { html, csv };
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
    const alpha = root.get('alpha').optionalNumber();
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
        subtitle: `share of generations identified as the measured language; ${modeText(mode, alpha)}; −X: X's neurons zeroed`,
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
    const matrix = await matrixFigure(ctx, rows, mode, alpha);
    if (matrix) {
      // Several sources: the matrix says it at a glance; the bars would be one pair per cell.
      parts.push(matrix.html);
      csv.push(matrix.csv);
      charts++;
      const deact = rows.filter((r) => r.kind === 'deactivate');
      if (deact.length) {
        parts.push(
          table(
            ['Source', 'Own language, normal', 'Own language, own neurons zeroed'],
            deact.map((r) => [r.source, `${(r.normal * 100).toFixed(1)} %`, `${(r.steered * 100).toFixed(1)} %`]),
            { caption: 'Generations that stay in the source language when its own neurons are zeroed' },
          ),
        );
      }
    } else {
      parts.push(
        figure(
          await ctx.chart(spec, 'steering', 'Steering: language of the generations'),
          'Share of generations in the measured language without (grey) and with (blue) the intervention (paper Table 4: steering towards a target; Table 5: zeroing the source language).',
          [file],
        ),
      );
      charts++;
    }
    const pct = (x: number | undefined): Cell => (x === undefined || Number.isNaN(x) ? null : `${(x * 100).toFixed(1)} %`);
    const len = (x: number | undefined): Cell => (x === undefined ? null : Math.round(x * 10) / 10);
    const full = table(
      ['Source', 'Intervention', 'Measured language', 'Normal', 'With intervention', 'Source language, normal', 'Source language, with intervention', 'Mean new tokens, normal', 'Mean new tokens, with intervention', 'Prompts'],
      rows.map((r) => [r.source || null, r.intervention, r.target, pct(r.normal), pct(r.steered), pct(r.normalSource), pct(r.steeredSource), len(r.normalTokens), len(r.steeredTokens), r.prompts ?? null]),
      { caption: 'Share of generations identified as each language (Tables 4, 5)', rowHeaders: 2, digits: 1 },
    );
    parts.push(matrix ? `<details><summary>Every intervention (table, ${rows.length} rows; data: ${file})</summary>\n${full}\n</details>` : full);
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
    // Examples that show both outcomes: steered generations that reached the target language
    // (and had not without steering) and ones that did not, spread over sources and targets.
    const steered = records.filter((r) => r.kind !== 'deactivate');
    const success = (r: (typeof records)[number]): boolean => r.steeredLang === r.target && r.normalLang !== r.target;
    const pick = (pool: typeof records, n: number): typeof records => {
      const groups = new Map<string, typeof records>();
      for (const r of pool) {
        const key = `${r.source}|${r.target}|${r.kind}`;
        groups.set(key, [...(groups.get(key) ?? []), r]);
      }
      // Round-robin over sources first, then over their (target, kind) groups.
      const bySource = new Map<string, Array<typeof records>>();
      for (const [key, g] of groups) {
        const src = key.split('|')[0]!;
        bySource.set(src, [...(bySource.get(src) ?? []), g]);
      }
      const queues = [...bySource.values()];
      const out: typeof records = [];
      for (let round = 0; out.length < n && round < pool.length; round++) {
        for (const q of queues) {
          const g = q[round % q.length]!;
          const r = g[Math.floor(round / q.length)];
          if (r && out.length < n && !out.includes(r)) out.push(r);
        }
      }
      return out;
    };
    const wins = pick(steered.filter(success), MAX_EXAMPLES / 2);
    const losses = pick(steered.filter((r) => r.steeredLang !== r.target), MAX_EXAMPLES - wins.length);
    const shown = [...wins, ...losses];
    const text = (s: string, lang: string | undefined): Cell => ({
      html: `${escapeHtml(visibleControls(s))}${lang !== undefined ? ` <span class="note">[${escapeHtml(lang)}]</span>` : ''}`,
    });
    parts.push('<h3>Example generations</h3>');
    parts.push(
      table(
        ['Outcome', 'Source', 'Intervention', 'Prompt', 'Normal', 'With intervention'],
        shown.map((g) => [
          success(g) ? 'reached the target' : 'missed the target',
          g.source ?? null,
          g.intervention ?? `+${g.target}`,
          text(g.prompt, undefined),
          text(g.normal, g.normalLang),
          text(g.steered, g.steeredLang),
        ]),
        {
          caption: `${wins.length} steered generations that reached their target language and ${losses.length} that missed it, of ${steered.length} steered generations (each beside the unsteered one from the same prompt; greedy decoding; [xx]: identified language)`,
          className: 'gen',
          rowHeaders: 1,
        },
      ),
    );
    parts.push(`<p class="note">All generations: <a href="generations.jsonl" download>generations.jsonl</a>.</p>`);
  }
  return { id: 'steering', title: 'Steering', html: parts.join('\n'), charts, csv };
}

/**
 * Section 1, run summary: model facts (`lape info`), corpus sizes and hashes, tokens per language,
 * settings (top-rate, filter-rate, bars), wall time and tokens/s of each stage. From run.json,
 * completed by masks.json settings and the statistics' token counts.
 */
import { escapeHtml, factTable, figure, formatNumber, table, type Cell } from '../html.js';
import type { ReportContext, SectionOutput } from '../context.js';
import type { Field } from '../input.js';
import type { ChartSpec } from '../charts.js';

const MODEL_LABELS: Record<string, string> = {
  dir: 'checkpoint',
  architecture: 'architecture',
  layers: 'layers',
  hiddenSize: 'hidden size',
  ffnSize: 'FFN size (neurons per layer)',
  neurons: 'FFN neurons in total',
  heads: 'attention heads',
  kvHeads: 'key/value heads',
  vocabSize: 'vocabulary',
  parameters: 'parameters',
  weightBytes: 'weights (bytes)',
  dtype: 'weight dtype',
  tokenizer: 'tokenizer',
  tokenizerVocab: 'tokenizer vocabulary',
};

const SETTING_LABELS: Record<string, string> = {
  languages: 'languages',
  tokensPerLanguage: 'tokens recorded per language',
  seqLen: 'tokens per chunk',
  evalChunks: 'evaluation chunks per language',
  randomSeeds: 'random control sets per language',
  steerPrompts: 'steering prompts per source language',
  sweepLang: 'language of the ratio sweep',
  threads: 'threads',
  method: 'selection method',
  topRate: 'top-rate (share of neurons selected)',
  filterRate: 'filter-rate (quantile a neuron must exceed)',
  barRatio: 'activation bar ratio',
  filterBar: 'filter bar (activation probability)',
  activationBar: 'activation bar (activation probability)',
  thresholdEntropy: 'entropy threshold of the selection (nats)',
  requested: 'neurons requested',
  candidates: 'candidate neurons (above the filter bar)',
  selected: 'neurons selected',
  seed: 'seed',
  threshold: 'activation probability threshold',
  sizesFrom: 'sizes taken from method',
};

/** A prose label for a settings key: the table above, else camelCase split into words. */
export function settingLabel(key: string): string {
  return SETTING_LABELS[key] ?? key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/_/g, ' ').toLowerCase();
}

function scalarCell(f: Field): Cell {
  const v = f.value;
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number')) return v.join(', ');
  return JSON.stringify(v);
}

interface CorpusRow {
  lang: string;
  file?: string;
  sha256?: string;
  chars?: number;
  tokens?: number;
  /** Tokens recorded into the statistics (stats/<lang>.safetensors). */
  recorded?: number;
}

interface Stage {
  name: string;
  /** The lape command line the stage ran (lape demo records it). */
  command?: string;
  seconds: number;
  tokens?: number;
  tokensPerSecond?: number;
}

export async function summarySection(ctx: ReportContext): Promise<SectionOutput | null> {
  const run = ctx.folder.has('run.json') ? ctx.folder.json('run.json') : undefined;
  const masks = ctx.masks();
  const stats = ctx.stats();
  if (!run && !masks && !stats) return null;
  run?.object();

  const parts: string[] = [];
  const csv: string[] = [];
  let charts = 0;

  // Model facts and settings, side by side.
  let modelHtml = '';
  const model = run?.get('model');
  if (model?.present) {
    const rows: Array<[string, Cell]> = model.entries().map(([k, f]) => [MODEL_LABELS[k] ?? settingLabel(k), scalarCell(f)]);
    modelHtml = `<div><h3>Model</h3>\n${factTable(rows, 'Model facts (lape info)')}</div>`;
  } else if (masks) {
    modelHtml = `<div><h3>Model</h3>\n${factTable([['layers', masks.layers], ['FFN size (neurons per layer)', masks.neurons]], 'Model shape (from the masks)')}</div>`;
  }

  // Corpus and tokens per language.
  const corpus = new Map<string, CorpusRow>();
  const corpusField = run?.get('corpus');
  if (corpusField?.present) {
    for (const [lang, f] of corpusField.entries()) {
      corpus.set(lang, {
        lang,
        file: f.get('file').optionalString(),
        sha256: f.get('sha256').optionalString(),
        chars: f.get('chars').optionalNumber(),
        tokens: f.get('tokens').optionalNumber(),
      });
    }
  }
  for (const s of stats ?? []) {
    const row = corpus.get(s.lang) ?? { lang: s.lang };
    row.recorded = s.tokens;
    corpus.set(s.lang, row);
  }
  if (corpus.size) {
    const rows = [...corpus.values()];
    const hasRecorded = rows.some((r) => r.recorded !== undefined);
    const hasCorpus = rows.some((r) => r.tokens !== undefined || r.chars !== undefined);
    const header = ['Language', ...(hasCorpus ? ['File', 'SHA-256', 'Characters', 'Tokens'] : []), ...(hasRecorded ? ['Tokens recorded (statistics)'] : [])];
    const body: Cell[][] = rows.map((r) => [
      r.lang,
      ...(hasCorpus ? [r.file ?? null, r.sha256 ? { html: `<code title="${escapeHtml(r.sha256)}">${escapeHtml(r.sha256.slice(0, 16))}…</code>` } : null, r.chars ?? null, r.tokens ?? null] : []),
      ...(hasRecorded ? [r.recorded ?? null] : []),
    ]);
    const file = ctx.writeCsv('report-corpus.csv', ['language', 'file', 'sha256', 'characters', 'tokens', 'tokens_recorded'], rows.map((r) => [r.lang, r.file, r.sha256, r.chars, r.tokens, r.recorded]));
    csv.push(file);
    const data = rows.flatMap((r) => [
      ...(r.tokens !== undefined ? [{ lang: r.lang, kind: 'corpus tokens', tokens: r.tokens }] : []),
      ...(r.recorded !== undefined ? [{ lang: r.lang, kind: 'recorded tokens', tokens: r.recorded }] : []),
    ]);
    const spec: ChartSpec = {
      title: { text: 'Tokens per language', subtitle: 'corpus tokens and tokens recorded into the statistics' },
      description: 'Bar chart of the number of tokens per language.',
      data: { values: data },
      width: 560,
      height: { step: 14 },
      encoding: {
        y: { field: 'lang', type: 'nominal', title: 'Language', sort: rows.map((r) => r.lang) },
        yOffset: { field: 'kind', type: 'nominal' },
        x: { field: 'tokens', type: 'quantitative', title: 'Tokens (count)' },
        color: { field: 'kind', type: 'nominal', title: 'Count', scale: { range: ['#0072B2', '#E69F00'] } },
      },
      layer: [
        { mark: { type: 'bar' } },
        { mark: { type: 'text', align: 'left', dx: 3, fontSize: 11 }, encoding: { text: { field: 'tokens', type: 'quantitative', format: ',d' }, color: { value: '#222' } } },
      ],
    };
    parts.push('<h3>Corpus</h3>', figure(await ctx.chart(spec, 'tokens', 'Tokens per language'), 'Tokens per language.', [file]));
    charts++;
    parts.push(table(header, body, { caption: 'Corpus files, sizes and hashes per language' }));
  }

  // Settings: run.json settings, then the masks' knobs and bars.
  const settingRows: Array<[string, Cell]> = [];
  const settings = run?.get('settings');
  if (settings?.present) for (const [k, f] of settings.entries()) settingRows.push([settingLabel(k), scalarCell(f)]);
  const selRows: Array<[string, Cell]> = [];
  if (masks) {
    selRows.push(['selection method', masks.method]);
    for (const [k, v] of Object.entries(masks.settings)) {
      if (k.startsWith('tokens.')) continue;
      const label = settingLabel(k);
      if (settingRows.some(([l]) => l === label)) continue; // said once
      selRows.push([label, typeof v === 'boolean' ? (v ? 'yes' : 'no') : v]);
    }
  }
  const settingsHtml = settingRows.length || selRows.length
    ? `<div><h3>Settings</h3>\n${settingRows.length ? factTable(settingRows, 'Settings of the run') : ''}${selRows.length ? factTable(selRows, `Selection (${ctx.masksFile()})`) : ''}</div>`
    : '';
  if (modelHtml || settingsHtml) parts.unshift(`<div class="cols">${modelHtml}${settingsHtml}</div>`);

  // Stages.
  const stagesField = run?.get('stages');
  if (stagesField?.present) {
    const stages: Stage[] = stagesField.array().map((f) => ({
      name: f.get('name').string(),
      command: f.get('command').optionalString(),
      seconds: f.get('seconds').number(),
      tokens: f.get('tokens').optionalNumber(),
      tokensPerSecond: f.get('tokensPerSecond').optionalNumber(),
    }));
    for (const s of stages) if (s.tokensPerSecond === undefined && s.tokens !== undefined && s.seconds > 0) s.tokensPerSecond = s.tokens / s.seconds;
    if (stages.length) {
      const file = ctx.writeCsv('report-stages.csv', ['stage', 'seconds', 'tokens', 'tokens_per_second'], stages.map((s) => [s.name, s.seconds, s.tokens, s.tokensPerSecond]));
      csv.push(file);
      const spec: ChartSpec = {
        title: { text: 'Wall time per stage', subtitle: 'labels: seconds, and tokens/s where the stage processes tokens' },
        description: 'Bar chart of the wall time of each stage in seconds.',
        data: { values: stages.map((s) => ({ ...s, label: `${s.seconds.toFixed(s.seconds < 10 ? 2 : 1)} s${s.tokensPerSecond !== undefined ? ` · ${formatNumber(Math.round(s.tokensPerSecond))} tok/s` : ''}` })) },
        width: 560,
        height: { step: 26 },
        encoding: {
          y: { field: 'name', type: 'nominal', title: 'Stage', sort: null },
          x: { field: 'seconds', type: 'quantitative', title: 'Wall time (s)' },
        },
        layer: [
          { mark: { type: 'bar', color: '#0072B2' } },
          { mark: { type: 'text', align: 'left', dx: 3, fontSize: 11 }, encoding: { text: { field: 'label', type: 'nominal' } } },
        ],
      };
      parts.push('<h3>Stages</h3>', figure(await ctx.chart(spec, 'stages', 'Wall time per stage'), 'Wall time of each stage.', [file]));
      charts++;
      const total = stages.reduce((a, s) => a + s.seconds, 0);
      const runSeconds = run?.get('seconds').optionalNumber();
      const hasCommand = stages.some((s) => s.command);
      const code = (c: string | undefined): Cell => (c ? { html: `<code>${escapeHtml(c)}</code>` } : null);
      parts.push(
        table(
          ['Stage', 'Wall time (s)', 'Tokens', 'Tokens/s', ...(hasCommand ? ['Command'] : [])],
          [
            ...stages.map((s) => [s.name, s.seconds, s.tokens ?? null, s.tokensPerSecond === undefined ? null : Math.round(s.tokensPerSecond), ...(hasCommand ? [code(s.command)] : [])] as Cell[]),
            ['sum of stages', Math.round(total * 100) / 100, null, null, ...(hasCommand ? [null] : [])],
            ...(runSeconds !== undefined ? [['whole run', Math.round(runSeconds * 100) / 100, null, null, ...(hasCommand ? [null] : [])] as Cell[]] : []),
          ],
          { caption: 'Wall time and throughput of each stage', digits: 2, className: 'stages' },
        ),
      );
    }
  }

  return { id: 'summary', title: 'Run summary', html: parts.join('\n'), charts, csv };
}

/**
 * The explorer's front end (bundled by esbuild into dist/src/serve/web/explorer.js at build time
 * and inlined into the page: no CDN, works offline). Preact + htm, three views:
 * - Perplexity: the report's PPL-change matrices (same row/column order, same diverging
 *   blue–orange scale from vega-scale), values on hover, a method switcher when the folder has
 *   several ppl files, relative/absolute measure;
 * - Neurons: pick masks file, layer and language → its neurons with activation probability and
 *   mean activation per language (the report's language colours) and LAPE entropy;
 * - Playground: a prompt, steering settings, and the normal and steered generations streamed side
 *   by side from /v1/completions.
 * An API key, when the server needs one, is read from the page's #key=… fragment.
 */
import { html, render } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { scheme } from 'vega-scale';

interface Cell { row: string; col: string; value: number; ppl: number; change: number; ratio: number }
interface Measure { cells: Cell[]; domain: [number, number]; extent: [number, number]; format: string }
interface Matrix { file: string; method: string; layers: string | null; columns: string[]; rows: string[]; measures: Record<'relative' | 'absolute', Measure> }
interface MasksInfo { file: string; method: string; languages: string[]; layers: number; neurons: number; counts: number[][] }
interface ModelInfo { id: string; layers: number; masks: string[]; stats: string[]; maxTokens: number }
interface Overview { folder: string | null; languages: string[]; colors: Record<string, string>; matrices: Matrix[]; masks: MasksInfo[]; stats: Array<{ lang: string; tokens: number }> | null; model: ModelInfo | null; examples: ExampleLang[] | null }
interface ExampleTop { lang: string; activation: number; before: string; token: string; after: string }
interface ExampleLang { lang: string; neurons: Array<{ layer: number; index: number; langs: string[]; top: ExampleTop[] }> }
interface NeuronRow { neuron: number; prob: number[]; mean: number[]; entropy: number | null; member: string[] }

const key = new URLSearchParams(location.hash.slice(1)).get('key');
const headers = (): Record<string, string> => ({ 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) });

async function getJson<T>(path: string): Promise<T> {
  const r = await fetch(path, { headers: headers() });
  const body = await r.json();
  if (!r.ok) throw new Error(body?.error?.message ?? `HTTP ${r.status}`);
  return body as T;
}

const blueOrange = scheme('blueorange') as (t: number) => string;
const fmt = (v: number, f: string): string => (f === ',.0f' ? Math.round(v).toLocaleString('en') : v.toFixed(f === '.1f' ? 1 : 2));

function MatrixView({ data }: { data: Overview }) {
  const [pick, setPick] = useState(0);
  const [measure, setMeasure] = useState<'relative' | 'absolute'>('relative');
  const [hover, setHover] = useState<Cell | null>(null);
  if (!data.matrices.length) return html`<p>No ppl.json in this folder.</p>`;
  const m = data.matrices[pick]!;
  const ms = m.measures[measure];
  const [lo, hi] = ms.domain;
  const maxAbs = Math.max(1e-9, -lo, hi);
  const color = (v: number): string => {
    const t = hi === lo ? 0.5 : (v - lo) / (hi - lo);
    return blueOrange(ms.extent[0] + t * (ms.extent[1] - ms.extent[0]));
  };
  const byKey = new Map(ms.cells.map((c) => [`${c.row}\u0000${c.col}`, c]));
  return html`<section id="ppl">
    <div class="controls">
      ${data.matrices.length > 1
        ? html`<label>Matrix <select id="method" onChange=${(e: Event) => setPick(Number((e.target as HTMLSelectElement).value))}>
            ${data.matrices.map((x, i) => html`<option value=${i} selected=${i === pick}>${x.method}${x.layers ? ` (layers ${x.layers})` : ''} — ${x.file}</option>`)}
          </select></label>`
        : null}
      <label><input type="radio" name="measure" checked=${measure === 'relative'} onChange=${() => setMeasure('relative')} /> relative change (% of the unmodified PPL)</label>
      <label><input type="radio" name="measure" checked=${measure === 'absolute'} onChange=${() => setMeasure('absolute')} /> absolute change (PPL points)</label>
    </div>
    <table class="matrix" aria-label="Perplexity change: rows = neurons deactivated, columns = evaluated language">
      <thead><tr><th>neurons zeroed ↓ / evaluated →</th>${m.columns.map((c) => html`<th>${c}</th>`)}</tr></thead>
      <tbody>${m.rows.map((r) => html`<tr><th>${r}</th>${m.columns.map((c) => {
        const cell = byKey.get(`${r}\u0000${c}`);
        if (!cell) return html`<td></td>`;
        const dark = Math.abs(cell.value) > maxAbs * 0.6;
        return html`<td class="cell" style=${`background:${color(cell.value)};color:${dark ? 'white' : 'black'}`}
          onMouseEnter=${() => setHover(cell)} onMouseLeave=${() => setHover(null)}>${fmt(cell.value, ms.format)}</td>`;
      })}</tr>`)}</tbody>
    </table>
    <p class="hover" id="hover">${hover
      ? `${hover.row} → ${hover.col}: PPL ${hover.ppl.toFixed(2)}, change ${hover.change >= 0 ? '+' : ''}${hover.change.toFixed(2)} (${((hover.ratio - 1) * 100).toFixed(1)} %)`
      : 'Hover a cell for its values. Orange: perplexity rises; blue: it falls.'}</p>
  </section>`;
}

function NeuronView({ data }: { data: Overview }) {
  const [file, setFile] = useState(data.masks[0]?.file ?? '');
  const masks = data.masks.find((m) => m.file === file);
  const [layer, setLayer] = useState(0);
  const [lang, setLang] = useState(masks?.languages[0] ?? '');
  const [rows, setRows] = useState<{ languages: string[]; rows: NeuronRow[]; threshold: number | null } | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    if (!masks || !lang) return;
    getJson<typeof rows>(`/api/neurons?masks=${encodeURIComponent(file)}&layer=${layer}&lang=${encodeURIComponent(lang)}`).then(setRows, (e: Error) => setError(e.message));
  }, [file, layer, lang]);
  if (!masks) return html`<p>No masks in this folder.</p>`;
  const sel = (label: string, value: string | number, options: Array<string | number>, set: (v: string) => void, id: string) =>
    html`<label>${label} <select id=${id} onChange=${(e: Event) => set((e.target as HTMLSelectElement).value)}>
      ${options.map((o) => html`<option value=${o} selected=${o === value}>${o}</option>`)}</select></label>`;
  return html`<section id="neurons">
    <div class="controls">
      ${sel('Masks', file, data.masks.map((m) => m.file), setFile, 'n-masks')}
      ${sel('Layer', layer, Array.from({ length: masks.layers }, (_, i) => i), (v) => setLayer(Number(v)), 'n-layer')}
      ${sel('Language', lang, masks.languages, setLang, 'n-lang')}
      <span>${masks.counts[masks.languages.indexOf(lang)]?.[layer] ?? 0} neurons (${masks.method})${rows?.threshold != null ? `; entropy cut ${rows.threshold.toFixed(3)}` : ''}</span>
    </div>
    ${error ? html`<p class="error">${error}</p>` : null}
    ${rows && !rows.languages.length ? html`<p>No statistics (stats/) for these masks: only the neuron indices.</p>` : null}
    <table class="neurons">
      <thead><tr><th>neuron</th><th>LAPE entropy</th><th>activation probability per language</th><th>mean activation</th><th>in the masks of</th></tr></thead>
      <tbody>${(rows?.rows ?? []).map((r) => html`<tr>
        <td>${r.neuron}</td><td>${r.entropy === null ? '—' : r.entropy.toFixed(3)}</td>
        <td><div class="bars">${r.prob.map((p, k) => html`<span title=${`${rows!.languages[k]}: p = ${p.toFixed(3)}`} style=${`height:${Math.max(1, p * 40)}px;background:${data.colors[rows!.languages[k]!] ?? '#7F7F7F'}`}></span>`)}</div></td>
        <td>${r.mean.map((v, k) => html`<span class="mean" style=${`color:${data.colors[rows!.languages[k]!] ?? '#333'}`}>${rows!.languages[k]} ${v.toFixed(3)} </span>`)}</td>
        <td>${r.member.join(', ')}</td></tr>`)}</tbody>
    </table>
    ${rows ? html`<p class="legend">${rows.languages.map((l) => html`<span class="swatch" style=${`background:${data.colors[l] ?? '#7F7F7F'}`}></span>${l} `)}</p>` : null}
  </section>`;
}

/** Streams one completion into `onText`; resolves with the finish reason. */
async function streamCompletion(body: Record<string, unknown>, onText: (t: string) => void): Promise<string> {
  const r = await fetch('/v1/completions', { method: 'POST', headers: headers(), body: JSON.stringify({ ...body, stream: true }) });
  if (!r.ok || !r.body) throw new Error((await r.json())?.error?.message ?? `HTTP ${r.status}`);
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let text = '';
  let finish = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const line = buf.slice(0, i).replace(/^data: /, '');
      buf = buf.slice(i + 2);
      if (line === '[DONE]') return finish;
      const ev = JSON.parse(line);
      if (ev.error) throw new Error(ev.error.message);
      text += ev.choices[0]?.text ?? '';
      finish = ev.choices[0]?.finish_reason ?? finish;
      onText(text);
    }
  }
  return finish;
}

function Playground({ data }: { data: Overview }) {
  const model = data.model;
  const [prompt, setPrompt] = useState('The menu bar');
  const [activate, setActivate] = useState<string[]>([]);
  const [deactivate, setDeactivate] = useState<string[]>([]);
  const [mode, setMode] = useState('add');
  const [alpha, setAlpha] = useState(4);
  const [layers, setLayers] = useState('');
  const [maxTokens, setMaxTokens] = useState(40);
  const [out, setOut] = useState({ normal: '', steered: '', status: '' });
  if (!model) return html`<p>No model: start with <code>lape explore DIR --model M</code> or <code>lape serve --model M --results DIR</code>.</p>`;
  const langs = model.masks;
  const toggle = (list: string[], set: (l: string[]) => void, l: string) => set(list.includes(l) ? list.filter((x) => x !== l) : [...list, l]);
  const run = async (): Promise<void> => {
    setOut({ normal: '', steered: '', status: 'generating…' });
    const base = { model: model.id, prompt, max_tokens: maxTokens, temperature: 0 };
    const lape: Record<string, unknown> = { activate, deactivate, mode, ...(mode === 'set' ? {} : { alpha }), ...(layers.trim() ? { layers: layers.trim() } : {}) };
    const live = { normal: '', steered: '' };
    try {
      const [a, b] = await Promise.all([
        streamCompletion(base, (t) => setOut({ ...live, normal: (live.normal = t), status: 'generating…' })),
        streamCompletion({ ...base, lape }, (t) => setOut({ ...live, steered: (live.steered = t), status: 'generating…' })),
      ]);
      setOut({ ...live, status: `done (normal: ${a}, steered: ${b})` });
    } catch (e) {
      setOut({ ...live, status: `error: ${(e as Error).message}` });
    }
  };
  const checks = (list: string[], set: (l: string[]) => void, name: string) =>
    html`<fieldset><legend>${name}</legend>${langs.map((l) => html`<label class="chk" style=${`border-color:${data.colors[l] ?? '#999'}`}><input type="checkbox" name=${`${name}-${l}`} checked=${list.includes(l)} onChange=${() => toggle(list, set, l)} />${l}</label>`)}</fieldset>`;
  return html`<section id="playground">
    <textarea id="prompt" rows="3" value=${prompt} onInput=${(e: Event) => setPrompt((e.target as HTMLTextAreaElement).value)}></textarea>
    <div class="controls">
      ${checks(activate, setActivate, 'activate')}
      ${checks(deactivate, setDeactivate, 'deactivate')}
      <label>mode <select id="mode" onChange=${(e: Event) => setMode((e.target as HTMLSelectElement).value)}>${['set', 'add', 'diffmean'].map((m) => html`<option selected=${m === mode}>${m}</option>`)}</select></label>
      <label>alpha <input id="alpha" type="number" step="0.5" value=${alpha} disabled=${mode === 'set'} onInput=${(e: Event) => setAlpha(Number((e.target as HTMLInputElement).value))} /></label>
      <label>layers <input id="layers" placeholder="all (e.g. 0-2, top:2)" value=${layers} onInput=${(e: Event) => setLayers((e.target as HTMLInputElement).value)} /></label>
      <label>max tokens <input id="max-tokens" type="number" min="1" max=${model.maxTokens} value=${maxTokens} onInput=${(e: Event) => setMaxTokens(Number((e.target as HTMLInputElement).value))} /></label>
      <button id="generate" onClick=${run}>Generate</button>
    </div>
    <div class="side">
      <div><h3>normal</h3><pre id="out-normal">${out.normal}</pre></div>
      <div><h3>steered</h3><pre id="out-steered">${out.steered}</pre></div>
    </div>
    <p id="status">${out.status}</p>
  </section>`;
}

// Text goes in as text nodes (Preact escapes it); line breaks shown as ↵ as in the report.
const shown = (t: string): string => t.replace(/\n/g, '↵ ');

/** lape examples (examples.json): per language a few neurons with their top contexts, the token marked. */
function ExamplesView({ data }: { data: Overview }) {
  if (!data.examples?.length) return html`<p>No examples.json in this folder (run <code>lape examples</code>).</p>`;
  return html`<section id="examples">${data.examples.map((e) => html`<h3 style=${`border-left:6px solid ${data.colors[e.lang] ?? '#888'};padding-left:.3em`}>${e.lang}</h3>
    <table class="neurons"><tr><th>Neuron (its languages)</th><th>Language</th><th>Activation</th><th>Context</th></tr>
    ${e.neurons.flatMap((n) => n.top.map((t, i) => html`<tr><td>${i === 0 ? `${n.layer}:${n.index}${n.langs.length ? ` (${n.langs.join(', ')})` : ''}` : ''}</td>
      <td>${t.lang}</td><td>${t.activation.toFixed(3)}</td><td class="ctx">${shown(t.before)}<mark>${shown(t.token)}</mark>${shown(t.after)}</td></tr>`))}
    </table>`)}</section>`;
}

function App() {
  const [data, setData] = useState<Overview | null>(null);
  const [error, setError] = useState('');
  const [tab, setTab] = useState('ppl');
  useEffect(() => void getJson<Overview>('/api/explorer').then(setData, (e: Error) => setError(e.message)), []);
  if (error) return html`<p class="error">${error}</p>`;
  if (!data) return html`<p>Loading…</p>`;
  const tabs: Array<[string, string]> = [['ppl', 'Perplexity'], ['neurons', 'Neurons'], ['examples', 'Examples'], ['playground', 'Steering playground']];
  return html`<header><h1>lape explorer</h1><span>${data.folder ?? ''}${data.model ? ` · model ${data.model.id}` : ''}</span></header>
    <nav>${tabs.map(([id, label]) => html`<button id=${`tab-${id}`} class=${tab === id ? 'on' : ''} onClick=${() => setTab(id)}>${label}</button>`)}</nav>
    <main>${tab === 'ppl' ? html`<${MatrixView} data=${data} />` : tab === 'neurons' ? html`<${NeuronView} data=${data} />`
      : tab === 'examples' ? html`<${ExamplesView} data=${data} />` : html`<${Playground} data=${data} />`}</main>`;
}

const style = document.createElement('style');
style.textContent = `
body{font-family:'DejaVu Sans',Verdana,sans-serif;margin:0;color:#222}
header{display:flex;gap:1em;align-items:baseline;padding:.6em 1.2em;background:#f4f4f4}
header h1{font-size:1.3em;margin:0}
nav{padding:.4em 1.2em;border-bottom:1px solid #ddd}
nav button{border:1px solid #bbb;background:white;padding:.3em .8em;margin-right:.3em;cursor:pointer}
nav button.on{background:#0072B2;color:white;border-color:#0072B2}
main{padding:1em 1.2em}
.controls{display:flex;flex-wrap:wrap;gap:.8em;align-items:center;margin-bottom:.8em}
table.matrix{border-collapse:collapse}
table.matrix td.cell{width:64px;height:30px;text-align:center;border:1px solid white;font-size:12px;cursor:default}
table.matrix th{font-weight:normal;padding:0 .5em;text-align:right}
table.neurons{border-collapse:collapse;font-size:13px}
table.neurons td,table.neurons th{border-bottom:1px solid #eee;padding:.25em .6em;text-align:left;vertical-align:bottom}
.bars{display:flex;gap:2px;align-items:flex-end;height:42px}
.bars span{width:10px;display:inline-block}
.swatch{display:inline-block;width:.9em;height:.9em;margin:0 .2em 0 .6em;vertical-align:middle}
.side{display:grid;grid-template-columns:1fr 1fr;gap:1em}
pre{white-space:pre-wrap;background:#fafafa;border:1px solid #ddd;padding:.6em;min-height:6em}
textarea{width:100%;font:inherit}
fieldset{border:1px solid #ddd;padding:.2em .5em}
.chk{border-left:4px solid;padding-left:.2em;margin-right:.4em}
.error{color:#D55E00}
td.ctx{font-family:'DejaVu Sans Mono',monospace;white-space:pre-wrap}
mark{background:#F0E442}
`;
document.head.append(style);
const root = document.getElementById('app')!;
root.textContent = ''; // the page's "Loading…" placeholder
render(html`<${App} />`, root);

/**
 * report.html from an output folder (no browser here; see report-browser.test.ts): sections
 * appear only when their files exist, every chart links a CSV that exists, texts are escaped,
 * nothing refers to the network, bad files give a LapeError naming them, and the CLI's exit codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildReport, SECTIONS } from '../src/report/build-report.js';
import { escapeHtml } from '../src/report/html.js';
import { toCsv } from '../src/util/csv.js';
import { textWidth } from '../src/report/text-metrics.js';
import { LapeError } from '../src/errors.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';
import { runCli } from './helpers/cli.js';
import { addPaperFigures } from './helpers/report-sample.js';

const SAMPLE = repoPath('test/fixtures/report-sample');

function sampleCopy(): string {
  const dir = join(tempDir('lape-report-'), 'out');
  cpSync(SAMPLE, dir, { recursive: true });
  rmSync(join(dir, 'make-sample.mjs'));
  addPaperFigures(dir);
  return dir;
}

/** The HTML of one <section id="...">. */
function section(html: string, id: string): string {
  const m = new RegExp(`<section id="${id}"[\\s\\S]*?</section>`).exec(html);
  assert.ok(m, `section ${id} missing`);
  return m[0];
}

async function rejectsLape(p: Promise<unknown>, ...fragments: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof LapeError, `expected LapeError, got ${e}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `message "${e.message}" lacks "${f}"`);
    return true;
  });
}

test('full sample folder: every section, a chart each, CSV links that exist, nothing external', async () => {
  const dir = sampleCopy();
  const r = await buildReport(dir);
  assert.deepEqual(r.sections, SECTIONS.map((s) => s.id));
  assert.equal(r.path, join(dir, 'report.html'));
  const html = readFileSync(r.path, 'utf8');
  for (const id of r.sections) {
    const s = section(html, id);
    assert.match(s, /<svg[^>]*role="img"[^>]*aria-label="[^"]+"/, `section ${id} has no labelled chart`);
    assert.match(s, /<svg[^>]*><title>/, `section ${id}: chart without <title>`);
    assert.match(s, /<table>|<table class/, `section ${id} has no table`);
  }
  // Each chart's figure links CSV files that exist and hold data rows.
  const links = [...html.matchAll(/<a href="([^"]+\.csv)" download>/g)].map((m) => m[1]!);
  assert.ok(links.length >= r.charts, `${links.length} CSV links for ${r.charts} charts`);
  for (const f of new Set(links)) {
    const text = readFileSync(join(dir, f), 'utf8');
    assert.ok(text.trim().split('\n').length >= 2, `${f} has no data rows`);
  }
  assert.ok(r.csv.includes('ppl.csv') && r.csv.includes('sweep.csv'), 'the commands\' own CSVs are linked');
  assert.ok(r.written.includes('lape-hist.csv') && r.written.includes('report-layers.csv'));
  // Self-contained: no scripts, no external resources, a CSP forbidding fetches.
  assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\((?!#)/i);
  assert.doesNotMatch(html, /\s(src|href)="(https?:)?\/\//i);
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  // SVG ids are unique on the page (clip paths and gradients of different charts).
  const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!);
  assert.equal(new Set(ids).size, ids.length, 'duplicate ids');
  // Generated text is escaped, never markup.
  const steer = section(html, 'steering');
  assert.ok(steer.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(!steer.includes('<script>alert'));
  assert.ok(steer.includes('&lt;b&gt;documents&lt;/b&gt; &amp; tables'));
  // Numbers printed in the PPL heatmap cells.
  const ppl = JSON.parse(readFileSync(join(dir, 'ppl.json'), 'utf8')) as { rows: Array<{ id: string; change: Record<string, number> }> };
  const zh = ppl.rows.find((x) => x.id === 'zh')!.change.zh!;
  assert.ok(section(html, 'ppl').includes(`>${zh.toFixed(1)}</text>`), 'heatmap cell value printed');
  // Threshold of the LAPE histogram is the masks' one.
  const masks = JSON.parse(readFileSync(join(dir, 'masks.json'), 'utf8')) as { settings: { thresholdEntropy: number } };
  assert.ok(section(html, 'lape').includes(`threshold ${masks.settings.thresholdEntropy.toFixed(3)}`));
  const hist = readFileSync(join(dir, 'lape-hist.csv'), 'utf8').trim().split('\n');
  assert.equal(hist[0], 'entropy_from,entropy_to,neurons_selected,neurons_not_selected,threshold_entropy');
  const selected = hist.slice(1).reduce((a, line) => a + Number(line.split(',')[2]), 0);
  assert.equal(selected, 38);
});

test('sections appear only when their files exist', async () => {
  const empty = tempDir('lape-report-');
  const r0 = await buildReport(empty);
  assert.deepEqual(r0.sections, []);
  assert.match(readFileSync(r0.path, 'utf8'), /No result files were found/);

  const onlyMasks = tempDir('lape-report-');
  cpSync(join(SAMPLE, 'masks.json'), join(onlyMasks, 'masks.json'));
  const r1 = await buildReport(onlyMasks);
  assert.deepEqual(r1.sections, ['summary', 'layers', 'overlap']);

  const some = sampleCopy();
  for (const f of ['ppl.json', 'ppl.lap.json', 'ppl.rs.json', 'ppl.layers-bottom2.json', 'sweep.json', 'steering.json', 'run.json', 'masks.json', 'judge.json']) rmSync(join(some, f));
  rmSync(join(some, 'sweep.csv'));
  const r2 = await buildReport(some);
  assert.deepEqual(r2.sections, ['summary', 'examples', 'ses', 'steering', 'lape', 'stability']);
  assert.ok(!existsSync(join(some, 'report-sweep.csv')));
});

test('every masks file and every ppl result of the folder reaches the report', async () => {
  // identify --out DIR/masks.lave.json alone: the report shows its layers and overlap (not "no result files").
  const dir = tempDir('lape-report-');
  cpSync(join(SAMPLE, 'masks.json'), join(dir, 'masks.lave.json'));
  const r = await buildReport(dir);
  assert.deepEqual(r.sections, ['summary', 'layers', 'overlap']);
  const html = readFileSync(r.path, 'utf8');
  assert.doesNotMatch(html, /No result files were found/);
  // Only ppl.lap.json and ppl.rs.json (no ppl.json): the matrix section shows the first, Fig. 2 both.
  const full = sampleCopy();
  rmSync(join(full, 'ppl.json'));
  const r2 = await buildReport(full);
  assert.ok(r2.sections.includes('ppl') && r2.sections.includes('methods') && r2.sections.includes('ppl-layers'), r2.sections.join());
  const h2 = readFileSync(r2.path, 'utf8');
  assert.match(section(h2, 'methods'), /LAP[\s\S]*RS \(random\)/);
});

test('paper figures: Fig. 2 small multiples with margins, relative/absolute switch, random intervals, layer-restricted matrices, steering matrix', async () => {
  const dir = sampleCopy();
  const r = await buildReport(dir);
  const html = readFileSync(r.path, 'utf8');
  // The switch: both views present, relative checked first, each chart names its measure.
  const ppl = section(html, 'ppl');
  assert.match(ppl, /<input type="radio" class="m-rel"[^>]*checked>/);
  assert.match(ppl, /aria-label="Perplexity change heatmap \(relative\)"/);
  assert.match(ppl, /aria-label="Perplexity change heatmap \(absolute\)"/);
  assert.match(ppl, /relative change: 100 · \(PPL − PPL unmodified\) \/ PPL unmodified/);
  // Random intervals: the table and the outline of own cells that do not exceed them.
  assert.match(ppl, /Random, 95 % interval/);
  assert.match(ppl, /Dashed outline/);
  // Fig. 2: one facet per method on one scale; the margins table lists each method.
  const m = section(html, 'methods');
  for (const name of ['LAPE', 'LAP', 'RS (random)']) assert.ok(m.includes(`>${name}</text>`) || m.includes(`>${name}<`), `panel ${name}`);
  assert.match(m, /Diagonal dominance per method/);
  assert.match(section(html, 'ppl-layers'), /layers bottom:2 \(0, 1\)/);
  // Steering: the source × target matrix with Table 5's combination, and examples of both outcomes.
  const st = section(html, 'steering');
  assert.match(st, /Steering accuracy: source × target/);
  assert.match(st, /−source \+target \(Table 5\)/);
  assert.match(st, /reached the target/);
  assert.match(st, /missed the target/);
  assert.doesNotMatch(html, /\d\.\d\de-\d/, 'no scientific notation');
});

test('one order and one colour per language across the report', async () => {
  const dir = sampleCopy();
  // Masks listed alphabetically, the evaluation (and run) order is en, zh, fr, es, vi, id, ja.
  const masks = JSON.parse(readFileSync(join(dir, 'masks.json'), 'utf8'));
  masks.languages = [...masks.languages].sort(); // masks.masks is keyed by language
  writeFileSync(join(dir, 'masks.json'), JSON.stringify(masks));
  const r = await buildReport(dir);
  const html = readFileSync(r.path, 'utf8');
  const evalOrder = ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja'];
  // Overlap heatmap axis labels and the layers table header follow the evaluation order.
  const labelsIn = (h: string): string[] => [...h.matchAll(/<text[^>]*>(en|zh|fr|es|vi|id|ja)<\/text>/g)].map((x) => x[1]!);
  const ov = labelsIn(section(html, 'overlap'));
  assert.deepEqual(ov.slice(0, 7), evalOrder, 'overlap columns');
  assert.match(section(html, 'layers'), /<th scope="col">Layer<\/th><th scope="col">en<\/th><th scope="col">zh<\/th><th scope="col">fr<\/th>/);
  // zh is vermillion (#D55E00) in the layers chart, the sweep and the dominance chart alike.
  for (const id of ['layers', 'sweep', 'ses']) {
    const s = section(html, id).toLowerCase();
    assert.ok(s.includes('#d55e00'), `${id}: zh's colour`);
  }
  const { languageColors } = await import('../src/report/charts.js');
  const a = languageColors(['en', 'zh', 'fr'], ['zh', 'fr']);
  const b = languageColors(['fr', 'zh'], ['fr', 'zh']);
  assert.equal(a.range[0], b.range[1], 'zh gets one colour whatever the position');
});

test('malformed input files: a LapeError naming the file (and the field)', async () => {
  const dir = sampleCopy();
  writeFileSync(join(dir, 'ppl.json'), '{"rows": [');
  await rejectsLape(buildReport(dir), join(dir, 'ppl.json'), 'not valid JSON');

  const ppl = JSON.parse(readFileSync(join(SAMPLE, 'ppl.json'), 'utf8')) as { rows: Array<{ change: Record<string, unknown> }> };
  ppl.rows[2]!.change.fr = 'x';
  writeFileSync(join(dir, 'ppl.json'), JSON.stringify(ppl));
  await rejectsLape(buildReport(dir), 'ppl.json', 'rows[2].change.fr is "x", expected a finite number');

  cpSync(join(SAMPLE, 'ppl.json'), join(dir, 'ppl.json'));
  writeFileSync(join(dir, 'generations.jsonl'), '{"target": "zh", "prompt": "a", "normal": "b", "steered": "c"}\nnot json\n');
  await rejectsLape(buildReport(dir), 'generations.jsonl', 'line 2');

  cpSync(join(SAMPLE, 'generations.jsonl'), join(dir, 'generations.jsonl'));
  const ses = JSON.parse(readFileSync(join(SAMPLE, 'ses.json'), 'utf8')) as { ses: number[] };
  ses.ses.pop();
  writeFileSync(join(dir, 'ses.json'), JSON.stringify(ses));
  await rejectsLape(buildReport(dir), 'ses.json', 'values for 8 layers');

  cpSync(join(SAMPLE, 'ses.json'), join(dir, 'ses.json'));
  writeFileSync(join(dir, 'masks.json'), '{"format": "lape-masks", "version": 1}');
  await rejectsLape(buildReport(dir), 'masks.json');

  await rejectsLape(buildReport(join(dir, 'nope')), 'does not exist');
});

test('helpers: escaping, CSV quoting, text widths', () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  assert.equal(toCsv(['a', 'b'], [['x,y', 'say "hi"'], [1.5, null], [NaN, 'line\nbreak']]), 'a,b\n"x,y","say ""hi"""\n1.5,\n,"line\nbreak"\n');
  assert.ok(Math.abs(textWidth('Layer', 12) - 12 * (0.557 + 0.613 + 0.592 + 0.615 + 0.411) * 1.02) < 1e-9);
  assert.equal(textWidth('中文', 10), 20.4);
  assert.ok(textWidth('en', 12, true) > textWidth('en', 12));
});

test('lape report CLI: builds, prints the path, --json summary; exit 1 on bad input, 2 on bad usage', () => {
  const dir = sampleCopy();
  const r = runCli(['report', dir, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').pop(), join(dir, 'report.html'));
  assert.equal(r.stderr, '');
  const j = runCli(['report', dir, '--json', '--title', 'Sample <run>']);
  assert.equal(j.code, 0, j.stderr);
  const summary = JSON.parse(j.stdout) as { path: string; sections: string[]; ms: number; charts: number };
  assert.equal(summary.sections.length, SECTIONS.length);
  assert.ok(summary.charts >= SECTIONS.length && summary.ms > 0);
  assert.match(readFileSync(summary.path, 'utf8'), /<title>Sample &lt;run&gt;<\/title>/);

  const help = runCli(['report', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Examples:\n {2}lape report/);
  assert.equal(runCli(['report']).code, 2);
  const missing = runCli(['report', join(dir, 'missing')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /missing: output folder does not exist/);
});

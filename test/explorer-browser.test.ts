/**
 * The explorer in headless Chromium (Debian's, via playwright-core): `lape serve --results` on the
 * report's sample folder (test/fixtures/report-sample) with the embedded model steered by masks
 * recorded for it. The page loads with no request leaving the server and no console error; the
 * PPL matrix renders every cell in the report's order with hover values; the method switcher and
 * measure switch change the matrix; the neuron browser lists a layer's neurons with one bar per
 * language in the report's colours; the steering playground streams a normal and a steered
 * generation side by side and they differ (add mode). Screenshots: dist/test-output/explorer/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LANGUAGE_COLORS } from '../src/report/charts.js';
import { CHROMIUM, SKIP_WITHOUT_CHROMIUM } from './helpers/browser.js';
import { repoPath } from './helpers/paths.js';
import { MODEL, startServe, steeringInputs } from './helpers/serve.js';
import { copyToTemp, tempDir } from './helpers/tmp.js';

const OUT = repoPath('dist/test-output/explorer');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const hexToRgb = (hex: string): string => {
  const n = parseInt(hex.slice(1), 16);
  return `rgb(${n >> 16}, ${(n >> 8) & 255}, ${n & 255})`;
};

test('the explorer: matrix with hover, method switch, neuron browser, steering playground', { skip: SKIP_WITHOUT_CHROMIUM, timeout: 300_000 }, async () => {
  mkdirSync(OUT, { recursive: true });
  const { masks, stats } = await steeringInputs(tempDir());
  // A second ppl file (another method) so that the method switcher appears.
  const results = copyToTemp(repoPath('test/fixtures/report-sample'));
  cpSync(join(results, 'ppl.json'), join(results, 'ppl.lap.json'));
  const served = await startServe(['--model', MODEL, '--masks', masks, '--stats', stats, '--results', results]);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const foreign: string[] = [];
    const errors: string[] = [];
    context.on('request', (r) => {
      if (!r.url().startsWith(served.url)) foreign.push(r.url());
    });
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(served.url, { waitUntil: 'load' });

    // 1. The matrix: rows × columns cells, the report's row and column order.
    await page.waitForSelector('table.matrix td.cell');
    const api = (await (await fetch(`${served.url}/api/explorer`)).json()) as { matrices: Array<{ rows: string[]; columns: string[]; method: string }>; colors: Record<string, string> };
    const m0 = api.matrices[0]!;
    assert.equal(await page.locator('table.matrix td.cell').count(), m0.rows.length * m0.columns.length);
    assert.deepEqual(await page.locator('table.matrix thead th').allInnerTexts().then((h) => h.slice(1)), m0.columns);
    assert.deepEqual(await page.locator('table.matrix tbody th').allInnerTexts(), m0.rows);
    const colours = new Set(await page.locator('table.matrix td.cell').evaluateAll((tds) => tds.map((td) => getComputedStyle(td).backgroundColor)));
    assert.ok(colours.size > 5, `the matrix has ${colours.size} colours: not a colour scale`);
    await page.locator('table.matrix td.cell').first().hover();
    assert.match(await page.locator('#hover').innerText(), new RegExp(`^${m0.rows[0]} → ${m0.columns[0]}: PPL [\\d.]+, change [+-][\\d.]+`));
    await page.screenshot({ path: join(OUT, 'explorer-matrix.png'), fullPage: true });
    const before = await page.locator('table.matrix td.cell').first().innerText();
    await page.locator('input[name=measure]').nth(1).check();
    assert.notEqual(await page.locator('table.matrix td.cell').first().innerText(), before, 'the measure switch changed nothing');
    assert.equal(await page.locator('#method option').count(), 2);
    await page.selectOption('#method', '1');
    assert.match(await page.locator('#method option:checked').innerText(), /ppl\.lap\.json/);

    // 2. Neuron browser: a layer's neurons with one bar per language, in the report's colours.
    await page.click('#tab-neurons');
    await page.waitForSelector('table.neurons tbody tr');
    await page.selectOption('#n-layer', '2');
    await page.selectOption('#n-lang', 'zh');
    await page.waitForFunction(() => document.querySelector('#n-lang') && (document.querySelector('#n-lang') as HTMLSelectElement).value === 'zh');
    await page.waitForSelector('table.neurons tbody tr td .bars span');
    const bars = await page.locator('table.neurons tbody tr').first().locator('.bars span').evaluateAll((s) => s.map((e) => getComputedStyle(e).backgroundColor));
    assert.equal(bars.length, 7, 'one bar per language of the statistics');
    assert.ok(bars.includes(hexToRgb(LANGUAGE_COLORS.zh!)), `zh's bar is not in the report's zh colour: ${bars}`);
    assert.match(await page.locator('table.neurons tbody tr').first().innerText(), /zh/);
    await page.screenshot({ path: join(OUT, 'explorer-neurons.png'), fullPage: true });

    // 3. Examples (the sample's examples.json): each language's neurons and their top contexts,
    // the token marked and the text escaped (the sample's first context holds a literal "<b>").
    await page.click('#tab-examples');
    await page.waitForSelector('#examples td.ctx mark');
    const first = await page.locator('#examples td.ctx').first().innerText();
    assert.match(first, /Click <b>/, 'the context text is shown as text');
    assert.equal(await page.locator('#examples td.ctx b').count(), 0, 'HTML in a context was interpreted');
    assert.ok((await page.locator('#examples h3').count()) >= 1);
    await page.screenshot({ path: join(OUT, 'explorer-examples.png'), fullPage: true });

    // 4. Playground: normal and steered side by side (add mode, zh), streamed.
    await page.click('#tab-playground');
    await page.fill('#prompt', 'The menu bar');
    await page.check('input[name=activate-zh]');
    await page.selectOption('#mode', 'add');
    await page.fill('#alpha', '4');
    await page.fill('#max-tokens', '24');
    await page.click('#generate');
    await page.waitForFunction(() => /^done|^error/.test(document.querySelector('#status')?.textContent ?? ''), null, { timeout: 60_000 });
    assert.match(await page.locator('#status').innerText(), /^done/);
    const normal = await page.locator('#out-normal').innerText();
    const steered = await page.locator('#out-steered').innerText();
    assert.ok(normal.length > 0 && steered.length > 0);
    assert.notEqual(steered, normal, 'add-mode steering did not change the generation');
    await page.screenshot({ path: join(OUT, 'explorer-playground.png'), fullPage: true });

    assert.deepEqual(foreign, [], 'the page loaded something from outside the server');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    assert.equal(await served.stop(), 0);
  }
});

/**
 * report.html in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core; .ci/run installs it) opens the report of the sample output folder from a
 * file:// URL and checks: no console errors, no network requests, in each expected section a
 * rendered SVG of non-zero size; then writes a full-page screenshot PNG into the folder.
 * Skipped, saying why, only where /usr/bin/chromium is absent.
 *
 * The folder (kept after the run for inspection): dist/test-output/report-browser/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildReport, SECTIONS } from '../src/report/build-report.js';
import { repoPath } from './helpers/paths.js';

/** Debian's Chromium; LAPE_CHROMIUM names another Chromium binary. */
const CHROMIUM = process.env.LAPE_CHROMIUM ?? '/usr/bin/chromium';
const SKIP = existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium; .ci/run does) to run the browser test`;

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

test('report.html renders in headless Chromium: SVG in every section, no console errors, no network', { skip: SKIP, timeout: 120_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const dir = repoPath('dist/test-output/report-browser');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(repoPath('test/fixtures/report-sample'), dir, { recursive: true });
  rmSync(join(dir, 'make-sample.mjs'));
  const report = await buildReport(dir);
  assert.deepEqual(report.sections, SECTIONS.map((s) => s.id));

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const url = pathToFileURL(report.path).href;
    const requests: string[] = [];
    const consoleErrors: string[] = [];
    context.on('request', (r) => {
      if (r.url() !== url) requests.push(r.url());
    });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await page.goto(url, { waitUntil: 'load' });

    for (const id of report.sections) {
      const boxes = await page.$$eval(`section#${id} svg`, (svgs) =>
        svgs.map((s) => {
          const r = s.getBoundingClientRect();
          return { w: r.width, h: r.height, marks: s.querySelectorAll('path, rect, line, text').length };
        }),
      );
      assert.ok(boxes.length > 0, `section ${id}: no <svg>`);
      for (const b of boxes) {
        assert.ok(b.w > 100 && b.h > 50, `section ${id}: an SVG is ${b.w} × ${b.h} px`);
        assert.ok(b.marks > 10, `section ${id}: an SVG has only ${b.marks} marks`);
      }
    }
    // Readable at 1280 px: no horizontal scrolling of the page itself.
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= 1280, `page is ${scrollWidth} px wide at a 1280 px window`);

    const png = join(dir, 'report-screenshot.png');
    await page.screenshot({ path: png, fullPage: true });
    assert.ok(statSync(png).size > 10_000, 'screenshot written');
    assert.deepEqual(consoleErrors, [], 'console errors');
    assert.deepEqual(requests, [], 'network requests other than the page itself');
  } finally {
    await browser.close();
  }
});

/**
 * Opens a report.html in headless Chromium (Debian's /usr/bin/chromium via playwright-core) and
 * checks what a reader sees: every listed section has a rendered SVG of non-zero size, no
 * console errors, no network requests, no horizontal scrolling at 1280 px; writes a screenshot.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Debian's Chromium; LAPE_CHROMIUM names another Chromium binary. */
export const CHROMIUM = process.env.LAPE_CHROMIUM ?? '/usr/bin/chromium';

/** false when Chromium is present, else the reason to skip (node:test's `skip` option). */
export const SKIP_WITHOUT_CHROMIUM: false | string = existsSync(CHROMIUM)
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

export async function checkReportInBrowser(reportPath: string, sections: readonly string[]): Promise<string> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const url = pathToFileURL(reportPath).href;
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

    for (const id of sections) {
      // Hidden views (the relative/absolute switch shows one of two figures) are not checked.
      const boxes = await page.$$eval(`section#${id} svg`, (svgs) =>
        svgs
          .filter((s) => (s as unknown as HTMLElement).closest('.view') === null || getComputedStyle((s as unknown as HTMLElement).closest('.view')!).display !== 'none')
          .map((s) => {
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

    const png = join(dirname(reportPath), 'report-screenshot.png');
    await page.screenshot({ path: png, fullPage: true });
    assert.ok(statSync(png).size > 10_000, 'screenshot written');
    assert.deepEqual(consoleErrors, [], 'console errors');
    assert.deepEqual(requests, [], 'network requests other than the page itself');
    return png;
  } finally {
    await browser.close();
  }
}

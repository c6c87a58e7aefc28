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
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildReport, SECTIONS } from '../src/report/build-report.js';
import { repoPath } from './helpers/paths.js';
import { checkReportInBrowser, SKIP_WITHOUT_CHROMIUM } from './helpers/browser.js';
import { addPaperFigures } from './helpers/report-sample.js';

test('report.html renders in headless Chromium: SVG in every section, no console errors, no network', { skip: SKIP_WITHOUT_CHROMIUM, timeout: 120_000 }, async () => {
  const dir = repoPath('dist/test-output/report-browser');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(repoPath('test/fixtures/report-sample'), dir, { recursive: true });
  rmSync(join(dir, 'make-sample.mjs'));
  addPaperFigures(dir);
  const report = await buildReport(dir);
  assert.deepEqual(report.sections, SECTIONS.map((s) => s.id));

  await checkReportInBrowser(report.path, report.sections);
});

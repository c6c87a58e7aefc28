/**
 * HTML building blocks for the report: escaping, tables, figures and the page template (inline
 * CSS, no scripts, a Content-Security-Policy that forbids every network fetch).
 */

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A relative link to a file in the report's folder (each path segment URL-encoded). */
export function fileHref(rel: string): string {
  return rel.split('/').map(encodeURIComponent).join('/');
}

export type Cell = string | number | null | undefined | { html: string };

export interface TableOptions {
  caption?: string;
  /** Number of leading columns that are row headers (`<th scope="row">`). Default 1. */
  rowHeaders?: number;
  /** Digits after the point for non-integer numbers. Default 3. */
  digits?: number;
  className?: string;
}

/** Formats a number for a table: integers with thin grouping, others with `digits` decimals. */
export function formatNumber(n: number, digits = 3): string {
  if (Number.isNaN(n)) return '–';
  if (!Number.isFinite(n)) return n > 0 ? '∞' : '−∞';
  if (Number.isInteger(n)) return Math.abs(n) >= 1e4 ? n.toLocaleString('en-US') : String(n);
  const a = Math.abs(n);
  // Tables are read, not parsed: no scientific notation. Small values keep two significant digits.
  if (a >= 1e7) return Math.round(n).toLocaleString('en-US');
  if (a !== 0 && a < 10 ** -digits) return a < 1e-12 ? '0' : n.toFixed(Math.min(20, Math.ceil(-Math.log10(a)) + 1));
  return n.toFixed(digits);
}

function cellHtml(c: Cell, digits: number): string {
  if (c === null || c === undefined) return '–';
  if (typeof c === 'number') return formatNumber(c, digits);
  if (typeof c === 'object') return c.html;
  return escapeHtml(c);
}

/** A table with a header row; numeric cells are right-aligned. */
export function table(header: string[], rows: Cell[][], opts: TableOptions = {}): string {
  const digits = opts.digits ?? 3;
  const rh = opts.rowHeaders ?? 1;
  const out: string[] = [];
  out.push(`<div class="table-wrap"><table${opts.className ? ` class="${escapeHtml(opts.className)}"` : ''}>`);
  if (opts.caption) out.push(`<caption>${escapeHtml(opts.caption)}</caption>`);
  out.push(`<thead><tr>${header.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('')}</tr></thead>`);
  out.push('<tbody>');
  for (const row of rows) {
    const cells = row.map((c, i) => {
      const cls = typeof c === 'number' ? ' class="num"' : '';
      return i < rh ? `<th scope="row"${cls}>${cellHtml(c, digits)}</th>` : `<td${cls}>${cellHtml(c, digits)}</td>`;
    });
    out.push(`<tr>${cells.join('')}</tr>`);
  }
  out.push('</tbody></table></div>');
  return out.join('\n');
}

/** A two-column key/value table (no header row needed, but one is given for screen readers). */
export function factTable(rows: Array<[string, Cell]>, caption?: string): string {
  return table(['Item', 'Value'], rows.map(([k, v]) => [k, v]), { caption, className: 'facts' });
}

/** A chart in a figure with a caption and links to the CSV files holding its numbers. */
export function figure(svg: string, caption: string, csv: string[]): string {
  const links = csv.map((f) => `<a href="${escapeHtml(fileHref(f))}" download>${escapeHtml(f)}</a>`).join(', ');
  return [
    '<figure class="chart">',
    svg,
    `<figcaption>${escapeHtml(caption)}${csv.length ? ` <span class="csv">Data: ${links}</span>` : ''}</figcaption>`,
    '</figure>',
  ].join('\n');
}

export interface PageSection {
  id: string;
  title: string;
  html: string;
}

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1a1a1a; background: #fff; }
header, main, footer { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; border-bottom: 1px solid #ccc; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 36px 0 8px; padding-top: 8px; border-top: 3px solid #0072B2; }
h3 { font-size: 17px; margin: 20px 0 6px; }
p.meta { color: #444; margin: 0 0 12px; }
nav ol { margin: 8px 0 16px; padding-left: 20px; columns: 2; }
a { color: #0059a0; }
figure.chart { margin: 12px 0 20px; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 14px; color: #333; margin-top: 4px; }
figcaption .csv { color: #555; }
.table-wrap { overflow-x: auto; margin: 8px 0 16px; }
table { border-collapse: collapse; font-size: 14px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: left; vertical-align: top; }
thead th { background: #eef3f8; }
tbody th { background: #f7f7f7; font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
table.facts th[scope=row] { white-space: nowrap; }
.ctx mark { background: #ffd966; color: inherit; padding: 0 1px; border-radius: 2px; }
.gen td { max-width: 520px; white-space: pre-wrap; word-break: break-word; font-size: 13px; }
details { margin: 8px 0 16px; }
summary { cursor: pointer; color: #0059a0; }
.cols { display: flex; flex-wrap: wrap; gap: 8px 40px; align-items: flex-start; }
.stages code { font-size: 12px; white-space: pre-wrap; word-break: break-all; }
.note { color: #444; font-size: 14px; }
.switch { margin: 8px 0 4px; }
.switch > label { margin: 0 18px 0 4px; font-size: 14px; cursor: pointer; }
.switch > .view { display: none; }
.switch > input.m-rel:checked ~ .view.v-rel, .switch > input.m-abs:checked ~ .view.v-abs { display: block; }
td.no, th.no { background: #fde8d8; }
footer { margin-top: 40px; padding-bottom: 32px; border-top: 1px solid #ccc; color: #555; font-size: 13px; }
`;

/** The whole page. Everything is inline; the CSP forbids scripts and all fetches. */
export function page(opts: { title: string; subtitle: string; sections: PageSection[]; footer: string }): string {
  const nav = opts.sections.map((s) => `<li><a href="#${escapeHtml(s.id)}">${escapeHtml(s.title)}</a></li>`).join('');
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(opts.title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<header>',
    `<h1>${escapeHtml(opts.title)}</h1>`,
    `<p class="meta">${opts.subtitle}</p>`,
    opts.sections.length ? `<nav aria-label="Sections"><ol>${nav}</ol></nav>` : '<p>No result files were found in this folder.</p>',
    '</header>',
    '<main>',
    ...opts.sections.map((s) => `<section id="${escapeHtml(s.id)}" aria-labelledby="${escapeHtml(s.id)}-h">\n<h2 id="${escapeHtml(s.id)}-h">${escapeHtml(s.title)}</h2>\n${s.html}\n</section>`),
    '</main>',
    `<footer>${opts.footer}</footer>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/**
 * Text widths for Vega's layout without a canvas. Vega's own fallback guesses 0.8 em for every
 * character, which over-reserves room (labels get cut with "…", titles push charts apart). This
 * uses the advance widths of DejaVu Sans (= Bitstream Vera, whose metrics Verdana shares), the
 * charts' first font, in em; CJK and other wide characters count 1 em; bold adds 10 %.
 * Vega documents replacing `textMetrics.width` for exactly this case.
 */
import * as vega from 'vega';

const W: Record<string, number> = {};
const set = (chars: string, w: number): void => {
  for (const c of chars) W[c] = w;
};
set(' ', 0.318);
set('0123456789', 0.636);
set('.,', 0.318);
set(':;', 0.337);
set('!|', 0.4);
set('-', 0.361);
set('()[]{}', 0.39);
set('/\\', 0.337);
set('%', 0.95);
set('_', 0.5);
set("'", 0.275);
set('"', 0.46);
set('+=<>×÷−±→←≠≤≥∩∪', 0.838);
set('·•', 0.318);
set('…', 1.0);
set('@', 1.0);
set('#&', 0.838);
set('*', 0.5);
set('?', 0.531);
set('–', 0.5);
set('—', 1.0);
set('‘’', 0.318);
set('“”«»', 0.52);
const LOWER: Record<string, number> = {
  a: 0.613, b: 0.635, c: 0.55, d: 0.635, e: 0.615, f: 0.352, g: 0.635, h: 0.634, i: 0.278, j: 0.278, k: 0.579, l: 0.278, m: 0.974,
  n: 0.634, o: 0.612, p: 0.635, q: 0.635, r: 0.411, s: 0.521, t: 0.392, u: 0.634, v: 0.592, w: 0.818, x: 0.592, y: 0.592, z: 0.525,
};
const UPPER: Record<string, number> = {
  A: 0.684, B: 0.686, C: 0.698, D: 0.77, E: 0.632, F: 0.575, G: 0.775, H: 0.752, I: 0.295, J: 0.295, K: 0.656, L: 0.557, M: 0.863,
  N: 0.748, O: 0.787, P: 0.603, Q: 0.787, R: 0.695, S: 0.635, T: 0.611, U: 0.732, V: 0.684, W: 0.989, X: 0.685, Y: 0.611, Z: 0.685,
};
Object.assign(W, LOWER, UPPER);

/** Width in em of one character. */
function charEm(c: string): number {
  const w = W[c];
  if (w !== undefined) return w;
  const code = c.codePointAt(0)!;
  if (code >= 0x1100 && (code <= 0x115f || (code >= 0x2e80 && code <= 0xa4cf) || (code >= 0xac00 && code <= 0xd7a3) || (code >= 0xf900 && code <= 0xfaff) || (code >= 0xfe30 && code <= 0xfe4f) || (code >= 0xff00 && code <= 0xff60) || (code >= 0xffe0 && code <= 0xffe6) || code >= 0x1f300)) {
    return 1.0;
  }
  if (code >= 0x0300 && code <= 0x036f) return 0; // combining marks
  return 0.62; // other Latin (accented), Greek, Cyrillic: about a lowercase letter
}

/** Estimated width in px of `text` at `fontSize` px (bold when `bold`). */
export function textWidth(text: string, fontSize: number, bold = false): number {
  let em = 0;
  for (const c of text) em += charEm(c);
  return em * fontSize * (bold ? 1.1 : 1) * 1.02;
}

interface TextItem {
  fontSize?: number | string;
  fontWeight?: number | string;
  limit?: number;
}

function isBold(w: number | string | undefined): boolean {
  if (w === undefined) return false;
  if (typeof w === 'number') return w >= 600;
  return w === 'bold' || w === 'bolder' || Number(w) >= 600;
}

let installed = false;

/** Makes Vega measure text with `textWidth` (once per process). */
export function installTextMetrics(): void {
  if (installed) return;
  installed = true;
  const tm = (vega as unknown as { textMetrics: { width: (item: TextItem, text: unknown) => number } }).textMetrics;
  tm.width = (item: TextItem, text: unknown): number => {
    const s = text == null ? '' : String(text).trim();
    const size = item.fontSize != null ? Number(item.fontSize) || 0 : 11;
    if (!s || size <= 0) return 0;
    const w = textWidth(s, size, isBold(item.fontWeight));
    return item.limit && item.limit > 0 ? Math.min(w, item.limit) : w;
  };
}

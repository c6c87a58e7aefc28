/**
 * The rating in a judge's reply. The prompt asks for "[[N]]" (prompt.ts); replies vary, so:
 * the last "[[N]]" (spaces, a decimal part and a "/10" tolerated), else the last "[N]", else
 * "Rating: N" / "Score: N". A value outside 1–10 is not a rating. null when none is found.
 */
const PATTERNS = [
  /\[\[\s*(\d+(?:[.,]\d+)?)\s*(?:\/\s*10\s*)?\]\]/g,
  /\[\s*(\d+(?:[.,]\d+)?)\s*(?:\/\s*10\s*)?\]/g,
  /\b(?:rating|score)\s*[:：=]\s*\**\s*(\d+(?:[.,]\d+)?)(?:\s*\/\s*10)?/gi,
];

export function parseScore(reply: string): number | null {
  for (const re of PATTERNS) {
    const found = [...reply.matchAll(re)];
    if (found.length === 0) continue;
    const n = Number(found.at(-1)![1]!.replace(',', '.'));
    return Number.isFinite(n) && n >= 1 && n <= 10 ? n : null;
  }
  return null;
}

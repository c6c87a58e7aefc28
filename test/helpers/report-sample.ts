/**
 * Adds to a copy of test/fixtures/report-sample what the paper's figures need beyond one matrix:
 * ppl.lap.json and ppl.rs.json (other methods on the same sets, Fig. 2), ppl.layers-bottom2.json
 * (a layer-restricted run), random intervals on ppl.json's random rows, and steering rows from a
 * second source language with Table 5's combination. Synthetic numbers derived from the sample's.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StatsAccumulator } from '../../src/stats/accumulator.js';
import { Xoshiro128 } from '../../src/select/prng.js';
import { selectionStability } from '../../src/select/stability.js';
import type { LangStats } from '../../src/stats/types.js';

type Row = { id: string; kind: string; lang: string | null; ppl: Record<string, number>; change: Record<string, number>; pplRatio: Record<string, number>; interval?: unknown; seeds?: number[] };

function scaled(doc: { rows: Row[]; evalLanguages: string[] }, f: (r: Row, l: string) => number): Row[] {
  const none = doc.rows.find((r) => r.kind === 'none')!;
  return doc.rows
    .filter((r) => r.kind !== 'random')
    .map((r) => {
      if (r.kind === 'none') return r;
      const out: Row = { ...r, ppl: {}, change: {}, pplRatio: {} };
      for (const l of doc.evalLanguages) {
        const change = f(r, l);
        out.ppl[l] = none.ppl[l]! + change;
        out.change[l] = change;
        out.pplRatio[l] = out.ppl[l]! / none.ppl[l]!;
      }
      return out;
    });
}

export function addPaperFigures(dir: string): void {
  const doc = JSON.parse(readFileSync(join(dir, 'ppl.json'), 'utf8'));
  // Random rows: three seeds, an interval around each mean.
  for (const r of doc.rows as Row[]) {
    if (r.kind !== 'random') continue;
    r.seeds = [0, 1, 2];
    const change: Record<string, [number, number]> = {};
    const pplRatio: Record<string, [number, number]> = {};
    for (const l of doc.evalLanguages) {
      const w = Math.abs(r.change[l]!) + 0.5;
      change[l] = [r.change[l]! - w, r.change[l]! + w];
      const base = r.ppl[l]! / r.pplRatio[l]!;
      pplRatio[l] = [r.pplRatio[l]! - w / base, r.pplRatio[l]! + w / base];
    }
    r.interval = { change, pplRatio };
  }
  doc.settings.randomSeeds = 3;
  writeFileSync(join(dir, 'ppl.json'), JSON.stringify(doc, null, 2));
  const variant = (file: string, method: string, rows: Row[], settings: Record<string, unknown> = {}): void => {
    writeFileSync(join(dir, file), JSON.stringify({ ...doc, masks: { ...doc.masks, method }, settings: { ...doc.settings, randomControl: false, ...settings }, rows }, null, 2));
  };
  variant('ppl.lap.json', 'lap', scaled(doc, (r, l) => (r.lang === l ? 0.3 : 0.05) * r.change[l]!));
  variant('ppl.rs.json', 'rs', scaled(doc, (r, l) => 0.15 * Math.abs(r.change[l]!) + 0.2));
  variant('ppl.layers-bottom2.json', 'lape', scaled(doc, (r, l) => 0.8 * r.change[l]!), { layers: [0, 1], layerSpec: 'bottom:2' });

  const st = JSON.parse(readFileSync(join(dir, 'steering.json'), 'utf8'));
  const extra = [];
  for (const row of st.rows) if (row.kind === 'activate') extra.push({ ...row, kind: 'combined', intervention: `-en ${row.intervention}`, steered: Math.min(1, row.steered + 0.1) });
  for (const [t, share] of [['en', 0.6], ['fr', 0.3], ['ja', 0.5]] as const) {
    extra.push({ ...st.rows[0], source: 'zh', target: t, intervention: `+${t}`, normal: 0.02, steered: share, normalSource: 0.9, steeredSource: 0.4 });
  }
  st.rows.push(...extra);
  writeFileSync(join(dir, 'steering.json'), JSON.stringify(st, null, 2));
  // Generations that missed their target (the report shows both outcomes).
  const gens = readFileSync(join(dir, 'generations.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
  const missed = gens.filter((g) => g.kind === 'activate').slice(0, 3).map((g, i) => ({ ...g, prompt_index: 100 + i, steered: 'The same text, still English.', steered_lang: 'en' }));
  writeFileSync(join(dir, 'generations.jsonl'), [...gens, ...missed].map((g) => JSON.stringify(g)).join('\n') + '\n');
  writeFileSync(join(dir, 'stability.json'), JSON.stringify(sampleStability(), null, 2));
}

/** lape stability on synthetic statistics with blocks (7 languages, 2 × 64 neurons, 12 batches of 2 chunks of 64 tokens). */
function sampleStability(): unknown {
  const rng = new Xoshiro128(9);
  const n = 128;
  const stats: LangStats[] = ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja'].map((lang, k) => {
    const acc = new StatsAccumulator(n, 8, 2);
    for (let b = 0; b < 12; b++) {
      const count = Float64Array.from({ length: n }, (_, j) => (j % 7 === k ? 100 + rng.below(28) : rng.below(40)));
      acc.add({ count, sum: count.map((c) => c * 0.1), sumSq: count.map((c) => c * 0.01) }, 2);
    }
    return { lang, layers: 2, neurons: 64, tokens: acc.chunks * 64, count: acc.count, sum: acc.sum, sumSq: acc.sumSq, meta: { seq_len: '64' }, blocks: acc.blockSet()! };
  });
  return selectionStability(stats, { methods: ['lape', 'lap', 'lave'], selection: { topRate: 0.05 }, resamples: 4, seed: 0 });
}

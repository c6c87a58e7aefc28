import { loadMasks } from '../../select/masks-io.js';
import { layerCounts, languageTotals, overlapMatrix, intersectionMatrix } from '../../select/masks.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { usageError } from '../../errors.js';
import type { Command } from '../command.js';
import { str } from '../flags.js';
import { markdownTable } from '../tables.js';
import { toCsv } from '../../util/csv.js';

export const layersCommand: Command = {
  name: 'layers',
  summary: 'Language-specific neurons per layer per language (the paper\'s Tables 6, 8-10)',
  usage: 'lape layers masks.json [--out layers.csv]',
  details: ['--out FILE   also write the table as CSV (columns: layer, one per language, total)'],
  examples: ['lape layers out/masks.json', 'lape layers llama2-7b.masks.json --out layers.csv --json'],
  flags: { out: { type: 'string' } },
  async run(ctx) {
    const file = ctx.positionals[0];
    if (!file) throw usageError('layers needs a masks file');
    const masks = loadMasks(file);
    const counts = layerCounts(masks); // [lang][layer]
    const header = ['layer', ...masks.languages, 'total'];
    const rows = Array.from({ length: masks.layers }, (_, i) => {
      const per = masks.languages.map((_, k) => counts[k]![i]!);
      return [i, ...per, per.reduce((a, b) => a + b, 0)];
    });
    const totals = languageTotals(masks);
    const allRows = [...rows, ['total', ...totals, totals.reduce((a, b) => a + b, 0)]];
    ctx.log(markdownTable(header, allRows));
    const out = str(ctx, 'out');
    if (out) {
      writeFileAtomic(out, toCsv(header, rows));
      ctx.log(`wrote ${out}`);
    }
    return { languages: masks.languages, layers: masks.layers, perLayer: counts, totals };
  },
};

export const overlapCommand: Command = {
  name: 'overlap',
  summary: 'Overlap of language-specific neurons between languages: |A∩B| / |A|',
  usage: 'lape overlap masks.json [--out overlap.csv]',
  details: ['--out FILE   also write the matrix as CSV (row language A, column language B, value |A∩B|/|A|)'],
  examples: ['lape overlap out/masks.json', 'lape overlap llama2-70b.masks.json --out overlap.csv'],
  flags: { out: { type: 'string' } },
  async run(ctx) {
    const file = ctx.positionals[0];
    if (!file) throw usageError('overlap needs a masks file');
    const masks = loadMasks(file);
    const m = overlapMatrix(masks);
    const inter = intersectionMatrix(masks);
    const header = ['A \\ B', ...masks.languages];
    ctx.log(markdownTable(header, masks.languages.map((l, a) => [l, ...m[a]!.map((v) => `${(100 * v).toFixed(1)}%`)])));
    const out = str(ctx, 'out');
    if (out) {
      writeFileAtomic(out, toCsv(['lang', ...masks.languages], masks.languages.map((l, a) => [l, ...m[a]!.map((v) => v.toFixed(6))])));
      ctx.log(`wrote ${out}`);
    }
    return { languages: masks.languages, overlap: m, intersections: inter };
  },
};

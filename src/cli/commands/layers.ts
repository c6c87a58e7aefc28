import { loadMasks } from '../../select/masks-io.js';
import { layerCounts, languageTotals, overlapMatrix, intersectionMatrix } from '../../select/masks.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import type { Command, Positionals } from '../command.js';
import { FORCE, outFile } from '../groups/output.js';
import { group } from '../options/option.js';
import { markdownTable } from '../tables.js';
import { toCsv } from '../../util/csv.js';

const MASKS_FILE: Positionals = { metavar: 'MASKS', help: "a masks file (masks.json / .safetensors / the paper's .pth)", min: 1, max: 1 };
const LAYERS_OUT = outFile({ ext: '.csv', required: false, format: 'csv:layer,', help: 'also write the table as CSV (columns: layer, one per language, total)' });
const OVERLAP_OUT = outFile({ ext: '.csv', required: false, format: 'csv:lang,', help: 'also write the matrix as CSV (row language A, column language B, value |A∩B|/|A|)' });

export const layersCommand: Command = {
  name: 'layers',
  summary: 'Language-specific neurons per layer per language (the paper\'s Tables 6, 8-10)',
  options: [group('Options', LAYERS_OUT, FORCE)],
  positionals: MASKS_FILE,
  examples: ['lape layers out/masks.json', 'lape layers llama2-7b.masks.json --out layers.csv --json'],
  async run(ctx) {
    const file = ctx.positionals[0]!;
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
    const out = ctx.get(LAYERS_OUT);
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
  options: [group('Options', OVERLAP_OUT, FORCE)],
  positionals: MASKS_FILE,
  examples: ['lape overlap out/masks.json', 'lape overlap llama2-70b.masks.json --out overlap.csv'],
  async run(ctx) {
    const file = ctx.positionals[0]!;
    const masks = loadMasks(file);
    const m = overlapMatrix(masks);
    const inter = intersectionMatrix(masks);
    const header = ['A \\ B', ...masks.languages];
    ctx.log(markdownTable(header, masks.languages.map((l, a) => [l, ...m[a]!.map((v) => `${(100 * v).toFixed(1)}%`)])));
    const out = ctx.get(OVERLAP_OUT);
    if (out) {
      writeFileAtomic(out, toCsv(['lang', ...masks.languages], masks.languages.map((l, a) => [l, ...m[a]!.map((v) => v.toFixed(6))])));
      ctx.log(`wrote ${out}`);
    }
    return { languages: masks.languages, overlap: m, intersections: inter };
  },
};

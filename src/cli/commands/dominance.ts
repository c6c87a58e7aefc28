/** `lape dominance`: language dominance per layer and target language (Eq. 6, Fig. 7) → dominance.json + .csv. */
import { REPORT_DETAIL, REPORT_FLAGS, refreshReport } from '../report-refresh.js';
import { toCsv } from '../../util/csv.js';
import { join } from 'node:path';
import { dominanceFromEmbeddings } from '../../experiments/dominance.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import type { Command } from '../command.js';
import { str } from '../flags.js';
import { DOMINANCE_FORMAT, PARALLEL_DETAILS, PARALLEL_FLAGS, embedFromFlags, representationHeader } from './ses.js';

const r6 = (x: number): number => Math.round(x * 1e6) / 1e6;

export const dominanceCommand: Command = {
  name: 'dominance',
  summary: 'Language dominance: SES of other languages shifted to each target, per layer (Eq. 6, Fig. 7)',
  usage: 'lape dominance --model DIR --parallel FILE [--out DIR]',
  details: [...PARALLEL_DETAILS, REPORT_DETAIL],
  examples: ['lape dominance --model models/tiny-multilingual --parallel data/corpus/parallel.jsonl --out out'],
  flags: { ...PARALLEL_FLAGS, ...REPORT_FLAGS },
  async run(ctx) {
    const run = await embedFromFlags(ctx, 'dominance');
    const res = dominanceFromEmbeddings(run.emb);
    const outDir = str(ctx, 'out') ?? './lape-out';
    const json = {
      ...representationHeader(DOMINANCE_FORMAT, run, res),
      dominance: Object.fromEntries(Object.entries(res.dominance).map(([c, v]) => [c, v.map(r6)])),
      matrix: res.matrix.map((m) => m.map((row) => row.map((x) => (x === null ? null : r6(x))))),
      seconds: run.seconds,
    };
    writeFileAtomic(join(outDir, 'dominance.json'), JSON.stringify(json, null, 2) + '\n');
    const rows = res.layers.map((l) => [l, ...res.languages.map((c) => r6(res.dominance[c]![l]!))]);
    writeFileAtomic(join(outDir, 'dominance.csv'), toCsv(['layer', ...res.languages], rows));
    ctx.log(`Dominance (mean SES of the other languages shifted to the target), ${res.texts} groups:`);
    ctx.log(`  layer  ${res.languages.map((c) => c.padStart(7)).join('')}`);
    for (const l of res.layers) ctx.log(`  ${String(l).padStart(5)}  ${res.languages.map((c) => res.dominance[c]![l]!.toFixed(4).padStart(7)).join('')}`);
    ctx.log(`wrote dominance.json, dominance.csv to ${outDir}`);
    await refreshReport(ctx, outDir);
    return { out: outDir, layers: res.layers, dominance: json.dominance, groups: res.texts, seconds: run.seconds };
  },
};

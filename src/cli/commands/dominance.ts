/** `lape dominance`: language dominance per layer and target language (Eq. 6, Fig. 7) → dominance.json + .csv. */
import { toCsv } from '../../util/csv.js';
import { dominanceFromEmbeddings } from '../../experiments/dominance.js';
import type { Command } from '../command.js';
import { MODEL_GROUP } from '../groups/model.js';
import { outputGroup, writeResults } from '../groups/output.js';
import { DOMINANCE_FORMAT, PARALLEL_GROUP, embedFromFlags, representationHeader } from '../groups/parallel.js';

const { group: OUTPUT_GROUP, out: OUT_DIR } = outputGroup([{ name: 'dominance.json', format: 'lape-dominance' }, { name: 'dominance.csv', format: 'csv:layer,' }]);

const r6 = (x: number): number => Math.round(x * 1e6) / 1e6;

export const dominanceCommand: Command = {
  name: 'dominance',
  summary: 'Language dominance: SES of other languages shifted to each target, per layer (Eq. 6, Fig. 7)',
  options: [MODEL_GROUP, PARALLEL_GROUP, OUTPUT_GROUP],
  examples: ['lape dominance --model models/tiny-multilingual --parallel data/corpus/parallel.jsonl --out out'],
  async run(ctx) {
    const run = await embedFromFlags(ctx, 'dominance');
    const res = dominanceFromEmbeddings(run.emb);
    const outDir = ctx.get(OUT_DIR);
    const json = {
      ...representationHeader(DOMINANCE_FORMAT, run, res),
      dominance: Object.fromEntries(Object.entries(res.dominance).map(([c, v]) => [c, v.map(r6)])),
      matrix: res.matrix.map((m) => m.map((row) => row.map((x) => (x === null ? null : r6(x))))),
      seconds: run.seconds,
    };
    const rows = res.layers.map((l) => [l, ...res.languages.map((c) => r6(res.dominance[c]![l]!))]);
    ctx.log(`Dominance (mean SES of the other languages shifted to the target), ${res.texts} groups:`);
    ctx.log(`  layer  ${res.languages.map((c) => c.padStart(7)).join('')}`);
    for (const l of res.layers) ctx.log(`  ${String(l).padStart(5)}  ${res.languages.map((c) => res.dominance[c]![l]!.toFixed(4).padStart(7)).join('')}`);
    await writeResults(ctx, outDir, { 'dominance.json': JSON.stringify(json, null, 2) + '\n', 'dominance.csv': toCsv(['layer', ...res.languages], rows) });
    return { out: outDir, layers: res.layers, dominance: json.dominance, groups: res.texts, seconds: run.seconds };
  },
};

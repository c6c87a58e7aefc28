/**
 * `lape ses`: sentence embedding similarity per layer over a parallel set (Fig. 6) → ses.json +
 * ses.csv; with --masks also the number of language-specific neurons per layer.
 */
import { toCsv } from '../../util/csv.js';
import { neuronsPerLayer, sesFromEmbeddings } from '../../experiments/ses.js';
import { loadMasks } from '../../select/masks-io.js';
import { checkMasksFit } from '../../select/masks.js';
import type { Command } from '../command.js';
import { MASKS } from '../groups/common.js';
import { MODEL_GROUP } from '../groups/model.js';
import { outputGroup, writeResults } from '../groups/output.js';
import { PARALLEL_GROUP, SES_FORMAT, embedFromFlags, representationHeader } from '../groups/parallel.js';
import { group, variant } from '../options/option.js';

const { group: OUTPUT_GROUP, out: OUT_DIR } = outputGroup([{ name: 'ses.json', format: 'lape-ses' }, { name: 'ses.csv', format: 'csv:layer,' }]);

const r6 = (x: number): number => Math.round(x * 1e6) / 1e6;
const SES_MASKS = variant(MASKS, { help: 'also report language-specific neurons per layer' });

export const sesCommand: Command = {
  name: 'ses',
  summary: 'Sentence embedding similarity across layers over a parallel set (Fig. 6)',
  options: [group('Neurons', SES_MASKS), MODEL_GROUP, PARALLEL_GROUP, OUTPUT_GROUP],
  examples: [
    'lape ses --model models/tiny-multilingual --parallel data/corpus/parallel.jsonl --out out',
    'lape ses --model M --parallel data/corpus/parallel.jsonl --langs en,zh,ja --max-groups 100 --masks out/masks.json',
  ],
  async run(ctx) {
    const masksPath = ctx.get(SES_MASKS);
    const masks = masksPath === undefined ? null : loadMasks(masksPath);
    const run = await embedFromFlags(ctx, 'ses', (spec) => {
      if (masks) checkMasksFit(masks, spec.numLayers, spec.intermediateSize, masksPath);
    });
    const res = sesFromEmbeddings(run.emb);
    const neurons = masks ? { method: masks.method, file: masksPath!, ...neuronsPerLayer(masks) } : null;
    const outDir = ctx.get(OUT_DIR);
    const json = {
      ...representationHeader(SES_FORMAT, run, res),
      ses: res.ses.map(r6),
      pairs: res.pairs.map((p) => ({ a: p.a, b: p.b, ses: p.ses.map(r6) })),
      neurons,
      seconds: run.seconds,
    };
    const header = ['layer', 'ses', ...res.pairs.map((p) => `${p.a}-${p.b}`), ...(neurons ? ['neurons'] : [])];
    const rows = res.layers.map((l) => [l, r6(res.ses[l]!), ...res.pairs.map((p) => r6(p.ses[l]!)), ...(neurons ? [neurons.union[l]!] : [])]);
    ctx.log(`SES per layer (mean over ${res.pairs.length} language pairs, ${res.texts} groups):`);
    for (const l of res.layers) ctx.log(`  layer ${String(l).padStart(3)}  ${res.ses[l]!.toFixed(4)}${neurons ? `  neurons ${neurons.union[l]}` : ''}`);
    await writeResults(ctx, outDir, { 'ses.json': JSON.stringify(json, null, 2) + '\n', 'ses.csv': toCsv(header, rows) });
    return { out: outDir, layers: res.layers, ses: json.ses, groups: res.texts, seconds: run.seconds };
  },
};

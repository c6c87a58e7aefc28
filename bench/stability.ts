/**
 * How many tokens are enough, measured: each model records the whole training corpus of every
 * language (lape record-langs, round-robin, blocks), then lape stability gives the smallest budget
 * per language whose selection reaches Jaccard 0.9 / 0.95 with the selection on everything, at
 * the paper's top rate 0.01 and the demo's 0.05. Default models: the embedded one and the HF
 * reference fixtures (random weights: a control, not a finding).
 *
 *   npm run build && node dist/bench/stability.js [--out DIR] [--models DIR,...] [--resamples 20]
 *
 * Prints one line per model, method and top rate; writes DIR/summary.json. Recordings resume, so
 * rerunning after a change of the stability settings costs no forward pass.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';

const root = new URL('../../', import.meta.url).pathname;
const CLI = join(root, 'dist/src/cli/main.js');
const CORPUS = join(root, 'data/corpus');
const LANGS = 'en,zh,fr,es,vi,id,ja';
const DEFAULT_MODELS = ['models/tiny-multilingual', 'test/fixtures/llama-gqa', 'test/fixtures/mistral-swa', 'test/fixtures/qwen2-tied'].map((m) => join(root, m));
const TOP_RATES = ['0.01', '0.05'];

const { values: args } = parseArgs({ options: { out: { type: 'string', default: join(root, 'dist/bench-output/stability') }, models: { type: 'string' }, resamples: { type: 'string', default: '20' } } });
const models = args.models ? args.models.split(',') : DEFAULT_MODELS;

function lape(argv: string[]): void {
  const r = spawnSync(process.execPath, [CLI, ...argv], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`lape ${argv.join(' ')} exited with ${r.status}`);
}

const summary: Array<Record<string, unknown>> = [];
for (const model of models) {
  const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as { max_position_embeddings: number; num_hidden_layers: number; intermediate_size: number };
  const seqLen = Math.min(256, config.max_position_embeddings);
  const out = join(args.out!, basename(model));
  mkdirSync(out, { recursive: true });
  const t0 = Date.now();
  lape(['record-langs', '--model', model, '--langs', LANGS, '--corpus-dir', CORPUS, '--seq-len', String(seqLen), '--out', join(out, 'stats')]);
  const recordSeconds = (Date.now() - t0) / 1000;
  for (const topRate of TOP_RATES) {
    const dir = join(out, `top-${topRate}`);
    lape(['stability', '--stats', join(out, 'stats'), '--top-rate', topRate, '--resamples', args.resamples!, '--out', dir, '--quiet']);
    const r = JSON.parse(readFileSync(join(dir, 'stability.json'), 'utf8')) as {
      methods: string[]; shortest: { lang: string; tokens: number }; recorded: Record<string, number>;
      reached: Record<string, Record<string, { mean: number | null; lower: number | null }>>;
      rows: Array<{ method: string; budget: number; jaccardFull: { mean: number } }>;
    };
    for (const m of r.methods) {
      const last = r.rows.filter((x) => x.method === m).at(-1)!;
      const at = (t: string): string => String(r.reached[m]![t]!.mean ?? `not reached (${r.shortest.lang} ran out at ${r.shortest.tokens})`);
      console.log(`${basename(model)} (${config.num_hidden_layers}×${config.intermediate_size}), top-rate ${topRate}, ${m}: Jaccard 0.9 at ${at('0.9')}, 0.95 at ${at('0.95')} tokens per language; at ${last.budget}: ${last.jaccardFull.mean.toFixed(3)}`);
      summary.push({ model: basename(model), topRate: Number(topRate), method: m, reached: r.reached[m], shortest: r.shortest, recorded: r.recorded, lastBudget: last.budget, lastJaccard: last.jaccardFull.mean, recordSeconds });
    }
  }
}
writeFileSync(join(args.out!, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
console.log(`summary: ${join(args.out!, 'summary.json')}`);

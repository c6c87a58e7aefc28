/**
 * Benchmark (not a test): issue 17's targets for an embedded-class model, measured with the demo's
 * own protocol, so that candidate models (shapes, training runs) are compared on the same figures.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/targets.js [--model DIR] [--out DIR] [--reuse]
 *     [--prompts N] [-- extra demo options]
 *
 * 1. `lape demo --model DIR --out DIR` (skipped with --reuse when DIR/ppl.json exists);
 * 2. `lape steer-eval --mode set` (the paper's set-to-mean) with the demo's masks and statistics and
 *    the demo's steering settings (2-token prompts, 16 new tokens, greedy, no stop), and the same with
 *    `--mode add --alpha 8`;
 * 3. prints, per language, the PPL-matrix ratios ℓ(own) / mean ℓ(other languages) and ℓ(own) /
 *    ℓ(random neurons of the same per-layer sizes), ℓ = ln(PPL zeroed / PPL unmodified); the neurons
 *    per layer and the U test (first and last ⌈L/4⌉ layers against the middle, per layer); the mean
 *    change of the target-language share over all source ≠ target pairs for the demo's add×4, set and
 *    add×8; and the change of the own-language share when a language's neurons are zeroed.
 * The last line is `TARGETS {json}`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { layerQuarters, ownLanguageDamage, steeringShareChanges, type PplRowRatios, type SteeringRowShares } from '../src/experiments/demo-measures.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: 'string' },
    out: { type: 'string' },
    reuse: { type: 'boolean', default: false },
    prompts: { type: 'string', default: '8' },
  },
});
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const model = args.model ?? join(ROOT, 'models', 'tiny-multilingual');
const out = args.out ?? join(tmpdir(), 'lape-targets');
const corpus = join(ROOT, 'data', 'corpus');

function lape(argv: string[]): void {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...argv], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`lape ${argv.join(' ')} failed (${r.status}):\n${r.stderr}`);
  console.error(`lape ${argv[0]}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

if (!(args.reuse && existsSync(join(out, 'ppl.json')))) lape(['demo', '--model', model, '--out', out, '--quiet', '--force', ...positionals]);
const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
const langs = run.settings.languages as string[];
const prompts = langs.map((l) => `${l}=${join(corpus, `${l}.valid.txt`)}`).join(',');
const steerCommon = ['--model', model, '--masks', join(out, 'masks.json'), '--stats', join(out, 'stats'), '--prompts', prompts,
  '--prompt-tokens', '2', '--max-new-tokens', '16', '--no-stop', '--max-prompts', args.prompts!, '--quiet', '--force'];
const steerRuns: Record<string, string> = { 'add×4 (demo)': join(out, 'steering.json') };
for (const [name, extra] of [['set (paper)', ['--mode', 'set']], ['add×8', ['--mode', 'add', '--alpha', '8']]] as const) {
  const dir = join(out, `steer-${extra[1]}${extra[3] ?? ''}`);
  if (!(args.reuse && existsSync(join(dir, 'steering.json')))) lape(['steer-eval', ...steerCommon, ...extra, '--out', dir]);
  steerRuns[name] = join(dir, 'steering.json');
}

// PPL matrix ratios, layer distribution, steering (src/experiments/demo-measures.ts, as test/demo.test.ts).
const ppl = JSON.parse(readFileSync(join(out, 'ppl.json'), 'utf8'));
const pplLines = ownLanguageDamage(ppl.rows as PplRowRatios[], langs);
const layerRows = readFileSync(join(out, 'layers.csv'), 'utf8').trim().split('\n').slice(1);
const perLayer = layerRows.map((l) => Number(l.split(',').at(-1)));
const { q, ...u } = layerQuarters(perLayer);
const steering = Object.fromEntries(Object.entries(steerRuns).map(([name, file]) =>
  [name, steeringShareChanges(JSON.parse(readFileSync(file, 'utf8')).rows as SteeringRowShares[])]));

const f = (x: number, d = 1): string => x.toFixed(d);
console.log(`\nmodel ${model}; demo ${out} (${f(run.seconds)} s; top-rate ${JSON.stringify(run.settings.topRate ?? 'demo default')})`);
console.log('| lang | own ℓ | others ℓ | random ℓ | own / others | own / random |\n|---|---|---|---|---|---|');
for (const k of langs) {
  const p = pplLines[k]!;
  console.log(`| ${k} | ${f(p.own, 4)} | ${f(p.others, 4)} | ${f(p.random, 4)} | ${f(p.vsOthers)} | ${f(p.vsRandom)} |`);
}
const minOthers = Math.min(...langs.map((k) => pplLines[k]!.vsOthers));
const minRandom = Math.min(...langs.map((k) => pplLines[k]!.vsRandom));
console.log(`smallest: own/others ${f(minOthers)}, own/random ${f(minRandom)} (target ≥ 5 for every language)`);
console.log(`neurons per layer: ${perLayer.join(' ')}; first/middle/last ${q} per layer: ${f(u.first)} / ${f(u.middle)} / ${f(u.last)} → U ${u.first > u.middle && u.last > u.middle ? 'yes' : 'no'}`);
for (const [name, s] of Object.entries(steering)) {
  console.log(`steering ${name}: target share ${s.activate >= 0 ? '+' : ''}${f(s.activate)} points on average over targets (${Object.entries(s.perTarget).map(([t, v]) => `${t} ${f(v, 0)}`).join(', ')}); zeroing own share ${f(s.zeroOwn)} (${Object.entries(s.zeroPerLang).map(([t, v]) => `${t} ${f(v, 0)}`).join(', ')})`);
}
console.log(`TARGETS ${JSON.stringify({ model, demoSeconds: run.seconds, ppl: pplLines, minOthers, minRandom, perLayer, u, steering })}`);

/**
 * Agreement of the weight types with the stored (f32) weights, on the embedded model and corpus:
 * perplexity per language, how many neurons' act>0 counts differ (and by how much), LAPE selection
 * Jaccard, and the PPL-matrix diagonal; plus the logits error on every HF reference fixture.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/agreement.js [--tokens 32768] [--top-rate 0.05]
 *
 * Derived weights go to $LAPE_CACHE_DIR (a temporary folder unless set).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from '../src/runtime/model.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { recordLanguage } from '../src/recording/record-language.js';
import { lapeSelection } from '../src/select/lape.js';
import { pplMatrix } from '../src/experiments/deactivation.js';
import { evalSpecsFromDir, loadEvalSets } from '../src/experiments/ppl-eval-sets.js';
import type { WeightType } from '../src/checkpoint/derived-weights.js';
import type { LangStats } from '../src/stats/types.js';
import type { NeuronMasks } from '../src/select/types.js';

const { values: args } = parseArgs({ options: { tokens: { type: 'string', default: '32768' }, 'top-rate': { type: 'string', default: '0.05' } } });
const root = new URL('../../', import.meta.url).pathname;
const MODEL = join(root, 'models/tiny-multilingual');
const CORPUS = join(root, 'data/corpus');
const LANGS = ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja'];
const TYPES: WeightType[] = ['stored', 'bf16', 'int8', 'int4', 'w8a8'];
const ownCache = !process.env.LAPE_CACHE_DIR;
if (ownCache) process.env.LAPE_CACHE_DIR = mkdtempSync(join(tmpdir(), 'lape-agree-'));

function selected(m: NeuronMasks): Set<string> {
  const s = new Set<string>();
  m.masks.forEach((perLayer, k) => perLayer.forEach((idx, l) => idx.forEach((j) => s.add(`${m.languages[k]}:${l}:${j}`))));
  return s;
}
const jaccard = (a: Set<string>, b: Set<string>): number => {
  let inter = 0;
  for (const x of a) if (b.has(x)) inter++;
  return inter / (a.size + b.size - inter || 1);
};

interface Run { stats: LangStats[]; ppl: Record<string, number>; diag: Record<string, number>; masks: NeuronMasks }
const runs = new Map<WeightType, Run>();
const tokenizer = loadTokenizer(MODEL);
const evalSets = await loadEvalSets(tokenizer, evalSpecsFromDir(CORPUS, 'valid', LANGS), { seqLen: 256, maxChunks: 12 });
const out = mkdtempSync(join(tmpdir(), 'lape-agree-stats-'));
for (const type of TYPES) {
  const model = loadModel(MODEL, { weights: type });
  const stats: LangStats[] = [];
  for (const lang of LANGS) {
    const r = await recordLanguage(model, tokenizer, {
      lang, files: [join(CORPUS, `${lang}.train.txt`)], seqLen: 256, maxTokens: Number(args.tokens), batchSize: 8, out: join(out, `${type}.${lang}.safetensors`),
    });
    stats.push(r.stats);
  }
  const masks = lapeSelection(stats, { topRate: Number(args['top-rate']) }).result;
  const matrix = await pplMatrix(model, masks, evalSets);
  const base = matrix.rows.find((r) => r.kind === 'none')!;
  const diag: Record<string, number> = {};
  for (const lang of LANGS) {
    const row = matrix.rows.find((r) => r.kind === 'masks' && r.lang === lang);
    if (row) diag[lang] = row.ppl[lang]! / base.ppl[lang]! - 1;
  }
  runs.set(type, { stats, ppl: base.ppl, diag, masks });
  await model.release();
}

const ref = runs.get('stored')!;
console.log(`Embedded model (${MODEL}), ${args.tokens} tokens per language, LAPE top-rate ${args['top-rate']}, vs stored f32:`);
console.log('| weights | PPL change (mean over 7 languages) | neurons whose count differs | mean |Δcount| / tokens | LAPE Jaccard | diagonal (own-language PPL rise) vs f32 |');
console.log('|---|---|---|---|---|---|');
for (const type of TYPES) {
  const r = runs.get(type)!;
  const pplChange = LANGS.reduce((a, l) => a + r.ppl[l]! / ref.ppl[l]! - 1, 0) / LANGS.length;
  let differ = 0;
  let total = 0;
  let absDelta = 0;
  r.stats.forEach((s, k) => {
    const c0 = ref.stats[k]!.count;
    for (let i = 0; i < s.count.length; i++) {
      total++;
      if (s.count[i] !== c0[i]) differ++;
      absDelta += Math.abs(s.count[i]! - c0[i]!) / s.tokens;
    }
  });
  const diag = LANGS.filter((l) => l in r.diag && l in ref.diag).map((l) => `${l} ${(100 * r.diag[l]!).toFixed(1)}% (${(100 * ref.diag[l]!).toFixed(1)}%)`).join(', ');
  console.log(`| ${type} | ${(100 * pplChange).toFixed(2)} % | ${(100 * differ / total).toFixed(1)} % | ${(absDelta / total).toExponential(2)} | ${jaccard(selected(r.masks), selected(ref.masks)).toFixed(3)} | ${diag} |`);
}

// Logits on the HF reference fixtures (f32 fixtures only: the comparison is against their own f32 run).
console.log('\nHF reference fixtures: max |Δlogit| / max |logit| vs stored weights');
const fixtures = join(root, 'test/fixtures/hf');
const ids = [Array.from({ length: 20 }, (_, i) => (i * 37 + 11) % 298)];
const header = ['fixture', ...TYPES.slice(1)];
console.log(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
for (const name of readdirSync(fixtures).filter((d) => !d.includes('.')).sort()) {
  const logits = new Map<WeightType, Float32Array>();
  for (const type of TYPES) {
    const m = loadModel(join(fixtures, name), { weights: type, threads: 1 });
    logits.set(type, (await m.run({ ids }, { logits: 'all' })).logits!);
    await m.release();
  }
  const l0 = logits.get('stored')!;
  const scale = l0.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
  const cells = TYPES.slice(1).map((t) => {
    const l = logits.get(t)!;
    let e = 0;
    for (let i = 0; i < l.length; i++) e = Math.max(e, Math.abs(l[i]! - l0[i]!));
    return (e / scale).toExponential(1);
  });
  console.log(`| ${name} | ${cells.join(' | ')} |`);
}
rmSync(out, { recursive: true, force: true });
if (ownCache) rmSync(process.env.LAPE_CACHE_DIR!, { recursive: true, force: true });

/**
 * lape examples against the PyTorch reference of tools/examples_reference.py (llama-gqa fixture,
 * its own tokenizer and chunking): the top-K tokens per neuron equal the reference's except swaps
 * among activations within rounding of each other, contexts are the reference's token ids, and
 * the histograms agree up to tokens within 1e-5 of an edge. Batching does not change the result.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';
import { runMain } from './helpers/main.js';

interface RefTop { lang: string; chunk: number; position: number; activation: number; token_id: number; before: number[]; after: number[] }
interface Ref {
  seq_len: number;
  per_neuron: number;
  window: number;
  edges: number[];
  chunks: Record<string, number[][]>;
  hook_act: Record<string, number[][][]>;
  neurons: Array<{ layer: number; index: number; top: RefTop[]; hist: Record<string, number[]>; near_edge: Record<string, number> }>;
}
interface Out {
  format: string;
  tokens: Record<string, number>;
  neurons: Array<{ layer: number; index: number; langs: string[]; top: Array<RefTop & { context_ids: number[]; before: string; token: string; after: string }>; hist: Record<string, number[]> }>;
}

const ref = JSON.parse(readFileSync(repoPath('test/fixtures/examples.ref.json'), 'utf8')) as Ref;
const TOL = 1e-5;

async function run(batch: number): Promise<Out> {
  const out = tempDir();
  const r = await runMain([
    'examples', '--model', repoPath('test/fixtures/llama-gqa'),
    '--neurons', ref.neurons.map((n) => `${n.layer}:${n.index}`).join(','),
    '--corpus', `en=${repoPath('test/fixtures/examples/en.txt')},zh=${repoPath('test/fixtures/examples/zh.txt')}`,
    '--seq-len', String(ref.seq_len), '--per-neuron', String(ref.per_neuron), '--window', String(ref.window),
    '--hist-edges', ref.edges.join(','), '--batch-size', String(batch), '--threads', '1', '--out', out, '--no-report', '--quiet',
  ]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(readFileSync(join(out, 'examples.json'), 'utf8')) as Out;
}

test('examples: top-K, contexts and histograms equal the torch reference', async () => {
  const got = await run(3);
  assert.equal(got.format, 'lape-examples');
  for (const lang of ['en', 'zh']) assert.equal(got.tokens[lang], ref.chunks[lang]!.length * ref.seq_len);
  assert.equal(got.neurons.length, ref.neurons.length);
  ref.neurons.forEach((rn, j) => {
    const gn = got.neurons.find((n) => n.layer === rn.layer && n.index === rn.index)!;
    const name = `${rn.layer}:${rn.index}`;
    assert.equal(gn.top.length, ref.per_neuron, name);
    const kth = rn.top.at(-1)!.activation;
    gn.top.forEach((t, rank) => {
      // The reference's own value at the token lape chose: equal within rounding, and rank by rank
      // either the same token or one whose activation is within rounding of the reference's.
      const refAct = ref.hook_act[t.lang]![t.chunk]![t.position]![j]!;
      assert.ok(Math.abs(refAct - t.activation) <= TOL * Math.max(1, Math.abs(refAct)), `${name} rank ${rank}: ${t.activation} vs reference ${refAct}`);
      const r = rn.top[rank]!;
      const same = r.lang === t.lang && r.chunk === t.chunk && r.position === t.position;
      assert.ok(same || Math.abs(r.activation - t.activation) <= TOL, `${name} rank ${rank}: lape ${t.lang}/${t.chunk}/${t.position} ${t.activation}, reference ${r.lang}/${r.chunk}/${r.position} ${r.activation}`);
      assert.ok(refAct >= kth - TOL, `${name}: ${refAct} is not among the reference's top ${ref.per_neuron} (K-th ${kth})`);
      const ids = ref.chunks[t.lang]![t.chunk]!;
      assert.equal(t.token_id, ids[t.position]);
      assert.deepEqual(t.context_ids, ids.slice(Math.max(0, t.position - ref.window), t.position + 1 + ref.window), `${name} rank ${rank} context`);
      assert.ok(t.token.length > 0);
    });
    for (let i = 1; i < gn.top.length; i++) assert.ok(gn.top[i - 1]!.activation >= gn.top[i]!.activation, `${name} sorted`);
    for (const lang of ['en', 'zh']) {
      const a = gn.hist[lang]!;
      const b = rn.hist[lang]!;
      assert.equal(a.length, ref.edges.length + 1);
      assert.equal(a.reduce((x, y) => x + y, 0), got.tokens[lang]);
      const diff = a.reduce((s, x, i) => s + Math.abs(x - b[i]!), 0);
      assert.ok(diff <= 2 * rn.near_edge[lang]!, `${name} ${lang} histogram ${a} vs reference ${b}`);
    }
  });
});

test('examples: one chunk per batch gives the same result as three', async () => {
  const [a, b] = [await run(1), await run(3)];
  assert.deepEqual(a.neurons.map((n) => n.top.map((t) => [t.lang, t.chunk, t.position])), b.neurons.map((n) => n.top.map((t) => [t.lang, t.chunk, t.position])));
  assert.deepEqual(a.neurons.map((n) => n.hist), b.neurons.map((n) => n.hist));
});

test('examples: bad neurons and missing inputs are clear errors', async () => {
  const out = tempDir();
  const base = ['examples', '--model', repoPath('test/fixtures/llama-gqa'), '--corpus', `en=${repoPath('test/fixtures/examples/en.txt')}`, '--seq-len', '32', '--out', out, '--quiet'];
  let r = await runMain([...base, '--neurons', '2:0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /neuron 2:0 does not exist \(the model has 2 layers × 96 neurons\)/);
  r = await runMain([...base, '--neurons', '1-3']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--neurons must be LAYER:INDEX/);
  r = await runMain(base);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /give --masks .* or --neurons/);
  r = await runMain([...base, '--neurons', '0:1', '--hist-edges', '1,0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /edges must increase/);
});

test('report: the examples and judge sections escape text and highlight the token', async () => {
  const { buildReport } = await import('../src/report/build-report.js');
  const { writeFileSync } = await import('node:fs');
  const dir = tempDir();
  const top = (lang: string, a: number, token: string) => ({ lang, chunk: 0, position: 3, activation: a, token_id: 1, before: 'a <b>', token, after: '</b>\nz', context_ids: [1] });
  writeFileSync(join(dir, 'examples.json'), JSON.stringify({
    format: 'lape-examples', edges: [0, 1], tokens: { en: 10, zh: 10 },
    neurons: [
      { layer: 0, index: 7, langs: ['zh'], top: [top('zh', 2, '<script>x</script>'), top('en', 1, 'y')], hist: { en: [5, 4, 1], zh: [1, 4, 5] } },
      { layer: 1, index: 2, langs: [], top: [top('en', 3, 'q&a')], hist: { en: [9, 1, 0], zh: [10, 0, 0] } },
    ],
  }));
  writeFileSync(join(dir, 'judge.json'), JSON.stringify({
    format: 'lape-judge', judgeModel: '<tiny>', endpoint: 'http://127.0.0.1:1/v1', prompt: { source: 'MT-bench' }, languages: ['en', 'zh'],
    rows: [
      { condition: 'normal', mean: { en: 6, zh: 5 }, n: { en: 3, zh: 3 }, unparsed: { en: 0, zh: 1 }, overall: 5.5 },
      { condition: 'deactivate zh', mean: { en: 6, zh: 2 }, n: { en: 3, zh: 3 }, unparsed: { en: 0, zh: 0 }, overall: 4 },
    ],
  }));
  const r = await buildReport(dir);
  assert.ok(r.sections.includes('examples') && r.sections.includes('judge'), r.sections.join(','));
  const html = readFileSync(r.path, 'utf8');
  assert.ok(!html.includes('<script>x'), 'context text is escaped');
  assert.match(html, /a &lt;b&gt;<mark>&lt;script&gt;x&lt;\/script&gt;<\/mark>&lt;\/b&gt;↵ z/);
  assert.match(html, /<mark>q&amp;a<\/mark>/); // the neuron without languages fires mostly on en
  assert.match(html, /&lt;tiny&gt;/);
  assert.match(html, /Not a Table 1 result/);
  assert.match(html, /2\.00 <span class="note">\(3\)<\/span><span class="note"> −3\.00<\/span>/);
});

test('examples: --masks probes each selected neuron once, with all its languages, beside --neurons', async () => {
  const { saveMasksJson } = await import('../src/select/masks-io.js');
  const dir = tempDir();
  const masks = join(dir, 'masks.json');
  saveMasksJson(masks, { method: 'lape', languages: ['en', 'zh'], layers: 2, neurons: 96, settings: {}, masks: [[[3, 17], [0]], [[17], [0, 12]]] });
  const out = join(dir, 'out');
  const r = await runMain([
    'examples', '--model', repoPath('test/fixtures/llama-gqa'), '--masks', masks, '--neurons', '1:90,0:3',
    '--corpus', `en=${repoPath('test/fixtures/examples/en.txt')}`, '--seq-len', '32', '--per-neuron', '3', '--out', out, '--quiet',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const got = JSON.parse(readFileSync(join(out, 'examples.json'), 'utf8')) as Out & { method: string };
  assert.equal(got.method, 'lape');
  assert.deepEqual(got.neurons.map((n) => [`${n.layer}:${n.index}`, n.langs]), [['0:3', ['en']], ['0:17', ['en', 'zh']], ['1:0', ['en', 'zh']], ['1:12', ['zh']], ['1:90', []]]);
  for (const n of got.neurons) assert.equal(n.top.length, 3);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /id="examples"/);
});

test('probe plan with padding and K above the valid tokens: padding never ranks, the rest is −∞ (make_fixtures reference)', async () => {
  const { loadModel } = await import('../src/runtime/model.js');
  const { Reference } = await import('./helpers/reference.js');
  const ref = new Reference(repoPath('test/fixtures/llama-gqa.ref.safetensors'));
  const ids = ref.rows('input_ids');
  const mask = ref.rows('attention_mask');
  const valid = mask.flat().reduce((a, b) => a + b, 0); // 46 of 60 positions
  const T = ids[0]!.length;
  const I = 96;
  const neurons = [0, 5, 50, 95];
  const model = loadModel(repoPath('test/fixtures/llama-gqa'), { threads: 1 });
  try {
    const edges = Float32Array.from([-0.1, 0, 0.1]);
    const r = await model.run({ ids: ids.map((row, b) => row.slice(0, mask[b]!.reduce((a, x) => a + x, 0))) }, { probeLayers: [1] }, { probe: { neurons: new Map([[1, neurons]]), k: 100, edges } });
    const p = r.probe!.get(1)!;
    assert.equal(p.k, r.batch * r.seq); // capped at B·T
    const act = ref.get('hook_act.1'); // [B, T, I]
    neurons.forEach((j, c) => {
      const want = mask.flatMap((row, b) => row.map((m, t) => (m ? act[(b * T + t) * I + j]! : null))).filter((x): x is number => x !== null).sort((a, b) => b - a);
      const got = Array.from({ length: p.k }, (_, i) => p.top[i * neurons.length + c]!);
      assert.equal(got.filter((x) => x === -Infinity).length, p.k - valid, `neuron ${j}: −∞ entries`);
      got.slice(0, valid).forEach((x, i) => assert.ok(Math.abs(x - want[i]!) < 1e-5, `neuron ${j} rank ${i}: ${x} vs ${want[i]}`));
      for (let i = 0; i < valid; i++) {
        const flat = Number(p.at[i * neurons.length + c]!);
        const b = Math.floor(flat / r.seq);
        const t = flat % r.seq;
        assert.equal(mask[b]![t], 1, `neuron ${j}: rank ${i} is a padded position`);
      }
      edges.forEach((e, k) => {
        const g = p.atLeast[k * neurons.length + c]!;
        const w = want.filter((x) => x >= e).length;
        const near = want.filter((x) => Math.abs(x - e) < 1e-5).length; // may fall on either side
        assert.ok(Math.abs(g - w) <= near, `neuron ${j}: ${g} vs ${w} tokens ≥ ${e} (${near} within 1e-5)`);
      });
    });
  } finally {
    await model.release();
  }
});

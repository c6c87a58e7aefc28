/**
 * Generation: sampling helpers (HF repetition penalty, top-k/top-p, seeded PRNG), KV-cached greedy
 * decoding = uncached greedy decoding (Llama GQA, Mistral sliding window past the window, Qwen2),
 * batched left-padded = one prompt at a time, patches at every position, stop strings, EOS,
 * context limit, bad input, and the `lape generate` CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateIds, generateText } from '../src/runtime/generate.js';
import { loadModel, type Model } from '../src/runtime/model.js';
import { Prng, applyRepetitionPenalty, argmax, sampleToken, samplingDistribution } from '../src/runtime/sampling.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { runCli } from './helpers/cli.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';

const PROMPTS = ['Hello world', 'The quick brown fox jumps over', '你好，世界', 'a', 'Choose Format - Cells'];

test('repetition penalty: HF semantics (positive ÷ p, negative × p, each id once)', () => {
  const l = new Float32Array([2, -2, 0.5, 3, -1]);
  applyRepetitionPenalty(l, [0, 1, 1, 1, 4, 99], 2);
  assert.deepEqual(Array.from(l), [1, -4, 0.5, 3, -2]);
  const same = new Float32Array([2, -2]);
  applyRepetitionPenalty(same, [0, 1], 1);
  assert.deepEqual(Array.from(same), [2, -2]);
});

test('argmax: first index wins ties', () => {
  assert.equal(argmax([1, 3, 3, 2]), 1);
  assert.equal(argmax([-5]), 0);
});

test('top-k / top-p keep HF sets; temperature sharpens', () => {
  const logits = [Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)];
  const all = samplingDistribution(logits, { temperature: 1, topP: 1, topK: 0 });
  assert.deepEqual(all.ids, [0, 1, 2, 3]);
  all.probs.forEach((p, i) => assert.ok(Math.abs(p - [0.5, 0.3, 0.15, 0.05][i]!) < 1e-12));
  // top-p 0.79: 0.5 + 0.3 reaches it → two tokens; 0.81 → three.
  assert.deepEqual(samplingDistribution(logits, { temperature: 1, topP: 0.79, topK: 0 }).ids, [0, 1]);
  assert.deepEqual(samplingDistribution(logits, { temperature: 1, topP: 0.81, topK: 0 }).ids, [0, 1, 2]);
  assert.deepEqual(samplingDistribution(logits, { temperature: 1, topP: 0.1, topK: 0 }).ids, [0]);
  const k2 = samplingDistribution(logits, { temperature: 1, topP: 1, topK: 2 });
  assert.deepEqual(k2.ids, [0, 1]);
  assert.ok(Math.abs(k2.probs[0]! - 0.5 / 0.8) < 1e-12);
  const cold = samplingDistribution(logits, { temperature: 0.5, topP: 1, topK: 0 });
  assert.ok(cold.probs[0]! > 0.5);
});

test('PRNG: seeded, reproducible, streams differ, roughly uniform draws', () => {
  const a = new Prng(42);
  const b = new Prng(42);
  const seqA = Array.from({ length: 5 }, () => a.nextU32());
  assert.deepEqual(seqA, Array.from({ length: 5 }, () => b.nextU32()));
  assert.notDeepEqual(seqA, Array.from({ length: 5 }, () => new Prng(42, 1).nextU32()));
  assert.notDeepEqual(seqA, Array.from({ length: 5 }, () => new Prng(43).nextU32()));
  const r = new Prng(7);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 40000; i++) counts[sampleToken([0, 0, 0, 0], { temperature: 1, topP: 1, topK: 0 }, r)]!++;
  for (const c of counts) assert.ok(Math.abs(c - 10000) < 400, `counts ${counts}`); // > 4.5 sigma
});

async function withModel<T>(name: string, fn: (m: Model) => Promise<T>): Promise<T> {
  const m = loadModel(repoPath(`test/fixtures/${name}`), { threads: 1 });
  try {
    return await fn(m);
  } finally {
    await m.release();
  }
}

for (const name of ['llama-gqa', 'mistral-swa', 'qwen2-tied']) {
  test(`${name}: cached greedy = uncached greedy; batched (left-padded) = one by one`, async () => {
    await withModel(name, async (m) => {
      const tok = loadTokenizer(m.dir);
      // 40 new tokens: well past Mistral's sliding window (6), so the cache + window path is exercised.
      const opts = { maxNewTokens: 40, eosTokenIds: [] };
      const cached = await generateText(m, tok, PROMPTS, opts);
      const uncached = await generateText(m, tok, PROMPTS, { ...opts, useCache: false });
      assert.deepEqual(cached.map((g) => g.ids), uncached.map((g) => g.ids));
      for (const g of cached) {
        assert.equal(g.ids.length, 40);
        assert.equal(g.stopReason, 'length');
        assert.equal(g.text, tok.decode(g.ids, { skipSpecialTokens: true }));
      }
      const oneByOne = [];
      for (const p of PROMPTS) oneByOne.push(...(await generateText(m, tok, [p], opts)));
      assert.deepEqual(cached.map((g) => g.ids), oneByOne.map((g) => g.ids));
      // Batch size 2 (chunks of the prompt list) gives the same again.
      const bs2 = await generateText(m, tok, PROMPTS, { ...opts, batchSize: 2 });
      assert.deepEqual(bs2.map((g) => g.ids), cached.map((g) => g.ids));
      // Without repetition penalty the output differs somewhere (the penalty is applied).
      const noPenalty = await generateText(m, tok, PROMPTS, { ...opts, repetitionPenalty: 1 });
      assert.notDeepEqual(noPenalty.map((g) => g.ids), cached.map((g) => g.ids));
    });
  });
}

test('llama-gqa: patches apply at every position, cached = uncached under patches', async () => {
  await withModel('llama-gqa', async (m) => {
    const tok = loadTokenizer(m.dir);
    const I = m.spec.intermediateSize;
    const patches = [
      { layer: 0, indices: Array.from({ length: 24 }, (_, j) => j * 4), mode: 'set' as const, values: 3 },
      { layer: 1, indices: Array.from({ length: 32 }, (_, j) => j * 3), mode: 'zero' as const },
    ];
    assert.ok(patches[1]!.indices.every((j) => j < I));
    const opts = { maxNewTokens: 24, eosTokenIds: [], patches };
    const cached = await generateText(m, tok, PROMPTS, opts);
    const uncached = await generateText(m, tok, PROMPTS, { ...opts, useCache: false });
    assert.deepEqual(cached.map((g) => g.ids), uncached.map((g) => g.ids));
    const plain = await generateText(m, tok, PROMPTS, { maxNewTokens: 24, eosTokenIds: [] });
    assert.notDeepEqual(cached.map((g) => g.ids), plain.map((g) => g.ids));
    // The first new token is the penalised arg-max of a direct patched forward of the prompt.
    const ids = tok.encode(PROMPTS[1]!, { addSpecialTokens: true });
    const plan = { logits: 'last' as const, patchLayers: [0, 1] };
    const r1 = await m.run({ ids: [ids] }, plan, { patches });
    const first = cached[1]!.ids[0]!;
    const l1 = r1.logitsLast!.slice();
    const seen = new Set(ids);
    for (const id of seen) l1[id] = l1[id]! > 0 ? l1[id]! / 1.1 : l1[id]! * 1.1;
    assert.equal(argmax(l1), first);
  });
});

test('sampling: same seed → same outputs (cached and uncached), other seed → different', async () => {
  await withModel('qwen2-tied', async (m) => {
    const tok = loadTokenizer(m.dir);
    const opts = { maxNewTokens: 20, eosTokenIds: [], temperature: 1.0, topP: 0.95, seed: 123 };
    const a = await generateText(m, tok, PROMPTS, opts);
    const b = await generateText(m, tok, PROMPTS, opts);
    const c = await generateText(m, tok, PROMPTS, { ...opts, useCache: false });
    const d = await generateText(m, tok, PROMPTS, { ...opts, seed: 124 });
    assert.deepEqual(a.map((g) => g.ids), b.map((g) => g.ids));
    assert.deepEqual(a.map((g) => g.ids), c.map((g) => g.ids));
    assert.notDeepEqual(a.map((g) => g.ids), d.map((g) => g.ids));
    // Prompt i draws from stream i whatever the batching.
    const single = await generateText(m, tok, [PROMPTS[3]!], opts);
    assert.notDeepEqual(single[0]!.ids, a[3]!.ids); // stream 0 vs stream 3
    const bs1 = await generateText(m, tok, PROMPTS, { ...opts, batchSize: 1 });
    assert.deepEqual(bs1.map((g) => g.ids), a.map((g) => g.ids));
  });
});

test('stop strings cut the text; EOS ends a sequence; the context limit ends it', async () => {
  await withModel('llama-gqa', async (m) => {
    const tok = loadTokenizer(m.dir);
    const base = await generateText(m, tok, PROMPTS, { maxNewTokens: 40, eosTokenIds: [] });
    // Stop at a clean (ASCII, whole-character) 2-token piece generated mid-way by some prompt.
    let pick: { b: number; stopText: string } | null = null;
    for (let b = 0; b < base.length && !pick; b++) {
      for (let k = 5; k < 35 && !pick; k++) {
        const piece = tok.decode(base[b]!.ids.slice(k, k + 2), { skipSpecialTokens: true });
        if (/^[\x21-\x7e]{2,}$/.test(piece) && base[b]!.text.indexOf(piece) >= 3) pick = { b, stopText: piece };
      }
    }
    assert.ok(pick, 'some greedy output has a clean 2-token piece');
    const { b, stopText } = pick;
    const g = base[b]!;
    const stopped = await generateText(m, tok, PROMPTS, { maxNewTokens: 40, eosTokenIds: [], stop: ['\u2603never', stopText] });
    const s = stopped[b]!;
    assert.equal(s.stopReason, 'stop');
    const cut = g.text.indexOf(stopText);
    assert.equal(s.text, g.text.slice(0, cut));
    assert.ok(!s.text.includes(stopText));
    assert.deepEqual(s.ids, g.ids.slice(0, s.ids.length), 'same tokens up to the stop');
    assert.ok(s.ids.length < 40);
    // EOS: make the 5th generated token of prompt 0 an EOS id.
    const eosId = base[0]!.ids[4]!;
    const e = await generateText(m, tok, [PROMPTS[0]!], { maxNewTokens: 40, eosTokenIds: [eosId] });
    assert.equal(e[0]!.stopReason, 'eos');
    assert.equal(e[0]!.ids.indexOf(eosId), e[0]!.ids.length - 1);
    assert.ok(e[0]!.ids.length <= 5);
    // Context: 128 positions; a 120-token prompt can grow to 128 fed tokens + 1 → 9 new tokens.
    const long = Array.from({ length: 120 }, (_, i) => 65 + (i % 26));
    const c = await generateIds(m, [long], { maxNewTokens: 50, eosTokenIds: [] });
    assert.equal(c[0]!.stopReason, 'context');
    assert.equal(c[0]!.ids.length, 128 - 120 + 1);
  });
});

test('bad input: max new tokens ≤ 0, prompt longer than the context, empty prompt', async () => {
  await withModel('llama-gqa', async (m) => {
    const tok = loadTokenizer(m.dir);
    await assert.rejects(generateText(m, tok, ['x'], { maxNewTokens: 0 }), /max new tokens must be a positive integer, got 0/);
    await assert.rejects(generateText(m, tok, ['x'], { maxNewTokens: -3 }), /positive integer/);
    await assert.rejects(generateText(m, tok, ['x'.repeat(200)], { maxNewTokens: 4 }), /prompt 0 has 201 tokens, longer than the model's context \(max_position_embeddings = 128\)/);
    await assert.rejects(generateIds(m, [[]], { maxNewTokens: 4 }), /prompt 0 is empty/);
    await assert.rejects(generateText(m, tok, ['x'], { maxNewTokens: 2, topP: 0 }), /top-p/);
    await assert.rejects(generateIds(m, [[1, 2]], { maxNewTokens: 2, stop: ['a'] }), /stop strings need a tokenizer/);
  });
});

test('lape generate: one prompt, a prompt file (text and JSONL), steering flag errors', () => {
  const dir = tempDir();
  const model = repoPath('test/fixtures/llama-gqa');
  const one = runCli(['generate', '--model', model, '--prompt', 'Hello world', '--max-new-tokens', '12', '--no-eos', '--json', '--threads', '1']);
  assert.equal(one.code, 0, one.stderr);
  const summary = JSON.parse(one.stdout);
  assert.equal(summary.prompts, 1);
  assert.equal(summary.newTokens, 12);
  assert.equal(summary.generations[0].new_tokens, 12);

  const txt = join(dir, 'prompts.txt');
  writeFileSync(txt, 'Hello world\n\nThe quick brown fox\n你好\n');
  const out = join(dir, 'gens.jsonl');
  const r = runCli(['generate', '--model', model, '--prompts', txt, '--max-new-tokens', '8', '--out', out, '--threads', '1', '-q']);
  assert.equal(r.code, 0, r.stderr);
  const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 3);
  assert.deepEqual(lines.map((l) => l.prompt), ['Hello world', 'The quick brown fox', '你好']);
  for (const l of lines) {
    assert.deepEqual(Object.keys(l), ['index', 'prompt', 'text', 'prompt_tokens', 'new_tokens', 'stop_reason', 'intervention']);
    assert.equal(l.intervention, 'none');
  }
  const jsonl = join(dir, 'prompts.jsonl');
  writeFileSync(jsonl, '{"prompt":"Hello world","id":7}\n{"prompt":"Bonjour"}\n');
  const j = runCli(['generate', '--model', model, '--prompts', jsonl, '--max-new-tokens', '4', '--threads', '1', '-q']);
  assert.equal(j.code, 0, j.stderr);
  const jl = j.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(jl[0].meta, { id: 7 });
  assert.equal(lines[0].text.length > 0, true);

  const zero = runCli(['generate', '--model', model, '--prompt', 'x', '--max-new-tokens', '0']);
  assert.equal(zero.code, 2);
  assert.match(zero.stderr, /--max-new-tokens must be a positive integer/);
  const both = runCli(['generate', '--model', model, '--prompt', 'x', '--prompts', txt]);
  assert.equal(both.code, 2);
  const noMasks = runCli(['generate', '--model', model, '--prompt', 'x', '--activate', 'zh']);
  assert.equal(noMasks.code, 2);
  assert.match(noMasks.stderr, /needs --masks/);
  const long = runCli(['generate', '--model', model, '--prompt', 'x'.repeat(300), '--max-new-tokens', '2']);
  assert.equal(long.code, 1);
  assert.match(long.stderr, /longer than the model's context/);
});

/**
 * Blocks, stability and the stop rule on synthetic statistics (no model, fast): block counts add up
 * to the totals bit for bit and survive resume and merge; a seeded bootstrap is deterministic; the
 * stop rule stops on a synthetic stream at the first budget whose selection agrees with the one at
 * half of it (computed here from the stream's running totals, without blocks) and not before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StatsAccumulator } from '../src/stats/accumulator.js';
import { blocksForPrefix, statsAtChunks, sumBlocks } from '../src/stats/blocks.js';
import { mergeStats } from '../src/stats/merge.js';
import { loadStats, saveStats } from '../src/stats/stats-file.js';
import type { LangStats } from '../src/stats/types.js';
import { Xoshiro128 } from '../src/select/prng.js';
import { selectLape } from '../src/select/lape.js';
import { jaccard, selectionKeys, selectionStability } from '../src/select/stability.js';
import { runRounds, statsPath, type RoundRecorder } from '../src/recording/round-robin.js';
import { tempDir } from './helpers/tmp.js';

const SEQ = 4;
const N = 64;

/** A batch's statistics: integer counts in [0, chunks·SEQ], float sums with non-trivial rounding. */
function randomBatch(rng: Xoshiro128, chunks: number): { count: Float64Array; sum: Float64Array; sumSq: Float64Array } {
  const count = new Float64Array(N);
  const sum = new Float64Array(N);
  const sumSq = new Float64Array(N);
  for (let k = 0; k < N; k++) {
    count[k] = rng.below(chunks * SEQ + 1);
    sum[k] = count[k]! * 0.1 + rng.nextU32() / 2 ** 32;
    sumSq[k] = sum[k]! * sum[k]!;
  }
  return { count, sum, sumSq };
}

function asStats(lang: string, acc: StatsAccumulator, meta: Record<string, string> = {}): LangStats {
  const blocks = acc.blockSet();
  return {
    lang, layers: 1, neurons: N, tokens: acc.chunks * SEQ, count: acc.count, sum: acc.sum, sumSq: acc.sumSq,
    meta: { lang, seq_len: String(SEQ), chunks: String(acc.chunks), shard: '0/1', corpus_sha256: 'c', model_sha256: 'm', ...meta },
    ...(blocks ? { blocks } : {}),
  };
}

test('block counts add up to the totals bit for bit, through compaction, resume and merge', () => {
  const dir = tempDir();
  const rng = new Xoshiro128(3);
  const blocked = new StatsAccumulator(N, 4, 2);
  const plain = new StatsAccumulator(N, 0, 2);
  const countsAt = new Map<number, Float64Array>();
  let resumed: StatsAccumulator | null = null;
  for (let b = 0; b < 37; b++) {
    const batch = randomBatch(rng, 2);
    blocked.add(batch, 2);
    plain.add(batch, 2);
    resumed?.add(batch, 2);
    countsAt.set(blocked.chunks, Float64Array.from(blocked.count));
    if (b === 12) {
      // Resume: state saved mid-way (an open block included) and restored continues identically.
      blocked.savePartial(join(dir, 'p.partial'), [1, N], { job: 'j' });
      resumed = new StatsAccumulator(N, 4, 2);
      assert.equal(resumed.loadPartial(join(dir, 'p.partial'), 'j', [1, N]), true);
    }
  }
  assert.deepEqual(blocked.count, plain.count);
  assert.deepEqual(blocked.sum, plain.sum);
  const b = blocked.blockSet()!;
  assert.ok(b.chunks.length <= 4 && b.chunks.length >= 2, `${b.chunks.length} blocks`);
  assert.equal(b.chunks.reduce((a, c) => a + c, 0), 74);
  // Exact counts: Σ blocks = totals; each power-of-two budget ≥ 2 blocks is a block boundary with the running counts there.
  assert.deepEqual(sumBlocks(b, b.chunks.map((_, i) => i)).count, blocked.count);
  for (const chunks of [32, 64]) {
    assert.deepEqual(sumBlocks(b, Array.from({ length: blocksForPrefix(b, chunks) }, (_, i) => i)).count, countsAt.get(chunks));
  }
  saveStats(join(dir, 'a.safetensors'), asStats('en', blocked));
  saveStats(join(dir, 'r.safetensors'), asStats('en', resumed!));
  assert.ok(readFileSync(join(dir, 'a.safetensors')).equals(readFileSync(join(dir, 'r.safetensors'))), 'resumed blocks are byte-identical');
  const back = loadStats(join(dir, 'a.safetensors'), { blocks: true });
  assert.deepEqual(back.blocks!.chunks, b.chunks);
  assert.deepEqual(back.blocks!.count.map((c) => Array.from(c)), b.count.map((c) => Array.from(c)));
  assert.equal(loadStats(join(dir, 'a.safetensors')).blocks, undefined, 'blocks are read only when asked for');

  // Merge keeps the blocks: concatenated, pairs merged down to the limit, adding up to the merged totals.
  const other = new StatsAccumulator(N, 4, 2);
  for (let i = 0; i < 9; i++) other.add(randomBatch(rng, 2), 2);
  const merged = mergeStats([
    { file: 'a', stats: asStats('en', blocked, { shard: '0/2' }) },
    { file: 'b', stats: asStats('en', other, { shard: '1/2' }) },
  ]);
  assert.ok(merged.blocks && merged.blocks.chunks.length <= 4);
  assert.deepEqual(sumBlocks(merged.blocks, merged.blocks.chunks.map((_, i) => i)).count, merged.count);

  // A block that no longer adds up to the totals is refused on loading.
  const bad = asStats('en', blocked);
  bad.blocks = { ...b, count: b.count.map((c, i) => (i === 0 ? Float64Array.from(c, (v, k) => (k === 5 ? v + 1 : v)) : c)) };
  saveStats(join(dir, 'bad.safetensors'), bad);
  assert.throws(() => loadStats(join(dir, 'bad.safetensors'), { blocks: true }), /block|damaged/);
});

/** Two languages with a given number of batches each, for the bootstrap. */
function twoLanguages(seed: number, batches: number): LangStats[] {
  const rng = new Xoshiro128(seed);
  return ['en', 'zh'].map((lang) => {
    const acc = new StatsAccumulator(N, 16, 2);
    for (let i = 0; i < batches; i++) acc.add(randomBatch(rng, 2), 2);
    return asStats(lang, acc);
  });
}

test('a seeded bootstrap is deterministic, another seed differs', () => {
  const stats = twoLanguages(5, 24);
  const opts = { methods: ['lape', 'lap', 'lave'] as const, selection: { topRate: 0.1 }, resamples: 6 };
  const a = selectionStability(stats, { ...opts, seed: 11 });
  const b = selectionStability(stats, { ...opts, seed: 11 });
  assert.deepEqual(a, b);
  const c = selectionStability(stats, { ...opts, seed: 12 });
  assert.notDeepEqual(a.rows.map((r) => r.jaccardFull), c.rows.map((r) => r.jaccardFull));
  // Budgets: powers of two from the largest block (16 tokens: 2 batches after compaction) to the recording (24 batches, 192 tokens).
  assert.deepEqual([...new Set(a.rows.map((r) => r.budget))], [16, 32, 64, 128, 192]);
  for (const r of a.rows) {
    assert.ok(r.jaccardFull.lo <= r.jaccardFull.mean && r.jaccardFull.mean <= r.jaccardFull.hi && r.jaccardFull.hi <= 1);
    assert.ok(r.tokens.en! >= r.budget);
  }
});

/**
 * A synthetic stream: for the first 16 chunks both languages activate neurons at random (the
 * selection moves); from then on only en activates neurons 0–3 and only zh 4–7, on every token.
 */
function chunkStats(lang: string, c: number): Float64Array {
  const out = new Float64Array(N);
  if (c < 16) {
    const rng = new Xoshiro128(1000 * c + (lang === 'en' ? 1 : 2));
    for (let k = 0; k < N; k++) out[k] = rng.below(SEQ + 1);
  } else {
    const base = lang === 'en' ? 0 : 4;
    for (let k = base; k < base + 4; k++) out[k] = SEQ;
  }
  return out;
}

class SyntheticRecorder implements RoundRecorder {
  readonly acc = new StatsAccumulator(N, 8, 2);
  exhausted = false;
  tokensThisRun = 0;
  secondsThisRun = 1;
  constructor(readonly lang: string, private readonly totalChunks: number) {}
  get tokens(): number {
    return this.acc.chunks * SEQ;
  }
  async advanceTo(target: number): Promise<void> {
    while (this.acc.chunks < target && this.acc.chunks < this.totalChunks) {
      const count = new Float64Array(N);
      for (let c = this.acc.chunks; c < this.acc.chunks + 2; c++) chunkStats(this.lang, c).forEach((v, k) => (count[k]! += v));
      this.acc.add({ count, sum: count, sumSq: count }, 2);
      this.tokensThisRun += 2 * SEQ;
    }
    this.exhausted = this.acc.chunks >= this.totalChunks;
  }
  savePartial(): void {}
  removePartial(): void {}
  stats(): LangStats {
    return asStats(this.lang, this.acc);
  }
  final(extra: Record<string, string> = {}): LangStats {
    const s = this.stats();
    return { ...s, meta: { ...s.meta, ...extra } };
  }
}

test('the stop rule stops at the first budget whose selection agrees with half of it, not before', async () => {
  const selection = { topRate: 8 / N };
  const J = 0.95;
  // Reference: selections on the stream's running totals at each round's budget (2 · 2^r chunks).
  const running = (lang: string, chunks: number): LangStats => {
    const count = new Float64Array(N);
    for (let c = 0; c < chunks; c++) chunkStats(lang, c).forEach((v, k) => (count[k]! += v));
    return { lang, layers: 1, neurons: N, tokens: chunks * SEQ, count, sum: count, sumSq: count, meta: {} };
  };
  const sel = (chunks: number): Float64Array => selectionKeys(selectLape(['en', 'zh'].map((l) => running(l, chunks)), selection));
  let expected = 0;
  const expectedJ: number[] = [];
  for (let chunks = 4; chunks <= 512 && expected === 0; chunks *= 2) {
    const j = jaccard(sel(chunks), sel(chunks / 2));
    expectedJ.push(j);
    if (j >= J) expected = chunks;
  }
  // By design: from 32 chunks on (half of them in the clean part) the selection no longer changes
  // (en ← 0–3 and the zh neurons of 4–7 that the random part did not blur), before it does.
  const settled = sel(32);
  for (const k of [0, 1, 2, 3]) assert.ok(settled.includes(k));
  for (const chunks of [64, 128, 256]) assert.deepEqual(sel(chunks), settled);
  assert.notDeepEqual(sel(16), settled);
  assert.equal(expected, 64, 'the first budget that agrees with half of it');

  const dir = tempDir();
  const recorders = ['en', 'zh'].map((l) => new SyntheticRecorder(l, 4096));
  const r = await runRounds(recorders, { outDir: dir, seqLen: SEQ, batchSize: 2, stop: { jaccard: J, resamples: 4, seed: 0, selection } });
  assert.equal(r.stopped, 'stable', r.reason);
  assert.equal(r.rounds.at(-1)!.budget, expected * SEQ, 'stops at the known budget');
  assert.deepEqual(r.rounds.slice(1).map((x) => x.jaccard), expectedJ, 'the same Jaccard at every earlier round (each below J: not before)');
  for (const l of ['en', 'zh']) assert.equal(loadStats(statsPath(dir, l)).tokens, expected * SEQ);
  assert.equal(r.next!.budget, 2 * expected * SEQ);

  // A stream that ends first: the rule reports where the corpus ran out.
  const short = await runRounds(['en', 'zh'].map((l) => new SyntheticRecorder(l, 24)), { outDir: tempDir(), seqLen: SEQ, batchSize: 2, stop: { jaccard: J, resamples: 4, seed: 0, selection } });
  assert.equal(short.stopped, 'exhausted');
  assert.match(short.reason, /not stable .*corpus ended for en at 96, zh at 96 tokens/);
  // statsAtChunks of a finished recording at its own length is the recording.
  assert.equal(statsAtChunks(recorders[0]!.stats(), expected).tokens, expected * SEQ);
});

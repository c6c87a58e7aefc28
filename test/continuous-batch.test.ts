/**
 * Continuous batching (src/runtime/continuous-batch.ts): requests with different steering and
 * different decoding settings, arriving while others decode, give exactly the tokens that
 * generateIds gives each of them alone (greedy; sampled with the same seed), in one session;
 * the queue bound refuses; a cancelled request, or one whose streaming fails, ends without
 * disturbing the others.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateIds, generationSettings, type GenerateOptions, type Generation } from '../src/runtime/generate.js';
import { ContinuousBatcher, CancelledError, QueueFullError } from '../src/runtime/continuous-batch.js';
import { loadModel } from '../src/runtime/model.js';
import { patchVectors, type NeuronPatch } from '../src/runtime/patches.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { repoPath } from './helpers/paths.js';

const MODEL = repoPath('models/tiny-multilingual');

test('continuous batching = each request alone; one session; joins mid-batch; queue bound; cancel', async () => {
  const model = loadModel(MODEL, { threads: 1, maxSessions: 8 });
  const tok = loadTokenizer(MODEL);
  const decode = (ids: number[]): string => tok.decode(ids, { skipSpecialTokens: true });
  try {
    const I = model.spec.intermediateSize;
    // Large enough to change a greedy continuation of any embedded model version (v3 kept its
    // 12 tokens under [3, −2, 4, 1] on these neurons).
    const steer: NeuronPatch[] = [0, 2, 5].map((layer) => ({ layer, indices: [1, 7, 100, 300], mode: 'add', values: [30, -20, 40, 10] }));
    const zero: NeuronPatch[] = [{ layer: 1, indices: Array.from({ length: 64 }, (_, i) => i * 3), mode: 'zero' }];
    const cases: Array<{ prompt: string; opts: GenerateOptions }> = [
      { prompt: 'The menu bar', opts: { maxNewTokens: 12 } },
      { prompt: 'The menu bar', opts: { maxNewTokens: 12, patches: steer } },
      { prompt: '你好，世界', opts: { maxNewTokens: 7, patches: zero } },
      { prompt: 'Choose Format - Cells', opts: { maxNewTokens: 9, temperature: 0.8, topP: 0.9, seed: 5, repetitionPenalty: 1.3 } },
      { prompt: 'a', opts: { maxNewTokens: 15, patches: steer, stop: ['.'] } },
    ];
    const expected: Generation[] = [];
    for (const c of cases) {
      const ids = [tok.encode(c.prompt, { addSpecialTokens: true })];
      expected.push((await generateIds(model, ids, c.opts, decode))[0]!);
    }
    const before = model.sessionCount();
    const batcher = new ContinuousBatcher(model, { maxBatch: 3, maxQueue: 8, decode });
    const results = cases.map((c, i) =>
      new Promise<void>((r) => setTimeout(r, i * 3)).then(() =>
        batcher.submit({
          prompt: tok.encode(c.prompt, { addSpecialTokens: true }),
          settings: generationSettings(model, c.opts),
          vectors: patchVectors(c.opts.patches ?? [], model.spec.numLayers, I),
        }),
      ),
    );
    const got = await Promise.all(results);
    got.forEach((g, i) => {
      assert.deepEqual(g.ids, expected[i]!.ids, `request ${i}: tokens differ from generating it alone`);
      assert.equal(g.text, expected[i]!.text);
      assert.equal(g.stopReason, expected[i]!.stopReason);
    });
    assert.notDeepEqual(got[0]!.ids, got[1]!.ids, 'steering changed nothing: the comparison above proves little');
    assert.equal(model.sessionCount(), before + 1, 'every request ran in one session');
    const st = batcher.stats();
    assert.ok(st.joinedRunning > 0, `no request joined a running batch: ${JSON.stringify(st)}`);
    assert.equal(st.completed, cases.length);

    // Queue bound: maxQueue 1 while one request runs and one waits → the third is refused.
    const small = new ContinuousBatcher(model, { maxBatch: 1, maxQueue: 1, decode });
    const req = (signal?: AbortSignal) =>
      small.submit({ prompt: [6142, 100], settings: generationSettings(model, { maxNewTokens: 20, eosTokenIds: [] }), vectors: new Map(), signal });
    const ac = new AbortController();
    const first = req(ac.signal);
    await new Promise((r) => setImmediate(r));
    const second = req();
    await assert.rejects(req(), QueueFullError);
    ac.abort();
    await assert.rejects(first, CancelledError);
    assert.equal((await second).ids.length, 20);
    assert.equal(small.stats().cancelled, 1);

    // A request whose token callback throws fails alone; its neighbour in the batch finishes.
    const pair = new ContinuousBatcher(model, { maxBatch: 2, maxQueue: 2, decode });
    const s20 = generationSettings(model, { maxNewTokens: 20, eosTokenIds: [] });
    const broken = pair.submit({ prompt: [6142, 100], settings: s20, vectors: new Map(), onToken: (r) => { if (r.gen.length === 3) throw new Error('socket gone'); } });
    const fine = pair.submit({ prompt: [6142, 200], settings: s20, vectors: new Map() });
    await assert.rejects(broken, /socket gone/);
    assert.equal((await fine).ids.length, 20);
  } finally {
    await model.release();
  }
});

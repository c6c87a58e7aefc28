/**
 * A bounded load test of `lape serve` on loopback: 200 completion requests from 16 concurrent
 * clients against a server that decodes at most 4 sequences and queues at most 8 requests, so
 * the queue bound must answer 429 (the client then retries, at most 200 times per request).
 * Checked: every request ends in 200 with its tokens (none lost), every other answer is a 429 in
 * OpenAI's error shape, at least one 429 happened, the server is idle and alive afterwards.
 * Run twice — continuous batching (requests join the running batch at the next step) and
 * --no-continuous (a batch runs to its end) — printing p50/p95 latency and tokens/s of both;
 * timings are reported, not asserted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { repoPath } from './helpers/paths.js';
import { MODEL, startServe } from './helpers/serve.js';

const REQUESTS = 200;
const CLIENTS = 16;
const PROMPTS = readFileSync(repoPath('data/corpus/en.valid.txt'), 'utf8').split('\n').filter((l) => l.length > 0).slice(0, REQUESTS).map((l) => l.split(' ').slice(0, 4).join(' '));

interface LoadResult { ok: number; refused: number; tokens: number; seconds: number; latencies: number[]; steps: number; joined: number }

async function load(url: string): Promise<LoadResult> {
  let next = 0;
  const r: LoadResult = { ok: 0, refused: 0, tokens: 0, seconds: 0, latencies: [], steps: 0, joined: 0 };
  const t0 = performance.now();
  const client = async (): Promise<void> => {
    for (let i = next++; i < REQUESTS; i = next++) {
      const started = performance.now();
      for (let attempt = 0; ; attempt++) {
        assert.ok(attempt < 200, `request ${i} refused 200 times`);
        const res = await fetch(`${url}/v1/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          // Lengths 2..16 so that sequences end at different steps (where continuous batching matters).
          body: JSON.stringify({ model: 'tiny-multilingual', prompt: PROMPTS[i % PROMPTS.length], max_tokens: 2 + (i % 8) * 2, temperature: 0 }),
        });
        const body = (await res.json()) as { choices?: Array<{ text: string }>; usage?: { completion_tokens: number }; error?: { type: string } };
        if (res.status === 429) {
          assert.equal(body.error?.type, 'rate_limit_exceeded');
          assert.equal(res.headers.get('retry-after'), '1');
          r.refused++;
          await new Promise((s) => setTimeout(s, 50));
          continue;
        }
        assert.equal(res.status, 200, `request ${i}: HTTP ${res.status} ${JSON.stringify(body)}`);
        assert.equal(typeof body.choices?.[0]?.text, 'string');
        r.ok++;
        r.tokens += body.usage!.completion_tokens;
        r.latencies.push(performance.now() - started);
        break;
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  r.seconds = (performance.now() - t0) / 1000;
  const h = (await (await fetch(`${url}/health`)).json()) as Record<string, number>;
  assert.equal(h.running, 0);
  assert.equal(h.queued, 0);
  r.steps = h.steps!;
  r.joined = h.joinedRunning!;
  return r;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

test('load: 200 requests from 16 clients, queue bound 429, none lost (continuous and run-to-end batching)', { timeout: 600_000 }, async (t) => {
  const lines: string[] = [];
  for (const mode of ['continuous', 'run-to-end'] as const) {
    const s = await startServe(['--model', MODEL, '--max-batch', '4', '--max-queue', '8', ...(mode === 'run-to-end' ? ['--no-continuous'] : [])]);
    try {
      const r = await load(s.url);
      assert.equal(r.ok, REQUESTS, 'a request was lost');
      assert.ok(r.refused > 0, 'the queue bound never answered 429 with 16 clients, 4 slots and 8 queue places');
      assert.equal(s.proc.exitCode, null, 'the server died');
      if (mode === 'continuous') assert.ok(r.joined > 0, 'no request joined a running batch');
      else assert.equal(r.joined, 0, '--no-continuous let a request join a running batch');
      lines.push(
        `${mode}: ${r.ok} ok, ${r.refused} answers 429 (retried), ${r.tokens} tokens in ${r.seconds.toFixed(2)} s = ${(r.tokens / r.seconds).toFixed(0)} tokens/s, ` +
          `latency p50 ${pct(r.latencies, 50).toFixed(0)} ms, p95 ${pct(r.latencies, 95).toFixed(0)} ms (incl. retries), ${r.steps} decoding steps, ${r.joined} joined mid-batch`,
      );
    } finally {
      assert.equal(await s.stop(), 0);
    }
  }
  t.diagnostic(lines.join('\n'));
});

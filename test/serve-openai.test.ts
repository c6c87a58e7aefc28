/**
 * `lape serve` on loopback, driven by the official `openai` client: models, chat and completion,
 * streaming and not (the streamed text equals the non-streamed one, usage and finish_reason are
 * right), steering in add mode changes the output of the embedded model, errors come back as
 * OpenAI errors (the client's error classes, status, param), a client that disconnects cancels
 * its generation, the API key (401 without it), --host 0.0.0.0 without a key refused, a Host
 * header that is not loopback refused without a key (DNS rebinding), and SIGTERM
 * lets a request in flight finish and exits 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { runCli } from './helpers/cli.js';
import { MODEL, startServe, steeringInputs, type Served } from './helpers/serve.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';

const PROMPTS = ['The menu bar', 'Choose Format - Cells', 'To insert a table'];

async function health(url: string): Promise<Record<string, number | string>> {
  return (await (await fetch(`${url}/health`)).json()) as Record<string, number | string>;
}

test('lape serve answers the openai client; steering; OpenAI errors; cancel; SIGTERM', { timeout: 300_000 }, async (t) => {
  const dir = tempDir();
  const { masks, stats } = await steeringInputs(dir);
  const served: Served = await startServe(['--model', MODEL, '--masks', masks, '--stats', stats, '--max-tokens', '400']);
  try {
    const client = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: 'unused', maxRetries: 0 });

    await t.test('without a key, a Host that is not loopback is refused (DNS rebinding)', async () => {
      const { request } = await import('node:http');
      const u = new URL(served.url);
      const withHost = (host: string) =>
        new Promise<number>((resolve, reject) => {
          request({ host: u.hostname, port: u.port, path: '/health', headers: { host } }, (r) => {
            r.resume();
            resolve(r.statusCode!);
          }).on('error', reject).end();
        });
      assert.equal(await withHost('evil.example:8000'), 403);
      assert.equal(await withHost(`localhost:${u.port}`), 200);
      assert.equal(await withHost('[::1]'), 200);
    });

    await t.test('models', async () => {
      const list = await client.models.list();
      assert.deepEqual(list.data.map((m) => m.id), ['tiny-multilingual']);
      assert.equal((await client.models.retrieve('tiny-multilingual')).id, 'tiny-multilingual');
    });

    await t.test('completion: streamed = not streamed; usage; finish_reason', async () => {
      const body = { model: 'tiny-multilingual', prompt: PROMPTS[0]!, max_tokens: 12, temperature: 0 };
      const whole = await client.completions.create(body);
      assert.equal(whole.object, 'text_completion');
      assert.equal(whole.choices.length, 1);
      const c = whole.choices[0]!;
      assert.ok(c.finish_reason === 'length' || c.finish_reason === 'stop');
      assert.equal(whole.usage!.prompt_tokens, 3); // BOS + "The menu bar" in the embedded tokenizer
      assert.equal(whole.usage!.total_tokens, whole.usage!.prompt_tokens + whole.usage!.completion_tokens);
      if (c.finish_reason === 'length') assert.equal(whole.usage!.completion_tokens, 12);
      let streamed = '';
      let finish: string | null = null;
      let chunks = 0;
      for await (const ch of await client.completions.create({ ...body, stream: true })) {
        streamed += ch.choices[0]?.text ?? '';
        finish = ch.choices[0]?.finish_reason ?? finish;
        chunks++;
      }
      assert.equal(streamed, c.text);
      assert.equal(finish, c.finish_reason);
      assert.ok(chunks >= 3, `only ${chunks} chunks: not streamed token by token`);
    });

    await t.test('chat: streamed = not streamed, with include_usage; stop strings', async () => {
      const body = { model: 'tiny-multilingual', messages: [{ role: 'user' as const, content: 'The menu bar' }], max_tokens: 10, temperature: 0 };
      const whole = await client.chat.completions.create(body);
      assert.equal(whole.object, 'chat.completion');
      assert.equal(whole.choices[0]!.message.role, 'assistant');
      const text = whole.choices[0]!.message.content ?? '';
      let streamed = '';
      let usage: OpenAI.CompletionUsage | undefined;
      let role: string | undefined;
      for await (const ch of await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } })) {
        streamed += ch.choices[0]?.delta?.content ?? '';
        role ??= ch.choices[0]?.delta?.role;
        if (ch.usage) usage = ch.usage;
      }
      assert.equal(streamed, text);
      assert.equal(role, 'assistant');
      assert.deepEqual(usage, whole.usage);
      // A stop string taken from the output itself: the text ends before it, finish_reason stop.
      const word = text.trim().split(/\s+/)[1];
      if (word) {
        const cut = await client.chat.completions.create({ ...body, stop: [word] });
        assert.equal(cut.choices[0]!.finish_reason, 'stop');
        assert.equal(cut.choices[0]!.message.content, text.slice(0, text.indexOf(word)));
        let s = '';
        for await (const ch of await client.chat.completions.create({ ...body, stop: [word], stream: true })) s += ch.choices[0]?.delta?.content ?? '';
        assert.equal(s, cut.choices[0]!.message.content, 'streaming sent text of the stop string');
      }
    });

    await t.test('steering (add mode) changes the output; unsteered requests are unchanged beside it', async () => {
      const run = (prompt: string, lape?: object) =>
        client.completions.create({ model: 'tiny-multilingual', prompt, max_tokens: 16, temperature: 0, ...(lape ? { lape } : {}) } as OpenAI.CompletionCreateParamsNonStreaming);
      const normal = await Promise.all(PROMPTS.map((p) => run(p)));
      const both = await Promise.all(PROMPTS.flatMap((p) => [run(p, { activate: ['zh'], mode: 'add', alpha: 4 }), run(p)]));
      const steered = both.filter((_, i) => i % 2 === 0);
      const again = both.filter((_, i) => i % 2 === 1);
      const changed = PROMPTS.filter((_, i) => steered[i]!.choices[0]!.text !== normal[i]!.choices[0]!.text);
      t.diagnostic(PROMPTS.map((p, i) => `${p} | normal: ${JSON.stringify(normal[i]!.choices[0]!.text)} | +zh add×4: ${JSON.stringify(steered[i]!.choices[0]!.text)}`).join('\n'));
      assert.ok(changed.length >= 2, `add-mode steering changed only ${changed.length} of ${PROMPTS.length} outputs`);
      again.forEach((r, i) => assert.equal(r.choices[0]!.text, normal[i]!.choices[0]!.text, 'an unsteered request batched beside steered ones changed'));
      const layered = await run(PROMPTS[0]!, { activate: ['zh'], mode: 'add', alpha: 4, layers: [0, 1] });
      assert.equal(typeof layered.choices[0]!.text, 'string');
    });

    await t.test('errors are OpenAI errors', async () => {
      const bad = async (body: object, status: number, re: RegExp, param?: string) => {
        await assert.rejects(
          client.completions.create({ model: 'tiny-multilingual', prompt: 'x', ...body } as OpenAI.CompletionCreateParamsNonStreaming),
          (e: unknown) => {
            assert.ok(e instanceof OpenAI.APIError, `not an APIError: ${e}`);
            assert.equal(e.status, status);
            assert.match(e.message, re);
            if (param) assert.equal((e.error as { param?: string }).param, param);
            return true;
          },
        );
      };
      await bad({ lape: { activate: ['zh'], strength: 2 } }, 400, /unknown field lape\.strength/, 'lape.strength');
      await bad({ lape: { activate: ['de'] } }, 400, /cannot activate "de": the masks have no language "de"/);
      await bad({ lape: { activate: ['zh'], alpha: 2 } }, 400, /alpha applies to modes add and diffmean/, 'lape.alpha');
      await bad({ lape: { activate: ['zh'], mode: 'add', layers: [9] } }, 400, /layer 9 does not exist/);
      await bad({ n: 2 }, 400, /n = 2 is not supported/, 'n');
      await bad({ logprobs: 3 }, 400, /logprobs = 3 is not supported/, 'logprobs');
      await bad({ frobnicate: true }, 400, /Unrecognized request argument supplied: frobnicate/, 'frobnicate');
      await bad({ temperature: 3 }, 400, /temperature must be between 0 and 2/, 'temperature');
      await bad({ max_tokens: 401 }, 400, /max_tokens is at most 400/, 'max_tokens');
      await bad({ prompt: 'menu '.repeat(600) }, 400, /the model's context is 512/);
      await bad({ model: 'gpt-4o' }, 404, /The model 'gpt-4o' does not exist/, 'model');
      // Harmless standard fields are accepted.
      const ok = await client.completions.create({ model: 'tiny-multilingual', prompt: 'x', max_tokens: 2, n: 1, logprobs: null, presence_penalty: 0, user: 'u', seed: 3 });
      assert.equal(ok.choices.length, 1);
      await assert.rejects(client.chat.completions.create({ model: 'tiny-multilingual', messages: [] }), (e: unknown) => e instanceof OpenAI.BadRequestError);
    });

    await t.test('a client that disconnects cancels its generation', async () => {
      const before = Number((await health(served.url)).cancelled);
      const ac = new AbortController();
      const r = await fetch(`${served.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tiny-multilingual', prompt: 'The', max_tokens: 400, temperature: 1, seed: 1, stream: true, lape: { repetition_penalty: 1 } }),
        signal: ac.signal,
      });
      const reader = r.body!.getReader();
      await reader.read();
      ac.abort();
      let h = await health(served.url);
      for (let i = 0; i < 100 && Number(h.cancelled) === before; i++) {
        await new Promise((res) => setTimeout(res, 50));
        h = await health(served.url);
      }
      assert.equal(Number(h.cancelled), before + 1, `not cancelled: ${JSON.stringify(h)}`);
      assert.equal(h.running, 0);
    });

    await t.test('SIGTERM: the request in flight finishes, then exit 0', async () => {
      const pending = client.completions.create({ model: 'tiny-multilingual', prompt: 'The menu bar', max_tokens: 60, temperature: 0 });
      await new Promise((r) => setTimeout(r, 100));
      const code = served.stop();
      const done = await pending;
      assert.ok(done.choices[0]!.text.length > 0);
      assert.equal(await code, 0, served.stderr());
      assert.match(served.stderr(), /shutting down/);
    });
  } finally {
    if (served.proc.exitCode === null) await served.stop();
  }

  await t.test('API key: 401 without it (constant-time check), 200 with it; --host 0.0.0.0 needs one', async () => {
    const key = 'test-key-0123456789';
    const s = await startServe(['--model', MODEL], { LAPE_API_KEY: key });
    try {
      const anon = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'wrong-key-0123456789', maxRetries: 0 });
      await assert.rejects(anon.models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError);
      assert.equal((await fetch(`${s.url}/health`)).status, 401);
      assert.equal((await fetch(`${s.url}/`)).status, 200, 'the explorer page itself is public (it holds no data)');
      const ok = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: key, maxRetries: 0 });
      assert.equal((await ok.models.list()).data.length, 1);
    } finally {
      assert.equal(await s.stop(), 0);
    }
    const open = runCli(['serve', '--model', MODEL, '--host', '0.0.0.0', '--port', '0'], { env: { LAPE_API_KEY: '' } });
    assert.equal(open.code, 2);
    assert.match(open.stderr, /--host 0\.0\.0\.0 makes the server reachable from other machines: give --api-key/);
  });
});

test('lape explore DIR without a model: the explorer and its data, no OpenAI routes', { timeout: 60_000 }, async () => {
  const s = await startServe(['explore', repoPath('test/fixtures/report-sample')]);
  try {
    const page = await (await fetch(s.url)).text();
    assert.match(page, /^<!doctype html>[\s\S]*<script type="module">[\s\S]+<\/script><\/body><\/html>$/);
    assert.doesNotMatch(page, /<script[^>]+src=|<link[^>]+href="http/i, 'the bundle is inlined (the browser test checks that no request leaves the server)');
    const data = (await (await fetch(`${s.url}/api/explorer`)).json()) as { matrices: unknown[]; masks: Array<{ file: string }>; model: unknown };
    assert.ok(data.matrices.length >= 1);
    assert.equal(data.masks[0]!.file, 'masks.json');
    assert.equal(data.model, null);
    const bad = await fetch(`${s.url}/api/neurons?masks=masks.json&layer=99&lang=zh`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /layer 99 outside 0\.\.7/);
    const v1 = await fetch(`${s.url}/v1/models`);
    assert.equal(v1.status, 404);
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

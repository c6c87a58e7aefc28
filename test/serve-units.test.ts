/**
 * lape serve's pure parts: streamed text (held back at a split UTF-8 character and at a possible
 * stop-string start, never sending text of the stop string), the API-key check, and request
 * validation (defaults, harmless standard fields, refused values, unknown fields, the lape object).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../src/serve/openai-errors.js';
import { parseRequest } from '../src/serve/openai-schema.js';
import { authorized } from '../src/serve/server.js';
import { TextStream } from '../src/serve/text-stream.js';

test('TextStream: holds back split characters and stop-string prefixes; the parts add up to the final text', () => {
  const s = new TextStream(['\n\n', 'END']);
  const parts = ['Hel', 'Hello', 'Hello\uFFFD', 'Hello 世', 'Hello 世界 E', 'Hello 世界 EN', 'Hello 世界 ENx', 'Hello 世界 ENx\n'].map((t) => s.next(t));
  assert.deepEqual(parts, ['Hel', 'lo', '', ' 世', '界 ', '', 'ENx', '']);
  assert.equal(s.finish('Hello 世界 ENx'), '');
  const t = new TextStream(['END']);
  assert.equal(t.next('abEN'), 'ab');
  assert.equal(t.finish('ab'), '', 'the stop string was cut: nothing of it is sent');
  const u = new TextStream([]);
  assert.equal(u.next('x'), 'x');
  assert.equal(u.finish('xyz'), 'yz');
});

test('API key: Bearer KEY only', () => {
  assert.ok(authorized('Bearer secret-key-1', 'secret-key-1'));
  for (const h of [undefined, '', 'secret-key-1', 'Bearer secret-key-2', 'Bearer secret-key-10', 'bearer secret-key-1', 'Basic secret-key-1']) {
    assert.equal(authorized(h, 'secret-key-1'), false, String(h));
  }
});

test('request validation: defaults, harmless fields, refusals, unknown fields, lape', () => {
  const c = parseRequest('completion', { model: 'm', prompt: 'hi' });
  assert.deepEqual(
    { t: c.temperature, p: c.topP, max: c.maxTokens, stop: c.stop, stream: c.stream, lape: c.lape },
    { t: 1, p: 1, max: undefined, stop: [], stream: false, lape: { activate: [], deactivate: [], mode: 'set', alpha: 1, layers: null, repetitionPenalty: 1 } },
  );
  const chat = parseRequest('chat', {
    model: 'm', messages: [{ role: 'developer', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }, { role: 'user', content: 'q' }],
    max_completion_tokens: 5, stop: 'x', n: 1, logprobs: false, tools: [], response_format: { type: 'text' }, stream: true, stream_options: { include_usage: true },
    lape: { activate: 'zh', mode: 'add', alpha: 2, layers: 'bottom:2', repetition_penalty: 1.1 },
  });
  assert.deepEqual(chat.messages, [{ role: 'system', content: 'ab' }, { role: 'user', content: 'q' }]);
  assert.equal(chat.maxTokens, 5);
  assert.deepEqual(chat.stop, ['x']);
  assert.equal(chat.includeUsage, true);
  assert.deepEqual(chat.lape, { activate: ['zh'], deactivate: [], mode: 'add', alpha: 2, layers: 'bottom:2', repetitionPenalty: 1.1 });
  const refused = (kind: 'completion' | 'chat', body: object, param: string, re: RegExp): void => {
    // As JSON would carry it: keys set to undefined here are absent.
    const json = JSON.parse(JSON.stringify({ model: 'm', prompt: 'p', messages: [{ role: 'user', content: 'x' }], ...body }));
    assert.throws(() => parseRequest(kind, json), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 400);
      assert.equal(e.param, param);
      assert.match(e.message, re);
      return true;
    });
  };
  refused('chat', { prompt: undefined, tools: [{ type: 'function' }] }, 'tools', /tool calls are not implemented/);
  refused('completion', { messages: undefined, echo: true }, 'echo', /echo = true is not supported/);
  refused('completion', {}, 'messages', /Unrecognized request argument supplied: messages/);
  refused('completion', { messages: undefined, prompt: ['a', 'b'] }, 'prompt', /batches of prompts/);
  refused('chat', { prompt: undefined, messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].role', /must be system, developer, user or assistant/);
  refused('chat', { prompt: undefined, messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }, 'messages[0].content', /only text content parts/);
  refused('completion', { messages: undefined, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', /at most 4/);
  refused('completion', { messages: undefined, stream_options: { include_usage: true } }, 'stream_options', /needs stream: true/);
  refused('completion', { messages: undefined, lape: { mode: 'boost' } }, 'lape.mode', /one of set, add, diffmean/);
  refused('completion', { messages: undefined, lape: { layers: [] } }, 'lape.layers', /non-empty list/);
  refused('completion', { messages: undefined, lape: [] }, 'lape', /lape must be an object/);
  refused('completion', { messages: undefined, max_tokens: 0 }, 'max_tokens', /integer ≥ 1/);
  refused('completion', { messages: undefined, top_p: 0 }, 'top_p', /in \(0, 1\]/);
  assert.throws(() => parseRequest('completion', { prompt: 'x' }), /model is required/);
  assert.throws(() => parseRequest('completion', [1]), /must be a JSON object/);
});

/**
 * Chat templates (src/tokenizer/chat-template.ts) against transformers' apply_chat_template
 * (tools/chat_template_reference.py → test/fixtures/chat-templates.json): the same text and the
 * same token ids for ChatML, Llama 3 and Llama 2 formats, raise_exception as an error; the plain
 * template for a checkpoint without one; bad templates named; lape generate --chat.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PLAIN_CHAT_TEMPLATE, chatTemplateFrom, loadChatTemplate, type ChatMessage } from '../src/tokenizer/chat-template.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { generateIds } from '../src/runtime/generate.js';
import { loadModel } from '../src/runtime/model.js';
import { runCli } from './helpers/cli.js';
import { repoPath } from './helpers/paths.js';

const MODEL = repoPath('models/tiny-multilingual');
interface Case { template: string; messages: ChatMessage[]; text: string | null; error: string | null; ids: number[] | null }
const REF = JSON.parse(readFileSync(repoPath('test/fixtures/chat-templates.json'), 'utf8')) as {
  bos_token: string; eos_token: string; templates: Record<string, string>; cases: Case[];
};

test('checkpoint chat templates render as transformers renders them', () => {
  const tok = loadTokenizer(MODEL);
  assert.ok(REF.cases.length >= 9);
  for (const c of REF.cases) {
    const t = chatTemplateFrom({ chat_template: REF.templates[c.template], bos_token: { content: REF.bos_token }, eos_token: REF.eos_token }, tok, 'fixture');
    assert.equal(t.source, 'checkpoint');
    if (c.error !== null) {
      assert.throws(() => t.render(c.messages), (e: Error) => e.message.includes(c.error!), `${c.template}: expected the template's own error`);
      continue;
    }
    assert.equal(t.render(c.messages), c.text, `${c.template}: ${JSON.stringify(c.messages)}`);
    assert.deepEqual(t.encode(c.messages), c.ids);
  }
});

test('a checkpoint without a template gets the plain one, with its BOS; bad templates are named', () => {
  const tok = loadTokenizer(MODEL);
  const t = loadChatTemplate(MODEL, tok);
  assert.equal(t.source, 'plain');
  const msgs = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'The menu bar' }];
  assert.equal(t.render(msgs), 'system: Be brief.\nuser: The menu bar\nassistant:');
  assert.deepEqual(t.encode(msgs), tok.encode('system: Be brief.\nuser: The menu bar\nassistant:', { addSpecialTokens: true }));
  assert.ok(PLAIN_CHAT_TEMPLATE.includes('assistant:'));
  assert.throws(() => chatTemplateFrom({ chat_template: '{% for %}' }, tok, '/x/tokenizer_config.json'), /tokenizer_config\.json.*chat_template does not parse/s);
  assert.throws(() => chatTemplateFrom({ chat_template: 42 }, tok, 'cfg'), /neither a string nor a list/);
  const named = chatTemplateFrom({ chat_template: [{ name: 'tool_use', template: 'x' }, { name: 'default', template: '{{ messages[0].content }}!' }] }, tok, 'cfg');
  assert.equal(named.render([{ role: 'user', content: 'hi' }]), 'hi!');
});

test('lape generate --chat formats the prompt with the chat template', async () => {
  const tok = loadTokenizer(MODEL);
  const template = loadChatTemplate(MODEL, tok);
  const r = runCli(['generate', '--model', MODEL, '--prompt', 'The menu bar', '--chat', '--max-new-tokens', '8', '--threads', '1', '--json', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const model = loadModel(MODEL, { threads: 1 });
  try {
    const [want] = await generateIds(model, [template.encode([{ role: 'user', content: 'The menu bar' }])], { maxNewTokens: 8 }, (ids) => tok.decode(ids, { skipSpecialTokens: true }));
    assert.equal((JSON.parse(r.stdout) as { generations: Array<{ text: string }> }).generations[0]!.text, want!.text);
  } finally {
    await model.release();
  }
});

/**
 * The CLI on .gguf files wherever it takes a checkpoint folder: info, record (with resume
 * identity from the GGUF metadata), identify, ppl and generate, for a Llama-style, a Qwen2 (F16)
 * and a non-Llama family (GPT-2), stored and quantised (Q8_0, Q4_0: MatMulNBits from the cache).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openCheckpoint } from '../src/checkpoint/checkpoint.js';
import { loadStats } from '../src/stats/stats-file.js';
import { runCli } from './helpers/cli.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';

process.env.LAPE_CACHE_DIR = tempDir('lape-cache-');

for (const file of ['llama-gqa.f32', 'qwen2-tied.f16', 'gpt2.f32', 'llama-gqa.q8_0', 'qwen2-tied.q8_0', 'gpt2.q4_0']) {
  test(`lape info/record/identify/ppl/generate on ${file}.gguf`, () => {
    const model = repoPath(`test/fixtures/gguf/${file}.gguf`);
    const out = tempDir();
    const ok = (args: string[]): string => {
      const r = runCli(args);
      assert.equal(r.code, 0, `${args[0]}: ${r.stderr}`);
      return r.stdout;
    };
    const info = JSON.parse(ok(['info', model, '--json'])) as { architecture: string; tokenizer: string; holdings: Array<{ held: string }> };
    assert.match(info.architecture, /^GGUF /);
    assert.equal(info.tokenizer, 'BPE');
    if (/q\d_0$/.test(file)) assert.ok(info.holdings.some((h) => h.held.endsWith('exact')), JSON.stringify(info.holdings));
    for (const lang of ['en', 'fr']) {
      ok(['record', '--model', model, '--lang', lang, '--corpus', repoPath(`data/corpus/${lang}.valid.txt`), '--tokens', '2000',
        '--seq-len', '32', '--out', join(out, 'stats', `${lang}.safetensors`), '--quiet']);
    }
    const stats = loadStats(join(out, 'stats', 'en.safetensors'));
    assert.equal(stats.meta.model_config_sha256, openCheckpoint(model).configSha256);
    assert.equal(stats.meta.model_sha256, openCheckpoint(model).identitySha256);
    ok(['identify', '--stats', join(out, 'stats'), '--top-rate', '0.05', '--out', join(out, 'masks.json'), '--quiet']);
    ok(['ppl', '--model', model, '--masks', join(out, 'masks.json'), '--eval', `en=${repoPath('data/corpus/en.valid.txt')}`,
      '--eval', `fr=${repoPath('data/corpus/fr.valid.txt')}`, '--seq-len', '32', '--max-chunks', '2', '--out', out, '--quiet', '--no-report']);
    const text = ok(['generate', '--model', model, '--prompt', 'Le chat', '--max-new-tokens', '4', '--quiet']);
    assert.ok(text.length > 0);
  });
}

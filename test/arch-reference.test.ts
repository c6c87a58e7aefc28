/**
 * Every supported family against Hugging Face's own modeling code: tiny random checkpoints written
 * by save_pretrained and reference vectors from AutoModelForCausalLM (tools/make_hf_fixtures.py).
 */
import { test } from 'node:test';
import { repoPath } from './helpers/paths.js';
import { checkAgainstReference } from './helpers/reference-checks.js';

/** fixture folder → reference file (gpt2-noprefix: the same weights under OpenAI's original names). */
const FIXTURES: Record<string, string> = {
  'llama-bias': 'llama-bias', qwen3: 'qwen3', gemma: 'gemma', gemma2: 'gemma2', gemma3: 'gemma3',
  'gemma3-mm': 'gemma3-mm', phi: 'phi', 'gpt-neox': 'gpt-neox', gpt2: 'gpt2', 'gpt2-noprefix': 'gpt2',
  opt: 'opt', bloom: 'bloom',
};

// Both operator sets (src/graph/decoder.ts): fused is the CPU default, plain the other devices'.
for (const [dir, ref] of Object.entries(FIXTURES)) {
  for (const ops of ['fused', 'plain'] as const) {
    test(`${dir} (${ops} operators): matches Hugging Face transformers`, (t) =>
      checkAgainstReference(t, repoPath(`test/fixtures/hf/${dir}`), repoPath(`test/fixtures/hf/${ref}.ref.safetensors`), { ops }));
  }
}

/**
 * The engine against tools/make_fixtures.py, an independent plain-PyTorch forward, on Llama (GQA,
 * llama3 rope), Mistral (f16, sliding window), Qwen2 (biases, tied, linear rope) and Qwen2 bf16
 * sharded. The families' Hugging Face references are in arch-reference.test.ts.
 */
import { test } from 'node:test';
import { repoPath } from './helpers/paths.js';
import { checkAgainstReference } from './helpers/reference-checks.js';

// Both operator sets (src/graph/decoder.ts): fused is the CPU default, plain the other devices'.
for (const name of ['llama-gqa', 'mistral-swa', 'qwen2-tied', 'qwen2-bf16-sharded']) {
  for (const ops of ['fused', 'plain'] as const) {
    test(`${name} (${ops} operators): matches the torch reference`, (t) =>
      checkAgainstReference(t, repoPath(`test/fixtures/${name}`), repoPath(`test/fixtures/${name}.ref.safetensors`), { ops }));
  }
}

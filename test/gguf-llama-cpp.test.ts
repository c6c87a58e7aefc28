/**
 * An independent implementation as the referee: node-llama-cpp 3.21.1 (llama.cpp's own GGUF
 * loader, tokenizer and CPU kernels, prebuilt binary from npm) loads the same GGUF fixtures.
 * Compared: tokenization (lape's tokenizer built from GGUF metadata vs llama.cpp's), and the
 * next-token distribution after a few prompts (llama.cpp's `probabilities` at temperature 1 with
 * all samplers off, vs lape's softmax). Not comparable through its API: hidden states, FFN
 * activations (counts), batched padding.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadModel } from '../src/runtime/model.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { repoPath } from './helpers/paths.js';

const { getLlama } = await import('node-llama-cpp');
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
after(() => llama.dispose());

const gguf = (name: string): string => repoPath(`test/fixtures/gguf/${name}.gguf`);

function prompts(): string[] {
  const out = ['The quick brown fox', 'Le chat est sur la table.', '我想在这里工作', 'Xin chào'];
  for (const lang of ['en', 'zh', 'ja', 'vi']) {
    out.push(readFileSync(repoPath(`data/corpus/${lang}.valid.txt`), 'utf8').split('\n').find((l) => l.length > 40)!.slice(0, 60));
  }
  return out;
}

/**
 * Tolerances on |Δ log p|, from what was measured here (max over the prompts, noted per line).
 * Both engines compute in float32 with K/V kept in f32; what remains is llama.cpp's own rounding:
 * - SiLU families agree to float32 summation noise (measured 2e-6 … 1e-5): bound 1e-4;
 * - GELU families: ggml's CPU GELU reads an f16 lookup table (its input rounded to f16, relative
 *   4.9e-4), measured 1e-3 … 4.3e-3 (NeoX additionally uses the tanh form where the model and lape
 *   use erf): bound 1e-2;
 * - F16 weights: ggml's F16 matmul rounds the activations to f16 as well (lape multiplies in f32),
 *   measured 2.8e-3 … 1.0e-2: bound 3e-2.
 */
const SILU = 1e-4;
const GELU = 1e-2;
const F16 = 3e-2;
const FILES: Record<string, number> = {
  'llama-gqa.f32': SILU, // 3.5e-6
  'llama-bias.f32': SILU, // 2.2e-6
  'qwen2-tied.f32': SILU, // 1.0e-5
  'qwen3.f32': SILU, // 2.4e-6
  'gpt2.f32': GELU, // 2.5e-3
  'phi.f32': GELU, // 1.1e-3
  'bloom.f32': GELU, // 4.3e-3
  'gpt-neox.f32': GELU, // 1.4e-3
  'gemma.f32': GELU, // 1.5e-3
  'gemma2.f32': GELU, // 9.5e-4
  'llama-gqa.f16': F16, // 2.8e-3
  'qwen2-tied.f16': F16, // 1.0e-2
  'gpt2.f16': F16, // 3.9e-3
};

for (const [file, tol] of Object.entries(FILES)) {
  test(`${file}.gguf: tokenization and next-token log-probabilities agree with node-llama-cpp`, async (t) => {
    const model = await llama.loadModel({ modelPath: gguf(file), gpuLayers: 0 });
    const tok = loadTokenizer(gguf(file));
    const lape = loadModel(gguf(file), { threads: 1 });
    try {
      let worst = 0;
      for (const text of prompts()) {
        const all = tok.encode(text, { addSpecialTokens: false });
        assert.deepEqual(all, Array.from(model.tokenize(text, false)), `tokens of ${JSON.stringify(text)}`);
        const ours = all.slice(0, 40); // within every fixture's context length
        const ctx = await model.createContext({
          contextSize: 128, batchSize: 128, threads: 1, flashAttention: false,
          // llama.cpp keeps K/V in f16 by default; f32 makes the comparison about the model math.
          experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
        });
        try {
          const seq = ctx.getSequence();
          const items = ours.map((id, i) => (i === ours.length - 1
            ? [id, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] as const
            : id));
          const res = await seq.controlledEvaluate(items as never);
          const probs = (res[res.length - 1] as { next: { probabilities: Map<number, number> } }).next.probabilities;
          const r = await lape.run({ ids: [ours], mask: [ours.map(() => 1)] }, { logits: 'last' });
          const logits = r.logitsLast!;
          const max = Math.max(...logits);
          const lse = max + Math.log(logits.reduce((s, v) => s + Math.exp(v - max), 0));
          assert.equal(probs.size, logits.length);
          for (const [id, p] of probs) {
            // Compare where the probability carries information in f32 (llama.cpp rounds tiny ones).
            if (p < 1e-6) continue;
            worst = Math.max(worst, Math.abs(Math.log(p) - (logits[id]! - lse)));
          }
        } finally {
          await ctx.dispose();
        }
      }
      t.diagnostic(`${file}: max |Δ log p| ${worst.toExponential(2)}`);
      assert.ok(worst <= tol, `max |Δ log p| ${worst} > ${tol}`);
    } finally {
      await lape.release();
      await model.dispose();
    }
  });
}

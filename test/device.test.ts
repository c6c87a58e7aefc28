/**
 * --device: cpu everywhere; the reference checks of engine-reference and arch-reference again on
 * every other device that starts here (webgpu where a WebGPU adapter answers — in CI Mesa's
 * software Vulkan, lavapipe, see .ci/run —; cuda where its provider is installed, which no
 * machine of this project has: that part is skipped, saying so).
 *
 * LAPE_REQUIRE_WEBGPU=1 (set by .ci/run once it has installed a Vulkan driver) turns a missing
 * WebGPU adapter into a failure instead of a skip.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deviceProblem, resolveDevice, hasGpuDeviceNode } from '../src/runtime/device.js';
import { repoPath } from './helpers/paths.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';
import { checkAgainstReference } from './helpers/reference-checks.js';

// Probed before any test is registered: a test() call after an await that outlives the tests
// registered so far comes too late ("its parent finished") and fails the run.
const PROBLEMS = { webgpu: await deviceProblem('webgpu'), cuda: await deviceProblem('cuda') };

const FIXTURES: Array<[string, string]> = [
  ...['llama-gqa', 'mistral-swa', 'qwen2-tied', 'qwen2-bf16-sharded'].map((n): [string, string] => [`test/fixtures/${n}`, `test/fixtures/${n}.ref.safetensors`]),
  ...Object.entries({
    'llama-bias': 'llama-bias', qwen3: 'qwen3', gemma: 'gemma', gemma2: 'gemma2', gemma3: 'gemma3', 'gemma3-mm': 'gemma3-mm', phi: 'phi',
    'gpt-neox': 'gpt-neox', gpt2: 'gpt2', opt: 'opt', bloom: 'bloom',
  }).map(([d, r]): [string, string] => [`test/fixtures/hf/${d}`, `test/fixtures/hf/${r}.ref.safetensors`]),
];

test('--device cpu is the default path, byte for byte; auto resolves to a device that starts', async () => {
  const dir = tempDir();
  const args = ['record', '--model', repoPath('models/tiny-multilingual'), '--lang', 'fr', '--corpus', repoPath('data/corpus/fr.train.txt'),
    '--tokens', '2048', '--seq-len', '256', '--threads', '1', '--quiet'];
  const a = runCli([...args, '--out', join(dir, 'default.safetensors')]);
  const b = runCli([...args, '--device', 'cpu', '--out', join(dir, 'cpu.safetensors')]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.ok(readFileSync(join(dir, 'default.safetensors')).equals(readFileSync(join(dir, 'cpu.safetensors'))));
  const auto = await resolveDevice('auto');
  assert.ok(['cpu', 'webgpu', 'cuda'].includes(auto));
  if (!hasGpuDeviceNode() && (await deviceProblem('cuda')) !== null) assert.equal(auto, 'cpu', 'without a GPU, auto keeps the CPU (a software WebGPU adapter is slower)');
  const bad = runCli([...args, '--device', 'tpu', '--out', join(dir, 'x.safetensors')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--device must be one of cpu, webgpu, cuda, auto/);
});

test('--device cuda on a machine without the CUDA provider: a clear error before loading', async (t) => {
  if ((await deviceProblem('cuda')) === null) return t.skip('the CUDA provider starts here');
  const dir = tempDir();
  const r = runCli(['record', '--model', repoPath('models/tiny-multilingual'), '--lang', 'fr', '--corpus', repoPath('data/corpus/fr.train.txt'),
    '--tokens', '512', '--seq-len', '256', '--device', 'cuda', '--out', join(dir, 'x.safetensors')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /device cuda is not available here: /);
});

for (const device of ['webgpu', 'cuda'] as const) {
  const problem = PROBLEMS[device];
  const required = device === 'webgpu' && process.env.LAPE_REQUIRE_WEBGPU === '1';
  if (problem !== null && required) {
    test(`${device}: an adapter is required here (LAPE_REQUIRE_WEBGPU=1)`, () => assert.fail(`no ${device} device: ${problem}`));
    continue;
  }
  if (problem !== null) {
    test(`${device}: the reference checks of ${FIXTURES.length} fixtures`, { skip: `no ${device} device here: ${problem}` }, () => {});
    continue;
  }
  for (const [dir, ref] of FIXTURES) {
    test(`${device}: ${dir.split('/').pop()} matches its reference`, (t) => checkAgainstReference(t, repoPath(dir), repoPath(ref), { device }));
  }
}

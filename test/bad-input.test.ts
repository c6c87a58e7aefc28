/**
 * Bad checkpoints and bad batches: each gives a LapeError naming the file and the problem, and
 * the CLI exits non-zero with that message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../src/checkpoint/checkpoint.js';
import { encodeSafetensors, readSafetensorsHeader } from '../src/checkpoint/safetensors.js';
import { loadModel } from '../src/runtime/model.js';
import { LapeError } from '../src/errors.js';
import { repoPath } from './helpers/paths.js';
import { copyToTemp, tempDir } from './helpers/tmp.js';
import { runCli } from './helpers/cli.js';

const LLAMA = repoPath('test/fixtures/llama-gqa');

/** Asserts fn throws a LapeError whose message contains every fragment. */
function throwsLape(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof LapeError, `expected LapeError, got ${e}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `message "${e.message}" lacks "${f}"`);
    return true;
  });
}

/** Rewrites model.safetensors of a copied fixture with a raw header and data. */
function writeRaw(dir: string, header: string, data: Buffer, lengthOverride?: bigint): string {
  const path = join(dir, 'model.safetensors');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(Buffer.byteLength(header)));
  writeFileSync(path, Buffer.concat([len, Buffer.from(header), data]));
  return path;
}

test('missing config.json', () => {
  const dir = copyToTemp(LLAMA);
  rmSync(join(dir, 'config.json'));
  throwsLape(() => openCheckpoint(dir), 'config.json', 'missing');
  const r = runCli(['info', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /config\.json: missing config\.json/);
});

test('missing weights', () => {
  const dir = copyToTemp(LLAMA);
  rmSync(join(dir, 'model.safetensors'));
  throwsLape(() => openCheckpoint(dir), dir, 'no weights found');
});

test('missing shard named by the index', () => {
  const dir = copyToTemp(repoPath('test/fixtures/qwen2-bf16-sharded'));
  rmSync(join(dir, 'model-00002-of-00002.safetensors'));
  throwsLape(() => openCheckpoint(dir), 'model.safetensors.index.json', 'model-00002-of-00002.safetensors', 'missing');
});

test('safetensors header length past the end of the file', () => {
  const dir = copyToTemp(LLAMA);
  const path = writeRaw(dir, '{}', Buffer.alloc(0), 1n << 40n);
  throwsLape(() => openCheckpoint(dir), path, 'header length', 'past the end');
});

test('safetensors header that is not JSON', () => {
  const dir = copyToTemp(LLAMA);
  const path = writeRaw(dir, '{"a": [1, 2', Buffer.alloc(16));
  throwsLape(() => openCheckpoint(dir), path, 'not valid JSON');
});

test('tensor byte range outside the file', () => {
  const dir = copyToTemp(LLAMA);
  const path = writeRaw(dir, JSON.stringify({ t: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }), Buffer.alloc(8));
  throwsLape(() => openCheckpoint(dir), path, '"t"', 'outside the data section');
});

test('overlapping tensor byte ranges', () => {
  const dir = copyToTemp(LLAMA);
  const header = JSON.stringify({
    a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
    b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
  });
  const path = writeRaw(dir, header, Buffer.alloc(24));
  throwsLape(() => openCheckpoint(dir), path, 'overlapping');
});

test('unknown dtype', () => {
  const dir = copyToTemp(LLAMA);
  const path = writeRaw(dir, JSON.stringify({ t: { dtype: 'Q4_K', shape: [4], data_offsets: [0, 16] } }), Buffer.alloc(16));
  throwsLape(() => openCheckpoint(dir), path, 'unknown dtype', 'Q4_K');
});

test('weight shape that disagrees with config.json', () => {
  const dir = copyToTemp(LLAMA);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  cfg.intermediate_size = 100;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  throwsLape(() => openCheckpoint(dir), 'model.safetensors', 'gate_proj', 'config.json implies');
  const r = runCli(['info', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /has shape \[96, 64\] but config\.json implies \[100, 64\]/);
});

test('unsupported architecture lists the supported ones', () => {
  const dir = copyToTemp(LLAMA);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  cfg.architectures = ['MambaForCausalLM'];
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  throwsLape(() => openCheckpoint(dir), 'config.json', 'MambaForCausalLM', 'LlamaForCausalLM', 'BloomForCausalLM', 'OPTForCausalLM', 'PhiForCausalLM', 'Gemma3ForCausalLM');
});

test('a safetensors file written by lape reads back, and a bad write leaves nothing behind', () => {
  const dir = tempDir();
  const path = join(dir, 'x.safetensors');
  writeFileSync(path, encodeSafetensors({ a: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } }, { k: 'v' }));
  const h = readSafetensorsHeader(path);
  assert.deepEqual(h.tensors.get('a')!.shape, [2]);
  assert.equal(h.metadata.k, 'v');
  assert.throws(() => encodeSafetensors({ a: { dtype: 'F32', shape: [3], data: new Float32Array([1, 2]) } }));
  assert.deepEqual(readdirSync(dir), ['x.safetensors']);
});

test('token ids outside the vocabulary and empty batches are refused', async () => {
  const model = loadModel(LLAMA, { threads: 1 });
  try {
    await assert.rejects(model.run({ ids: [[1, 2, 300]] }, { logits: 'last' }), (e: unknown) => {
      assert.ok(e instanceof LapeError);
      assert.match(e.message, /token id 300 at sequence 0, position 2 is outside the vocabulary \(size 300\)/);
      return true;
    });
    await assert.rejects(model.run({ ids: [] }, { logits: 'last' }), /empty batch/);
    await assert.rejects(model.run({ ids: [[]] }, { logits: 'last' }), /empty batch/);
    await assert.rejects(model.run({ ids: [[-1]] }, { logits: 'last' }), /outside the vocabulary/);
  } finally {
    await model.release();
  }
});

/**
 * GGUF checkpoints (test/fixtures/gguf, written by llama.cpp's gguf-py through
 * tools/make_gguf_fixtures.py from the HF fixtures): the same logits, hooks, counts and
 * log-likelihoods as Hugging Face's reference for the same weights; the tokenizer built from GGUF
 * metadata equal to the HF tokenizer.json on the corpus; bad files refused with clear messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../src/checkpoint/checkpoint.js';
import { readGgufHeader } from '../src/checkpoint/gguf.js';
import { loadModel } from '../src/runtime/model.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { LapeError } from '../src/errors.js';
import { repoPath } from './helpers/paths.js';
import { checkAgainstReference } from './helpers/reference-checks.js';
import { Reference, maxAbs, maxAbsDiff } from './helpers/reference.js';
import { copyToTemp, tempDir } from './helpers/tmp.js';

const gguf = (name: string): string => repoPath(`test/fixtures/gguf/${name}.gguf`);

/** GGUF F32 fixture → HF reference of the same weights. */
const REFERENCES: Record<string, string> = {
  'llama-gqa': 'test/fixtures/llama-gqa.ref.safetensors',
  'llama-bias': 'test/fixtures/hf/llama-bias.ref.safetensors',
  'qwen2-tied': 'test/fixtures/qwen2-tied.ref.safetensors',
  qwen3: 'test/fixtures/hf/qwen3.ref.safetensors',
  gpt2: 'test/fixtures/hf/gpt2.ref.safetensors',
  phi: 'test/fixtures/hf/phi.ref.safetensors',
  bloom: 'test/fixtures/hf/bloom.ref.safetensors',
  'gpt-neox': 'test/fixtures/hf/gpt-neox.ref.safetensors',
};

for (const [name, ref] of Object.entries(REFERENCES)) {
  test(`${name}.f32.gguf matches Hugging Face transformers on the same weights`, (t) =>
    checkAgainstReference(t, gguf(`${name}.f32`), repoPath(ref)));
}

/** Logits of a model on a reference file's rows, at valid positions. */
async function logitsOn(path: string, refPath: string): Promise<{ logits: Float32Array; keep: (i: number) => boolean }> {
  const ref = new Reference(repoPath(refPath));
  const ids = ref.rows('input_ids');
  const mask = ref.rows('attention_mask');
  const model = loadModel(path, { threads: 1 });
  try {
    const r = await model.run({ ids, mask }, { logits: 'all' });
    const V = model.spec.vocabSize;
    const T = ids[0]!.length;
    return { logits: r.logits!, keep: (i) => mask[Math.floor(i / V / T)]![Math.floor(i / V) % T] === 1 };
  } finally {
    await model.release();
  }
}

/**
 * Gemma 1/2 GGUF files cannot carry every HF setting: llama.cpp's converter writes no rope base
 * for them (llama.cpp then uses 10000) and Gemma 2's query_pre_attn_scalar is not stored
 * (llama.cpp scales by 1/√head_dim). The HF folder with exactly those values, run by lape (which
 * the arch reference tests hold to transformers), is the reference for the GGUF mapping
 * (norms stored as 1 + w, names, soft-caps, local/global layers).
 */
for (const [name, patch] of [['gemma', { rope_theta: 10000 }], ['gemma2', { rope_theta: 10000, query_pre_attn_scalar: 16 }]] as const) {
  test(`${name}.f32.gguf equals the HF folder with the settings GGUF keeps`, async () => {
    const dir = copyToTemp(repoPath(`test/fixtures/hf/${name}`));
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, ...patch }));
    const refPath = `test/fixtures/hf/${name}.ref.safetensors`;
    const a = await logitsOn(gguf(`${name}.f32`), refPath);
    const b = await logitsOn(dir, refPath);
    const err = maxAbsDiff(a.logits, b.logits, a.keep);
    assert.ok(err <= 1e-4 * maxAbs(b.logits, a.keep), `max error ${err}`);
  });
}

/**
 * F16 files hold each weight rounded to f16 (relative error ≤ 2^-11 ≈ 4.9e-4); on these 2-layer
 * models the logits then differ from the F32 reference by ≈ 1e-3 of their scale (measured:
 * llama-gqa 7.6e-4, qwen2-tied 4.5e-4, gpt2 5.5e-4). The bound 4e-3 leaves room, and is far below
 * what a wrong mapping gives (order 1).
 */
for (const name of ['llama-gqa', 'qwen2-tied', 'gpt2']) {
  test(`${name}.f16.gguf is within f16 rounding of the reference`, async (t) => {
    const refPath = REFERENCES[name]!;
    const got = await logitsOn(gguf(`${name}.f16`), refPath);
    const ref = new Reference(repoPath(refPath)).get('logits');
    const rel = maxAbsDiff(got.logits, ref, got.keep) / maxAbs(ref, got.keep);
    t.diagnostic(`${name}: max logit error / scale ${rel.toExponential(2)}`);
    assert.ok(rel <= 4e-3, `relative error ${rel}`);
    assert.deepEqual(openCheckpoint(gguf(`${name}.f16`)).dtypes.includes('F16'), true);
  });
}

test('quantised GGUF weights are refused at load, naming the type', () => {
  for (const type of ['q8_0', 'q4_0']) {
    assert.throws(() => openCheckpoint(gguf(`llama-gqa.${type}`)), (e: Error) =>
      e instanceof LapeError && e.message.includes(type.toUpperCase()) && /not run quantised GGUF weights yet/.test(e.message));
  }
});

test('GGUF spec: metadata mapped as llama.cpp reads it', () => {
  const llama = openCheckpoint(gguf('llama-gqa.f32'));
  assert.equal(llama.spec.arch, 'llama');
  assert.equal(llama.spec.architecture, 'GGUF llama');
  assert.equal(llama.format, 'gguf');
  assert.equal(llama.spec.layers[0]!.rope!.layout, 'pairs');
  assert.equal(llama.spec.layers[0]!.rope!.scaling.type, 'factors');
  assert.deepEqual([llama.spec.numHeads, llama.spec.numKvHeads, llama.spec.headDim, llama.spec.maxPositionEmbeddings], [4, 2, 16, 128]);
  assert.deepEqual([llama.spec.bosTokenId, llama.spec.eosTokenIds], [298, [299]]);
  assert.equal(llama.folder, repoPath('test/fixtures/gguf'));
  const qwen = openCheckpoint(gguf('qwen2-tied.f32'));
  assert.equal(qwen.spec.layers[0]!.rope!.layout, 'halves');
  assert.deepEqual(qwen.spec.layers[0]!.rope!.scaling, { type: 'linear', factor: 2 });
  assert.equal(qwen.spec.tieWordEmbeddings, true);
  const gemma2 = openCheckpoint(gguf('gemma2.f32'));
  assert.deepEqual(gemma2.spec.layers.map((l) => l.window), [6, null]);
  assert.equal(gemma2.spec.norm, 'rms');
  assert.deepEqual([gemma2.spec.attnSoftcap, gemma2.spec.finalSoftcap], [5, 3]);
  // Identity for resume/merge comes from metadata and tensor headers.
  assert.match(llama.identitySha256, /^[0-9a-f]{64}$/);
  assert.notEqual(llama.identitySha256, openCheckpoint(gguf('llama-gqa.f16')).identitySha256);
  assert.equal(llama.identitySha256, openCheckpoint(gguf('llama-gqa.f32')).identitySha256);
});

/** Lines of every language of the corpus sample. */
function corpusSample(perLanguage: number): string[] {
  const out: string[] = [];
  for (const lang of ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja']) {
    const lines = readFileSync(repoPath(`data/corpus/${lang}.valid.txt`), 'utf8').split('\n').filter((l) => l.trim());
    out.push(...lines.slice(0, perLanguage));
  }
  out.push('  leading spaces, tabs\tand\nnewlines  ', 'emoji 🚀🦙 and <s> special </s> text', '');
  return out;
}

for (const [ggufName, hfDir] of [
  ['tiny-multilingual.vocab', 'models/tiny-multilingual'],
  ['llama-gqa.f32', 'test/fixtures/llama-gqa'],
  ['gpt2.f32', 'test/fixtures/hf/gpt2'],
]) {
  test(`tokenizer from ${ggufName}.gguf equals the HF tokenizer.json on the multilingual corpus`, () => {
    const a = loadTokenizer(gguf(ggufName));
    const b = loadTokenizer(repoPath(hfDir));
    assert.equal(a.vocabSize, b.vocabSize);
    for (const text of corpusSample(40)) {
      for (const addSpecialTokens of [false, true]) {
        const ids = a.encode(text, { addSpecialTokens });
        assert.deepEqual(ids, b.encode(text, { addSpecialTokens }), JSON.stringify(text.slice(0, 60)));
        if (ids.length) assert.equal(a.decode(ids), b.decode(ids));
      }
    }
  });
}

/** A minimal GGUF v3 file: metadata of (key, type, bytes) and tensors of (name, dims, type, offset, data). */
function ggufBytes(opts: {
  magic?: string; version?: number; alignment?: number;
  kv?: Array<[string, number, Buffer]>;
  tensors?: Array<{ name: string; dims: number[]; type: number; offset: number }>;
  data?: Buffer;
}): Buffer {
  const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const u64 = (v: number): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  const str = (s: string): Buffer => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s)]);
  const kv = opts.kv ?? [];
  const tensors = opts.tensors ?? [];
  const parts = [Buffer.from(opts.magic ?? 'GGUF'), u32(opts.version ?? 3), u64(tensors.length), u64(kv.length)];
  for (const [k, type, value] of kv) parts.push(str(k), u32(type), value);
  for (const t of tensors) parts.push(str(t.name), u32(t.dims.length), ...t.dims.map(u64), u32(t.type), u64(t.offset));
  let head = Buffer.concat(parts);
  const align = opts.alignment ?? 32;
  head = Buffer.concat([head, Buffer.alloc((align - (head.length % align)) % align)]);
  return Buffer.concat([head, opts.data ?? Buffer.alloc(0)]);
}

test('bad GGUF files get clear errors', () => {
  const dir = tempDir();
  const write = (name: string, bytes: Buffer): string => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  const f32 = { name: 'w', dims: [4, 2], type: 0, offset: 0 };
  const ok = write('ok.gguf', ggufBytes({ tensors: [f32], data: Buffer.alloc(32) }));
  assert.equal(readGgufHeader(ok).tensors.get('w')!.shape.join(','), '2,4');
  const cases: Array<[string, Buffer, RegExp]> = [
    ['magic.gguf', ggufBytes({ magic: 'GGML', tensors: [f32], data: Buffer.alloc(32) }), /not a GGUF file: magic is "GGML"/],
    ['version.gguf', ggufBytes({ version: 1 }), /GGUF version 1 is not supported/],
    ['truncated-header.gguf', ggufBytes({ tensors: [f32], data: Buffer.alloc(32) }).subarray(0, 30), /file ends inside the header/],
    ['truncated-data.gguf', ggufBytes({ tensors: [f32], data: Buffer.alloc(16) }), /beyond the end of the file .*truncated/],
    ['type.gguf', ggufBytes({ tensors: [{ ...f32, type: 77 }], data: Buffer.alloc(32) }), /unknown ggml type 77/],
    ['align.gguf', ggufBytes({ tensors: [{ ...f32, offset: 4 }], data: Buffer.alloc(64) }), /offset 4 is not a multiple of the alignment 32/],
    ['block.gguf', ggufBytes({ tensors: [{ ...f32, type: 8 }], data: Buffer.alloc(64) }), /not a multiple of its block size 32/],
    ['overlap.gguf', ggufBytes({ tensors: [f32, { ...f32, name: 'v' }], data: Buffer.alloc(64) }), /overlapping data/],
    ['valuetype.gguf', ggufBytes({ kv: [['general.architecture', 99, Buffer.alloc(4)]] }), /unknown metadata value type 99/],
  ];
  for (const [name, bytes, re] of cases) {
    assert.throws(() => readGgufHeader(write(name, bytes)), (e: Error) => e instanceof LapeError && re.test(e.message), name);
  }
  const arch = (s: string): [string, number, Buffer] => ['general.architecture', 8, Buffer.concat([Buffer.from(new BigUint64Array([BigInt(s.length)]).buffer), Buffer.from(s)])];
  const mamba = write('mamba.gguf', ggufBytes({ kv: [arch('mamba')] }));
  assert.throws(() => openCheckpoint(mamba), /GGUF architecture "mamba" is not supported; supported: llama, qwen2/);
  const noKeys = write('llama.gguf', ggufBytes({ kv: [arch('llama')] }));
  assert.throws(() => openCheckpoint(noKeys), /llama\.(vocab_size|embedding_length)/);
  assert.throws(() => openCheckpoint(join(dir, 'missing.gguf')), /GGUF file does not exist/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { LapeError } from '../src/errors.js';
import { importTangMasks, importTangMasksFromBytes, parseTangFolder } from '../src/select/tang-import.js';
import { ZipArchive, crc32 } from '../src/select/zip.js';
import { languageTotals, layerCounts, uniqueNeuronCount } from '../src/select/masks.js';
import { loadMasks, saveMasks } from '../src/select/masks-io.js';

const refDir = new URL('../../test/fixtures/tang2024/', import.meta.url);
const llama7b = fileURLToPath(new URL('LLaMA-2-7B.neuron.pth', refDir));

import { P, MARK, TUPLE, EMPTY_LIST, APPENDS, archive, int64s, masksPickle, tensorPickle, zipBytes, type TensorSpec } from './helpers/torch-zip.js';

const isErr = (file: string, re: RegExp) => (e: unknown): boolean =>
  e instanceof LapeError && e.file === file && re.test(e.message);

// ---- the paper's released files ----

test('LLaMA-2-7B.neuron.pth: 3,523 unique neurons, per-language totals of the paper release', () => {
  assert.ok(existsSync(llama7b), `reference file ${llama7b} must exist`);
  const m = importTangMasks(llama7b);
  assert.equal(m.method, 'tang2024');
  assert.deepEqual(m.languages, ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja']);
  assert.equal(m.layers, 32);
  assert.equal(m.neurons, 11008);
  assert.equal(uniqueNeuronCount(m), 3523); // round(1 % of 32 × 11,008 = 3,522.56)
  assert.deepEqual(languageTotals(m), [95, 583, 1022, 838, 836, 1068, 582]);
  assert.equal(m.settings.modelName, 'Llama-2-7b-hf');
  assert.equal(m.settings.paperModel, 'LLaMA-2-7B');
  assert.equal(m.settings.topRate, 0.01);
  assert.equal(m.settings.filterRate, 0.95);
  assert.equal(m.settings.barRatio, 0.95);
  assert.equal(m.settings.largest, false);
  assert.equal(m.settings.detection, 'whether');
  assert.equal(m.settings.data, 'default');
  assert.equal(m.settings.source, 'LLaMA-2-7B.neuron.pth');
  // round trip through lape's own formats
  const dir = mkdtempSync(join(tmpdir(), 'lape-tang-'));
  try {
    saveMasks(join(dir, 'm.json'), m);
    saveMasks(join(dir, 'm.safetensors'), m);
    assert.deepEqual(loadMasks(join(dir, 'm.json')), m);
    assert.deepEqual(loadMasks(join(dir, 'm.safetensors')), m);
    assert.deepEqual(loadMasks(llama7b), m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every released file imports with the layer and FFN sizes of the README', () => {
  const expected: Record<string, [number, number, number]> = {
    'LLaMA-2-7B.neuron.pth': [32, 11008, 7],
    'LLaMA-2-13B.neuron.pth': [40, 13824, 7],
    'LLaMA-2-70B.neuron.pth': [80, 28672, 6],
    'BLOOM-7B.neuron.pth': [30, 16384, 6],
    'Mistral-7B.neuron.pth': [32, 14336, 6],
    'OPT-6.7B.neuron.pth': [32, 16384, 6],
    'Phi-2-2.7B.neuron.pth': [32, 10240, 6],
  };
  const files = readdirSync(refDir).filter((f) => f.endsWith('.pth')).sort();
  assert.deepEqual(files, Object.keys(expected).sort());
  for (const f of files) {
    const m = importTangMasks(fileURLToPath(new URL(f, refDir)));
    const [layers, neurons, langs] = expected[f]!;
    assert.equal(m.layers, layers, f);
    assert.equal(m.neurons, neurons, f);
    assert.equal(m.languages.length, langs, f);
    assert.equal(layerCounts(m)[0]!.length, layers, f);
    // every selected neuron belongs to at least one language: union = round(1 % of L × I)
    assert.equal(uniqueNeuronCount(m), Math.round(layers * neurons * 0.01), f);
  }
});

test('the folder name encodes the settings', () => {
  assert.deepEqual(parseTangFolder('llama-70b.whether.default.0.01.0.95.0.95.False'), {
    modelName: 'llama-70b', detection: 'whether', data: 'default', topRate: 0.01, filterRate: 0.95, barRatio: 0.95, largest: false,
  });
  assert.equal(parseTangFolder('Qwen1.5-7B.whether.default.0.05.0.9.0.8.True')?.modelName, 'Qwen1.5-7B');
  assert.equal(parseTangFolder('Qwen1.5-7B.whether.default.0.05.0.9.0.8.True')?.topRate, 0.05);
  assert.equal(parseTangFolder('archive'), undefined);
});

// ---- synthetic archives: strides, offsets, deflate, rejection ----

test('storage offset and stride are honoured; DEFLATE entries; unknown model → inferred size', () => {
  const pkl = masksPickle([
    [
      { key: '0', numel: 6, offset: 1, size: [3], stride: [2] },
      { key: '1', numel: 0, offset: 0, size: [0], stride: [1] },
    ],
    [
      { key: '0', numel: 6, offset: 3, size: [2], stride: [2] },
      { key: '2', numel: 2, offset: 0, size: [2], stride: [1] },
    ],
  ]);
  const storages = { '0': [9, 1, 9, 3, 9, 5], '1': [], '2': [4, 40] };
  for (const deflate of [false, true]) {
    const f = `synthetic-${deflate}.pth`;
    const m = importTangMasksFromBytes(archive('tiny.whether.default.0.01.0.95.0.95.False', pkl, storages, deflate), f, {
      languages: ['xx', 'yy'],
    });
    assert.deepEqual(m.masks, [[[1, 3, 5], []], [[3, 5], [4, 40]]]);
    assert.equal(m.layers, 2);
    assert.equal(m.neurons, 41);
    assert.equal(m.settings.neuronsInferred, true);
    assert.equal(m.settings.modelName, 'tiny');
    const m2 = importTangMasksFromBytes(archive('x', pkl, storages, deflate), f, { languages: ['xx', 'yy'], neurons: 64 });
    assert.equal(m2.neurons, 64);
    assert.equal(m2.settings.archiveFolder, 'x');
  }
  const f = 'two.pth';
  const bytes = archive('x', pkl, storages);
  assert.throws(() => importTangMasksFromBytes(bytes, f), isErr(f, /has 2 languages; pass the language codes/));
  assert.throws(() => importTangMasksFromBytes(bytes, f, { languages: ['a'] }), isErr(f, /2 languages but 1/));
  assert.throws(() => importTangMasksFromBytes(bytes, f, { languages: ['a', 'b'], neurons: 40 }), isErr(f, /too small/));
});

test('unsorted indices, views outside the storage and missing storages are rejected', () => {
  const f = 'bad.pth';
  const one = (spec: TensorSpec, storages: Record<string, number[]>): Buffer => archive('x', masksPickle([[spec]]), storages);
  const o = { languages: ['a'] };
  assert.throws(
    () => importTangMasksFromBytes(one({ key: '0', numel: 3, offset: 0, size: [3], stride: [1] }, { '0': [3, 1, 2] }), f, o),
    isErr(f, /strictly ascending/),
  );
  assert.throws(
    () => importTangMasksFromBytes(one({ key: '0', numel: 3, offset: 1, size: [3], stride: [1] }, { '0': [1, 2, 3] }), f, o),
    isErr(f, /reaches element 3 of a storage of 3/),
  );
  assert.throws(
    () => importTangMasksFromBytes(one({ key: '0', numel: 3, offset: 0, size: [3], stride: [1] }, { '0': [1, 2] }), f, o),
    isErr(f, /16 bytes, expected 3 int64/),
  );
  assert.throws(
    () => importTangMasksFromBytes(one({ key: '7', numel: 1, offset: 0, size: [1], stride: [1] }, { '0': [1] }), f, o),
    isErr(f, /storage "7" has no entry/),
  );
});

test('a tampered pickle is rejected: foreign globals, calls and opcodes', () => {
  const f = 'evil.pth';
  const o = { languages: ['a'] };
  const run = (pkl: Buffer): Buffer => archive('x', pkl, { '0': [1] });
  const spec: TensorSpec = { key: '0', numel: 1, offset: 0, size: [1], stride: [1] };
  // GLOBAL os.system, called with a shell command
  const evil = Buffer.concat([P.b(0x80, 2), P.global('os', 'system'), P.str('echo pwned'), P.b(0x85), P.b(0x52), P.b(0x2e)]);
  assert.throws(() => importTangMasksFromBytes(run(evil), f, o), isErr(f, /global os\.system is not allowed/));
  // the same smuggled inside an otherwise valid file, in place of the rebuild function
  assert.throws(
    () => importTangMasksFromBytes(run(masksPickle([[{ ...spec, rebuild: ['builtins', 'eval'] }]])), f, o),
    isErr(f, /global builtins\.eval/),
  );
  // another storage type
  assert.throws(
    () => importTangMasksFromBytes(run(masksPickle([[{ ...spec, storageType: ['torch', 'FloatStorage'] }]])), f, o),
    isErr(f, /torch\.FloatStorage/),
  );
  // an allowed global used as a callable it is not meant to be
  const callStorage = Buffer.concat([P.b(0x80, 2), P.global('torch', 'LongStorage'), P.b(0x29), P.b(0x52), P.b(0x2e)]);
  assert.throws(() => importTangMasksFromBytes(run(callStorage), f, o), isErr(f, /calling torch\.LongStorage is not allowed/));
  const odArgs = Buffer.concat([P.b(0x80, 2), P.global('collections', 'OrderedDict'), P.str('x'), P.b(0x85), P.b(0x52), P.b(0x2e)]);
  assert.throws(() => importTangMasksFromBytes(run(odArgs), f, o), isErr(f, /OrderedDict may only be called without arguments/));
  // opcodes outside the allowed set: STACK_GLOBAL, BUILD, INST, NEWOBJ
  const stackGlobal = Buffer.concat([P.b(0x80, 4), P.str('os'), P.str('system'), P.b(0x93), P.b(0x2e)]);
  assert.throws(() => importTangMasksFromBytes(run(stackGlobal), f, o), isErr(f, /opcode STACK_GLOBAL is not allowed/));
  const build = Buffer.concat([P.b(0x80, 2), P.b(0x5d), P.b(0x7d), P.b(0x62), P.b(0x2e)]);
  assert.throws(() => importTangMasksFromBytes(run(build), f, o), isErr(f, /opcode BUILD is not allowed/));
  const inst = Buffer.concat([P.b(0x80, 2), MARK, Buffer.from('ios\nsystem\n', 'latin1'), P.b(0x2e)]);
  assert.throws(() => importTangMasksFromBytes(run(inst), f, o), isErr(f, /opcode INST is not allowed/));
  // truncated pickle / no STOP
  assert.throws(() => importTangMasksFromBytes(run(P.b(0x80, 2, 0x5d)), f, o), isErr(f, /without STOP/));
  // a pickle that is not a list of lists of tensors
  assert.throws(() => importTangMasksFromBytes(run(P.b(0x80, 2, 0x4e, 0x2e)), f, o), isErr(f, /list of languages/));
});

test('tampering with the released file: a GLOBAL os.system in data.pkl is rejected', () => {
  const zip = new ZipArchive(readFileSync(llama7b), llama7b);
  const entries = zip.names().map((name) => ({ name, data: zip.read(name) }));
  const pkl = entries.find((e) => e.name.endsWith('/data.pkl'))!;
  const from = Buffer.from('ctorch._utils\n_rebuild_tensor_v2\n', 'latin1');
  const to = Buffer.from('cos\nsystem\n', 'latin1');
  const at = pkl.data.indexOf(from);
  assert.ok(at > 0);
  pkl.data = Buffer.concat([pkl.data.subarray(0, at), to, pkl.data.subarray(at + from.length)]);
  const dir = mkdtempSync(join(tmpdir(), 'lape-tang-'));
  try {
    const p = join(dir, 'tampered.neuron.pth');
    writeFileSync(p, zipBytes(entries));
    assert.throws(() => importTangMasks(p), isErr(p, /global os\.system is not allowed/));
    // an untampered rewrite (deflated) still imports identically
    const q = join(dir, 'rewritten.neuron.pth');
    const orig = new ZipArchive(readFileSync(llama7b), llama7b);
    writeFileSync(q, zipBytes(orig.names().map((name) => ({ name, data: orig.read(name), deflate: true }))));
    assert.deepEqual(importTangMasks(q).masks, importTangMasks(llama7b).masks);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('broken archives: truncation, CRC mismatch, not a zip, missing file', () => {
  const good = readFileSync(llama7b);
  const f = 'broken.pth';
  assert.throws(() => importTangMasksFromBytes(good.subarray(0, good.length - 30), f), isErr(f, /ZIP/));
  const flipped = Buffer.from(good);
  const zip = new ZipArchive(good, f);
  const e = zip.entries.get(zip.names().find((n) => n.endsWith('/data/0'))!)!;
  const dataStart = e.localHeaderOffset + 30 + good.readUInt16LE(e.localHeaderOffset + 26) + good.readUInt16LE(e.localHeaderOffset + 28);
  flipped[dataStart] = flipped[dataStart]! ^ 0xff;
  assert.throws(() => importTangMasksFromBytes(flipped, f), isErr(f, /CRC-32/));
  assert.throws(() => importTangMasksFromBytes(Buffer.from('hello'), f), isErr(f, /not a readable ZIP/));
  assert.throws(() => importTangMasks('/nonexistent/x.pth'), isErr('/nonexistent/x.pth', /ENOENT/));
  assert.throws(() => importTangMasksFromBytes(zipBytes([{ name: 'a.txt', data: Buffer.from('x') }]), f), isErr(f, /data\.pkl/));
});

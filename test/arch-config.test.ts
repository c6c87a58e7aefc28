/**
 * Architecture entries as data: config.json of both transformers generations → the same spec,
 * HF class defaults for absent keys, impossible values and unsupported variants refused, and every
 * stored tensor used or deliberately ignored (an unexpected or missing one is named).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { specFromConfig } from '../src/archs/index.js';
import { openCheckpoint } from '../src/checkpoint/checkpoint.js';
import { encodeSafetensors, readSafetensorsHeader, readTensorF32 } from '../src/checkpoint/safetensors.js';
import { LapeError } from '../src/errors.js';
import { repoPath } from './helpers/paths.js';
import { copyToTemp } from './helpers/tmp.js';
import { runCli } from './helpers/cli.js';

const HF = repoPath('test/fixtures/hf');
const fixtures = readdirSync(HF).filter((d) => existsSync(join(HF, d, 'config.json')));

function config(name: string, file = 'config.json'): Record<string, unknown> {
  return JSON.parse(readFileSync(join(HF, name, file), 'utf8')) as Record<string, unknown>;
}

function refuses(cfg: Record<string, unknown>, ...fragments: string[]): void {
  assert.throws(() => specFromConfig(cfg, 'config.json'), (e: unknown) => {
    assert.ok(e instanceof LapeError, `expected LapeError, got ${e}`);
    for (const f of ['config.json', ...fragments]) assert.ok(e.message.includes(f), `message "${e.message}" lacks "${f}"`);
    return true;
  });
}

test('every family fixture is present', () => {
  for (const f of ['llama-bias', 'qwen3', 'gemma', 'gemma2', 'gemma3', 'gemma3-mm', 'phi', 'gpt-neox', 'gpt2', 'gpt2-noprefix', 'opt', 'bloom']) {
    assert.ok(fixtures.includes(f), `test/fixtures/hf/${f} is missing`);
  }
});

test('config.json written by transformers 5 gives the same spec as by transformers 4', () => {
  for (const name of fixtures) {
    const v5 = join(HF, name, 'config.v5.json');
    assert.ok(existsSync(v5), `${name}: config.v5.json is missing`);
    assert.deepEqual(specFromConfig(config(name, 'config.v5.json'), v5).spec, specFromConfig(config(name), 'config.json').spec, name);
  }
});

test('absent keys take the HF config class defaults of that family', () => {
  const drop = (name: string, ...keys: string[]) => {
    const c = config(name);
    for (const k of keys) delete c[k];
    return specFromConfig(c, 'config.json').spec;
  };
  assert.equal(drop('gemma3', 'rope_theta').layers.at(-1)!.rope!.theta, 1e6); // not Llama's 10000
  assert.equal(drop('gemma3', 'rope_local_base_freq').layers[0]!.rope!.theta, 10000);
  assert.equal(drop('gpt2', 'tie_word_embeddings').tieWordEmbeddings, true);
  assert.equal(drop('phi', 'tie_word_embeddings').tieWordEmbeddings, false);
  assert.equal(drop('gpt2', 'activation_function').activation, 'gelu_tanh');
  assert.equal(drop('opt', 'activation_function').activation, 'relu');
  assert.equal(drop('gpt-neox', 'hidden_act').activation, 'gelu');
  assert.equal(drop('gemma2', 'attn_logit_softcapping').attnSoftcap, 50);
  assert.equal(drop('gemma3', 'attn_logit_softcapping').attnSoftcap, null);
  // Gemma 1's released configs say hidden_act "gelu" for the tanh approximation (transformers 5's reading).
  const gemmaAct = (extra: Record<string, unknown>) => specFromConfig({ ...config('gemma'), hidden_activation: null, ...extra }, 'config.json').spec.activation;
  assert.equal(gemmaAct({ hidden_act: 'gelu' }), 'gelu_tanh');
  assert.equal(gemmaAct({ hidden_act: 'gelu', hidden_activation: 'gelu' }), 'gelu');
  const bloom = specFromConfig(config('bloom'), 'config.json').spec;
  assert.equal(bloom.activation, 'gelu_tanh'); // BloomGelu, although config.json names no activation
  assert.equal(bloom.positions, 'alibi');
});

test('impossible values are refused, naming config.json and the key', () => {
  const withKey = (name: string, key: string, value: unknown) => ({ ...config(name), [key]: value });
  refuses(withKey('llama-bias', 'hidden_size', 0), 'hidden_size', 'positive integer');
  refuses(withKey('llama-bias', 'num_hidden_layers', -2), 'num_hidden_layers');
  refuses(withKey('llama-bias', 'rope_theta', -5), 'rope_theta', '> 0');
  refuses(withKey('qwen3', 'num_key_value_heads', 3), 'not a multiple');
  refuses(withKey('gpt2', 'n_head', 5), 'head size');
  refuses(withKey('phi', 'layer_norm_eps', 0), 'layer_norm_eps');
  refuses(withKey('phi', 'hidden_act', 'mish'), 'activation "mish" is not supported');
  refuses(withKey('llama-bias', 'rope_scaling', { rope_type: 'yarn', factor: 4 }), 'yarn', 'not supported');
  refuses(withKey('gemma2', 'layer_types', ['sliding_attention']), 'layer_types');
  refuses(withKey('gemma2', 'sliding_window', 0), 'sliding_window');
});

test('variants lape does not implement are refused by name', () => {
  const withKey = (name: string, key: string, value: unknown) => ({ ...config(name), [key]: value });
  refuses(withKey('opt', 'do_layer_norm_before', false), 'do_layer_norm_before', 'opt-350m');
  refuses(withKey('opt', 'word_embed_proj_dim', 32), 'word_embed_proj_dim', 'project_in');
  refuses(withKey('bloom', 'apply_residual_connection_post_layernorm', true), 'apply_residual_connection_post_layernorm');
  refuses(withKey('gemma3', 'use_bidirectional_attention', true), 'use_bidirectional_attention');
  const mm = config('gemma3-mm');
  delete mm.text_config;
  refuses(mm, 'text_config');
});

/** Rewrites a copied F32 fixture's model.safetensors after editing its tensor list. */
function editTensors(dir: string, edit: (t: Map<string, { shape: number[]; data: Float32Array }>) => void): void {
  const path = join(dir, 'model.safetensors');
  const header = readSafetensorsHeader(path);
  const tensors = new Map([...header.tensors.keys()].map((n) => [n, { shape: header.tensors.get(n)!.shape, data: readTensorF32(header, n) }]));
  edit(tensors);
  writeFileSync(path, encodeSafetensors(Object.fromEntries([...tensors].map(([n, t]) => [n, { dtype: 'F32' as const, ...t }]))));
}

function openFails(dir: string, ...fragments: string[]): void {
  assert.throws(() => openCheckpoint(dir), (e: unknown) => {
    assert.ok(e instanceof LapeError, `expected LapeError, got ${e}`);
    for (const f of ['model.safetensors', ...fragments]) assert.ok(e.message.includes(f), `message "${e.message}" lacks "${f}"`);
    return true;
  });
}

test('an unexpected tensor is an error that names it', () => {
  const dir = copyToTemp(join(HF, 'llama-bias'));
  editTensors(dir, (t) => t.set('model.layers.0.mlp.extra_proj.weight', { shape: [4], data: new Float32Array(4) }));
  openFails(dir, 'unexpected tensor "model.layers.0.mlp.extra_proj.weight"');
});

test('a missing tensor is an error that names it', () => {
  const dir = copyToTemp(join(HF, 'llama-bias'));
  editTensors(dir, (t) => t.delete('model.layers.1.self_attn.o_proj.bias'));
  openFails(dir, '"model.layers.1.self_attn.o_proj.bias" is missing', 'declares this bias');
});

test('biases follow config.json: an undeclared bias is not silently dropped', () => {
  const dir = copyToTemp(join(HF, 'llama-bias'));
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...c, mlp_bias: false }));
  openFails(dir, 'unexpected tensor', 'mlp.', '.bias');
});

test('stored buffers and other modalities are ignored by name, and only those', () => {
  const mm = openCheckpoint(join(HF, 'gemma3-mm'));
  assert.ok(mm.tensors.ignored.length > 0 && mm.tensors.ignored.every((n) => /vision_tower|multi_modal_projector/.test(n)));
  for (const name of fixtures) {
    const ck = openCheckpoint(join(HF, name));
    assert.equal(ck.tensors.shapes.size + ck.tensors.ignored.length, ck.weights.size, `${name}: every tensor used or ignored`);
  }
});

test('lape info shows the structural choices', () => {
  const r = runCli(['info', join(HF, 'bloom')]);
  assert.equal(r.code, 0, r.stderr);
  for (const s of ['BloomForCausalLM', 'LayerNorm', 'ALiBi', 'fused-per-head', 'GELU (tanh)', 'embedding LayerNorm']) {
    assert.ok(r.stdout.includes(s), `info lacks "${s}":\n${r.stdout}`);
  }
});

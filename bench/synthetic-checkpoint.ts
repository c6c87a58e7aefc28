/**
 * A synthetic Hugging Face checkpoint with random f32 or bf16 weights, written streaming: the
 * safetensors header first, then each tensor generated chunk by chunk into one reused buffer and
 * written at its offset, so a 2 GB (or 13 GB) model never sits in one JavaScript buffer.
 *
 * Two families: Qwen2 (the default; one model.safetensors, tied embeddings, q/k/v biases) and Llama
 * (`family: 'llama'`, e.g. LLAMA2_7B: no biases, untied lm_head, written as Hugging Face shards
 * `model-0000i-of-0000n.safetensors` + `model.safetensors.index.json`, split as save_pretrained's
 * default max_shard_size "5GB" splits them).
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface SyntheticShape {
  vocab: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  /** 'qwen2' (default): Qwen2ForCausalLM, tied, q/k/v biases; 'llama': LlamaForCausalLM, untied, no biases. */
  family?: 'qwen2' | 'llama';
}

/** Qwen2.5-0.5B's shape (tied embeddings, q/k/v biases). */
export const QWEN25_05B: SyntheticShape = {
  vocab: 151936,
  hidden: 896,
  intermediate: 4864,
  layers: 24,
  heads: 14,
  kvHeads: 2,
};

/** LLaMA-2-7B's shape (meta-llama/Llama-2-7b-hf): 6.74 B parameters, 12.55 GiB as bf16. */
export const LLAMA2_7B: SyntheticShape = {
  vocab: 32000,
  hidden: 4096,
  intermediate: 11008,
  layers: 32,
  heads: 32,
  kvHeads: 32,
  family: 'llama',
};

/** save_pretrained's default max_shard_size ("5GB" = 5·10⁹ bytes). */
export const HF_MAX_SHARD_BYTES = 5_000_000_000;

interface PlannedTensor {
  name: string;
  shape: number[];
  /** 'one' for norm weights (HF init), 'random' otherwise. */
  init: 'one' | 'random';
}

export function qwen2Config(s: SyntheticShape): Record<string, unknown> {
  return {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    attention_dropout: 0.0,
    bos_token_id: 151643,
    eos_token_id: 151643,
    hidden_act: 'silu',
    hidden_size: s.hidden,
    initializer_range: 0.02,
    intermediate_size: s.intermediate,
    max_position_embeddings: 32768,
    max_window_layers: s.layers,
    num_attention_heads: s.heads,
    num_hidden_layers: s.layers,
    num_key_value_heads: s.kvHeads,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    sliding_window: 32768,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    use_cache: true,
    use_sliding_window: false,
    vocab_size: s.vocab,
  };
}

/** A float that Python's json writes with a decimal point or exponent (1e-05, 10000.0, 0.0). */
class PyFloat {
  constructor(readonly text: string) {}
}

/**
 * JSON as transformers' save_pretrained writes config.json: keys sorted, indent 2, floats as
 * Python prints them (PyFloat), a trailing newline.
 */
function pythonJson(v: Record<string, unknown>): string {
  const floats: string[] = [];
  const sorted = Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const text = JSON.stringify(sorted, (_k, x: unknown) => (x instanceof PyFloat ? `@@pyfloat${floats.push(x.text) - 1}@@` : x), 2);
  return text.replace(/"@@pyfloat(\d+)@@"/g, (_m, i: string) => floats[Number(i)]!) + '\n';
}

/**
 * LLaMA-2-7B's config.json as transformers (4.46) writes it for meta-llama/Llama-2-7b-hf, with
 * this shape's sizes: untied lm_head, no biases, rope_theta 10000, rms_norm_eps 1e-05, 4096
 * positions.
 */
export function llamaConfig(s: SyntheticShape, dtype: 'F32' | 'BF16' = 'BF16'): Record<string, unknown> {
  return {
    _name_or_path: 'meta-llama/Llama-2-7b-hf',
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: new PyFloat('0.0'),
    bos_token_id: 1,
    eos_token_id: 2,
    head_dim: s.hidden / s.heads,
    hidden_act: 'silu',
    hidden_size: s.hidden,
    initializer_range: new PyFloat('0.02'),
    intermediate_size: s.intermediate,
    max_position_embeddings: 4096,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: s.heads,
    num_hidden_layers: s.layers,
    num_key_value_heads: s.kvHeads,
    pretraining_tp: 1,
    rms_norm_eps: new PyFloat('1e-05'),
    rope_scaling: null,
    rope_theta: new PyFloat('10000.0'),
    tie_word_embeddings: false,
    torch_dtype: dtype === 'F32' ? 'float32' : 'bfloat16',
    transformers_version: '4.46.0',
    use_cache: true,
    vocab_size: s.vocab,
  };
}

/** Llama tensors in the model's state_dict order (the order save_pretrained fills the shards in). */
function llamaPlan(s: SyntheticShape): PlannedTensor[] {
  const hd = s.hidden / s.heads;
  const q = s.heads * hd;
  const kv = s.kvHeads * hd;
  const t: PlannedTensor[] = [{ name: 'model.embed_tokens.weight', shape: [s.vocab, s.hidden], init: 'random' }];
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}`;
    t.push(
      { name: `${p}.self_attn.q_proj.weight`, shape: [q, s.hidden], init: 'random' },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, s.hidden], init: 'random' },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, s.hidden], init: 'random' },
      { name: `${p}.self_attn.o_proj.weight`, shape: [s.hidden, q], init: 'random' },
      { name: `${p}.mlp.gate_proj.weight`, shape: [s.intermediate, s.hidden], init: 'random' },
      { name: `${p}.mlp.up_proj.weight`, shape: [s.intermediate, s.hidden], init: 'random' },
      { name: `${p}.mlp.down_proj.weight`, shape: [s.hidden, s.intermediate], init: 'random' },
      { name: `${p}.input_layernorm.weight`, shape: [s.hidden], init: 'one' },
      { name: `${p}.post_attention_layernorm.weight`, shape: [s.hidden], init: 'one' },
    );
  }
  t.push({ name: 'model.norm.weight', shape: [s.hidden], init: 'one' }, { name: 'lm_head.weight', shape: [s.vocab, s.hidden], init: 'random' });
  return t;
}

function plan(s: SyntheticShape): PlannedTensor[] {
  if (s.family === 'llama') return llamaPlan(s);
  const hd = s.hidden / s.heads;
  const q = s.heads * hd;
  const kv = s.kvHeads * hd;
  const t: PlannedTensor[] = [{ name: 'model.embed_tokens.weight', shape: [s.vocab, s.hidden], init: 'random' }];
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}`;
    t.push(
      { name: `${p}.input_layernorm.weight`, shape: [s.hidden], init: 'one' },
      { name: `${p}.self_attn.q_proj.weight`, shape: [q, s.hidden], init: 'random' },
      { name: `${p}.self_attn.q_proj.bias`, shape: [q], init: 'random' },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, s.hidden], init: 'random' },
      { name: `${p}.self_attn.k_proj.bias`, shape: [kv], init: 'random' },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, s.hidden], init: 'random' },
      { name: `${p}.self_attn.v_proj.bias`, shape: [kv], init: 'random' },
      { name: `${p}.self_attn.o_proj.weight`, shape: [s.hidden, q], init: 'random' },
      { name: `${p}.post_attention_layernorm.weight`, shape: [s.hidden], init: 'one' },
      { name: `${p}.mlp.gate_proj.weight`, shape: [s.intermediate, s.hidden], init: 'random' },
      { name: `${p}.mlp.up_proj.weight`, shape: [s.intermediate, s.hidden], init: 'random' },
      { name: `${p}.mlp.down_proj.weight`, shape: [s.hidden, s.intermediate], init: 'random' },
    );
  }
  t.push({ name: 'model.norm.weight', shape: [s.hidden], init: 'one' });
  return t;
}

/** xorshift32 → uniform on [-a, a) with a = std·√3 (so the standard deviation is `std`). */
function fillUniform(out: Float32Array, n: number, state: { s: number }, std: number): void {
  const a = std * Math.sqrt(3);
  const k = (2 * a) / 4294967296;
  let s = state.s;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) * k - a;
  }
  state.s = s;
}

export interface WrittenCheckpoint {
  dir: string;
  /** Tensor bytes (the index's metadata.total_size). */
  weightBytes: number;
  tensors: number;
  /** The safetensors files written, relative to dir. */
  files: string[];
  /** Bytes of those files (headers included). */
  fileBytes: number;
}

/** Bytes the checkpoint of `s` will take on disk (tensor data; headers add a few hundred KiB). */
export function syntheticCheckpointBytes(s: SyntheticShape, dtype: 'F32' | 'BF16' = 'F32'): number {
  return plan(s).reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0) * (dtype === 'F32' ? 4 : 2);
}

/** f32 → bf16 by round-to-nearest-even (as torch does). */
function toBf16(src: Float32Array, n: number, out: Uint16Array): void {
  const u = new Uint32Array(src.buffer, src.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const x = u[i]!;
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
}

/**
 * Writes config.json and the weights (random of standard deviation `std`, norm weights 1; f32 or
 * bf16) into `dir`: one model.safetensors, or, for the Llama family (or when `maxShardBytes` is
 * given), Hugging Face shards filled in state_dict order up to `maxShardBytes` each (default 5·10⁹,
 * save_pretrained's) with model.safetensors.index.json (metadata.total_size, weight_map sorted by
 * name). Inside a file tensors are sorted by name, as the safetensors library writes them.
 * Memory: one 16 MiB chunk buffer, whatever the model size.
 */
export function writeSyntheticCheckpoint(
  dir: string,
  s: SyntheticShape,
  opts: { seed?: number; std?: number; dtype?: 'F32' | 'BF16'; maxShardBytes?: number; onProgress?: (bytesDone: number, bytesTotal: number) => void } = {},
): WrittenCheckpoint {
  const dtype = opts.dtype ?? 'F32';
  const elemBytes = dtype === 'F32' ? 4 : 2;
  const std = opts.std ?? 0.02;
  const state = { s: (opts.seed ?? 1234) | 0 || 1 };
  const llama = s.family === 'llama';
  mkdirSync(dir, { recursive: true });
  if (llama) writeFileSync(join(dir, 'config.json'), pythonJson(llamaConfig(s, dtype)));
  else writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...qwen2Config(s), torch_dtype: dtype === 'F32' ? 'float32' : 'bfloat16' }, null, 2) + '\n');

  const tensors = plan(s);
  const numel = (t: PlannedTensor): number => t.shape.reduce((a, b) => a * b, 1);
  const sharded = llama || opts.maxShardBytes !== undefined;
  const maxShard = opts.maxShardBytes ?? HF_MAX_SHARD_BYTES;
  // Shards as transformers' split_torch_state_dict_into_shards fills them: in order, a new shard
  // when the next tensor would take the current one past the limit.
  const shards: PlannedTensor[][] = [];
  if (!sharded) shards.push(tensors);
  else {
    let cur: PlannedTensor[] = [];
    let size = 0;
    for (const t of tensors) {
      const b = numel(t) * elemBytes;
      if (cur.length && size + b > maxShard) {
        shards.push(cur);
        cur = [];
        size = 0;
      }
      cur.push(t);
      size += b;
    }
    if (cur.length) shards.push(cur);
  }
  const pad = (n: number): string => String(n).padStart(5, '0');
  const fileNames = sharded ? shards.map((_, i) => `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`) : ['model.safetensors'];
  const totalBytes = tensors.reduce((a, t) => a + numel(t) * elemBytes, 0);

  const CHUNK = 4 << 20; // floats (16 MiB)
  const chunk = new Float32Array(CHUNK);
  const chunkBytes = new Uint8Array(chunk.buffer);
  const half = new Uint16Array(CHUNK);
  const halfBytes = new Uint8Array(half.buffer);
  let fileBytes = 0;
  let done = 0;
  const weightMap: Record<string, string> = {};
  for (const [si, shardTensors] of shards.entries()) {
    // Shards take tensors in state_dict order; within a file they are laid out by name (as the
    // safetensors library sorts them) and generated in that file order.
    const inFile = sharded ? [...shardTensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) : shardTensors;
    const header: Record<string, unknown> = {
      __metadata__: sharded ? { format: 'pt' } : { format: 'pt', lape: 'synthetic benchmark checkpoint' },
    };
    let offset = 0;
    for (const t of inFile) {
      const bytes = numel(t) * elemBytes;
      header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
      offset += bytes;
      weightMap[t.name] = fileNames[si]!;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
    const headerBuf = Buffer.alloc(8 + Buffer.byteLength(json));
    headerBuf.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
    headerBuf.write(json, 8, 'utf8');

    const fd = openSync(join(dir, fileNames[si]!), 'w');
    try {
      let pos = 0;
      const writeAll = (buf: Uint8Array, len: number): void => {
        let w = 0;
        while (w < len) w += writeSync(fd, buf, w, len - w, pos + w);
        pos += len;
      };
      writeAll(headerBuf, headerBuf.byteLength);
      for (const t of inFile) {
        let left = numel(t);
        while (left > 0) {
          const n = Math.min(left, CHUNK);
          if (t.init === 'one') chunk.fill(1, 0, n);
          else fillUniform(chunk, n, state, std);
          if (dtype === 'F32') writeAll(chunkBytes, n * 4);
          else {
            toBf16(chunk, n, half);
            writeAll(halfBytes, n * 2);
          }
          left -= n;
          done += n * elemBytes;
          opts.onProgress?.(done, totalBytes);
        }
      }
      fileBytes += pos;
    } finally {
      closeSync(fd);
    }
  }
  if (sharded) {
    const sortedMap = Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: sortedMap }, null, 2) + '\n');
  }
  return { dir, weightBytes: totalBytes, tensors: tensors.length, files: fileNames, fileBytes };
}

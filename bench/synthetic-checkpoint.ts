/**
 * A synthetic Hugging Face checkpoint with random f32 weights, written streaming: the safetensors
 * header first, then each tensor generated chunk by chunk into one reused buffer and written at its
 * offset, so a 2 GB model never sits in one JavaScript buffer.
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

function plan(s: SyntheticShape): PlannedTensor[] {
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
  weightBytes: number;
  tensors: number;
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
 * Writes config.json and model.safetensors (random weights of standard deviation `std`, norm
 * weights 1; f32 or bf16) into `dir`. Memory: one 16 MiB chunk buffer, whatever the model size.
 */
export function writeSyntheticCheckpoint(
  dir: string,
  s: SyntheticShape,
  opts: { seed?: number; std?: number; dtype?: 'F32' | 'BF16' } = {},
): WrittenCheckpoint {
  const dtype = opts.dtype ?? 'F32';
  const elemBytes = dtype === 'F32' ? 4 : 2;
  const std = opts.std ?? 0.02;
  const state = { s: (opts.seed ?? 1234) | 0 || 1 };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...qwen2Config(s), torch_dtype: dtype === 'F32' ? 'float32' : 'bfloat16' }, null, 2) + '\n');

  const tensors = plan(s);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', lape: 'synthetic benchmark checkpoint' } };
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * elemBytes;
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBuf = Buffer.alloc(8 + Buffer.byteLength(json));
  headerBuf.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
  headerBuf.write(json, 8, 'utf8');

  const CHUNK = 4 << 20; // floats (16 MiB)
  const chunk = new Float32Array(CHUNK);
  const chunkBytes = new Uint8Array(chunk.buffer);
  const half = new Uint16Array(CHUNK);
  const halfBytes = new Uint8Array(half.buffer);
  const fd = openSync(join(dir, 'model.safetensors'), 'w');
  try {
    let pos = 0;
    const writeAll = (buf: Uint8Array, len: number): void => {
      let done = 0;
      while (done < len) done += writeSync(fd, buf, done, len - done, pos + done);
      pos += len;
    };
    writeAll(headerBuf, headerBuf.byteLength);
    for (const t of tensors) {
      let left = t.shape.reduce((a, b) => a * b, 1);
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
      }
    }
  } finally {
    closeSync(fd);
  }
  return { dir, weightBytes: offset, tensors: tensors.length };
}

#!/work/venv-hf/bin/python
"""GGUF fixtures written by llama.cpp's own writer (the `gguf` package, llama.cpp's gguf-py 0.19).

Run:  OMP_NUM_THREADS=1 /work/venv-hf/bin/python tools/make_gguf_fixtures.py

Converts some of the tiny Hugging Face fixtures (test/fixtures/NAME/, test/fixtures/hf/NAME/) to
GGUF the way llama.cpp's convert_hf_to_gguf.py lays them out, and writes reference vectors for the
block formats. Outputs (deterministic: fixed seeds, no timestamps):

  test/fixtures/gguf/NAME.TYPE.gguf   TYPE = f32 | f16 | q8_0 | q4_0
  test/fixtures/gguf/tiny-multilingual.vocab.gguf   the embedded model's tokenizer only (vocab-only GGUF)
  test/fixtures/gguf/kquant.mixed.gguf, kquant.f32.gguf
      a random one-layer llama-architecture model (hidden 256, FFN 256: K-quant rows are 256-element
      super-blocks) whose projections are Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q4_1, Q5_0, Q5_1 blocks
      (random valid blocks, small scales) and token_embd Q8_0, output Q5_0; the twin holds the same
      values decoded by gguf-py's `dequantize`, as F32.
  test/fixtures/gguf/quant-blocks.gguf
      per block type T in Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, Q2_K, Q3_K:
      `T.q` (the blocks, type T, shape [rows, cols]) and `T.ref` (F32, the same values decoded by
      gguf-py's `gguf.quants.dequantize`) and, for the types gguf-py can quantise, `T.src` (F32,
      the matrix before quantisation, for measuring the quantisation error).

What follows llama.cpp's converter (conversion/*.py as of 2025; read, not copied):
* metadata keys through GGUFWriter's own add_* helpers: block_count, context_length,
  embedding_length, feed_forward_length, attention.head_count(_kv), key/value_length when the
  config has head_dim, rope.freq_base, rope.dimension_count (Llama, Phi-2, NeoX), norm eps,
  rope.scaling.type/factor for linear scaling, softcaps and sliding_window (Gemma 2/3),
  use_parallel_residual (NeoX), vocab_size (Llama);
* tensor names through gguf-py's TensorNameMap (token_embd, blk.N.attn_q, ffn_gate, ...);
* Llama: q/k weight rows (and biases) permuted per head, `LlamaModel.permute`: the halves layout
  of HF's rotate_half becomes the interleaved pairs llama.cpp's rope expects; llama3 rope scaling
  becomes the `rope_freqs` tensor (one divisor per frequency);
* Gemma 1-3: every `*norm.weight` stored as 1 + w; lm_head dropped (tied);
* GPT-2: Conv1D weights transposed to [out, in]; attn.bias buffers dropped;
* BLOOM, GPT-NeoX: the per-head fused q/k/v rows regrouped to [q | k | v];
* tensor types: 1-D tensors and norms F32; 2-D weights in the chosen type; a 2-D weight whose row
  length is not a multiple of the block size falls back to F16 (as the converter does);
* tokenizer: `gpt2` model, tokens in id order with types (CONTROL for special added tokens), merges,
  BOS/EOS ids and add_bos_token through gguf.SpecialVocab.
Deviations, stated: the fixtures' byte-level BPE has no pre-tokenizer hash known to llama.cpp,
so `tokenizer.ggml.pre` is set to "gpt-2" (its regex is the one the fixtures' ByteLevel uses);
for GPT-2 and Phi the converter writes feed_forward_length = 4 * n_embd whatever the config
says, which for these fixtures (n_inner = intermediate_size = 2 * n_embd) would be a file
llama.cpp itself rejects, so the real size is written. Q4_0 comes from gguf-py's quantiser
(llama.cpp's llama-quantize is not in Python); every 2-D weight is Q4_0 there.
"""
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

import gguf
from gguf import GGMLQuantizationType as QT

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / 'test' / 'fixtures'
OUT = FIX / 'gguf'

# name, source folder, llama.cpp architecture, output types
SOURCES = [
    ('llama-gqa', FIX / 'llama-gqa', 'llama', ['f32', 'f16', 'q8_0', 'q4_0']),
    ('llama-bias', FIX / 'hf' / 'llama-bias', 'llama', ['f32']),
    ('qwen2-tied', FIX / 'qwen2-tied', 'qwen2', ['f32', 'f16', 'q8_0']),
    ('qwen3', FIX / 'hf' / 'qwen3', 'qwen3', ['f32']),
    ('gpt2', FIX / 'hf' / 'gpt2', 'gpt2', ['f32', 'f16', 'q8_0', 'q4_0']),
    ('phi', FIX / 'hf' / 'phi', 'phi2', ['f32']),
    ('bloom', FIX / 'hf' / 'bloom', 'bloom', ['f32']),
    ('gpt-neox', FIX / 'hf' / 'gpt-neox', 'gptneox', ['f32']),
    ('gemma', FIX / 'hf' / 'gemma', 'gemma', ['f32']),
    ('gemma2', FIX / 'hf' / 'gemma2', 'gemma2', ['f32']),
]

QTYPES = {'f32': QT.F32, 'f16': QT.F16, 'q8_0': QT.Q8_0, 'q4_0': QT.Q4_0}
FILE_TYPE = {'f32': gguf.LlamaFileType.ALL_F32, 'f16': gguf.LlamaFileType.MOSTLY_F16,
             'q8_0': gguf.LlamaFileType.MOSTLY_Q8_0, 'q4_0': gguf.LlamaFileType.MOSTLY_Q4_0}
ARCH = {a: e for e, a in gguf.MODEL_ARCH_NAMES.items()}


def load_state(src: Path) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for f in sorted(src.glob('*.safetensors')):
        state.update(load_file(str(f)))
    return {k: v.float() for k, v in state.items()}


def permute(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """llama.cpp's LlamaModel.permute: per head, rows (half, i) -> (i, half)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def per_head_to_fused(w: torch.Tensor, n_head: int, n_embd: int) -> torch.Tensor:
    """BLOOM / NeoX converter: [head][q,k,v] rows -> [q | k | v]."""
    if w.ndim == 2:
        r = w.reshape(n_head, 3, n_embd // n_head, n_embd)
        return torch.cat([r[:, i].reshape(-1, n_embd) for i in range(3)], dim=0)
    r = w.reshape(n_head, 3, n_embd // n_head)
    return torch.cat([r[:, i].reshape(n_embd) for i in range(3)], dim=0)


def llama3_rope_freqs(c: dict) -> torch.Tensor:
    """LlamaModel.generate_extra_tensors: one divisor per rotary frequency."""
    rs = c['rope_scaling']
    base = c.get('rope_theta', 10000.0)
    dim = c.get('head_dim') or c['hidden_size'] // c['num_attention_heads']
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor, low, high, old = rs['factor'], rs.get('low_freq_factor', 1.0), rs.get('high_freq_factor', 4.0), rs['original_max_position_embeddings']
    low_wl, high_wl = old / low, old / high
    out = []
    for freq in freqs:
        wl = 2 * np.pi / freq
        if wl < high_wl:
            out.append(1)
        elif wl > low_wl:
            out.append(factor)
        else:
            smooth = (old / wl - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(out, dtype=torch.float32)


def convert_tensors(arch: str, c: dict, state: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    n_layer = c.get('num_hidden_layers') or c.get('n_layer')
    tmap = gguf.get_tensor_name_map(ARCH[arch], n_layer)
    out: list[tuple[str, torch.Tensor]] = []
    n_head = c.get('num_attention_heads') or c.get('n_head')
    n_embd = c.get('hidden_size') or c.get('n_embd')
    for name, t in state.items():
        if arch == 'gpt2' and name.endswith(('.attn.bias', '.attn.masked_bias')):
            continue
        if arch.startswith('gemma') and name == 'lm_head.weight':
            continue
        if arch == 'llama':
            if name.endswith(('q_proj.weight', 'q_proj.bias')):
                t = permute(t, n_head)
            if name.endswith(('k_proj.weight', 'k_proj.bias')):
                t = permute(t, c.get('num_key_value_heads', n_head))
        if arch.startswith('gemma') and name.endswith('norm.weight'):
            t = t + 1
        if arch == 'gpt2' and name.endswith(('.c_attn.weight', '.c_proj.weight', '.c_fc.weight')):
            t = t.transpose(1, 0)
        if arch in ('bloom', 'gptneox') and ('query_key_value' in name):
            t = per_head_to_fused(t, n_head, n_embd)
        key = name.removeprefix('transformer.') if arch == 'bloom' else name
        new = tmap.get_name(key, try_suffixes=('.weight', '.bias'))
        if new is None:
            raise ValueError(f'cannot map {name}')
        out.append((new, t.contiguous()))
    if arch == 'llama' and (c.get('rope_scaling') or {}).get('rope_type') == 'llama3':
        out.insert(0, ('rope_freqs.weight', llama3_rope_freqs(c)))
    return out


def write_params(w: gguf.GGUFWriter, arch: str, c: dict, ftype: str) -> None:
    g = lambda *keys, default=None: next((c[k] for k in keys if c.get(k) is not None), default)  # noqa: E731
    n_embd = g('hidden_size', 'n_embd')
    n_head = g('num_attention_heads', 'n_head')
    n_layer = g('num_hidden_layers', 'n_layer')
    w.add_block_count(n_layer)
    if arch == 'bloom':
        w.add_context_length(g('seq_length', default=n_embd))
    elif arch in ('gpt2', 'phi2'):
        w.add_context_length(g('n_ctx', 'n_positions', 'max_position_embeddings'))
    else:
        w.add_context_length(g('max_position_embeddings'))
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(g('intermediate_size', 'n_inner', default=4 * n_embd))
    w.add_head_count(n_head)
    if arch in ('bloom', 'phi2'):
        w.add_head_count_kv(n_head)
    elif c.get('num_key_value_heads') is not None:
        w.add_head_count_kv(c['num_key_value_heads'])
    elif arch.startswith('gemma'):
        w.add_head_count_kv(n_head)
    if arch in ('llama', 'qwen2', 'qwen3', 'gemma3') and c.get('rope_theta') is not None:
        w.add_rope_freq_base(c['rope_theta'])
    if arch == 'phi2':
        w.add_rope_freq_base(c.get('rope_theta', 10000.0))
    if arch == 'gptneox':
        w.add_rope_freq_base(g('rotary_emb_base', 'rope_theta', default=10000))
    if c.get('rms_norm_eps') is not None:
        w.add_layer_norm_rms_eps(c['rms_norm_eps'])
    eps = g('layer_norm_eps', 'layer_norm_epsilon')
    if eps is not None:
        w.add_layer_norm_eps(eps)
    if c.get('head_dim') is not None and arch != 'phi2':
        w.add_key_length(c['head_dim'])
        w.add_value_length(c['head_dim'])
    if arch == 'llama':
        w.add_vocab_size(c['vocab_size'])
        w.add_rope_dimension_count(c.get('head_dim') or n_embd // n_head)
    rs = c.get('rope_scaling') or {}
    if rs.get('rope_type', rs.get('type')) == 'linear':
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(rs['factor'])
    if arch == 'phi2':
        w.add_rope_dimension_count(int(c.get('partial_rotary_factor', 0.5) * n_embd) // n_head)
        w.add_add_bos_token(False)
    if arch == 'gptneox':
        w.add_rope_dimension_count(int(c['rotary_pct'] * (n_embd // n_head)))
        w.add_parallel_residual(c.get('use_parallel_residual', True))
    if arch == 'gemma2':
        w.add_attn_logit_softcapping(c['attn_logit_softcapping'])
        w.add_final_logit_softcapping(c['final_logit_softcapping'])
        w.add_sliding_window(c['sliding_window'])
    w.add_file_type(FILE_TYPE[ftype])


def write_vocab(w: gguf.GGUFWriter, src: Path, c: dict) -> None:
    tj = json.loads((src / 'tokenizer.json').read_text())
    vocab = dict(tj['model']['vocab'])
    special = {a['id'] for a in tj.get('added_tokens', []) if a.get('special')}
    for a in tj.get('added_tokens', []):
        vocab[a['content']] = a['id']
    rev = {i: t for t, i in vocab.items()}
    n = c.get('vocab_size', len(rev))
    tokens, types = [], []
    for i in range(n):
        if i not in rev:
            tokens.append(f'[PAD{i}]')
            types.append(gguf.TokenType.UNUSED)
        else:
            tokens.append(rev[i])
            types.append(gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL)
    w.add_tokenizer_model('gpt2')
    w.add_tokenizer_pre('gpt-2')
    w.add_token_list(tokens)
    w.add_token_types(types)
    gguf.SpecialVocab(src, load_merges=True).add_to_gguf(w, quiet=True)


def tensor_data(name: str, t: torch.Tensor, qtype: QT) -> tuple[np.ndarray, QT]:
    a = t.numpy().astype(np.float32)
    if a.ndim <= 1 or name.endswith('_norm.weight') or name == 'rope_freqs.weight':
        return a, QT.F32
    if qtype == QT.F32:
        return a, QT.F32
    if qtype == QT.F16:
        return a.astype(np.float16), QT.F16
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    if a.shape[-1] % block != 0:
        return a.astype(np.float16), QT.F16
    return gguf.quants.quantize(a, qtype), qtype


def write_model(name: str, src: Path, arch: str, ftype: str) -> None:
    c = json.loads((src / 'config.json').read_text())
    state = load_state(src)
    path = OUT / f'{name}.{ftype}.gguf'
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(name)
    write_params(w, arch, c, ftype)
    write_vocab(w, src, c)
    for tname, t in convert_tensors(arch, c, state):
        data, qt = tensor_data(tname, t, QTYPES[ftype])
        w.add_tensor(tname, data, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f'{path.relative_to(ROOT)}  {path.stat().st_size} bytes')


def write_vocab_only(name: str, src: Path, arch: str) -> None:
    """A vocabulary-only GGUF (llama.cpp's --vocab-only): metadata and tokenizer, no tensors."""
    c = json.loads((src / 'config.json').read_text())
    path = OUT / f'{name}.vocab.gguf'
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(name)
    write_vocab(w, src, c)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    print(f'{path.relative_to(ROOT)}  {path.stat().st_size} bytes')


def random_blocks(qtype: QT, rows: int, cols: int, rng: np.random.Generator, scale: float = 0.01) -> np.ndarray:
    """Random K-quant blocks with finite, moderate f16 super-block scales (gguf-py cannot quantise K-quants)."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(rows, cols // block, size), dtype=np.uint8)
    # Offsets of the f16 fields (ggml's block_qK_K structs): Q2_K d, dmin at 80; Q3_K d at 108;
    # Q4_K d, dmin at 0; Q5_K d, dmin at 0; Q6_K d at 208.
    f16_fields = {QT.Q2_K: [80, 82], QT.Q3_K: [108], QT.Q4_K: [0, 2], QT.Q5_K: [0, 2], QT.Q6_K: [208]}[qtype]
    for off in f16_fields:
        vals = (rng.standard_normal((rows, cols // block)) * scale).astype(np.float16)
        raw[:, :, off:off + 2] = vals.view(np.uint8).reshape(rows, cols // block, 2)
    return raw.reshape(rows, cols // block * size)


def write_blocks() -> None:
    rng = np.random.default_rng(1234)
    path = OUT / 'quant-blocks.gguf'
    w = gguf.GGUFWriter(str(path), 'llama')
    rows, cols = 6, 512
    for qtype in [QT.Q8_0, QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1]:
        src = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
        src[0, :32] = 0  # an all-zero block (scale 0)
        src[1, 32:64] *= 40  # a block with large values
        q = gguf.quants.quantize(src, qtype)
        w.add_tensor(f'{qtype.name}.src', src)
        w.add_tensor(f'{qtype.name}.q', q, raw_dtype=qtype)
        w.add_tensor(f'{qtype.name}.ref', gguf.quants.dequantize(q, qtype).astype(np.float32))
    for qtype in [QT.Q2_K, QT.Q3_K, QT.Q4_K, QT.Q5_K, QT.Q6_K]:
        q = random_blocks(qtype, rows, cols, rng)
        w.add_tensor(f'{qtype.name}.q', q, raw_dtype=qtype)
        w.add_tensor(f'{qtype.name}.ref', gguf.quants.dequantize(q, qtype).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f'{path.relative_to(ROOT)}  {path.stat().st_size} bytes')


# Per layer: the block types of q, k, v, o, gate, up, down; with token_embd Q8_0 and output Q5_0
# every decoded type appears once (one layer keeps the F32 twin at 2.2 MB).
KQUANT_TYPES = [
    [QT.Q4_K, QT.Q5_K, QT.Q3_K, QT.Q2_K, QT.Q4_1, QT.Q5_1, QT.Q6_K],
]


def write_kquant() -> None:
    """A random model with K-quant (and other) blocks, and its decoded F32 twin."""
    rng = np.random.default_rng(4321)
    src = FIX / 'llama-gqa'
    c = json.loads((src / 'config.json').read_text())
    c.update(hidden_size=256, intermediate_size=256, num_attention_heads=4, num_key_value_heads=2, head_dim=64,
             num_hidden_layers=len(KQUANT_TYPES), rope_scaling=None)
    H, I, V, kv = 256, 256, c['vocab_size'], 2 * 64

    def blocks(qtype: QT, rows: int, cols: int) -> np.ndarray:
        if qtype in (QT.Q8_0, QT.Q4_1, QT.Q5_0, QT.Q5_1):
            return gguf.quants.quantize((rng.standard_normal((rows, cols)) * 0.06).astype(np.float32), qtype)
        raw = random_blocks(qtype, rows, cols, rng, scale=3e-4)
        return raw

    tensors: list[tuple[str, np.ndarray, QT]] = [
        ('token_embd.weight', blocks(QT.Q8_0, V, H), QT.Q8_0),
        ('output_norm.weight', (1 + 0.1 * rng.standard_normal(H)).astype(np.float32), QT.F32),
        ('output.weight', blocks(QT.Q5_0, V, H), QT.Q5_0),
    ]
    shapes = {'attn_q': (H, H), 'attn_k': (kv, H), 'attn_v': (kv, H), 'attn_output': (H, H),
              'ffn_gate': (I, H), 'ffn_up': (I, H), 'ffn_down': (H, I)}
    for i, types in enumerate(KQUANT_TYPES):
        tensors.append((f'blk.{i}.attn_norm.weight', (1 + 0.1 * rng.standard_normal(H)).astype(np.float32), QT.F32))
        tensors.append((f'blk.{i}.ffn_norm.weight', (1 + 0.1 * rng.standard_normal(H)).astype(np.float32), QT.F32))
        for (role, (rows, cols)), qt in zip(shapes.items(), types):
            tensors.append((f'blk.{i}.{role}.weight', blocks(qt, rows, cols), qt))
    for kind in ('mixed', 'f32'):
        path = OUT / f'kquant.{kind}.gguf'
        w = gguf.GGUFWriter(str(path), 'llama')
        w.add_name('kquant')
        write_params(w, 'llama', c, 'f32')
        write_vocab(w, src, c)
        for name, data, qt in tensors:
            if kind == 'f32' and qt != QT.F32:
                w.add_tensor(name, gguf.quants.dequantize(data, qt).astype(np.float32))
            else:
                w.add_tensor(name, data, raw_dtype=qt)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        print(f'{path.relative_to(ROOT)}  {path.stat().st_size} bytes')


def main() -> None:
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    only = set(sys.argv[1:])
    for name, src, arch, types in SOURCES:
        if only and name not in only:
            continue
        if not src.is_dir():
            print(f'skip {name}: {src} missing', file=sys.stderr)
            continue
        for t in types:
            write_model(name, src, arch, t)
    if not only or 'blocks' in only:
        write_blocks()
    if not only or 'kquant' in only:
        write_kquant()
    if not only or 'tiny-multilingual' in only:
        write_vocab_only('tiny-multilingual', ROOT / 'models' / 'tiny-multilingual', 'llama')


if __name__ == '__main__':
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    main()

#!/usr/bin/python3
"""Tiny random-weight Hugging Face checkpoints + an independent PyTorch reference.

Run:  OMP_NUM_THREADS=1 /usr/bin/python3 tools/make_fixtures.py

Writes, for each fixture NAME (see FIXTURES below):
  test/fixtures/NAME/          a checkpoint in real HF layout: config.json, generation_config.json,
                               model.safetensors (or two shards + model.safetensors.index.json),
                               tokenizer.json, tokenizer_config.json
  test/fixtures/NAME.ref.safetensors
                               reference tensors computed by the plain-torch forward in this file
                               (f32 compute; f16/bf16 weights are upcast, the stored rounded values
                               are the truth). See tools/README.md for the tensor list.

Only torch and numpy are used (no transformers, no safetensors package): the safetensors format,
the BPE tokenizer files and the model forward are all written here. The output is deterministic
(fixed seeds, single thread, no timestamps): rerunning gives byte-identical files.

Semantics verified against huggingface/transformers source (read via the code search tool):

* Sliding window (Mistral): src/transformers/masking_utils.py, `sliding_window_overlay` is
  `kv_idx > q_idx - sliding_window`, AND-ed with `causal_mask_function` (`kv_idx <= q_idx`);
  the older modeling_mistral.py `_prepare_4d_causal_attention_mask_with_cache_position` masks
  `arange(target) <= cache_position - sliding_window` on top of `arange(target) > cache_position`,
  which is the same rule. So: query i sees key j  iff  j <= i and i - j < W  (W keys, itself
  included).
* llama3 RoPE: src/transformers/modeling_rope_utils.py `_compute_llama3_parameters`:
  inv_freq = 1 / base**(arange(0, d, 2)/d) (f32); wavelen = 2*pi/inv_freq;
  low_wl = old_ctx/low_freq_factor, high_wl = old_ctx/high_freq_factor;
  wavelen > low_wl -> inv_freq/factor; wavelen < high_wl -> unchanged; otherwise
  s = (old_ctx/wavelen - low_freq_factor)/(high_freq_factor - low_freq_factor) and
  inv = (1 - s) * inv_freq/factor + s * inv_freq. attention_factor stays 1.
* linear RoPE (`_compute_linear_scaling_rope_parameters`): inv_freq / factor; "type" is the
  backwards-compatible spelling of "rope_type".
* RoPE application: rotate_half convention (first half / second half, NOT interleaved):
  emb = cat(freqs, freqs); q' = q*cos + rotate_half(q)*sin, rotate_half(x) = cat(-x2, x1).
* RMSNorm: w * (x * rsqrt(mean(x^2) + eps)); MLP: down(silu(gate(x)) * up(x)); GQA repeats each
  kv head n_heads/n_kv times consecutively (repeat_kv); scores scaled by head_dim**-0.5.
"""

import hashlib
import json
import math
import os
import re
import shutil
import struct
import sys

import numpy as np
import torch

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "test", "fixtures")
TRANSFORMERS_VERSION = "4.46.0"  # the config.json layout written below is the one of this release

SLIDING_WINDOW_RULE = "query i sees key j iff j <= i and i - j < sliding_window (HF masking_utils.sliding_window_overlay: kv_idx > q_idx - W, plus causal kv_idx <= q_idx)"
PATCH_RULE = ("patches act on hook_act = silu(gate) before the multiplication by up_proj, at every valid token, "
              "in every layer at once (patch_idx.{i}/patch_val.{i}): zero -> 0, set -> v, add -> act + v, scale -> act * v")

BATCH, SEQ = 3, 20
VALID_LENS = [20, 15, 11]  # row 1: last 5 are padding, row 2: last 9
BORDERLINE_TOL = 1e-4

# --------------------------------------------------------------------------------------------
# safetensors writer
# --------------------------------------------------------------------------------------------

_ST_DTYPE = {
    torch.float32: ("F32", "<f4"),
    torch.float64: ("F64", "<f8"),
    torch.float16: ("F16", "<f2"),
    torch.int64: ("I64", "<i8"),
    torch.bfloat16: ("BF16", None),
}


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    code, npdt = _ST_DTYPE[t.dtype]
    if t.dtype == torch.bfloat16:
        raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
    else:
        raw = t.numpy().astype(npdt).tobytes()
    return code, raw


def write_safetensors(path, tensors, metadata):
    """tensors: dict name -> torch tensor. Data is laid out in sorted-name order."""
    header = {"__metadata__": dict(metadata)}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        code, raw = tensor_bytes(t)
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    return offset  # total tensor bytes


def write_json(path, obj, sort_keys=True):
    # HF writes config.json with json.dumps(indent=2, sort_keys=True) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------------------------
# byte-level BPE tokenizer (GPT-2 style), trained here on a fixed text
# --------------------------------------------------------------------------------------------

def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character map."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    mapping = {}
    extra = 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


TRAIN_TEXT = (
    "The language model reads the text and the neurons in the feed forward layers respond. "
    "Some of these neurons are specific to one language: they fire on the French text, "
    "on the Spanish text, or on the English text, and they stay quiet on the others. "
    "Le modèle de langue lit le texte et les neurones répondent. "
    "El modelo de lenguaje lee el texto y las neuronas responden. "
    "Then the entropy of the activation probability over the languages tells which neurons are "
    "language specific, and deactivating them changes the perplexity of that language. "
)
NUM_MERGES = 42
# pre-tokenisation used only to learn merges (ASCII/Latin approximation of GPT-2's regex)
_PRETOK = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+")


def train_bpe():
    b2u = bytes_to_unicode()
    words = {}
    for w in _PRETOK.findall(TRAIN_TEXT):
        sym = tuple(b2u[b] for b in w.encode("utf-8"))
        words[sym] = words.get(sym, 0) + 1
    merges = []
    for _ in range(NUM_MERGES):
        pairs = {}
        for sym, n in words.items():
            for a, b in zip(sym, sym[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))  # most frequent, ties: smallest pair
        merges.append(best)
        new_words = {}
        for sym, n in words.items():
            out = []
            i = 0
            while i < len(sym):
                if i + 1 < len(sym) and (sym[i], sym[i + 1]) == best:
                    out.append(sym[i] + sym[i + 1])
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + n
        words = new_words
    vocab = {b2u[b]: b for b in range(256)}  # id of a byte token = the byte value
    for a, b in merges:
        vocab[a + b] = len(vocab)
    assert len(vocab) == 256 + len(merges)
    return vocab, merges


def write_tokenizer(dirpath, tok):
    vocab, merges, bos_id, eos_id = tok["vocab"], tok["merges"], tok["bos_id"], tok["eos_id"]

    def added(i, content):
        return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True}

    tokenizer_json = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(bos_id, "<s>"), added(eos_id, "</s>")],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [bos_id], "tokens": ["<s>"]}},
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": vocab,
            "merges": [[a, b] for a, b in merges],
        },
    }
    with open(os.path.join(dirpath, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(tokenizer_json, indent=2, ensure_ascii=False) + "\n")

    def dec(content):
        return {"content": content, "lstrip": False, "normalized": False, "rstrip": False,
                "single_word": False, "special": True}

    tokenizer_config = {
        "added_tokens_decoder": {str(bos_id): dec("<s>"), str(eos_id): dec("</s>")},
        "bos_token": "<s>",
        "clean_up_tokenization_spaces": False,
        "eos_token": "</s>",
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 2048,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    write_json(os.path.join(dirpath, "tokenizer_config.json"), tokenizer_config)


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------

FIXTURES = [
    {
        "name": "llama-gqa", "arch": "llama", "seed": 1001, "dtype": torch.float32,
        "layers": 2, "hidden": 64, "heads": 4, "kv_heads": 2, "inter": 96,
        "rope_theta": 10000.0, "eps": 1e-5, "max_pos": 128, "tie": False, "sliding_window": None,
        # original_max_position_embeddings = 32 (not 16): with head_dim 16 and theta 1e4 the
        # wavelengths are 6.28, 19.9, 62.8, ... so 32 puts one frequency in each llama3 branch
        # (kept < 8, smoothed in [8, 32], divided > 32); 16 would leave the "kept" branch untested.
        "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 32, "rope_type": "llama3"},
        "qkv_bias": False, "shards": 1,
    },
    {
        "name": "mistral-swa", "arch": "mistral", "seed": 2002, "dtype": torch.float16,
        "layers": 2, "hidden": 64, "heads": 4, "kv_heads": 1, "inter": 128,
        "rope_theta": 1000000.0, "eps": 1e-5, "max_pos": 2048, "tie": False, "sliding_window": 6,
        "rope_scaling": None, "qkv_bias": False, "shards": 1,
    },
    {
        "name": "qwen2-tied", "arch": "qwen2", "seed": 3003, "dtype": torch.float32,
        "layers": 2, "hidden": 64, "heads": 4, "kv_heads": 2, "inter": 112,
        "rope_theta": 1000000.0, "eps": 1e-6, "max_pos": 4096, "tie": True, "sliding_window": None,
        "rope_scaling": {"factor": 2.0, "type": "linear"}, "qkv_bias": True, "shards": 1,
    },
    {
        "name": "qwen2-bf16-sharded", "arch": "qwen2", "seed": 4004, "dtype": torch.bfloat16,
        "layers": 2, "hidden": 64, "heads": 4, "kv_heads": 2, "inter": 112,
        "rope_theta": 1000000.0, "eps": 1e-6, "max_pos": 4096, "tie": False, "sliding_window": None,
        "rope_scaling": None, "qkv_bias": True, "shards": 2,
    },
]

_DTYPE_NAME = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def hf_config(fx, vocab_size, bos_id, eos_id):
    head_dim = fx["hidden"] // fx["heads"]
    common = {
        "attention_dropout": 0.0,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "hidden_act": "silu",
        "hidden_size": fx["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": fx["inter"],
        "max_position_embeddings": fx["max_pos"],
        "num_attention_heads": fx["heads"],
        "num_hidden_layers": fx["layers"],
        "num_key_value_heads": fx["kv_heads"],
        "rms_norm_eps": fx["eps"],
        "rope_theta": fx["rope_theta"],
        "tie_word_embeddings": fx["tie"],
        "torch_dtype": _DTYPE_NAME[fx["dtype"]],
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": vocab_size,
    }
    if fx["arch"] == "llama":
        common.update({
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False,
            "mlp_bias": False, "head_dim": head_dim, "pretraining_tp": 1, "rope_scaling": fx["rope_scaling"],
        })
    elif fx["arch"] == "mistral":
        common.update({
            "architectures": ["MistralForCausalLM"], "model_type": "mistral", "head_dim": head_dim,
            "sliding_window": fx["sliding_window"],
        })
    elif fx["arch"] == "qwen2":
        # Qwen2 releases carry a large sliding_window with use_sliding_window false: it must be ignored.
        common.update({
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "rope_scaling": fx["rope_scaling"],
            "sliding_window": 32768, "use_sliding_window": False, "max_window_layers": fx["layers"],
        })
    return common


def make_weights(fx, vocab_size, gen):
    """HF state dict in module order; [out, in] layout; rounded to the checkpoint dtype."""
    H, I, nh, nkv = fx["hidden"], fx["inter"], fx["heads"], fx["kv_heads"]
    hd = H // nh

    def normal(shape, std):
        return torch.randn(*shape, generator=gen, dtype=torch.float32) * std

    def norm_w(n):
        return 1.0 + 0.1 * torch.randn(n, generator=gen, dtype=torch.float32)

    w = {}
    w["model.embed_tokens.weight"] = normal((vocab_size, H), 0.5)
    for i in range(fx["layers"]):
        p = f"model.layers.{i}."
        w[p + "self_attn.q_proj.weight"] = normal((nh * hd, H), 0.15)
        if fx["qkv_bias"]:
            w[p + "self_attn.q_proj.bias"] = normal((nh * hd,), 0.1)
        w[p + "self_attn.k_proj.weight"] = normal((nkv * hd, H), 0.15)
        if fx["qkv_bias"]:
            w[p + "self_attn.k_proj.bias"] = normal((nkv * hd,), 0.1)
        w[p + "self_attn.v_proj.weight"] = normal((nkv * hd, H), 0.1)
        if fx["qkv_bias"]:
            w[p + "self_attn.v_proj.bias"] = normal((nkv * hd,), 0.1)
        w[p + "self_attn.o_proj.weight"] = normal((H, nh * hd), 0.1)
        w[p + "mlp.gate_proj.weight"] = normal((I, H), 0.1)
        w[p + "mlp.up_proj.weight"] = normal((I, H), 0.1)
        w[p + "mlp.down_proj.weight"] = normal((H, I), 0.1)
        w[p + "input_layernorm.weight"] = norm_w(H)
        w[p + "post_attention_layernorm.weight"] = norm_w(H)
    w["model.norm.weight"] = norm_w(H)
    if not fx["tie"]:
        w["lm_head.weight"] = normal((vocab_size, H), 0.2)
    return {k: v.to(fx["dtype"]) for k, v in w.items()}


def write_checkpoint(dirpath, fx, weights):
    meta = {"format": "pt"}
    if fx["shards"] == 1:
        write_safetensors(os.path.join(dirpath, "model.safetensors"), weights, meta)
        return
    # Shard like save_pretrained: walk the state dict in module order and start the next shard
    # once the current one holds at least its share of the bytes.
    names = list(weights)
    sizes = [weights[n].numel() * weights[n].element_size() for n in names]
    total = sum(sizes)
    n = fx["shards"]
    shards, cur, cur_size = [], [], 0
    for name, size in zip(names, sizes):
        if cur and cur_size + size > total / n and len(shards) < n - 1:
            shards.append(cur)
            cur, cur_size = [], 0
        cur.append(name)
        cur_size += size
    shards.append(cur)
    assert len(shards) == n
    weight_map = {}
    for k, shard in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-{n:05d}.safetensors"
        write_safetensors(os.path.join(dirpath, fname), {nm: weights[nm] for nm in shard}, meta)
        for nm in shard:
            weight_map[nm] = fname
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    write_json(os.path.join(dirpath, "model.safetensors.index.json"), index)


# --------------------------------------------------------------------------------------------
# reference forward (plain torch, f32)
# --------------------------------------------------------------------------------------------

def rope_inv_freq(cfg):
    """inv_freq [head_dim/2] in f32, as HF's ROPE_INIT_FUNCTIONS compute it."""
    dim = cfg["head_dim"]
    base = cfg["rope_theta"]
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    rs = cfg.get("rope_scaling")
    if rs is None:
        return inv
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "linear":
        return inv / rs["factor"]
    if kind == "llama3":
        factor = rs["factor"]
        lo, hi = rs["low_freq_factor"], rs["high_freq_factor"]
        old_ctx = rs["original_max_position_embeddings"]
        low_wl, high_wl = old_ctx / lo, old_ctx / hi
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wl, inv / factor, inv)
        s = (old_ctx / wavelen - lo) / (hi - lo)
        smooth = (1 - s) * scaled / factor + s * scaled
        medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
        return torch.where(medium, smooth, scaled)
    raise ValueError(f"rope type {kind} not handled")


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rms_norm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def forward(W, cfg, ids, patch=None):
    """One sequence (1-D ids, positions 0..n-1). W: f32 weights. patch: (mode, {layer: (idx, val)}).
    Returns logits [n, V], hook_pre / hook_act / resid_post lists of [n, *]."""
    n = ids.shape[0]
    H, nh, nkv, hd = cfg["hidden"], cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
    eps = cfg["eps"]
    pos = torch.arange(n, dtype=torch.int64).float()
    freqs = pos[:, None] * cfg["inv_freq"][None, :]  # [n, hd/2]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()

    i_idx = torch.arange(n)[:, None]
    j_idx = torch.arange(n)[None, :]
    visible = j_idx <= i_idx
    if cfg["sliding_window"] is not None:
        visible = visible & (i_idx - j_idx < cfg["sliding_window"])

    x = W["model.embed_tokens.weight"][ids]
    pres, acts, resids = [], [], []
    for L in range(cfg["layers"]):
        p = f"model.layers.{L}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = torch.nn.functional.linear(h, W[p + "self_attn.q_proj.weight"], W.get(p + "self_attn.q_proj.bias"))
        k = torch.nn.functional.linear(h, W[p + "self_attn.k_proj.weight"], W.get(p + "self_attn.k_proj.bias"))
        v = torch.nn.functional.linear(h, W[p + "self_attn.v_proj.weight"], W.get(p + "self_attn.v_proj.bias"))
        q = q.view(n, nh, hd).transpose(0, 1)   # [nh, n, hd]
        k = k.view(n, nkv, hd).transpose(0, 1)  # [nkv, n, hd]
        v = v.view(n, nkv, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = nh // nkv
        k = k.repeat_interleave(rep, dim=0)  # head h uses kv head h // rep
        v = v.repeat_interleave(rep, dim=0)
        scores = torch.matmul(q, k.transpose(1, 2)) * (hd ** -0.5)
        scores = scores.masked_fill(~visible, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        a = torch.matmul(probs, v).transpose(0, 1).reshape(n, nh * hd)
        x = x + torch.nn.functional.linear(a, W[p + "self_attn.o_proj.weight"])

        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.linear(h, W[p + "mlp.gate_proj.weight"])
        up = torch.nn.functional.linear(h, W[p + "mlp.up_proj.weight"])
        act = torch.nn.functional.silu(gate)
        pres.append(gate)
        acts.append(act)
        if patch is not None:
            mode, per_layer = patch
            idx, val = per_layer[L]
            act = act.clone()
            if mode == "zero":
                act[:, idx] = 0.0
            elif mode == "set":
                act[:, idx] = val[None, :].expand(n, -1)
            elif mode == "add":
                act[:, idx] = act[:, idx] + val[None, :]
            elif mode == "scale":
                act[:, idx] = act[:, idx] * val[None, :]
            else:
                raise ValueError(mode)
        x = x + torch.nn.functional.linear(act * up, W[p + "mlp.down_proj.weight"])
        resids.append(x)

    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie"] else W["lm_head.weight"]
    logits = torch.nn.functional.linear(x, head)
    return logits, pres, acts, resids


def build_reference(fx, weights, vocab_size, gen):
    W = {k: v.to(torch.float32) for k, v in weights.items()}  # stored (rounded) values are the truth
    cfg = {
        "hidden": fx["hidden"], "heads": fx["heads"], "kv_heads": fx["kv_heads"],
        "head_dim": fx["hidden"] // fx["heads"], "eps": fx["eps"], "layers": fx["layers"],
        "rope_theta": fx["rope_theta"], "rope_scaling": fx["rope_scaling"],
        "sliding_window": fx["sliding_window"], "tie": fx["tie"],
    }
    cfg["inv_freq"] = rope_inv_freq(cfg)
    L, I, H, V = fx["layers"], fx["inter"], fx["hidden"], vocab_size

    input_ids = torch.randint(0, V, (BATCH, SEQ), generator=gen, dtype=torch.int64)
    attention_mask = torch.zeros(BATCH, SEQ, dtype=torch.int64)
    for b, n in enumerate(VALID_LENS):
        attention_mask[b, :n] = 1

    patch_idx, patch_val = {}, {}
    for layer in range(L):
        k = 9 + layer  # 9, 10, ...
        patch_idx[layer] = torch.sort(torch.randperm(I, generator=gen)[:k]).values
        patch_val[layer] = 0.5 + 1.5 * torch.rand(k, generator=gen, dtype=torch.float32)

    out = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "rope_inv_freq": cfg["inv_freq"].clone(),
        "logits": torch.zeros(BATCH, SEQ, V),
        "logprob": torch.zeros(BATCH, SEQ),
    }
    for mode in ("zero", "set", "add", "scale"):
        out["logits_" + mode] = torch.zeros(BATCH, SEQ, V)
    for layer in range(L):
        out[f"hook_pre.{layer}"] = torch.zeros(BATCH, SEQ, I)
        out[f"hook_act.{layer}"] = torch.zeros(BATCH, SEQ, I)
        out[f"resid_post.{layer}"] = torch.zeros(BATCH, SEQ, H)
        out[f"patch_idx.{layer}"] = patch_idx[layer]
        out[f"patch_val.{layer}"] = patch_val[layer]

    with torch.no_grad():
        for b, n in enumerate(VALID_LENS):
            ids = input_ids[b, :n]
            logits, pres, acts, resids = forward(W, cfg, ids)
            out["logits"][b, :n] = logits
            lsm = torch.log_softmax(logits, dim=-1)
            for t in range(n - 1):
                out["logprob"][b, t] = lsm[t, ids[t + 1]]
            for layer in range(L):
                out[f"hook_pre.{layer}"][b, :n] = pres[layer]
                out[f"hook_act.{layer}"][b, :n] = acts[layer]
                out[f"resid_post.{layer}"][b, :n] = resids[layer]
            per_layer = {layer: (patch_idx[layer], patch_val[layer]) for layer in range(L)}
            for mode in ("zero", "set", "add", "scale"):
                lp, _, _, _ = forward(W, cfg, ids, patch=(mode, per_layer))
                out["logits_" + mode][b, :n] = lp

    valid = attention_mask.bool()
    for layer in range(L):
        act = out[f"hook_act.{layer}"][valid]  # [tokens, I] f32
        pre = out[f"hook_pre.{layer}"][valid]
        out[f"count.{layer}"] = (act > 0).sum(0).to(torch.int64)
        a64 = act.to(torch.float64)
        out[f"sum.{layer}"] = a64.sum(0)
        out[f"sumsq.{layer}"] = (a64 * a64).sum(0)
        out[f"borderline.{layer}"] = (pre.abs() < BORDERLINE_TOL).sum(0).to(torch.int64)
    return out


def main():
    vocab, merges = train_bpe()
    bos_id, eos_id = len(vocab), len(vocab) + 1
    vocab_size = len(vocab) + 2
    tok = {"vocab": vocab, "merges": merges, "bos_id": bos_id, "eos_id": eos_id}
    os.makedirs(OUT_DIR, exist_ok=True)
    for fx in FIXTURES:
        gen = torch.Generator().manual_seed(fx["seed"])
        d = os.path.join(OUT_DIR, fx["name"])
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        weights = make_weights(fx, vocab_size, gen)
        write_checkpoint(d, fx, weights)
        write_json(os.path.join(d, "config.json"), hf_config(fx, vocab_size, bos_id, eos_id))
        write_json(os.path.join(d, "generation_config.json"), {
            "_from_model_config": True, "bos_token_id": bos_id, "eos_token_id": eos_id,
            "transformers_version": TRANSFORMERS_VERSION})
        write_tokenizer(d, tok)
        ref = build_reference(fx, weights, vocab_size, gen)
        meta = {
            "fixture": fx["name"],
            "sliding_window_rule": SLIDING_WINDOW_RULE,
            "sliding_window": str(fx["sliding_window"]),
            "patch_rule": PATCH_RULE,
            "padding": "right padding; each row is computed on its valid prefix alone (positions 0..n-1); padded positions of outputs are 0",
            "logprob": "logprob[b,t] = log_softmax(logits[b,t])[input_ids[b,t+1]] if t+1 is valid, else 0",
            "borderline_tol": repr(BORDERLINE_TOL),
            "torch_version": torch.__version__,
        }
        write_safetensors(os.path.join(OUT_DIR, fx["name"] + ".ref.safetensors"), ref, meta)
        lg = ref["logits"][ref["attention_mask"].bool()]
        print(f"{fx['name']}: vocab {vocab_size}, logits std {lg.std().item():.3f}, "
              f"count.0 sum {int(ref['count.0'].sum())}, borderline {[int(ref[f'borderline.{i}'].sum()) for i in range(fx['layers'])]}")


if __name__ == "__main__":
    main()

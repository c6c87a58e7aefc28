#!/usr/bin/python3
"""Train lape's embedded tiny multilingual Llama on data/corpus and write models/tiny-multilingual/.

Run (Debian's python3-torch 1.13 + numpy; nothing else):

    /usr/bin/python3 tools/train_tiny.py            # full run, 2 threads (see the model README for the time)
    /usr/bin/python3 tools/train_tiny.py --steps 20 --out /tmp/tiny   # smoke test

What it does, deterministically (fixed seeds, fixed thread count, no timestamps in any output):
1. learns a byte-level BPE vocabulary (tools/bpe.py) on the seven train splits;
2. tokenizes every split as one stream per language: the paragraphs joined by "\\n" (no BOS/EOS);
3. trains a plain-torch Llama (RMSNorm, RoPE rotate_half, SiLU-GLU MLP, GQA, tied embeddings)
   with language-balanced batches: every step holds the same number of random windows from each
   language's train stream;
4. evaluates perplexity per language the way lape does (see `stream_nll`);
5. writes the checkpoint in Hugging Face format (config.json, generation_config.json,
   model.safetensors F32, tokenizer.json, tokenizer_config.json), metrics.json, and
   reference.safetensors (token ids, perplexities, logits and activations for the engine's tests).
"""

import argparse
import hashlib
import json
import math
import os
import struct
import sys
import time


def _threads_from_argv(default=2):
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return default


# Thread pools and the allocator are configured before torch loads. OpenBLAS (Debian torch's BLAS)
# reads its thread count from the environment only; PASSIVE waiting keeps idle threads from spinning
# on a shared machine; the malloc tunables keep freed blocks for reuse instead of returning them to
# the kernel, which makes large temporaries (the logits) cheap to allocate again. None of this changes
# the numbers: the outputs are bit-identical with 1 or 2 threads (checked, see the model README).
_THREADS = _threads_from_argv()
_ENV = {
    "OMP_NUM_THREADS": str(_THREADS),
    "OPENBLAS_NUM_THREADS": str(_THREADS),
    "OMP_WAIT_POLICY": "PASSIVE",
    "GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=68719476736",
}
if any(os.environ.get(k) != v for k, v in _ENV.items()) and __name__ == "__main__":
    os.environ.update(_ENV)
    os.execv(sys.executable, [sys.executable] + sys.argv)  # GLIBC_TUNABLES is read at process start

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LANGS = ["en", "zh", "fr", "es", "vi", "id", "ja"]

CFG = dict(
    vocab_size=6144,        # 256 bytes + 5886 merges + <s> + </s>
    hidden_size=128,
    intermediate_size=512,  # 4 × hidden: 512 FFN neurons per layer, 3072 in all
    num_hidden_layers=6,
    num_attention_heads=4,  # head_dim 32
    num_key_value_heads=2,  # GQA, 2 query heads per kv head
    max_position_embeddings=512,
    rope_theta=10000.0,
    rms_norm_eps=1e-5,
)
SEQ_LEN = 256               # training window and evaluation chunk length
WINDOWS_PER_LANG = 4        # per step: 7 × 4 windows × 256 tokens = 7168 tokens
LR, LR_MIN, WARMUP = 2e-3, 2e-4, 50
WEIGHT_DECAY = 0.1
SEED = 20240611
REF_CHUNKS = 8              # evaluated chunks per language stored in reference.safetensors
REF_TOKENIZE_CHARS = 2000   # tokenizer check: ids of the first N code points of each valid stream
REF_SHORT = 16              # positions of the two short sequences with full logits / activations
BORDERLINE_TOL = 1e-4


# ---------------------------------------------------------------------------------------------
# model (plain torch; weight names and layouts are Hugging Face's)
# ---------------------------------------------------------------------------------------------

def init_weights(cfg, gen):
    d, inter, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    hd = d // cfg["num_attention_heads"]
    kv = cfg["num_key_value_heads"] * hd
    std, std_out = 0.02, 0.02 / math.sqrt(2 * L)

    def normal(shape, s):
        return torch.randn(shape, generator=gen) * s

    W = {"model.embed_tokens.weight": normal((cfg["vocab_size"], d), std)}
    for i in range(L):
        p = f"model.layers.{i}."
        W[p + "input_layernorm.weight"] = torch.ones(d)
        W[p + "self_attn.q_proj.weight"] = normal((d, d), std)
        W[p + "self_attn.k_proj.weight"] = normal((kv, d), std)
        W[p + "self_attn.v_proj.weight"] = normal((kv, d), std)
        W[p + "self_attn.o_proj.weight"] = normal((d, d), std_out)
        W[p + "post_attention_layernorm.weight"] = torch.ones(d)
        W[p + "mlp.gate_proj.weight"] = normal((inter, d), std)
        W[p + "mlp.up_proj.weight"] = normal((inter, d), std)
        W[p + "mlp.down_proj.weight"] = normal((d, inter), std_out)
    W["model.norm.weight"] = torch.ones(d)
    return W


def rope_cos_sin(cfg, T):
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = torch.outer(torch.arange(T, dtype=torch.int64).float(), inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def forward(W, cfg, ids, capture=None):
    """Logits [B, T, V] for ids [B, T] (every row starts at position 0, no padding).

    capture: optional dict filled with hook_pre.{i}, hook_act.{i}, resid_post.{i}.
    """
    B, T = ids.shape
    d, H, KVH = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, eps = d // H, cfg["rms_norm_eps"]
    cos, sin = rope_cos_sin(cfg, T)
    mask = torch.full((T, T), float("-inf")).triu(1)
    x = F.embedding(ids, W["model.embed_tokens.weight"])
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = F.linear(h, W[p + "self_attn.q_proj.weight"]).view(B, T, H, hd).transpose(1, 2)
        k = F.linear(h, W[p + "self_attn.k_proj.weight"]).view(B, T, KVH, hd).transpose(1, 2)
        v = F.linear(h, W[p + "self_attn.v_proj.weight"]).view(B, T, KVH, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KVH, dim=1)  # HF repeat_kv: query head h uses kv head h // (H/KVH)
        v = v.repeat_interleave(H // KVH, dim=1)
        att = (q @ k.transpose(-1, -2)) * (hd ** -0.5) + mask
        att = att.softmax(-1)
        a = (att @ v).transpose(1, 2).reshape(B, T, d)
        x = x + F.linear(a, W[p + "self_attn.o_proj.weight"])
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        pre = F.linear(h, W[p + "mlp.gate_proj.weight"])
        act = F.silu(pre)
        x = x + F.linear(act * F.linear(h, W[p + "mlp.up_proj.weight"]), W[p + "mlp.down_proj.weight"])
        if capture is not None:
            capture[f"hook_pre.{i}"] = pre.detach()
            capture[f"hook_act.{i}"] = act.detach()
            capture[f"resid_post.{i}"] = x.detach()
    x = rms_norm(x, W["model.norm.weight"], eps)
    return F.linear(x, W["model.embed_tokens.weight"])  # tied LM head


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------

def read_split(lang, split):
    with open(os.path.join(ROOT, "data", "corpus", f"{lang}.{split}.txt"), encoding="utf-8") as f:
        return f.read().rstrip("\n").split("\n")


def stream_text(paragraphs):
    """The text lape evaluates: the split's paragraphs joined by "\\n" (= the file minus its final newline)."""
    return "\n".join(paragraphs)


def chunks(ids, seq_len=SEQ_LEN):
    """Consecutive non-overlapping chunks of seq_len tokens; the remainder is dropped."""
    n = len(ids) // seq_len
    return torch.tensor(ids[: n * seq_len], dtype=torch.int64).view(n, seq_len)


@torch.no_grad()
def stream_nll(W, cfg, chunk_ids, batch=16):
    """(sum of next-token NLL, number of predictions) over chunks [n, T].

    Each chunk is an independent sequence starting at position 0 (no BOS); position t predicts
    token t+1, so a chunk gives T-1 predictions. Log-softmax in f32, sums in f64.
    Perplexity = exp(total NLL / total predictions).
    """
    total, count = 0.0, 0
    for s in range(0, chunk_ids.shape[0], batch):
        x = chunk_ids[s: s + batch]
        logp = forward(W, cfg, x).log_softmax(-1)
        nll = -logp[:, :-1].gather(-1, x[:, 1:].unsqueeze(-1)).squeeze(-1)
        total += nll.double().sum().item()
        count += nll.numel()
    return total, count


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------

_ST = {torch.float32: ("F32", "<f4"), torch.float64: ("F64", "<f8"), torch.int64: ("I64", "<i8")}


def write_safetensors(path, tensors, metadata=None):
    """safetensors: u64 LE header length, JSON header (padded with spaces to 8 bytes), raw LE data."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        dtype, npd = _ST[t.dtype]
        raw = t.numpy().astype(npd, copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def hf_config(cfg, bos, eos):
    return {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "head_dim": cfg["hidden_size"] // cfg["num_attention_heads"],
        "hidden_act": "silu",
        "hidden_size": cfg["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": cfg["intermediate_size"],
        "max_position_embeddings": cfg["max_position_embeddings"],
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": cfg["num_attention_heads"],
        "num_hidden_layers": cfg["num_hidden_layers"],
        "num_key_value_heads": cfg["num_key_value_heads"],
        "pretraining_tp": 1,
        "rms_norm_eps": cfg["rms_norm_eps"],
        "rope_scaling": None,
        "rope_theta": cfg["rope_theta"],
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "transformers_version": "4.46.0",
        "use_cache": True,
        "vocab_size": cfg["vocab_size"],
    }


def tokenizer_config(tok, bos, eos):
    def dec(content):
        return {"content": content, "lstrip": False, "normalized": False, "rstrip": False,
                "single_word": False, "special": True}

    return {
        "add_bos_token": False,
        "add_eos_token": False,
        "added_tokens_decoder": {str(bos): dec("<s>"), str(eos): dec("</s>")},
        "bos_token": "<s>",
        "clean_up_tokenization_spaces": False,
        "eos_token": "</s>",
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": CFG["max_position_embeddings"],
        "tokenizer_class": "PreTrainedTokenizerFast",
    }


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--skip-train-eval", action="store_true", help="smoke tests: skip the full train-split evaluation")
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "tiny-multilingual"))
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    t_start = time.time()
    log = lambda *a: print(f"[{time.time() - t_start:7.1f}s]", *a, flush=True)  # noqa: E731

    # 1. tokenizer
    train_par = {l: read_split(l, "train") for l in LANGS}
    valid_par = {l: read_split(l, "valid") for l in LANGS}
    counts = {}
    for l in LANGS:
        for w in bpe.pretokenize(stream_text(train_par[l])):
            counts[w] = counts.get(w, 0) + 1
    merges = bpe.train(counts, CFG["vocab_size"] - 256 - 2)
    tok = bpe.ByteBPE(merges)
    assert tok.vocab_size == CFG["vocab_size"], tok.vocab_size
    bos, eos = tok.specials["<s>"], tok.specials["</s>"]
    log(f"tokenizer: {len(merges)} merges, vocab {tok.vocab_size}, <s>={bos} </s>={eos}")

    # 2. token streams
    train_ids = {l: tok.encode(stream_text(train_par[l])) for l in LANGS}
    valid_ids = {l: tok.encode(stream_text(valid_par[l])) for l in LANGS}
    for l in LANGS:
        log(f"{l}: train {len(train_ids[l])} tokens, valid {len(valid_ids[l])} tokens")
    train_t = {l: torch.tensor(train_ids[l], dtype=torch.int64) for l in LANGS}
    valid_chunks = {l: chunks(valid_ids[l]) for l in LANGS}
    train_chunks = {l: chunks(train_ids[l]) for l in LANGS}

    # 3. train
    gen = torch.Generator().manual_seed(SEED)
    W = init_weights(CFG, gen)
    params = [W[k].requires_grad_() for k in sorted(W)]
    decay = [W[k] for k in sorted(W) if W[k].dim() == 2]
    no_decay = [W[k] for k in sorted(W) if W[k].dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}], lr=LR, betas=(0.9, 0.95), eps=1e-8)
    n_params = sum(p.numel() for p in params)
    log(f"model: {n_params} parameters ({n_params * 4 / 1e6:.2f} MB as F32)")

    def lr_at(step):
        if step < WARMUP:
            return LR * (step + 1) / WARMUP
        r = (step - WARMUP) / max(1, args.steps - WARMUP)
        return LR_MIN + 0.5 * (LR - LR_MIN) * (1 + math.cos(math.pi * r))

    def evaluate(split_chunks):
        out = {}
        for l in LANGS:
            s, c = stream_nll(W, CFG, split_chunks[l])
            out[l] = {"nll": s / c, "ppl": math.exp(s / c), "chunks": split_chunks[l].shape[0], "predictions": c}
        out["mean_nll"] = sum(out[l]["nll"] for l in LANGS) / len(LANGS)
        return out

    history = []
    t_train = time.time()
    running = None
    for step in range(args.steps):
        rows = []
        for l in LANGS:
            n = train_t[l].numel() - SEQ_LEN - 1
            starts = torch.randint(0, n + 1, (WINDOWS_PER_LANG,), generator=gen)
            rows += [train_t[l][s: s + SEQ_LEN + 1] for s in starts.tolist()]
        batch = torch.stack(rows)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        logits = forward(W, CFG, batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if (step + 1) % 50 == 0:
            log(f"step {step + 1}/{args.steps} loss {loss.item():.4f} (ema {running:.4f}) lr {lr_at(step):.2e}")
        if (step + 1) % args.eval_every == 0 and step + 1 < args.steps:
            ev = evaluate({l: valid_chunks[l][:REF_CHUNKS] for l in LANGS})  # progress only: first chunks
            history.append({"step": step + 1, "train_loss_ema": running, "valid_first_chunks_mean_nll": ev["mean_nll"],
                            "valid_ppl": {l: round(ev[l]["ppl"], 3) for l in LANGS}})
            log(f"valid (first {REF_CHUNKS} chunks) mean nll {ev['mean_nll']:.4f}  " + " ".join(f"{l}:{ev[l]['ppl']:.2f}" for l in LANGS))
    train_seconds = time.time() - t_train
    for p in params:
        p.requires_grad_(False)
    W = {k: v.detach() for k, v in W.items()}

    # 4. evaluate
    ev_valid = evaluate(valid_chunks)
    ev_train = None if args.skip_train_eval else evaluate(train_chunks)
    log("final valid: " + " ".join(f"{l}:{ev_valid[l]['ppl']:.3f}" for l in LANGS) + f"  mean nll {ev_valid['mean_nll']:.4f}")
    if ev_train:
        log("final train: " + " ".join(f"{l}:{ev_train[l]['ppl']:.3f}" for l in LANGS) + f"  mean nll {ev_train['mean_nll']:.4f}")

    # 5. write
    out = args.out
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "config.json"), hf_config(CFG, bos, eos))
    write_json(os.path.join(out, "generation_config.json"),
               {"bos_token_id": bos, "eos_token_id": eos, "transformers_version": "4.46.0"})
    write_safetensors(os.path.join(out, "model.safetensors"), W, {"format": "pt"})
    tok.write(os.path.join(out, "tokenizer.json"))
    write_json(os.path.join(out, "tokenizer_config.json"), tokenizer_config(tok, bos, eos))

    ref, meta = {}, {}
    for li, l in enumerate(LANGS):
        ids = valid_chunks[l][:REF_CHUNKS]
        s, c = stream_nll(W, CFG, ids)
        ref[f"ids.{l}"] = ids
        ref[f"nll.{l}"] = torch.tensor([s / c], dtype=torch.float64)
        ref[f"ppl.{l}"] = torch.tensor([math.exp(s / c)], dtype=torch.float64)
        ref[f"ppl_full.{l}"] = torch.tensor([ev_valid[l]["ppl"]], dtype=torch.float64)
        ref[f"n_chunks_full.{l}"] = torch.tensor([ev_valid[l]["chunks"]], dtype=torch.int64)
        text = stream_text(valid_par[l])
        ref[f"tok_ids.{l}"] = torch.tensor(tok.encode("".join(list(text)[:REF_TOKENIZE_CHARS])), dtype=torch.int64)
    # activation statistics over the reference chunks (all positions), per language
    cnt = {i: [] for i in range(CFG["num_hidden_layers"])}
    bord = {i: [] for i in range(CFG["num_hidden_layers"])}
    for l in LANGS:
        cap = {}
        with torch.no_grad():
            forward(W, CFG, ref[f"ids.{l}"], capture=cap)
        for i in range(CFG["num_hidden_layers"]):
            cnt[i].append((cap[f"hook_act.{i}"] > 0).sum(dim=(0, 1)))
            bord[i].append((cap[f"hook_pre.{i}"].abs() < BORDERLINE_TOL).sum(dim=(0, 1)))
    for i in range(CFG["num_hidden_layers"]):
        ref[f"count.{i}"] = torch.stack(cnt[i]).to(torch.int64)
        ref[f"borderline.{i}"] = torch.stack(bord[i]).to(torch.int64)
    # two short sequences with full logits and per-layer activations
    short = torch.stack([valid_chunks["en"][0, :REF_SHORT], valid_chunks["zh"][0, :REF_SHORT]])
    cap = {}
    with torch.no_grad():
        logits = forward(W, CFG, short, capture=cap)
    ref["input_ids"] = short
    ref["logits"] = logits
    for i in range(CFG["num_hidden_layers"]):
        ref[f"hook_act.{i}"] = cap[f"hook_act.{i}"]
        ref[f"resid_post.{i}"] = cap[f"resid_post.{i}"]
    meta = {
        "languages": ",".join(LANGS),
        "seq_len": SEQ_LEN,
        "stream": 'each language\'s valid split: paragraphs joined by "\\n" (the file without its final newline), encoded without special tokens',
        "chunks": "consecutive non-overlapping chunks of seq_len tokens from the start of the stream; the remainder is dropped; ids.{lang} = the first %d" % REF_CHUNKS,
        "ppl": "exp(mean over all chunks and positions t=0..seq_len-2 of -log_softmax(logits[t])[ids[t+1]]); each chunk starts at position 0, no BOS",
        "tok_ids": "ids of the first %d code points of the stream" % REF_TOKENIZE_CHARS,
        "count": "count.{i}[lang, j] = positions of all ids.{lang} chunks with hook_act > 0 (languages in the order above)",
        "borderline": "borderline.{i}[lang, j] = positions with |hook_pre| < %g" % BORDERLINE_TOL,
        "input_ids": "row 0 = first %d ids of ids.en[0], row 1 = first %d ids of ids.zh[0]" % (REF_SHORT, REF_SHORT),
        "torch_version": torch.__version__,
    }
    write_safetensors(os.path.join(out, "reference.safetensors"), ref, meta)

    metrics = {
        "config": CFG, "seq_len": SEQ_LEN, "windows_per_language_per_step": WINDOWS_PER_LANG,
        "steps": args.steps, "tokens_seen": args.steps * len(LANGS) * WINDOWS_PER_LANG * SEQ_LEN,
        "lr": LR, "lr_min": LR_MIN, "warmup": WARMUP, "weight_decay": WEIGHT_DECAY, "seed": SEED,
        "parameters": n_params,
        "tokens": {l: {"train": len(train_ids[l]), "valid": len(valid_ids[l])} for l in LANGS},
        "chars": {l: {"train": len(stream_text(train_par[l])), "valid": len(stream_text(valid_par[l]))} for l in LANGS},
        "valid": ev_valid, "train": ev_train, "history": history,
        "reference_ppl": {l: ref[f"ppl.{l}"].item() for l in LANGS},
        "sha256": {f: sha256_file(os.path.join(out, f)) for f in
                   ["model.safetensors", "tokenizer.json", "reference.safetensors"]},
    }
    write_json(os.path.join(out, "metrics.json"), metrics)
    log(f"training loop {train_seconds:.0f} s; total {time.time() - t_start:.0f} s (timing not written to any file)")


if __name__ == "__main__":
    main()

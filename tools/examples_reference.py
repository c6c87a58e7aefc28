#!/usr/bin/python3
"""Reference for `lape examples`: per-neuron top-K tokens and activation histograms, in PyTorch.

Run:  OMP_NUM_THREADS=1 python3 tools/examples_reference.py   (torch + numpy: Debian python3-torch, or a venv;
      the committed output was written with torch 2.13 CPU)

Independent of lape: the text is tokenised by tools/bpe.py (Python byte-level BPE), chunked as
lape documents it (each non-blank line, trailing whitespace removed, encoded as line + "\\n"
without special tokens; the stream cut into chunks of SEQ tokens, the last partial chunk
dropped), and run through the plain-torch Llama forward of tools/make_fixtures.py (one chunk at a
time, f32) on the llama-gqa fixture checkpoint.

Writes
  test/fixtures/examples/en.txt, zh.txt   the corpus (the first lines of data/corpus/*.valid.txt)
  test/fixtures/examples.ref.json         settings, chunk ids, hook_act of the probed neurons at
                                          every token, the top-K per neuron (largest first; ties by
                                          language, chunk, position) and the histograms.
Deterministic: rerunning gives a byte-identical file.
"""
import json
import os
import struct
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bpe  # noqa: E402
from make_fixtures import forward, rope_inv_freq  # noqa: E402

MODEL = os.path.join(ROOT, "test", "fixtures", "llama-gqa")
OUT_DIR = os.path.join(ROOT, "test", "fixtures", "examples")
OUT_REF = os.path.join(ROOT, "test", "fixtures", "examples.ref.json")
LANGS = ["en", "zh"]
CHARS = {"en": 1200, "zh": 450}  # corpus characters per language (whole lines; zh is ~3 tokens per character)
SEQ = 32
K = 5
WINDOW = 4
EDGES = [-0.1, 0.0, 0.05, 0.1, 0.2, 0.4]
NEURONS = [(0, 3), (0, 17), (0, 40), (0, 77), (0, 95), (1, 0), (1, 12), (1, 50), (1, 64), (1, 90)]
NEAR = 1e-5  # activations this close to an edge may fall in either bin (f32 summation order)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{name}: only F32 is handled here")
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"]).copy())
    return out


def corpus_lines(lang):
    lines, total = [], 0
    with open(os.path.join(ROOT, "data", "corpus", f"{lang}.valid.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip()
            if not line:
                continue
            lines.append(line)
            total += len(line)
            if total >= CHARS[lang]:
                break
    return lines


def main():
    with open(os.path.join(MODEL, "config.json")) as f:
        hf = json.load(f)
    cfg = {
        "hidden": hf["hidden_size"], "heads": hf["num_attention_heads"], "kv_heads": hf["num_key_value_heads"],
        "head_dim": hf["head_dim"], "eps": hf["rms_norm_eps"], "layers": hf["num_hidden_layers"],
        "rope_theta": hf["rope_theta"], "rope_scaling": hf.get("rope_scaling"), "sliding_window": None,
        "tie": hf["tie_word_embeddings"],
    }
    cfg["inv_freq"] = rope_inv_freq(cfg)
    W = read_safetensors(os.path.join(MODEL, "model.safetensors"))
    tok = bpe.ByteBPE.from_tokenizer_json(os.path.join(MODEL, "tokenizer.json"))
    os.makedirs(OUT_DIR, exist_ok=True)

    chunks, acts = {}, {}  # acts[lang]: [chunks, SEQ, neurons]
    for lang in LANGS:
        lines = corpus_lines(lang)
        with open(os.path.join(OUT_DIR, f"{lang}.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        stream = []
        for line in lines:
            stream.extend(tok.encode(line + "\n"))
        cs = [stream[i:i + SEQ] for i in range(0, len(stream) - SEQ + 1, SEQ)]
        chunks[lang] = cs
        per = []
        with torch.no_grad():
            for c in cs:
                _, _, hook_act, _ = forward(W, cfg, torch.tensor(c, dtype=torch.int64))
                per.append(torch.stack([hook_act[l][:, i] for l, i in NEURONS], dim=1))  # [SEQ, neurons]
        acts[lang] = torch.stack(per)

    neurons = []
    for j, (layer, index) in enumerate(NEURONS):
        cands = []
        for li, lang in enumerate(LANGS):
            a = acts[lang][:, :, j]
            for c in range(a.shape[0]):
                for t in range(SEQ):
                    cands.append((-float(a[c, t]), li, c, t))
        cands.sort()
        top = []
        for neg, li, c, t in cands[:K]:
            ids = chunks[LANGS[li]][c]
            top.append({"lang": LANGS[li], "chunk": c, "position": t, "activation": -neg, "token_id": ids[t],
                        "before": ids[max(0, t - WINDOW):t], "after": ids[t + 1:t + 1 + WINDOW]})
        hist, near = {}, {}
        e = torch.tensor(EDGES, dtype=torch.float32)
        for lang in LANGS:
            a = acts[lang][:, :, j].reshape(-1).contiguous()
            bins = torch.bucketize(a, e, right=True)  # bin b: edges[b-1] <= a < edges[b]
            hist[lang] = [int((bins == b).sum()) for b in range(len(EDGES) + 1)]
            near[lang] = int(((a[:, None] - e[None, :]).abs() < NEAR).any(dim=1).sum())
        neurons.append({"layer": layer, "index": index, "top": top, "hist": hist, "near_edge": near})

    ref = {
        "model": "test/fixtures/llama-gqa",
        "corpus": {lang: f"test/fixtures/examples/{lang}.txt" for lang in LANGS},
        "seq_len": SEQ, "per_neuron": K, "window": WINDOW, "edges": EDGES, "near": NEAR,
        "torch_version": torch.__version__,
        "chunks": chunks,
        # hook_act[lang][chunk][position][neuron], neurons in the order of "neurons"
        "hook_act": {lang: [[[round(float(x), 7) for x in row] for row in c] for c in acts[lang]] for lang in LANGS},
        "neurons": neurons,
    }
    with open(OUT_REF, "w", encoding="utf-8") as f:
        json.dump(ref, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT_REF}: {sum(len(c) for c in chunks.values())} chunks of {SEQ}, {len(NEURONS)} neurons")


if __name__ == "__main__":
    main()

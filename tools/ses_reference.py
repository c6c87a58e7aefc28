#!/usr/bin/python3
"""Reference vectors for lape's SES (Fig. 6) and language dominance (Eq. 6, Fig. 7).

Run:  OMP_NUM_THREADS=1 /usr/bin/python3 tools/ses_reference.py

Writes test/vectors/ses/ses_reference.safetensors (deterministic: fixed seed, no timestamps):
  emb        F64 [K, N, L, H]  sentence embeddings (languages x aligned texts x layers x hidden),
                               synthetic: shared per-text content + per-language offset + noise,
                               with offsets of different sizes so that dominance differs by language
  ses        F64 [L]           mean over language pairs of the pair SES
  ses_pairs  F64 [P, L]        per unordered pair (a < b in language order), mean over texts of
                               cos(emb[a, t, l], emb[b, t, l])
  dominance  F64 [L, K]        per layer and target c: mean over k != c of
                               mean_t cos(emb[k, t, l] - v[k, l] + v[c, l], emb[c, t, l]),
                               v[k, l] = mean_t emb[k, t, l]
  dom_matrix F64 [L, K, K]     the same per (k, c); the diagonal is 0 (undefined)
metadata: languages (JSON array), format "lape-ses-reference".

numpy only, written independently of the TypeScript (vectorised: normalise rows, einsum).
"""
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "test", "vectors", "ses", "ses_reference.safetensors")
LANGS = ["en", "zh", "fr", "ja"]
N, L, H = 6, 3, 8


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name], dtype="<f8")
        raw = arr.tobytes()
        header[name] = {"dtype": "F64", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def main():
    rng = np.random.default_rng(20240501)
    K = len(LANGS)
    content = rng.normal(size=(1, N, L, H))
    offset_scale = np.array([0.3, 1.5, 0.6, 1.2]).reshape(K, 1, 1, 1)
    offsets = rng.normal(size=(K, 1, L, H)) * offset_scale
    emb = content + offsets + 0.4 * rng.normal(size=(K, N, L, H))

    u = unit(emb)  # [K, N, L, H]
    pair_cos = np.einsum("anlh,bnlh->abl", u, u) / N  # mean over texts of the cosine, [K, K, L]
    pairs = [(a, b) for a in range(K) for b in range(a + 1, K)]
    ses_pairs = np.stack([pair_cos[a, b] for a, b in pairs])  # [P, L]
    ses = ses_pairs.mean(axis=0)

    v = emb.mean(axis=1)  # [K, L, H]
    dom_matrix = np.zeros((L, K, K))
    for k in range(K):
        for c in range(K):
            if k == c:
                continue
            shifted = emb[k] - v[k][None] + v[c][None]  # [N, L, H]
            cos = (unit(shifted) * unit(emb[c])).sum(-1)  # [N, L]
            dom_matrix[:, k, c] = cos.mean(axis=0)
    dominance = dom_matrix.sum(axis=1) / (K - 1)  # [L, c]

    write_safetensors(
        OUT,
        {"emb": emb, "ses": ses, "ses_pairs": ses_pairs, "dominance": dominance, "dom_matrix": dom_matrix},
        {"format": "lape-ses-reference", "languages": json.dumps(LANGS)},
    )
    print(f"wrote {os.path.relpath(OUT)}: SES per layer {np.round(ses, 4).tolist()}")
    print("dominance [layer x target]:", np.round(dominance, 4).tolist())


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Reference LAPE selection in PyTorch, and the test vectors lape's selectLape is checked against.

This re-implements the selection of the official identify.py of Tang et al. (ACL 2024,
github.com/RUCAIBox/Language-Specific-Neurons) with torch ops, step by step (see DESIGN.md,
"LAPE, exactly"), with the differences lape documents:
  * float64 throughout (the official code divides int tensors, i.e. works in float32; the
    vectors record whether a float32 run selects the same neurons: `float32_same_selection`);
  * ties at the top-k cut go to the lower flat index (torch.sort(stable=True)); the official
    torch.topk leaves the order of ties unspecified (and is not stable in practice);
  * neurons with entropy +inf are never selected, even when fewer finite ones than round(L*I*top_rate)
    exist (the official topk would then take arbitrary +inf neurons);
  * a quantile rank round(numel*rate) of 0 is clamped to 1 (torch.kthvalue rejects k = 0);
  * every language is kept in the output, also with no neurons (the official
    `indice.split(torch.bincount(lang).tolist())` drops trailing languages without neurons).
Python's round() (half to even) is used for both ranks, as in the official code.

Usage (Debian's python3 with numpy + torch):
    OMP_NUM_THREADS=1 /usr/bin/python3 tools/lape_reference.py test/vectors/lape
writes one JSON file per case: inputs (counts per language, flat [layer][neuron]; tokens;
options) and the expected outputs (bars, counts, selected flat indices, masks, entropy with
null for +inf).
"""
import json
import math
import os
import sys

import numpy as np
import torch


def kth_rank(numel, rate):
    """1-based rank used with torch.kthvalue: round(numel * rate), clamped to [1, numel]."""
    return min(numel, max(1, round(numel * rate)))


def lape_reference(over_zero, n, top_rate=0.01, filter_rate=0.95, bar_ratio=0.95, dtype=torch.float64):
    """over_zero: int64 tensor [layers, neurons, langs]; n: int64 tensor [langs]."""
    layers, neurons, langs = over_zero.shape
    probs = over_zero.to(dtype) / n.to(dtype)                      # step 1
    totals = probs.sum(dim=-1, keepdim=True)
    normed = probs / totals                                         # step 2
    normed = torch.where(torch.isnan(normed), torch.zeros_like(normed), normed)
    logs = torch.where(normed > 0, normed.log(), torch.zeros_like(normed))
    entropy = -(normed * logs).sum(dim=-1)                          # step 3
    assert not torch.isnan(entropy).any()

    flat_probs = probs.flatten()
    filter_bar = flat_probs.kthvalue(kth_rank(flat_probs.numel(), filter_rate)).values.item()  # step 4
    above = (probs > filter_bar).sum(dim=-1)
    entropy[above == 0] = math.inf                                  # step 5

    flat_entropy = entropy.flatten()
    requested = round(layers * neurons * top_rate)                  # step 6
    candidates = int(torch.isfinite(flat_entropy).sum().item())
    take = min(requested, candidates)
    order = torch.sort(flat_entropy, stable=True).indices
    chosen = order[:take]
    threshold = flat_entropy[chosen[-1]].item() if take > 0 else None
    chosen_sorted = torch.sort(chosen).values

    activation_bar = flat_probs.kthvalue(kth_rank(flat_probs.numel(), bar_ratio)).values.item()
    rows = chosen_sorted // neurons
    cols = chosen_sorted % neurons
    chosen_probs = probs[rows, cols]                                # take x langs
    masks = []
    for k in range(langs):                                          # steps 7, 8
        per_layer = [[] for _ in range(layers)]
        hit = chosen_probs[:, k] > activation_bar
        for r, c in zip(rows[hit].tolist(), cols[hit].tolist()):
            per_layer[r].append(c)
        masks.append([sorted(x) for x in per_layer])
    return {
        'filterBar': filter_bar,
        'activationBar': activation_bar,
        'requested': requested,
        'candidates': candidates,
        'thresholdEntropy': threshold,
        'selected': chosen_sorted.tolist(),
        'masks': masks,
        'entropy': [None if math.isinf(v) else v for v in flat_entropy.tolist()],
    }


def check_separated(counts, n, expected):
    """Entropies must be bit-equal only for identical probability vectors, else clearly apart,
    so that lape (another log and summation order) cannot order them differently."""
    probs = counts / n
    ent = expected['entropy']
    fin = sorted((v, j) for j, v in enumerate(ent) if v is not None)
    for (a, ja), (b, jb) in zip(fin, fin[1:]):
        if a == b:
            assert np.array_equal(probs[ja], probs[jb]), f'entropy tie between non-identical neurons {ja} {jb}'
        else:
            assert b - a > 1e-9 * max(1.0, abs(b)), f'near-tie {a} {b} at neurons {ja} {jb}'


def make_case(name, description, languages, counts, tokens, options):
    """counts: int array [layers, neurons, langs]."""
    layers, neurons, langs = counts.shape
    oz = torch.from_numpy(counts.astype(np.int64))
    n = torch.tensor(tokens, dtype=torch.int64)
    exp = lape_reference(oz, n, **options)
    check_separated(counts.reshape(-1, langs).astype(np.float64), np.array(tokens, dtype=np.float64), exp)
    exp32 = lape_reference(oz, n, dtype=torch.float32, **options)
    return {
        'name': name,
        'description': description,
        'languages': languages,
        'layers': layers,
        'neurons': neurons,
        'tokens': tokens,
        'options': {'topRate': options['top_rate'], 'filterRate': options['filter_rate'], 'barRatio': options['bar_ratio']},
        'counts': [counts[:, :, k].reshape(-1).tolist() for k in range(langs)],
        'expected': exp,
        'float32_same_selection': exp32['selected'] == exp['selected'] and exp32['masks'] == exp['masks'],
    }


def background(rng, layers, neurons, tokens, spread=0.25):
    """Neurons with a base rate shared by all languages, jittered per language."""
    langs = len(tokens)
    base = rng.beta(2.0, 5.0, size=(layers, neurons)) * 0.6
    jitter = 1.0 + spread * (rng.random((layers, neurons, langs)) - 0.5)
    p = np.clip(base[:, :, None] * jitter, 0.0, 1.0)
    return rng.binomial(np.array(tokens)[None, None, :], p).astype(np.int64)


def plant(rng, counts, tokens, at, langs_hot, hi=(0.55, 0.9), lo=(0.0, 0.04)):
    layer, neuron = at
    for k in range(counts.shape[2]):
        rate = rng.uniform(*hi) if k in langs_hot else rng.uniform(*lo)
        counts[layer, neuron, k] = int(round(rate * tokens[k]))


def case_basic():
    rng = np.random.default_rng(20240601)
    languages = ['en', 'zh', 'fr', 'ja', 'sw']
    tokens = [5000, 4000, 4500, 3000, 20000]
    L, I = 3, 200
    counts = background(rng, L, I, tokens)
    counts[:, :, 4] = (counts[:, :, 4] * 0.3).astype(np.int64)  # sw: never high -> no neurons
    free = [(l, j) for l in range(L) for j in range(I)]
    rng.shuffle(free)
    spots = iter(free)
    for k in range(4):
        for _ in range(10):
            plant(rng, counts, tokens, next(spots), {k})
    for _ in range(6):
        plant(rng, counts, tokens, next(spots), {1, 3})             # zh + ja
    for _ in range(12):
        l, j = next(spots)
        counts[l, j, :] = 0                                         # never active
    for _ in range(3):                                              # identical copies -> exact ties
        src = next(spots)
        plant(rng, counts, tokens, src, {2})
        for _ in range(2):
            counts[next(spots)] = counts[src]
    return make_case(
        'basic',
        '3 layers x 200 neurons x 5 languages: random background, 10 planted neurons each for '
        'en/zh/fr/ja, 6 zh+ja neurons, 12 never-active neurons, 3 fr neurons copied twice (exact '
        'ties); sw (last) has low rates everywhere and gets no neuron.',
        languages, counts, tokens, {'top_rate': 0.05, 'filter_rate': 0.95, 'bar_ratio': 0.95})


def case_defaults():
    rng = np.random.default_rng(7)
    languages = ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja']
    tokens = [12000, 9000, 11000, 10500, 8000, 9500, 7000]
    L, I = 4, 500
    counts = background(rng, L, I, tokens, spread=0.4)
    free = [(l, j) for l in range(L) for j in range(I)]
    rng.shuffle(free)
    spots = iter(free)
    for k in [1, 2, 4, 6]:
        for _ in range(4):
            plant(rng, counts, tokens, next(spots), {k})
    for _ in range(5):
        plant(rng, counts, tokens, next(spots), {2, 3})             # fr + es
    return make_case(
        'defaults',
        '4 layers x 500 neurons x 7 languages (paper order), default knobs (0.01, 0.95, 0.95): '
        '20 neurons selected; planted zh/fr/vi/ja and fr+es neurons.',
        languages, counts, tokens, {'top_rate': 0.01, 'filter_rate': 0.95, 'bar_ratio': 0.95})


def case_ties():
    rng = np.random.default_rng(3)
    languages = ['a', 'b', 'c']
    tokens = [1000, 1300, 1700]
    L, I = 2, 20
    counts = rng.binomial(np.array(tokens)[None, None, :], 0.1 + 0.02 * rng.random((L, I, 3))).astype(np.int64)
    v0 = np.array([300, 0, 0])        # entropy exactly 0
    v1 = np.array([400, 30, 20])      # one low entropy, shared by 12 neurons
    for j in (5, 9, 13):
        counts[0, j] = v0
    spots = [(0, 0), (0, 2), (0, 3), (0, 7), (0, 11), (0, 17), (1, 1), (1, 4), (1, 6), (1, 10), (1, 15), (1, 19)]
    for s in spots:
        counts[s] = v1
    for j in (8, 12):
        counts[1, j] = 0
    return make_case(
        'ties',
        '2 layers x 20 neurons x 3 languages, top_rate 0.25 (10 neurons): 3 neurons with entropy 0 '
        'and 12 identical neurons straddle the cut; the lowest flat indices win.',
        languages, counts, tokens, {'top_rate': 0.25, 'filter_rate': 0.5, 'bar_ratio': 0.5})


def case_rounding():
    languages = ['x', 'y', 'z']
    tokens = [100, 120, 150]
    counts = np.array([
        [[50, 3, 1], [20, 22, 30], [5, 90, 2], [0, 0, 0], [10, 12, 15]],
        [[1, 2, 140], [33, 40, 50], [60, 70, 2], [9, 11, 14], [2, 1, 3]],
    ], dtype=np.int64)
    return make_case(
        'rounding',
        '2 layers x 5 neurons x 3 languages: round(10 * 0.25) = 2 (half to even), filter rank '
        'round(30 * 0.75) = 22, bar rank round(30 * 0.85).',
        languages, counts, tokens, {'top_rate': 0.25, 'filter_rate': 0.75, 'bar_ratio': 0.85})


def case_knobs():
    rng = np.random.default_rng(11)
    languages = ['en', 'de', 'ru', 'ar']
    tokens = [3000, 3500, 2500, 4000]
    L, I = 3, 100
    counts = background(rng, L, I, tokens, spread=0.6)
    for j in range(0, 40, 4):
        plant(rng, counts, tokens, (j % 3, j), {j % 4}, hi=(0.4, 0.7))
    return make_case(
        'knobs',
        '3 layers x 100 neurons x 4 languages, top_rate 0.5 (more than the eligible neurons: only '
        'finite entropies are taken), filter_rate 0.9, bar_ratio 0.7 (activation bar below the '
        'filter bar, so a neuron can join several languages).',
        languages, counts, tokens, {'top_rate': 0.5, 'filter_rate': 0.9, 'bar_ratio': 0.7})


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else 'test/vectors/lape'
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    for case in (case_basic(), case_defaults(), case_ties(), case_rounding(), case_knobs()):
        path = os.path.join(out, case['name'] + '.json')
        with open(path, 'w') as f:
            json.dump(case, f, separators=(',', ':'), allow_nan=False)
            f.write('\n')
        e = case['expected']
        print(f"{path}: requested {e['requested']}, candidates {e['candidates']}, selected {len(e['selected'])}, "
              f"per language {[sum(len(x) for x in m) for m in e['masks']]}, "
              f"float32 same: {case['float32_same_selection']}")


if __name__ == '__main__':
    main()

"""Byte-level BPE (GPT-2 style) in plain Python: training, encoding, and tokenizer.json export.

Written for tools/train_tiny.py (Debian has no `tokenizers` Python package). The files it writes
load in @huggingface/tokenizers (JS) and in HF `tokenizers`/`transformers`:

* pre-tokenizer: HF `ByteLevel` with `use_regex: true`, `add_prefix_space: false` — the GPT-2
  split pattern below, then every UTF-8 byte mapped to a printable character (GPT-2's byte map);
* model: `BPE` over those characters; ids 0–255 are the 256 single bytes (id = byte value), ids
  from 256 are the learned merges in order (merge k creates id 256 + k); the special tokens come
  after the BPE vocabulary as added tokens (not in `model.vocab`, so no merge can produce them);
* no normalizer, no post-processor (nothing is added by `add_special_tokens`), ByteLevel decoder.

Encoding applies merges lowest rank first, leftmost first — the result is the same as HF's and
@huggingface/tokenizers' priority-queue BPE for merges learned this way (checked on the whole
corpus by tools/check_tokenizer.mjs).
"""

import heapq
import json
import re
import unicodedata

# The ByteLevel pre-tokenizer's pattern (GPT-2), as used by HF tokenizers and its JS port:
#   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# Debian's Python has no `regex` module (no \p{..} classes), so `pretokenize` below is a scanner
# that implements exactly this alternation; \s is JavaScript's definition (the runtime lape uses).
SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_JS_SPACE = set("\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff") | {chr(c) for c in range(0x2000, 0x200B)}
_CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


def _cls(c):
    """'s' whitespace, 'L' letter, 'N' number, 'o' other."""
    if c in _JS_SPACE:
        return "s"
    cat = unicodedata.category(c)
    return "L" if cat[0] == "L" else "N" if cat[0] == "N" else "o"


def pretokenize(text):
    """Split text into pre-tokens (str) the way the ByteLevel pre-tokenizer's regex does."""
    out = []
    cls = [_cls(c) for c in text]
    n = len(text)
    i = 0
    while i < n:
        # 's|'t|'re|'ve|'m|'ll|'d
        if text[i] == "'":
            hit = next((c for c in _CONTRACTIONS if text.startswith(c, i)), None)
            if hit:
                out.append(hit)
                i += len(hit)
                continue
        # ' ?\p{L}+' | ' ?\p{N}+' | ' ?[^\s\p{L}\p{N}]+': an optional ASCII space, then a run of one class
        j = i + 1 if text[i] == " " and i + 1 < n else i
        k = cls[j]
        if k != "s":
            e = j
            while e < n and cls[e] == k:
                e += 1
            out.append(text[i:e])
            i = e
            continue
        # whitespace run starting at i: \s+(?!\S) then \s+
        e = i
        while e < n and cls[e] == "s":
            e += 1
        if e < n and e - i > 1:
            e -= 1  # leave the last space to prefix the next word
        out.append(text[i:e])
        i = e
    return out


def byte_chars():
    """GPT-2's byte → printable character map, as a list indexed by byte value.

    Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves; the other 68 bytes
    map, in increasing byte order, to U+0100, U+0101, ...
    """
    keep = set(range(ord("!"), ord("~") + 1)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    out, extra = [], 0
    for b in range(256):
        if b in keep:
            out.append(chr(b))
        else:
            out.append(chr(0x100 + extra))
            extra += 1
    return out


BYTE_CHARS = byte_chars()


def train(word_counts, n_merges, log=None):
    """Learn up to n_merges merges from {pre-token (str): count}.

    Each step merges the most frequent adjacent pair (counts weighted by word frequency); ties go
    to the smallest (left id, right id). Returns a list of (left id, right id) in merge order.
    Pair counts are updated incrementally (only words containing the merged pair are touched).
    """
    words = []
    freqs = []
    for w in sorted(word_counts):  # sorted: deterministic regardless of dict order
        words.append(list(w.encode("utf-8")))
        freqs.append(word_counts[w])
    pair_count = {}
    pair_words = {}
    for wi, (w, f) in enumerate(zip(words, freqs)):
        for p in zip(w, w[1:]):
            pair_count[p] = pair_count.get(p, 0) + f
            pair_words.setdefault(p, set()).add(wi)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    next_id = 256
    while len(merges) < n_merges and heap:
        negc, pair = heapq.heappop(heap)
        c = pair_count.get(pair, 0)
        if c <= 0:
            continue
        if -negc != c:  # stale entry: re-queue with the current count
            heapq.heappush(heap, (-c, pair))
            continue
        a, b = pair
        new = next_id
        next_id += 1
        merges.append(pair)
        changed = {}
        for wi in sorted(pair_words.pop(pair, ())):
            w = words[wi]
            f = freqs[wi]
            out = []
            i = 0
            n = len(w)
            hit = False
            while i < n:
                if i + 1 < n and w[i] == a and w[i + 1] == b:
                    out.append(new)
                    i += 2
                    hit = True
                else:
                    out.append(w[i])
                    i += 1
            if not hit:
                continue
            for p in zip(w, w[1:]):
                changed[p] = changed.get(p, 0) - f
            for p in zip(out, out[1:]):
                changed[p] = changed.get(p, 0) + f
                pair_words.setdefault(p, set()).add(wi)
            words[wi] = out
        for p, d in changed.items():
            if d == 0:
                continue
            c2 = pair_count.get(p, 0) + d
            if c2 > 0:
                pair_count[p] = c2
                heapq.heappush(heap, (-c2, p))
            else:
                pair_count.pop(p, None)
        pair_count.pop(pair, None)
        if log and len(merges) % 500 == 0:
            log(f"bpe: {len(merges)} merges, last count {c}")
    return merges


class ByteBPE:
    """Encoder for a merge list; ids as described in the module docstring."""

    def __init__(self, merges, specials=("<s>", "</s>")):
        self.merges = [tuple(m) for m in merges]
        self.rank = {}
        self.result = {}
        self.token_bytes = [bytes([i]) for i in range(256)]
        for k, (a, b) in enumerate(self.merges):
            self.rank[(a, b)] = k
            self.result[(a, b)] = 256 + k
            self.token_bytes.append(self.token_bytes[a] + self.token_bytes[b])
        strings = [self.token_str(i) for i in range(len(self.token_bytes))]
        if len(set(strings)) != len(strings):
            raise ValueError("two merges produce the same token string")
        self.n_bpe = len(self.token_bytes)
        self.specials = {s: self.n_bpe + i for i, s in enumerate(specials)}
        self.vocab_size = self.n_bpe + len(specials)
        self._cache = {}

    def token_str(self, i):
        return "".join(BYTE_CHARS[x] for x in self.token_bytes[i])

    def _word(self, piece):
        ids = self._cache.get(piece)
        if ids is not None:
            return ids
        w = list(piece.encode("utf-8"))
        rank = self.rank
        while len(w) > 1:
            best = None
            for p in zip(w, w[1:]):
                r = rank.get(p)
                if r is not None and (best is None or r < best):
                    best = r
            if best is None:
                break
            a, b = self.merges[best]
            new = 256 + best
            out = []
            i = 0
            n = len(w)
            while i < n:
                if i + 1 < n and w[i] == a and w[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            w = out
        self._cache[piece] = w
        return w

    def encode(self, text):
        """Token ids of text (literal "<s>"/"</s>" become the special tokens, as in HF)."""
        ids = []
        if self.specials:
            parts = re.split("(" + "|".join(re.escape(s) for s in self.specials) + ")", text)
        else:
            parts = [text]
        for part in parts:
            if part in self.specials:
                ids.append(self.specials[part])
                continue
            for piece in pretokenize(part):
                ids.extend(self._word(piece))
        return ids

    def decode(self, ids):
        inv = {v: k for k, v in self.specials.items()}
        out = bytearray()
        for i in ids:
            out += inv[i].encode("utf-8") if i in inv else self.token_bytes[i]
        return out.decode("utf-8", errors="replace")

    def tokenizer_json(self):
        def added(i, content):
            return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
                    "normalized": False, "special": True}

        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [added(i, s) for s, i in self.specials.items()],
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {
                "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                "vocab": {self.token_str(i): i for i in range(self.n_bpe)},
                "merges": [[self.token_str(a), self.token_str(b)] for a, b in self.merges],
            },
        }

    @classmethod
    def from_tokenizer_json(cls, path):
        """Rebuild the encoder from a tokenizer.json written by `write` (checks the id layout)."""
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        vocab = tj["model"]["vocab"]
        merges = [(vocab[a], vocab[b]) for a, b in tj["model"]["merges"]]
        tok = cls(merges, specials=tuple(t["content"] for t in sorted(tj["added_tokens"], key=lambda t: t["id"])))
        if any(vocab[tok.token_str(i)] != i for i in range(tok.n_bpe)) or len(vocab) != tok.n_bpe:
            raise ValueError(f"{path}: vocabulary is not in this module's id layout")
        if any(tok.specials[t["content"]] != t["id"] for t in tj["added_tokens"]):
            raise ValueError(f"{path}: special token ids differ")
        return tok

    def write(self, path):
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(self.tokenizer_json(), indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    # python3 tools/bpe.py encode TOKENIZER_JSON < text.txt   → JSON list of ids on stdout
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "encode":
        sys.exit("usage: bpe.py encode TOKENIZER_JSON < text")
    _tok = ByteBPE.from_tokenizer_json(sys.argv[2])
    sys.stdout.write(json.dumps(_tok.encode(sys.stdin.buffer.read().decode("utf-8"))) + "\n")

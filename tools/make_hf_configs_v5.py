#!/usr/bin/env python3
"""config.json as transformers 5 writes it, for every fixture of tools/make_hf_fixtures.py, and a
cross-version check of the logits.

Run (needs transformers 5.x, here 5.18.0; see tools/README.md for the venv), after
tools/make_hf_fixtures.py:

    OMP_NUM_THREADS=1 /work/venv-hf5/bin/python tools/make_hf_configs_v5.py [NAME ...]

For each folder test/fixtures/hf/NAME/ (written by transformers 4.57.6) it loads the checkpoint
with transformers 5 in its stored dtype, save_pretrained's it into a temporary folder and copies
only the written config.json to test/fixtures/hf/NAME/config.v5.json (weights, generation config
and everything else stay the 4.57.6 ones). It then reloads the checkpoint in float32 with eager
attention, computes the logits of the reference rows (each row's valid prefix alone, as the
reference does) and prints the max abs difference to NAME.ref.safetensors, for the first row and for
all rows; a difference above 1e-4 of the logits' scale would mean the semantics changed between
versions. It also prints which config keys transformers 5 added, dropped or changed, and whether
the tensor names it writes differ from the 4.57.6 ones.
"""

import json
import os
import shutil
import struct
import sys
import tempfile

import torch

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

import safetensors.torch  # noqa: E402
import transformers  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HF_DIR = os.path.join(ROOT, "test", "fixtures", "hf")
REF_OF = {"gpt2-noprefix": "gpt2"}  # fixtures that share another fixture's reference


def model_class(folder):
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        arch = json.load(f)["architectures"][0]
    if arch.endswith("ForCausalLM") or arch.endswith("LMHeadModel"):
        return transformers.AutoModelForCausalLM, arch
    return getattr(transformers, arch), arch


def tensor_names(folder):
    names = set()
    for f in sorted(os.listdir(folder)):
        if f.endswith(".safetensors"):
            with open(os.path.join(folder, f), "rb") as fh:
                n = struct.unpack("<Q", fh.read(8))[0]
                names |= set(json.loads(fh.read(n))) - {"__metadata__"}
    return names


def flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k.endswith("_config"):
            out.update(flat(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def config_diff(old, new):
    fo, fn = flat(old), flat(new)
    added = {k: fn[k] for k in sorted(set(fn) - set(fo))}
    dropped = {k: fo[k] for k in sorted(set(fo) - set(fn))}
    changed = {k: (fo[k], fn[k]) for k in sorted(set(fo) & set(fn)) if fo[k] != fn[k]}
    return added, dropped, changed


def main():
    only = set(sys.argv[1:])
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    names = sorted(d for d in os.listdir(HF_DIR) if os.path.isdir(os.path.join(HF_DIR, d)))
    summary = []
    for name in names:
        if only and name not in only:
            continue
        folder = os.path.join(HF_DIR, name)
        cls, arch = model_class(folder)
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            old_cfg = json.load(f)

        # 1. config.json as transformers 5 writes it (model loaded in its stored dtype)
        m = cls.from_pretrained(folder, dtype="auto")
        tmp = tempfile.mkdtemp(prefix="lape-v5-")
        try:
            m.save_pretrained(tmp)
            shutil.copyfile(os.path.join(tmp, "config.json"), os.path.join(folder, "config.v5.json"))
            v5_names = tensor_names(tmp)
        finally:
            shutil.rmtree(tmp)
        del m
        with open(os.path.join(folder, "config.v5.json"), encoding="utf-8") as f:
            new_cfg = json.load(f)
        added, dropped, changed = config_diff(old_cfg, new_cfg)
        v4_names = tensor_names(folder)

        # 2. logits of the reference rows with transformers 5 (f32, eager)
        ref_path = os.path.join(HF_DIR, REF_OF.get(name, name) + ".ref.safetensors")
        ref = safetensors.torch.load_file(ref_path)
        m = cls.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
        diffs, scale = [], ref["logits"][ref["attention_mask"].bool()].abs().max().item()
        with torch.no_grad():
            for b in range(ref["input_ids"].shape[0]):
                n = int(ref["attention_mask"][b].sum())
                ids = ref["input_ids"][b, :n][None]
                lg = m(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).logits[0].float()
                diffs.append((lg - ref["logits"][b, :n]).abs().max().item())
        del m
        ok = max(diffs) <= 1e-4 * scale
        info = {
            "name": name, "architecture": arch,
            "row0_max_abs_diff": diffs[0], "all_rows_max_abs_diff": max(diffs), "logits_scale": round(scale, 4),
            "within_1e-4_of_scale": ok,
            "config_added": added, "config_dropped": dropped, "config_changed": changed,
            "tensor_names_only_v4": sorted(v4_names - v5_names)[:6], "tensor_names_only_v5": sorted(v5_names - v4_names)[:6],
            "tensor_names_differ": v4_names != v5_names,
        }
        summary.append((name, diffs[0], max(diffs), ok))
        print(json.dumps(info))
    for f in os.listdir(HF_DIR):
        p = os.path.join(HF_DIR, f, "config.v5.json")
        if os.path.exists(p):
            os.chmod(p, 0o644)
    print("logits vs 4.57.6 reference (row 0 / all rows / within 1e-4 of scale):")
    for name, d0, dall, ok in summary:
        print(f"  {name:15s} {d0:.3e} {dall:.3e} {'ok' if ok else 'DIFFERENT'}")


if __name__ == "__main__":
    main()

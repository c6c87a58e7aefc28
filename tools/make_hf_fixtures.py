#!/usr/bin/env python3
"""Tiny random Hugging Face checkpoints of many decoder families + reference vectors computed by
transformers' own modeling code.

Run (needs transformers 4.57.6 + torch, CPU; see tools/README.md for the venv):

    OMP_NUM_THREADS=1 /work/venv-hf/bin/python tools/make_hf_fixtures.py [NAME ...]

For each fixture NAME (see FIXTURES below) it writes
  test/fixtures/hf/NAME/               model.save_pretrained(..., safe_serialization=True) output
                                       (config.json, generation_config.json, weights) + the
                                       tokenizer files of test/fixtures/llama-gqa
  test/fixtures/hf/NAME.ref.safetensors
                                       reference tensors, same names and conventions as
                                       tools/make_fixtures.py (see tools/README.md), plus gen_ids /
                                       gen_ids_hf and per-family metadata.
gpt2-noprefix is gpt2's checkpoint with the `transformer.` prefix stripped (and OpenAI-style
`h.{i}.attn.bias` mask buffers added); it shares test/fixtures/hf/gpt2.ref.safetensors.

How the reference is computed: the in-memory model (weights already rounded to the checkpoint
dtype, f32 compute, eager attention, eval mode) runs each row's valid prefix alone (batch of 1,
positions 0..n-1, attention_mask of ones). hook_pre / hook_act are the input / output of the
activation module (forward hooks), resid_post.{i} the output of decoder layer i (forward hook),
patches are a forward hook that replaces the activation module's output. Every capture point is
checked against its neighbours (the pre-activation projection's output must equal the activation
input, the down projection's input must equal act (or act*up) exactly).

Checks done on every run (the script fails if one does not hold):
  * reloaded checkpoint (from_pretrained on the written folder, f32, eager) gives the same logits
    and the same config as the one written;
  * greedy loop of full forwards == model.generate(do_sample=False, use_cache=True);
  * hook_pre has both signs, the patches change the logits, and the family features named in
    `must_matter` (softcaps, windows, rope bases, partial rotary, ...) change the logits;
  * gemma3-mm: a Gemma3ForCausalLM built from its text_config and `model.language_model.*`
    weights gives the same logits (the text path is plain Gemma3 text).

It rewrites only test/fixtures/hf/ (a folder's config.v5.json, written by
tools/make_hf_configs_v5.py, is kept; rerun that script after changing a config). Deterministic:
rerunning gives byte-identical files.
"""

import copy
import json
import math
import os
import shutil
import sys
import time

import torch

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

import safetensors.torch  # noqa: E402
import transformers  # noqa: E402
from transformers import GenerationConfig  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "test", "fixtures", "hf")
TOK_SRC = os.path.join(ROOT, "test", "fixtures", "llama-gqa")

VOCAB, BOS, EOS = 300, 298, 299
BATCH, SEQ = 3, 20
VALID_LENS = [20, 15, 11]
BORDERLINE_TOL = 1e-4
GEN_TOKENS = 8

PADDING = ("right padding; each row is computed on its valid prefix alone (batch of 1, positions 0..n-1, "
           "no padding); outputs at padded positions are 0")
LOGPROB = "logprob[b,t] = log_softmax(logits[b,t])[input_ids[b,t+1]] if t+1 is valid, else 0"
PATCH_RULE = ("patches replace the activation module's output hook_act (before the multiplication by up_proj "
              "for GLU families, before the down projection otherwise), at every valid token, in every layer "
              "at once (patch_idx.{i}/patch_val.{i}): zero -> 0, set -> v, add -> act + v, scale -> act * v")
GEN_RULE = ("gen_ids: greedy loop, 8 steps, each a full uncached forward of the row's valid prefix + tokens so far, "
            "argmax of the last position's logits (lowest index on ties); gen_ids_hf: model.generate(do_sample=False, "
            "max_new_tokens=8, use_cache=True, eos_token_id=None) on the row alone; asserted equal")

GELU_NEW = "gelu_new: 0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715*x^3)))"
GELU_TANH = "gelu_pytorch_tanh: torch.nn.functional.gelu(x, approximate='tanh')"


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------

def _glu(layers, desc):
    return {"layers": layers, "pre": "mlp.gate_proj", "act": "mlp.act_fn", "down": "mlp.down_proj",
            "up": "mlp.up_proj", "hook_act": desc}


FIXTURES = [
    {
        "name": "gpt2",
        "init": {"embed_std": 0.1, "out_gain": 3.0, "norm_mean": {"ln_f": 3.0}},
        "family": "gpt2", "cls": "GPT2LMHeadModel", "seed": 11, "dtype": torch.float32, "shards": 1,
        "config": dict(cls="GPT2Config", vocab_size=VOCAB, n_positions=64, n_embd=64, n_layer=2, n_head=4,
                       n_inner=128, activation_function="gelu_new", layer_norm_epsilon=1e-5,
                       bos_token_id=BOS, eos_token_id=EOS),
        "layers": "transformer.h", "pre": "mlp.c_fc", "act": "mlp.act", "down": "mlp.c_proj",
        "hook_act": "gelu_new(c_fc(ln_2(x)))  [" + GELU_NEW + "; c_fc is a Conv1D: x @ W[in,out] + b]",
        "must_matter": [],
    },
    {
        "name": "opt",
        "init": {"embed_std": 0.15, "out_gain": 2.0, "norm_mean": {"decoder.final_layer_norm": 2.0}},
        "family": "opt", "cls": "OPTForCausalLM", "seed": 12, "dtype": torch.float16, "shards": 1,
        "config": dict(cls="OPTConfig", vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, ffn_dim=128,
                       max_position_embeddings=64, do_layer_norm_before=True, word_embed_proj_dim=64,
                       num_attention_heads=4, activation_function="relu", enable_bias=True,
                       layer_norm_elementwise_affine=True, pad_token_id=None, bos_token_id=BOS, eos_token_id=EOS),
        "layers": "model.decoder.layers", "pre": "fc1", "act": "activation_fn", "down": "fc2",
        "hook_act": "relu(fc1(final_layer_norm(x)))",
        "must_matter": [],
    },
    {
        "name": "bloom",
        "init": {"out_gain": 3.0, "norm_mean": {"word_embeddings_layernorm": 0.1}},
        "family": "bloom", "cls": "BloomForCausalLM", "seed": 213, "dtype": torch.bfloat16, "shards": 2,
        # 6 heads (not a power of two): exercises the second branch of the ALiBi slope formula.
        "config": dict(cls="BloomConfig", vocab_size=VOCAB, hidden_size=96, n_layer=2, n_head=6,
                       layer_norm_epsilon=1e-5, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=None),
        "layers": "transformer.h", "pre": "mlp.dense_h_to_4h", "act": "mlp.gelu_impl", "down": "mlp.dense_4h_to_h",
        "hook_act": ("bloom_gelu(dense_h_to_4h(post_attention_layernorm(x))) = "
                     "x*0.5*(1+tanh(0.79788456*x*(1+0.044715*x*x)))  [BloomGelu, eval branch]"),
        "must_matter": [],
    },
    {
        "name": "phi", "family": "phi", "cls": "PhiForCausalLM", "seed": 14, "dtype": torch.float32, "shards": 1,
        "config": dict(cls="PhiConfig", vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, hidden_act="gelu_new", max_position_embeddings=64,
                       layer_norm_eps=1e-5, tie_word_embeddings=False, rope_theta=5000.0,
                       partial_rotary_factor=0.5, qk_layernorm=False, bos_token_id=BOS, eos_token_id=EOS),
        "layers": "model.layers", "pre": "mlp.fc1", "act": "mlp.activation_fn", "down": "mlp.fc2",
        "hook_act": "gelu_new(fc1(input_layernorm(x)))  [" + GELU_NEW + "; the same LayerNorm output feeds attention]",
        "must_matter": [("partial_rotary_factor=1.0", {"partial_rotary_factor": 1.0}),
                        ("rope_theta=10000", {"rope_theta": 10000.0})],
    },
    {
        "name": "gpt-neox", "family": "gpt_neox", "cls": "GPTNeoXForCausalLM", "seed": 15, "dtype": torch.float32,
        "shards": 1,
        "config": dict(cls="GPTNeoXConfig", vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2,
                       num_attention_heads=4, intermediate_size=128, hidden_act="gelu", rotary_pct=0.25,
                       rotary_emb_base=1000, max_position_embeddings=64, layer_norm_eps=1e-5,
                       tie_word_embeddings=False, use_parallel_residual=True, attention_bias=True,
                       bos_token_id=BOS, eos_token_id=EOS),
        "layers": "gpt_neox.layers", "pre": "mlp.dense_h_to_4h", "act": "mlp.act", "down": "mlp.dense_4h_to_h",
        "hook_act": "gelu(dense_h_to_4h(post_attention_layernorm(x)))  [exact erf GELU, torch.nn.functional.gelu]",
        "must_matter": [("rotary_pct=1.0", {"rotary_pct": 1.0, "partial_rotary_factor": 1.0}),
                        ("rotary_emb_base=10000", {"rotary_emb_base": 10000, "rope_theta": 10000}),
                        ("use_parallel_residual=False", {"use_parallel_residual": False})],
    },
    {
        "name": "gemma",
        "init": {"embed_std": 0.045, "out_gain": 2.0, "norm_mean": {"model.norm": 3.0}},
        "family": "gemma", "cls": "GemmaForCausalLM", "seed": 16, "dtype": torch.float32, "shards": 1,
        "config": dict(cls="GemmaConfig", vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=1, head_dim=32, hidden_act="gelu_pytorch_tanh",
                       max_position_embeddings=64, rms_norm_eps=1e-6, rope_theta=20000.0, tie_word_embeddings=True,
                       pad_token_id=None, bos_token_id=BOS, eos_token_id=EOS),
        **_glu("model.layers", "gelu_pytorch_tanh(gate_proj(post_attention_layernorm(x)))  [" + GELU_TANH + "]"),
        "must_matter": [("rope_theta=10000", {"rope_theta": 10000.0})],
    },
    {
        "name": "gemma2",
        "init": {"embed_std": 0.075, "norm_mean": {"post_attention_layernorm": 3.0, "post_feedforward_layernorm": 3.0, "model.norm": 2.0}},
        "family": "gemma2", "cls": "Gemma2ForCausalLM", "seed": 17, "dtype": torch.float32,
        "shards": 1,
        "config": dict(cls="Gemma2Config", vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=16, hidden_activation="gelu_pytorch_tanh",
                       max_position_embeddings=64, rms_norm_eps=1e-6, rope_theta=30000.0, tie_word_embeddings=True,
                       query_pre_attn_scalar=24, sliding_window=6,
                       layer_types=["sliding_attention", "full_attention"],
                       attn_logit_softcapping=5.0, final_logit_softcapping=3.0,
                       pad_token_id=None, bos_token_id=BOS, eos_token_id=EOS),
        **_glu("model.layers", "gelu_pytorch_tanh(gate_proj(pre_feedforward_layernorm(x)))  [" + GELU_TANH + "]"),
        "must_matter": [("attn_logit_softcapping=None", {"attn_logit_softcapping": None}),
                        ("final_logit_softcapping=None", {"final_logit_softcapping": None}),
                        ("sliding_window=4096", {"sliding_window": 4096}),
                        ("query_pre_attn_scalar=head_dim", {"query_pre_attn_scalar": 16}),
                        ("rope_theta=10000", {"rope_theta": 10000.0})],
    },
    {
        "name": "gemma3",
        "init": {"embed_std": 0.075, "norm_mean": {"post_attention_layernorm": 3.0, "post_feedforward_layernorm": 3.0, "language_model.norm": 2.0, "model.norm": 2.0}},
        "family": "gemma3_text", "cls": "Gemma3ForCausalLM", "seed": 18, "dtype": torch.float32,
        "shards": 1,
        "config": dict(cls="Gemma3TextConfig", vocab_size=VOCAB, hidden_size=64, intermediate_size=96,
                       num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                       hidden_activation="gelu_pytorch_tanh", max_position_embeddings=64, rms_norm_eps=1e-6,
                       rope_theta=50000.0, rope_scaling={"rope_type": "linear", "factor": 4.0},
                       rope_local_base_freq=20000.0, query_pre_attn_scalar=20, sliding_window=6,
                       layer_types=["sliding_attention", "sliding_attention", "full_attention"],
                       sliding_window_pattern=3, tie_word_embeddings=True,
                       pad_token_id=None, bos_token_id=BOS, eos_token_id=EOS),
        **_glu("model.layers", "gelu_pytorch_tanh(gate_proj(pre_feedforward_layernorm(x)))  [" + GELU_TANH + "]"),
        "must_matter": [("sliding_window=4096", {"sliding_window": 4096}),
                        ("rope_scaling=None", {"rope_scaling": None}),
                        ("rope_theta=1e6 (default)", {"rope_theta": 1000000.0}),
                        ("rope_local_base_freq=1e4 (default)", {"rope_local_base_freq": 10000.0}),
                        ("query_pre_attn_scalar=head_dim", {"query_pre_attn_scalar": 16})],
    },
    {
        "name": "gemma3-mm",
        "init": {"embed_std": 0.075, "norm_mean": {"post_attention_layernorm": 3.0, "post_feedforward_layernorm": 3.0, "language_model.norm": 2.0}},
        "family": "gemma3", "cls": "Gemma3ForConditionalGeneration", "seed": 19,
        "dtype": torch.float32, "shards": 1,
        "config": dict(cls="Gemma3Config",
                       text_config=dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                                        hidden_activation="gelu_pytorch_tanh", max_position_embeddings=64,
                                        rms_norm_eps=1e-6, rope_theta=200000.0,
                                        rope_scaling={"rope_type": "linear", "factor": 4.0},
                                        rope_local_base_freq=20000.0, query_pre_attn_scalar=20, sliding_window=6,
                                        layer_types=["sliding_attention", "full_attention"],
                                        sliding_window_pattern=2, tie_word_embeddings=True,
                                        pad_token_id=None, bos_token_id=BOS, eos_token_id=EOS),
                       vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64,
                                          num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=14,
                                          vision_use_head=False),
                       mm_tokens_per_image=4, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=None),
        **_glu("model.language_model.layers",
               "gelu_pytorch_tanh(gate_proj(pre_feedforward_layernorm(x)))  [" + GELU_TANH + "]"),
        "must_matter": [],
    },
    {
        "name": "qwen3", "family": "qwen3", "cls": "Qwen3ForCausalLM", "seed": 20, "dtype": torch.float32, "shards": 1,
        "config": dict(cls="Qwen3Config", vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=32, hidden_act="silu",
                       max_position_embeddings=64, rms_norm_eps=1e-6, rope_theta=50000.0, tie_word_embeddings=False,
                       bos_token_id=BOS, eos_token_id=EOS),
        **_glu("model.layers", "silu(gate_proj(post_attention_layernorm(x)))"),
        "must_matter": [("rope_theta=10000", {"rope_theta": 10000.0})],
    },
    {
        "name": "llama-bias", "family": "llama", "cls": "LlamaForCausalLM", "seed": 21, "dtype": torch.float32,
        "shards": 1,
        "config": dict(cls="LlamaConfig", vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=32, hidden_act="silu",
                       max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=30000.0, tie_word_embeddings=False,
                       attention_bias=True, mlp_bias=True, bos_token_id=BOS, eos_token_id=EOS),
        **_glu("model.layers", "silu(gate_proj(post_attention_layernorm(x)))  [gate_proj has a bias (mlp_bias)]"),
        "must_matter": [("rope_theta=10000", {"rope_theta": 10000.0})],
    },
]

_DTYPE_NAME = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def get_attr(obj, path):
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


def make_config(spec):
    spec = dict(spec)
    cls = getattr(transformers, spec.pop("cls"))
    return cls(**spec)


def make_model(fx, config=None):
    cls = getattr(transformers, fx["cls"])
    config = config if config is not None else make_config(fx["config"])
    config._attn_implementation = "eager"
    if hasattr(config, "text_config"):
        config.text_config._attn_implementation = "eager"
    if hasattr(config, "vision_config") and config.vision_config is not None:
        config.vision_config._attn_implementation = "eager"
    torch.manual_seed(fx["seed"])
    model = cls(config)
    model.eval()
    return model.to(torch.float32)


OUT_PROJ = ("c_proj", "out_proj", "o_proj", "down_proj", "fc2", "dense_4h_to_h", "self_attention.dense",
            "attention.dense", "self_attn.dense")


def randomize(model, fx):
    """Overwrite every parameter with non-degenerate random values, rounded to the checkpoint dtype.
    Linear/Conv1D/conv weights ~ N(0, 1/fan_in); token embeddings N(0, 0.5^2) (Gemma's, scaled by
    sqrt(hidden) in the forward, N(0, 0.15^2)); learned positions N(0, 0.3^2); biases N(0, 0.1^2);
    norm weights 1 + N(0, 0.1^2) ((1+w) Gemma RMSNorms: w ~ N(0, 0.1^2), so the effective weight is
    again 1 + N(0, 0.1^2)).
    fx["init"] adjusts this for tied-embedding families, where the token's own embedding otherwise
    dominates the residual stream and greedy continuations just repeat the last token:
    embed_std (token embedding std), out_gain (std factor of attention-output and FFN-down
    projections), norm_mean {name substring: effective mean of that norm's weight}."""
    seed, dtype = fx["seed"], fx["dtype"]
    init = fx.get("init", {})
    gen = torch.Generator().manual_seed(seed)
    owner = {}
    for mname, mod in model.named_modules():
        for pname, _ in mod.named_parameters(recurse=False):
            owner[(mname + "." if mname else "") + pname] = mod
    with torch.no_grad():
        for name, p in model.named_parameters():  # tied parameters appear once
            mod = owner[name]
            cname = type(mod).__name__
            leaf = name.rsplit(".", 1)[-1]

            def randn(std, mean=0.0):
                return mean + std * torch.randn(p.shape, generator=gen, dtype=torch.float32)

            is_text = "vision" not in name and "multi_modal" not in name
            gain = init.get("out_gain", 1.0) if is_text and any(o in name for o in OUT_PROJ) else 1.0
            if "Norm" in cname:
                mean = 1.0
                for sub, m in init.get("norm_mean", {}).items():
                    if sub in name and is_text:
                        mean = m
                if leaf == "bias":
                    v = randn(0.1)
                elif cname.startswith("Gemma") and "RMSNorm" in cname:
                    v = randn(0.1, mean - 1.0)  # used as (1 + w)
                else:
                    v = randn(0.1, mean)
            elif leaf == "bias":
                v = randn(0.1)
            elif isinstance(mod, torch.nn.Embedding):
                if "position" in name or "embed_positions" in name or name.endswith("wpe.weight"):
                    v = randn(0.3)
                elif type(model).__name__.startswith("Gemma"):
                    v = randn(init.get("embed_std", 0.15))
                else:
                    v = randn(init.get("embed_std", 0.5))
            elif cname == "Conv1D":  # GPT-2: weight [in, out]
                v = randn(gain / math.sqrt(p.shape[0]))
            elif p.dim() >= 2:
                fan_in = p[0].numel()
                v = randn(gain / math.sqrt(fan_in))
            else:  # e.g. Gemma3's multi-modal projector vectors
                v = randn(0.1)
            p.copy_(v.to(dtype).to(torch.float32))


class Capture:
    """Forward hooks on every layer: activation input/output, decoder-layer output, and the
    neighbouring projections (to check that the activation module sits where we think)."""

    def __init__(self, model, fx, patch=None):
        self.fx = fx
        self.layers = get_attr(model, fx["layers"])
        self.n = len(self.layers)
        self.pre, self.act, self.resid, self.pre_lin, self.down_in, self.up_out = ({} for _ in range(6))
        self.handles = []
        acts = [get_attr(layer, fx["act"]) for layer in self.layers]
        assert len({id(a) for a in acts}) == self.n, "activation module shared between layers"
        for i, layer in enumerate(self.layers):
            self.handles.append(acts[i].register_forward_hook(self._act_hook(i, patch)))
            self.handles.append(layer.register_forward_hook(self._resid_hook(i)))
            self.handles.append(get_attr(layer, fx["pre"]).register_forward_hook(self._store(self.pre_lin, i, out=True)))
            self.handles.append(get_attr(layer, fx["down"]).register_forward_hook(self._store(self.down_in, i, out=False)))
            if fx.get("up"):
                self.handles.append(get_attr(layer, fx["up"]).register_forward_hook(self._store(self.up_out, i, out=True)))

    @staticmethod
    def _flat(t):
        return t.detach().reshape(-1, t.shape[-1]).clone()

    def _store(self, d, i, out):
        def hook(mod, inp, output):
            d[i] = self._flat(output if out else inp[0])
        return hook

    def _act_hook(self, i, patch):
        def hook(mod, inp, output):
            assert len(inp) == 1
            self.pre[i] = self._flat(inp[0])
            self.act[i] = self._flat(output)
            if patch is None:
                return None
            mode, idx, val = patch[0], patch[1][i], patch[2][i]
            out = output.clone()
            if mode == "zero":
                out[..., idx] = 0.0
            elif mode == "set":
                out[..., idx] = val.expand(out[..., idx].shape)
            elif mode == "add":
                out[..., idx] = out[..., idx] + val
            elif mode == "scale":
                out[..., idx] = out[..., idx] * val
            else:
                raise ValueError(mode)
            return out
        return hook

    def _resid_hook(self, i):
        def hook(mod, inp, output):
            h = output[0] if isinstance(output, (tuple, list)) else output
            self.resid[i] = self._flat(h)
        return hook

    def verify(self, patched=False):
        for i in range(self.n):
            assert torch.equal(self.pre_lin[i], self.pre[i]), f"layer {i}: activation input != {self.fx['pre']} output"
            if patched:
                continue
            expect = self.act[i] * self.up_out[i] if self.fx.get("up") else self.act[i]
            assert torch.equal(self.down_in[i], expect), f"layer {i}: {self.fx['down']} input != hook_act"

    def close(self):
        for h in self.handles:
            h.remove()


def run_row(model, fx, ids, patch=None):
    cap = Capture(model, fx, patch)
    try:
        with torch.no_grad():
            out = model(input_ids=ids[None], attention_mask=torch.ones(1, ids.shape[0], dtype=torch.int64),
                        use_cache=False)
        cap.verify(patched=patch is not None)
    finally:
        cap.close()
    return out.logits[0].float(), cap


def logits_only(model, ids):
    with torch.no_grad():
        return model(input_ids=ids[None], attention_mask=torch.ones(1, ids.shape[0], dtype=torch.int64),
                     use_cache=False).logits[0].float()


def greedy_loop(model, ids, steps):
    seq = ids.clone()
    out = []
    for _ in range(steps):
        nxt = int(torch.argmax(logits_only(model, seq)[-1]))
        out.append(nxt)
        seq = torch.cat([seq, torch.tensor([nxt], dtype=torch.int64)])
    return out


def greedy_hf(model, ids, steps):
    with torch.no_grad():
        g = model.generate(input_ids=ids[None], attention_mask=torch.ones(1, ids.shape[0], dtype=torch.int64),
                           do_sample=False, max_new_tokens=steps, min_new_tokens=steps, use_cache=True,
                           eos_token_id=None, pad_token_id=0)
    return g[0, ids.shape[0]:].tolist()


_ST_DTYPE = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}


def write_safetensors(path, tensors, metadata):
    """Deterministic safetensors writer (the safetensors package writes __metadata__ in hash-map
    order, so its files differ between runs): header keys and data in sorted-name order, metadata
    keys sorted, header padded with spaces to a multiple of 8 (as tools/make_fixtures.py does)."""
    header = {"__metadata__": {k: metadata[k] for k in sorted(metadata)}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        raw = t.numpy().tobytes()  # little-endian host
        header[name] = {"dtype": _ST_DTYPE[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(len(hjson).to_bytes(8, "little"))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def json_load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def strip_cfg(d):
    d = copy.deepcopy(d)
    for k in ("dtype", "torch_dtype", "_name_or_path", "architectures", "transformers_version"):
        d.pop(k, None)
    for sub in ("text_config", "vision_config"):
        if isinstance(d.get(sub), dict):
            d[sub] = strip_cfg(d[sub])
    return d


# --------------------------------------------------------------------------------------------
# one fixture
# --------------------------------------------------------------------------------------------

def build(fx, tok_gen_seed):
    t0 = time.time()
    name = fx["name"]
    d = os.path.join(OUT_DIR, name)
    keep_v5 = None  # config.v5.json is written by tools/make_hf_configs_v5.py: keep it
    if os.path.exists(os.path.join(d, "config.v5.json")):
        with open(os.path.join(d, "config.v5.json"), "rb") as f:
            keep_v5 = f.read()
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    if keep_v5 is not None:
        with open(os.path.join(d, "config.v5.json"), "wb") as f:
            f.write(keep_v5)

    model = make_model(fx)
    randomize(model, fx)
    model.eval()

    # ---- checkpoint --------------------------------------------------------------------------
    to_save = copy.deepcopy(model).to(fx["dtype"])  # a copy: keeps the f32 rope buffers of `model` intact
    kw = {}
    if fx["shards"] > 1:
        total = sum(v.numel() * v.element_size() for v in to_save.state_dict().values())
        kw["max_shard_size"] = int(total * 0.6)
    to_save.save_pretrained(d, safe_serialization=True, **kw)
    del to_save
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(TOK_SRC, f), os.path.join(d, f))
    files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
    assert len(files) == fx["shards"], f"{name}: expected {fx['shards']} shard(s), got {files}"
    written_cfg = json_load(os.path.join(d, "config.json"))
    dkey = "dtype" if "dtype" in written_cfg else "torch_dtype"
    assert written_cfg.get(dkey) == _DTYPE_NAME[fx["dtype"]], (name, written_cfg.get(dkey))

    # ---- inputs, patches -----------------------------------------------------------------------
    gen = torch.Generator().manual_seed(tok_gen_seed)
    input_ids = torch.randint(0, BOS, (BATCH, SEQ), generator=gen, dtype=torch.int64)
    attention_mask = torch.zeros(BATCH, SEQ, dtype=torch.int64)
    for b, n in enumerate(VALID_LENS):
        attention_mask[b, :n] = 1
    layers = get_attr(model, fx["layers"])
    L = len(layers)
    probe_logits, probe = run_row(model, fx, input_ids[0, :4])
    I = probe.pre[0].shape[-1]
    H = probe.resid[0].shape[-1]
    V = probe_logits.shape[-1]
    assert V == VOCAB
    patch_idx, patch_val = {}, {}
    for i in range(L):
        k = 9 + i
        patch_idx[i] = torch.sort(torch.randperm(I, generator=gen)[:k]).values
        patch_val[i] = 0.5 + 1.5 * torch.rand(k, generator=gen, dtype=torch.float32)

    ref = {"input_ids": input_ids, "attention_mask": attention_mask,
           "logits": torch.zeros(BATCH, SEQ, V), "logprob": torch.zeros(BATCH, SEQ)}
    for mode in ("zero", "set", "add", "scale"):
        ref["logits_" + mode] = torch.zeros(BATCH, SEQ, V)
    for i in range(L):
        ref[f"hook_pre.{i}"] = torch.zeros(BATCH, SEQ, I)
        ref[f"hook_act.{i}"] = torch.zeros(BATCH, SEQ, I)
        ref[f"resid_post.{i}"] = torch.zeros(BATCH, SEQ, H)
        ref[f"patch_idx.{i}"] = patch_idx[i]
        ref[f"patch_val.{i}"] = patch_val[i]

    # ---- reference rows ----------------------------------------------------------------------
    for b, n in enumerate(VALID_LENS):
        ids = input_ids[b, :n]
        logits, cap = run_row(model, fx, ids)
        ref["logits"][b, :n] = logits
        lsm = torch.log_softmax(logits, dim=-1)
        for t in range(n - 1):
            ref["logprob"][b, t] = lsm[t, ids[t + 1]]
        for i in range(L):
            ref[f"hook_pre.{i}"][b, :n] = cap.pre[i]
            ref[f"hook_act.{i}"][b, :n] = cap.act[i]
            ref[f"resid_post.{i}"][b, :n] = cap.resid[i]
        for mode in ("zero", "set", "add", "scale"):
            lp, _ = run_row(model, fx, ids, patch=(mode, patch_idx, patch_val))
            ref["logits_" + mode][b, :n] = lp

    valid = attention_mask.bool()
    for i in range(L):
        act = ref[f"hook_act.{i}"][valid]
        pre = ref[f"hook_pre.{i}"][valid]
        ref[f"count.{i}"] = (act > 0).sum(0).to(torch.int64)
        a64 = act.to(torch.float64)
        ref[f"sum.{i}"] = a64.sum(0)
        ref[f"sumsq.{i}"] = (a64 * a64).sum(0)
        ref[f"borderline.{i}"] = (pre.abs() < BORDERLINE_TOL).sum(0).to(torch.int64)
        pos_frac = (pre > 0).double().mean().item()
        assert 0.15 < pos_frac < 0.85, f"{name} layer {i}: hook_pre positive fraction {pos_frac}"

    # rope / alibi debugging tensors (what HF uses after scaling)
    for mname, mod in model.named_modules():
        if mname.endswith("rotary_emb"):
            ref["rope_inv_freq"] = mod.inv_freq.detach().float().clone()
        elif mname.endswith("rotary_emb_local"):
            ref["rope_inv_freq_local"] = mod.inv_freq.detach().float().clone()
    if fx["family"] == "bloom":
        from transformers.models.bloom.modeling_bloom import build_alibi_tensor
        al = build_alibi_tensor(torch.ones(1, 2, dtype=torch.int64), model.config.n_head, torch.float32)
        ref["alibi_slopes"] = al[:, 0, 1].clone()

    # ---- patches must matter -----------------------------------------------------------------
    for mode in ("zero", "set", "add", "scale"):
        diff = (ref["logits_" + mode] - ref["logits"])[valid].abs().max().item()
        assert diff > 1e-3, f"{name}: patch {mode} changes logits by only {diff}"

    # ---- greedy generation -------------------------------------------------------------------
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    gen_loop, gen_hf = [], []
    for b, n in enumerate(VALID_LENS):
        ids = input_ids[b, :n]
        gen_loop.append(greedy_loop(model, ids, GEN_TOKENS))
        gen_hf.append(greedy_hf(model, ids, GEN_TOKENS))
    ref["gen_ids"] = torch.tensor(gen_loop, dtype=torch.int64)
    ref["gen_ids_hf"] = torch.tensor(gen_hf, dtype=torch.int64)
    gen_agree = gen_loop == gen_hf
    assert gen_agree, f"{name}: greedy loop {gen_loop} != generate {gen_hf}"

    # ---- reload checks -----------------------------------------------------------------------
    cls = getattr(transformers, fx["cls"])
    re_model = cls.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    reload_diff = 0.0
    for b, n in enumerate(VALID_LENS):
        lg = logits_only(re_model, input_ids[b, :n])
        reload_diff = max(reload_diff, (lg - ref["logits"][b, :n]).abs().max().item())
    assert reload_diff == 0.0, f"{name}: reloaded checkpoint logits differ by {reload_diff}"
    assert strip_cfg(re_model.config.to_diff_dict()) == strip_cfg(written_cfg), f"{name}: reloaded config differs"
    assert strip_cfg(model.config.to_diff_dict()) == strip_cfg(written_cfg), f"{name}: in-memory config differs"
    if fx["cls"] != "Gemma3ForConditionalGeneration":
        auto = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
        assert type(auto).__name__ == fx["cls"], type(auto).__name__
        del auto
    del re_model

    # ---- gemma3-mm: the text part is a plain Gemma3ForCausalLM ---------------------------------
    txt_diff = None
    if fx["cls"] == "Gemma3ForConditionalGeneration":
        txt = transformers.Gemma3ForCausalLM(copy.deepcopy(model.config.text_config)).eval()
        sd = {k.replace("model.language_model.", "model."): v for k, v in model.state_dict().items()
              if k.startswith("model.language_model.") or k.startswith("lm_head.")}
        txt.load_state_dict(sd)
        txt_diff = max((logits_only(txt, input_ids[b, :n]) - ref["logits"][b, :n]).abs().max().item()
                       for b, n in enumerate(VALID_LENS))
        assert txt_diff <= 1e-5 * ref["logits"].abs().max().item(), f"{name}: text-only Gemma3ForCausalLM differs by {txt_diff}"
        del txt

    # ---- family features must matter ---------------------------------------------------------
    matter = []
    row0 = ref["logits"][0]
    scale = row0.abs().max().item()
    for label, change in fx["must_matter"]:
        cfg2 = make_config(fx["config"])
        for k, v in change.items():
            setattr(cfg2, k, v)
        m2 = make_model(fx, cfg2)
        m2.load_state_dict(model.state_dict())
        m2.eval()
        diff = (logits_only(m2, input_ids[0]) - row0).abs().max().item()
        matter.append((label, diff))
        assert diff > 1e-2 * scale, f"{name}: {label} changes logits by only {diff} (scale {scale})"
        del m2

    # ---- write reference ---------------------------------------------------------------------
    meta = {
        "fixture": name,
        "family": fx["family"],
        "architecture": fx["cls"],
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "hook_act": fx["hook_act"],
        "hook_module": f"{fx['layers']}.{{i}}.{fx['act']} ({type(get_attr(layers[0], fx['act'])).__name__})",
        "hook_pre": f"input of the activation module = output of {fx['layers']}.{{i}}.{fx['pre']}",
        "resid_post": f"output hidden state of {fx['layers']}.{{i}} (before any final norm)",
        "padding": PADDING,
        "logprob": LOGPROB,
        "patch_rule": PATCH_RULE,
        "gen_rule": GEN_RULE,
        "borderline_tol": repr(BORDERLINE_TOL),
        "checkpoint_dtype": _DTYPE_NAME[fx["dtype"]],
        "compute": "float32, attn_implementation=eager, eval; stored (rounded) weights are the truth",
    }
    ref = {k: v.contiguous() for k, v in ref.items()}
    ref_path = os.path.join(OUT_DIR, name + ".ref.safetensors")
    write_safetensors(ref_path, ref, meta)
    chk = safetensors.torch.load_file(ref_path)
    assert all(torch.equal(chk[k], ref[k]) for k in ref) and len(chk) == len(ref)

    lg = ref["logits"][valid]
    info = {
        "name": name, "seconds": round(time.time() - t0, 2), "layers": L, "inter": I, "hidden": H,
        "logits_std": round(lg.std().item(), 3), "logits_absmax": round(lg.abs().max().item(), 3),
        "borderline": [int(ref[f"borderline.{i}"].sum()) for i in range(L)],
        "hook_pre_pos_frac": [round((ref[f"hook_pre.{i}"][valid] > 0).double().mean().item(), 3) for i in range(L)],
        "gen_ids": gen_loop, "gen_agree": gen_agree, "reload_max_diff": reload_diff,
        "text_only_causal_lm_diff": txt_diff,
        "must_matter": [(lab, round(dv, 4)) for lab, dv in matter],
    }
    return model, ref, info


def write_gpt2_noprefix(gpt2_ref):
    """OpenAI-style gpt2 files: no `transformer.` prefix, plus `h.{i}.attn.bias` causal-mask buffers
    ([1,1,n_positions,n_positions] f32 lower-triangular ones) as in the original gpt2 checkpoint."""
    src = os.path.join(OUT_DIR, "gpt2")
    d = os.path.join(OUT_DIR, "gpt2-noprefix")
    for f in os.listdir(d) if os.path.isdir(d) else []:
        if f != "config.v5.json":
            os.remove(os.path.join(d, f))
    os.makedirs(d, exist_ok=True)
    sd = safetensors.torch.load_file(os.path.join(src, "model.safetensors"))
    out = {}
    for k, v in sd.items():
        assert k.startswith("transformer."), k
        out[k[len("transformer."):]] = v
    cfg = json_load(os.path.join(src, "config.json"))
    npos = cfg["n_positions"]
    for i in range(cfg["n_layer"]):
        out[f"h.{i}.attn.bias"] = torch.tril(torch.ones(npos, npos, dtype=torch.float32)).view(1, 1, npos, npos)
    safetensors.torch.save_file(out, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    for f in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(src, f), os.path.join(d, f))
    # transformers must load it into the same model (prefix added, attn.bias ignored)
    m = transformers.GPT2LMHeadModel.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    diff = 0.0
    for b, n in enumerate(VALID_LENS):
        lg = logits_only(m, gpt2_ref["input_ids"][b, :n])
        diff = max(diff, (lg - gpt2_ref["logits"][b, :n]).abs().max().item())
    assert diff == 0.0, f"gpt2-noprefix: logits differ by {diff}"
    return {"name": "gpt2-noprefix", "reload_max_diff": diff}


def main():
    t_start = time.time()
    only = set(sys.argv[1:])
    os.makedirs(OUT_DIR, exist_ok=True)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    for k, fx in enumerate(FIXTURES):
        if only and fx["name"] not in only and not (fx["name"] == "gpt2" and "gpt2-noprefix" in only):
            continue
        _, ref, info = build(fx, tok_gen_seed=5000 + k)
        print(json.dumps(info))
        if fx["name"] == "gpt2":
            print(json.dumps(write_gpt2_noprefix(ref)))
    for root, _, fnames in os.walk(OUT_DIR):  # safetensors writes 0600 files
        for f in fnames:
            os.chmod(os.path.join(root, f), 0o644)
    print(f"total {time.time() - t_start:.1f} s")


if __name__ == "__main__":
    main()

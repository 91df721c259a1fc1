#!/usr/bin/python3
"""Check that a directory quill wrote (`quill export`) has the layout
transformers' GPT2LMHeadModel.save_pretrained() produces, so that
AutoModelForCausalLM.from_pretrained(dir) and AutoTokenizer.from_pretrained(dir)
load it unchanged.  transformers is not installable here, so this checks the
files against what transformers reads, parses model.safetensors by hand, and
runs GPT-2's forward pass in torch on the weights (HF's math: Conv1D [in, out],
learned positions, pre-LayerNorm, tanh GELU, tied lm_head).

Not run by `make test` (CI has no torch).  Usage:
    /usr/bin/python3 tests/reference/check_hf_dir.py DIR [--bf16-of F32DIR]
--bf16-of checks DIR's BF16 tensors equal torch's rounding of F32DIR's.
"""
import json
import math
import os
import struct
import sys

import torch

HF_CONFIG_KEYS = {
    "activation_function", "architectures", "attn_pdrop", "bos_token_id", "embd_pdrop",
    "eos_token_id", "initializer_range", "layer_norm_epsilon", "model_type", "n_ctx", "n_embd",
    "n_head", "n_inner", "n_layer", "n_positions", "reorder_and_upcast_attn", "resid_pdrop",
    "scale_attn_by_inverse_layer_idx", "scale_attn_weights", "summary_activation",
    "summary_first_dropout", "summary_proj_to_labels", "summary_type", "summary_use_proj",
    "task_specific_params", "torch_dtype", "transformers_version", "use_cache", "vocab_size"}
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    check(n % 8 == 0, "safetensors header padded to 8 bytes (%d)" % n)
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", None)
    check(meta == {"format": "pt"}, "__metadata__ is {'format': 'pt'}")
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in header.items())
    at = 0
    for b, e, k in spans:
        if b != at:
            check(False, "tensors tile the data area (%s)" % k)
        at = e
    check(at == len(data), "tensors cover the data exactly")
    out = {}
    for k, v in header.items():
        b, e = v["data_offsets"]
        dt = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}[v["dtype"]]
        t = torch.frombuffer(bytearray(data[b:e]), dtype=dt).reshape(v["shape"])
        out[k] = (v["dtype"], t)
    return out


def expected_shapes(c):
    C, V, P = c["n_embd"], c["vocab_size"], c["n_positions"]
    s = {"transformer.wte.weight": [V, C], "transformer.wpe.weight": [P, C],
         "transformer.ln_f.weight": [C], "transformer.ln_f.bias": [C]}
    for l in range(c["n_layer"]):
        p = "transformer.h.%d." % l
        s.update({p + "ln_1.weight": [C], p + "ln_1.bias": [C],
                  p + "attn.c_attn.weight": [C, 3 * C], p + "attn.c_attn.bias": [3 * C],
                  p + "attn.c_proj.weight": [C, C], p + "attn.c_proj.bias": [C],
                  p + "ln_2.weight": [C], p + "ln_2.bias": [C],
                  p + "mlp.c_fc.weight": [C, 4 * C], p + "mlp.c_fc.bias": [4 * C],
                  p + "mlp.c_proj.weight": [4 * C, C], p + "mlp.c_proj.bias": [C]})
    return s


def forward(w, c, ids):
    """GPT2LMHeadModel's logits for one sequence (eval mode)."""
    g = lambda k: w["transformer." + k].float()
    T, C, H = len(ids), c["n_embd"], c["n_head"]
    x = g("wte.weight")[ids] + g("wpe.weight")[:T]
    ln = lambda x, p: torch.nn.functional.layer_norm(x, (C,), g(p + ".weight"), g(p + ".bias"),
                                                     c["layer_norm_epsilon"])
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(c["n_layer"]):
        p = "h.%d." % l
        q, k, v = (ln(x, p + "ln_1") @ g(p + "attn.c_attn.weight") + g(p + "attn.c_attn.bias")).split(C, -1)
        q, k, v = (t.view(T, H, C // H).transpose(0, 1) for t in (q, k, v))
        a = (q @ k.transpose(-1, -2)) / math.sqrt(C // H)
        a = a.masked_fill(~mask, torch.finfo(a.dtype).min).softmax(-1)
        y = (a @ v).transpose(0, 1).reshape(T, C)
        x = x + y @ g(p + "attn.c_proj.weight") + g(p + "attn.c_proj.bias")
        h = ln(x, p + "ln_2") @ g(p + "mlp.c_fc.weight") + g(p + "mlp.c_fc.bias")
        h = torch.nn.functional.gelu(h, approximate="tanh")
        x = x + h @ g(p + "mlp.c_proj.weight") + g(p + "mlp.c_proj.bias")
    return ln(x, "ln_f") @ g("wte.weight").T


def main():
    d = sys.argv[1]
    for f in ["config.json", "model.safetensors", "generation_config.json", "vocab.json",
              "merges.txt", "tokenizer_config.json", "special_tokens_map.json"]:
        check(os.path.exists(os.path.join(d, f)), "has " + f)
    c = json.load(open(os.path.join(d, "config.json")))
    check(c.get("architectures") == ["GPT2LMHeadModel"], "architectures GPT2LMHeadModel")
    check(c.get("model_type") == "gpt2", "model_type gpt2")
    check(set(c) == HF_CONFIG_KEYS, "config.json has GPT2Config's keys (extra %s, missing %s)"
          % (sorted(set(c) - HF_CONFIG_KEYS), sorted(HF_CONFIG_KEYS - set(c))))
    check(c["n_ctx"] == c["n_positions"], "n_ctx == n_positions")
    check(list(c) == sorted(c), "config keys sorted as save_pretrained writes them")
    gen = json.load(open(os.path.join(d, "generation_config.json")))
    check(gen.get("bos_token_id") == c["bos_token_id"] and gen.get("eos_token_id") == c["eos_token_id"],
          "generation_config.json bos/eos")
    tc = json.load(open(os.path.join(d, "tokenizer_config.json")))
    check(tc.get("tokenizer_class") == "GPT2Tokenizer" and tc.get("eos_token") == "<|endoftext|>",
          "tokenizer_config.json GPT2Tokenizer with <|endoftext|>")
    sm = json.load(open(os.path.join(d, "special_tokens_map.json")))
    check(sm == {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                 "unk_token": "<|endoftext|>"}, "special_tokens_map.json is GPT-2's")
    vocab = json.load(open(os.path.join(d, "vocab.json"), encoding="utf-8"))
    check(len(vocab) == 50257 and vocab.get("<|endoftext|>") == 50256, "vocab.json is GPT-2's")
    check(open(os.path.join(d, "merges.txt"), encoding="utf-8").readline().startswith("#version"),
          "merges.txt starts with #version")
    w = read_safetensors(os.path.join(d, "model.safetensors"))
    want = expected_shapes(c)
    check(set(w) == set(want), "tensor names are GPT2LMHeadModel's with transformer. (extra %s, missing %s)"
          % (sorted(set(w) - set(want))[:3], sorted(set(want) - set(w))[:3]))
    check("lm_head.weight" not in w, "lm_head.weight omitted (tied), as save_pretrained does")
    check(all(list(t.shape) == want.get(k) for k, (_, t) in w.items()), "every shape matches the config")
    dtype = {"float32": "F32", "bfloat16": "BF16"}[c["torch_dtype"]]
    check(all(dt == dtype for dt, _ in w.values()), "every tensor is %s as torch_dtype says" % dtype)
    tensors = {k: t for k, (_, t) in w.items()}
    ids = [464, 3290, 318, 257, 922, 13][: c["n_positions"]]
    ids = [i % c["vocab_size"] for i in ids]
    logits = forward(tensors, c, torch.tensor(ids))
    check(bool(torch.isfinite(logits).all()), "forward pass runs, logits finite %s" % list(logits.shape))
    if "--bf16-of" in sys.argv:
        ref = read_safetensors(os.path.join(sys.argv[sys.argv.index("--bf16-of") + 1], "model.safetensors"))
        same = all(torch.equal(ref[k][1].to(torch.bfloat16), tensors[k]) for k in ref)
        check(same, "BF16 tensors equal torch's round-to-nearest-even of the F32 ones")
    print("%d failures" % len(failures))
    sys.exit(1 if failures else 0)


main()

#!/usr/bin/python3
"""Write small GPT-2 checkpoints in F16 and BF16 by hand (no safetensors
library), with the fp32 values quill must load, for tests/test_hfmodel.c.

Run from the repository root with Debian's python3 (torch for bfloat16):
    /usr/bin/python3 tests/reference/make_safetensors.py
Writes tests/fixtures/hf_f16/ and tests/fixtures/hf_bf16/, each with
config.json, model.safetensors and expected.f32 (the parameters as
little-endian fp32 in quill's gpt_layout order).
"""
import json
import os
import struct

import numpy as np
import torch

CFG = dict(n_layer=2, n_head=2, n_embd=6, n_positions=5, vocab_size=11)


def layout(c):
    C = c["n_embd"]
    t = [("wte.weight", (c["vocab_size"], C)), ("wpe.weight", (c["n_positions"], C))]
    for l in range(c["n_layer"]):
        p = "h.%d." % l
        t += [(p + "ln_1.weight", (C,)), (p + "ln_1.bias", (C,)),
              (p + "attn.c_attn.weight", (C, 3 * C)), (p + "attn.c_attn.bias", (3 * C,)),
              (p + "attn.c_proj.weight", (C, C)), (p + "attn.c_proj.bias", (C,)),
              (p + "ln_2.weight", (C,)), (p + "ln_2.bias", (C,)),
              (p + "mlp.c_fc.weight", (C, 4 * C)), (p + "mlp.c_fc.bias", (4 * C,)),
              (p + "mlp.c_proj.weight", (4 * C, C)), (p + "mlp.c_proj.bias", (C,))]
    return t + [("ln_f.weight", (C,)), ("ln_f.bias", (C,))]


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype string, shape, raw bytes)."""
    header = {"__metadata__": {"format": "pt"}}
    at = 0
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [at, at + len(raw)]}
        at += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, _, raw in tensors:
            f.write(raw)


def make(name, dtype, prefix, extra):
    out = os.path.join("tests", "fixtures", name)
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(1234)
    tensors, expected = [], []
    for tname, shape in layout(CFG):
        x = torch.randn(shape, generator=g) * 0.5
        if tname == "wte.weight":  # special values: tiny (subnormal in f16), -0, large
            x.view(-1)[:4] = torch.tensor([6e-8, -0.0, 60000.0, -1e-6])
        h = x.to(dtype)
        expected.append(h.to(torch.float32).numpy().astype("<f4").tobytes())
        st = "F16" if dtype == torch.float16 else "BF16"
        raw = h.view(torch.int16).numpy().astype("<i2").tobytes()
        tensors.append((prefix + tname, st, shape, raw))
        if tname == "wte.weight" and extra:
            tensors.append(("lm_head.weight", st, shape, raw))
    if extra:  # the causal-mask buffers old checkpoints carry
        mask = np.tril(np.ones((1, 1, 5, 5), dtype="<f4")).tobytes()
        tensors.append((prefix + "h.0.attn.bias", "F32", (1, 1, 5, 5), mask))
        tensors.append((prefix + "h.0.attn.masked_bias", "F32", (), struct.pack("<f", -1e4)))
    write_safetensors(os.path.join(out, "model.safetensors"), tensors)
    cfg = dict(CFG, model_type="gpt2", n_ctx=CFG["n_positions"], layer_norm_epsilon=1e-5,
               activation_function="gelu_new", architectures=["GPT2LMHeadModel"])
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    with open(os.path.join(out, "expected.f32"), "wb") as f:
        f.write(b"".join(expected))


make("hf_f16", torch.float16, "", True)
make("hf_bf16", torch.bfloat16, "transformer.", False)

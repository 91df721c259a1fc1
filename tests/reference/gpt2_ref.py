#!/usr/bin/python3
"""Reference GPT-2 (the math of transformers' GPT2LMHeadModel) in PyTorch,
writing fixtures for tests/test_gpt.c.

transformers is not installable here, so this reproduces GPT2LMHeadModel:
learned positions, pre-LayerNorm blocks, Conv1D weights stored [in, out],
causal attention scaled by 1/sqrt(head_dim), gelu_new (tanh approximation)
or exact gelu, final LayerNorm, lm_head tied to wte, and the loss of
GPT2LMHeadModel(input_ids, labels=labels): cross-entropy of logits[:, :-1]
against labels[:, 1:], mean over labels != -100.  Then AdamW as
torch.optim.AdamW with Trainer's groups (no decay for biases and LayerNorm),
clip_grad_norm_ and a linear learning-rate schedule, as Trainer steps.

Computed in float64 (the fixtures are the exact answer, rounded to float32)
so the C tests measure the error of quill's float32 arithmetic alone.

Usage: /usr/bin/python3 tests/reference/gpt2_ref.py  (writes tests/fixtures/gpt/)
Fixture format: NAME.json (config, shapes, and for each array its dtype,
shape and byte offset) and NAME.bin (the arrays, little-endian, packed).
"""
import json
import math
import os
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "gpt")


def layout(cfg):
    C, V, P = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    t = [("wte.weight", (V, C), 1), ("wpe.weight", (P, C), 1)]
    for l in range(cfg["n_layer"]):
        h = f"h.{l}."
        t += [(h + "ln_1.weight", (C,), 0), (h + "ln_1.bias", (C,), 0),
              (h + "attn.c_attn.weight", (C, 3 * C), 1), (h + "attn.c_attn.bias", (3 * C,), 0),
              (h + "attn.c_proj.weight", (C, C), 1), (h + "attn.c_proj.bias", (C,), 0),
              (h + "ln_2.weight", (C,), 0), (h + "ln_2.bias", (C,), 0),
              (h + "mlp.c_fc.weight", (C, 4 * C), 1), (h + "mlp.c_fc.bias", (4 * C,), 0),
              (h + "mlp.c_proj.weight", (4 * C, C), 1), (h + "mlp.c_proj.bias", (C,), 0)]
    t += [("ln_f.weight", (C,), 0), ("ln_f.bias", (C,), 0)]
    return t


def load_fixture(name):
    """The config and float64 parameters (by tensor name) of fixture NAME
    written by this script."""
    base = os.path.join(OUT, name)
    man = json.load(open(base + ".json"))
    a = man["arrays"]["params"]
    flat = np.fromfile(base + ".bin", "<f4", count=a["shape"][0], offset=a["offset"])
    cfg, P, at = man["config"], {}, 0
    for n, shape, _ in layout(cfg):
        k = int(np.prod(shape))
        P[n] = torch.tensor(flat[at:at + k].astype(np.float64)).reshape(shape)
        at += k
    return cfg, P


def gelu(x, act):
    if act == "gelu":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def forward(cfg, P, ids):
    """Logits [B,T,V] of GPT2LMHeadModel in eval mode (no dropout)."""
    B, T = ids.shape
    C, NH, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    HS = C // NH
    ln = lambda x, p: torch.nn.functional.layer_norm(x, (C,), P[p + ".weight"], P[p + ".bias"], eps)
    x = P["wte.weight"][ids] + P["wpe.weight"][torch.arange(T)][None]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(cfg["n_layer"]):
        h = f"h.{l}."
        a = ln(x, h + "ln_1") @ P[h + "attn.c_attn.weight"] + P[h + "attn.c_attn.bias"]
        q, k, v = a.split(C, dim=2)
        q, k, v = [z.view(B, T, NH, HS).transpose(1, 2) for z in (q, k, v)]
        att = (q @ k.transpose(-1, -2)) / math.sqrt(HS)
        att = att.masked_fill(~mask, torch.finfo(att.dtype).min).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ P[h + "attn.c_proj.weight"] + P[h + "attn.c_proj.bias"]
        m = gelu(ln(x, h + "ln_2") @ P[h + "mlp.c_fc.weight"] + P[h + "mlp.c_fc.bias"], cfg["activation_function"])
        x = x + m @ P[h + "mlp.c_proj.weight"] + P[h + "mlp.c_proj.bias"]
    x = ln(x, "ln_f")
    return x @ P["wte.weight"].T


def loss_of(logits, labels):
    V = logits.shape[-1]
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1),
                                             ignore_index=-100)


def make(name, cfg, B, T, seed, ignore=(), steps=4, lr=2e-3, wd=0.1, max_norm=0.5):
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *s, std=1.0: torch.randn(*s, generator=g) * std
    P = {}
    for n, shape, decay in layout(cfg):
        if n.endswith("ln_1.weight") or n.endswith("ln_2.weight") or n == "ln_f.weight":
            P[n] = 1.0 + rnd(*shape, std=0.1)
        elif len(shape) == 1:
            P[n] = rnd(*shape, std=0.1)
        else:
            P[n] = rnd(*shape, std=0.3 if n.startswith("w") else 0.15)
    ids = torch.randint(0, cfg["vocab_size"], (B, T), generator=g)
    labels = ids.clone()
    for b, t in ignore:
        labels[b, t] = -100
    arrays = {}
    order = [n for n, _, _ in layout(cfg)]
    flat = lambda d: torch.cat([d[n].reshape(-1) for n in order])
    arrays["params"] = flat(P)
    arrays["ids"] = ids.to(torch.int32)
    arrays["labels"] = labels.to(torch.int32)

    params = {n: P[n].clone().requires_grad_(True) for n in order}
    logits = forward(cfg, params, ids)
    loss = loss_of(logits, labels)
    loss.backward()
    arrays["logits"] = logits.detach()
    arrays["loss"] = loss.detach().reshape(1)
    arrays["grads"] = flat({n: params[n].grad for n in order})

    # Trainer-style training: AdamW groups, clipping, linear decay to 0
    # over `total` steps (no warmup), the same batch each step.
    params = {n: P[n].clone().requires_grad_(True) for n in order}
    decay = [params[n] for n, _, d in layout(cfg) if d]
    nodecay = [params[n] for n, _, d in layout(cfg) if not d]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.999), eps=1e-8)
    total = steps + 2
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, (total - s) / total))
    norms, losses, lrs = [], [], []
    for _ in range(steps):
        opt.zero_grad()
        l = loss_of(forward(cfg, params, ids), labels)
        l.backward()
        lrs.append(opt.param_groups[0]["lr"])
        norms.append(float(torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm)))
        losses.append(float(l))
        opt.step()
        sched.step()
    arrays["trained"] = flat({n: params[n].detach() for n in order})
    arrays["step_loss"] = torch.tensor(losses)
    arrays["step_norm"] = torch.tensor(norms)
    arrays["step_lr"] = torch.tensor(lrs)

    man = {"config": cfg, "B": B, "T": T, "adamw": {"lr": lr, "weight_decay": wd, "max_norm": max_norm,
           "betas": [0.9, 0.999], "eps": 1e-8, "steps": steps}, "arrays": {}}
    blob = bytearray()
    for k, v in arrays.items():
        a = v.numpy()
        a = a.astype("<i4") if a.dtype.kind in "iu" else a.astype("<f4")
        man["arrays"][k] = {"dtype": "int32" if a.dtype.kind == "i" else "float32",
                            "shape": list(a.shape), "offset": len(blob)}
        blob += a.tobytes()
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(blob)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(man, f, indent=1)
    print(f"{name}: {len(blob)} bytes, loss {float(loss):.6f}, norms {norms}", file=sys.stderr)


def cfg_of(n_layer, n_head, n_embd, n_positions, vocab_size, act="gelu_new"):
    return {"n_layer": n_layer, "n_head": n_head, "n_embd": n_embd, "n_positions": n_positions,
            "vocab_size": vocab_size, "layer_norm_epsilon": 1e-5, "activation_function": act,
            "embd_pdrop": 0.1, "attn_pdrop": 0.1, "resid_pdrop": 0.1}


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    make("c36", cfg_of(2, 3, 36, 16, 97), B=2, T=12, seed=1)
    make("c64", cfg_of(3, 4, 64, 32, 211), B=3, T=20, seed=2, ignore=[(0, 3), (0, 4), (2, 19), (1, 0)])
    make("c48_erf", cfg_of(1, 2, 48, 8, 50, act="gelu"), B=1, T=8, seed=3)

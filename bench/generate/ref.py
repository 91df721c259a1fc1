#!/usr/bin/python3
"""PyTorch reference for bench/generate: GPT-2 of the distilgpt2 shape
(random weights; speed does not depend on them) generating with a KV cache
as transformers' generate() does (past_key_values, top_k 50 sampling),
prompt 10 tokens, 50 new tokens.
Usage: ref.py BATCH THREADS   prints generated tokens/s
       ref.py save DIR        writes the same model as an HF directory
"""
import json
import math
import os
import struct
import sys
import time

import torch

B, threads = (0, 1) if sys.argv[1] == "save" else (int(sys.argv[1]), int(sys.argv[2]))
torch.set_num_threads(threads)
torch.manual_seed(0)
L, C, H, V, P = 6, 768, 12, 50257, 1024
HS = C // H
g = lambda *s: torch.randn(*s) * 0.02
wte, wpe = g(V, C), g(P, C)
layers = [dict(ln1=(torch.ones(C), torch.zeros(C)), attn=(g(C, 3 * C), torch.zeros(3 * C)),
               proj=(g(C, C), torch.zeros(C)), ln2=(torch.ones(C), torch.zeros(C)),
               fc=(g(C, 4 * C), torch.zeros(4 * C)), fc2=(g(4 * C, C), torch.zeros(C)))
          for _ in range(L)]
lnf = (torch.ones(C), torch.zeros(C))
ln = lambda x, p: torch.nn.functional.layer_norm(x, (C,), p[0], p[1], 1e-5)
gelu = lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def forward(ids, past):
    b, t = ids.shape
    s0 = 0 if past[0] is None else past[0][0].shape[2]
    x = wte[ids] + wpe[s0:s0 + t][None]
    for i, w in enumerate(layers):
        h = ln(x, w["ln1"])
        qkv = torch.addmm(w["attn"][1], h.view(-1, C), w["attn"][0]).view(b, t, 3, H, HS)
        q, k, v = (qkv[:, :, j].transpose(1, 2) for j in range(3))
        if past[i] is not None:
            k, v = torch.cat([past[i][0], k], 2), torch.cat([past[i][1], v], 2)
        past[i] = (k, v)
        a = q @ k.transpose(-1, -2) / math.sqrt(HS)
        if t > 1:
            a = a.masked_fill(torch.ones(t, s0 + t).triu(s0 + 1).bool(), float("-inf"))
        y = (a.softmax(-1) @ v).transpose(1, 2).reshape(b * t, C)
        x = x + torch.addmm(w["proj"][1], y, w["proj"][0]).view(b, t, C)
        h = ln(x, w["ln2"]).view(-1, C)
        x = x + torch.addmm(w["fc2"][1], gelu(torch.addmm(w["fc"][1], h, w["fc"][0])), w["fc2"][0]).view(b, t, C)
    return ln(x[:, -1], lnf) @ wte.T


def generate(n_new):
    ids = torch.randint(0, V, (B, 10))
    past = [None] * L
    logits = forward(ids, past)
    for _ in range(n_new - 1):
        top = torch.topk(logits, 50)
        logits = logits.masked_fill(logits < top.values[:, -1:], float("-inf"))
        nxt = torch.multinomial(logits.softmax(-1), 1)
        logits = forward(nxt, past)


def save(d):
    t = [("wte.weight", wte), ("wpe.weight", wpe)]
    for i, w in enumerate(layers):
        p = "h.%d." % i
        for key, name in (("ln1", "ln_1"), ("attn", "attn.c_attn"), ("proj", "attn.c_proj"),
                          ("ln2", "ln_2"), ("fc", "mlp.c_fc"), ("fc2", "mlp.c_proj")):
            t += [(p + name + ".weight", w[key][0]), (p + name + ".bias", w[key][1])]
    t += [("ln_f.weight", lnf[0]), ("ln_f.bias", lnf[1])]
    hdr, at, data = {"__metadata__": {"format": "pt"}}, 0, []
    for name, x in t:
        b = x.contiguous().numpy().astype("<f4").tobytes()
        hdr[name] = {"dtype": "F32", "shape": list(x.shape), "data_offsets": [at, at + len(b)]}
        at += len(b)
        data.append(b)
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in data:
            f.write(b)
    json.dump({"model_type": "gpt2", "n_layer": L, "n_head": H, "n_embd": C, "n_positions": P,
               "vocab_size": V}, open(os.path.join(d, "config.json"), "w"))


if sys.argv[1] == "save":
    save(sys.argv[2])
    sys.exit(0)
with torch.no_grad():
    generate(5)  # warm-up
    t0 = time.perf_counter()
    generate(50)
    dt = time.perf_counter() - t0
print("%.1f" % (B * 50 / dt))

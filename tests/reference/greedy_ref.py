#!/usr/bin/python3
"""Greedy decoding reference for tests/test_generate.c: the gpt fixture
models (tests/fixtures/gpt/*.json/.bin, written by gpt2_ref.py) decode
greedily in PyTorch (float64, full recompute each step, argmax as
transformers' greedy search) from fixed prompts until n_positions.
Writes tests/fixtures/gen/greedy.json: per model, prompts, generated ids and
the smallest top-1/top-2 logit gap seen (a tie would make the test fragile).
Usage: /usr/bin/python3 tests/reference/greedy_ref.py
"""
import json
import os

import torch

from gpt2_ref import forward, load_fixture

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
out = {}
for name in ("c36", "c64", "c48_erf"):
    cfg, P = load_fixture(name)
    V, T = cfg["vocab_size"], cfg["n_positions"]
    g = torch.Generator().manual_seed(7)
    prompts, gens, gap = [], [], float("inf")
    for plen in (1, 3, 5):
        ids = torch.randint(0, V, (1, plen), generator=g)
        prompts.append(ids[0].tolist())
        while ids.shape[1] < T:
            logits = forward(cfg, P, ids)[0, -1]
            top = torch.topk(logits, 2).values
            gap = min(gap, float(top[0] - top[1]))
            ids = torch.cat([ids, logits.argmax().view(1, 1)], 1)
        gens.append(ids[0, plen:].tolist())
    out[name] = {"prompts": prompts, "ids": gens, "min_gap": gap}
    print(name, "min top-2 gap %.2e" % gap)
os.makedirs(os.path.join(FIX, "gen"), exist_ok=True)
json.dump(out, open(os.path.join(FIX, "gen", "greedy.json"), "w"), indent=1)

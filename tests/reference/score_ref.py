#!/usr/bin/python3
"""Windowed scoring reference for tests/test_score.c: for each gpt fixture
model, a random text of 2*n_positions + 3 ids is scored as `quill score`
defines it (windows of n_positions tokens overlapping by one; every token
after the first predicted once; mean cross-entropy in nats), in float64.
Writes tests/fixtures/gpt/score.json.
Usage: /usr/bin/python3 tests/reference/score_ref.py
"""
import json
import os

import torch

from gpt2_ref import forward, load_fixture

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures", "gpt")
out = {}
for name in ("c36", "c48_erf"):
    cfg, P = load_fixture(name)
    V, NP = cfg["vocab_size"], cfg["n_positions"]
    g = torch.Generator().manual_seed(11)
    ids = torch.randint(0, V, (2 * NP + 3,), generator=g)
    total, count, start = 0.0, 0, 0
    while start + 1 < len(ids):
        w = ids[start:start + NP]
        logits = forward(cfg, P, w[None])[0]
        lp = torch.log_softmax(logits[:-1], -1)
        total += float(-lp[torch.arange(len(w) - 1), w[1:]].sum())
        count += len(w) - 1
        start += NP - 1
    out[name] = {"ids": ids.tolist(), "loss": total / count, "predicted": count}
    print(name, "loss %.6f over %d predictions" % (total / count, count))
json.dump(out, open(os.path.join(FIX, "score.json"), "w"), indent=1)

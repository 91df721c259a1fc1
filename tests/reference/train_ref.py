#!/usr/bin/python3
"""Reference for the train stage: Hugging Face Trainer's training loop over a
block set, in PyTorch, writing fixtures for tests/test_train.c.

The model math is gpt2_ref.py's (GPT2LMHeadModel reproduced, computed in
float64 so the fixtures are the exact answer).  The loop is Trainer's with
shuffle off and dropout 0:
  - batches of batch_size consecutive blocks, the last partial batch kept;
  - optimizer steps per epoch = ceil(batches / gradient_accumulation_steps),
    total = ceil(epochs * steps per epoch);
  - each micro-batch's mean loss weighted by its share of the step's
    predicted tokens (Trainer's num_items_in_batch), backward, then
    clip_grad_norm_(max_grad_norm), AdamW with Trainer's two groups (no decay
    on biases and LayerNorm), then the LambdaLR scheduler step with
    get_linear_schedule_with_warmup's lambda.

Usage: /usr/bin/python3 tests/reference/train_ref.py  (writes tests/fixtures/train/)
Fixture format (as gpt2_ref.py's): NAME.json (config, runs, and for each
array its dtype, shape and byte offset) and NAME.bin (little-endian arrays).
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_ref import cfg_of, forward, layout, loss_of  # noqa: E402

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "train")


def linear_lambda(warmup, total):
    def f(step):
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))
    return f


def train(cfg, P0, blocks, run):
    """Trainer's loop; returns per-step losses, norms, lrs and final params."""
    order = [n for n, _, _ in layout(cfg)]
    B, ga = run["batch_size"], run["gradient_accumulation_steps"]
    n, T = blocks.shape
    nb = -(-n // B)
    spe = -(-nb // ga)
    total = math.ceil(run["epochs"] * spe)
    params = {k: P0[k].clone().requires_grad_(True) for k in order}
    decay = [params[k] for k, _, d in layout(cfg) if d]
    nodecay = [params[k] for k, _, d in layout(cfg) if not d]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": run["weight_decay"]},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=run["learning_rate"], betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_lambda(run["warmup_steps"], total))
    losses, norms, lrs = [], [], []
    for g in range(total):
        s = g % spe
        js = range(s * ga, min((s + 1) * ga, nb))
        rows = [min(B, n - j * B) for j in js]
        tokens = sum(r * (T - 1) for r in rows)
        opt.zero_grad()
        step_loss = 0.0
        for j, r in zip(js, rows):
            x = blocks[j * B: j * B + r]
            w = r * (T - 1) / tokens
            l = loss_of(forward(cfg, params, x), x)
            (l * w).backward()
            step_loss += float(l) * w
        norms.append(float(torch.nn.utils.clip_grad_norm_(list(params.values()), run["max_grad_norm"])))
        lrs.append(opt.param_groups[0]["lr"])
        losses.append(step_loss)
        opt.step()
        sched.step()
    trained = torch.cat([params[k].detach().reshape(-1) for k in order])
    return losses, norms, lrs, trained


def main():
    os.makedirs(OUT, exist_ok=True)
    cfg = cfg_of(2, 3, 36, 16, 97)
    for k in ("embd_pdrop", "attn_pdrop", "resid_pdrop"):
        cfg[k] = 0.0
    g = torch.Generator().manual_seed(11)
    P0 = {}
    for name, shape, _ in layout(cfg):
        if name.endswith(("ln_1.weight", "ln_2.weight")) or name == "ln_f.weight":
            P0[name] = 1.0 + torch.randn(*shape, generator=g) * 0.1
        elif len(shape) == 1:
            P0[name] = torch.randn(*shape, generator=g) * 0.02
        else:
            P0[name] = torch.randn(*shape, generator=g) * 0.1
    # 11 blocks of 12 ids with structure to learn (a counter with noise)
    n, T = 11, 12
    base = torch.arange(n * T).reshape(n, T) * 5
    noise = torch.randint(0, 97, (n, T), generator=g) * (torch.rand(n, T, generator=g) < 0.2)
    blocks = ((base + noise) % 97).to(torch.int64)
    runs = [
        # 3 batches of 4, 4, 3 blocks; 2 epochs = 6 steps; warmup, decay, clipping
        {"name": "plain", "batch_size": 4, "gradient_accumulation_steps": 1, "epochs": 2,
         "learning_rate": 2e-3, "warmup_steps": 1, "weight_decay": 0.1, "max_grad_norm": 0.5},
        # 6 batches (the last of 1 block), accumulation 4: steps of 4 and 2 batches
        {"name": "accum", "batch_size": 2, "gradient_accumulation_steps": 4, "epochs": 2,
         "learning_rate": 3e-3, "warmup_steps": 0, "weight_decay": 0.0, "max_grad_norm": 1.0},
    ]
    order = [k for k, _, _ in layout(cfg)]
    arrays = {"params": torch.cat([P0[k].reshape(-1) for k in order]), "blocks": blocks.to(torch.int32)}
    for run in runs:
        losses, norms, lrs, trained = train(cfg, P0, blocks, run)
        r = run["name"]
        arrays[r + "_loss"] = torch.tensor(losses)
        arrays[r + "_norm"] = torch.tensor(norms)
        arrays[r + "_lr"] = torch.tensor(lrs)
        arrays[r + "_trained"] = trained
        print(f"{r}: {len(losses)} steps, losses {[round(x, 4) for x in losses]}", file=sys.stderr)
    man = {"config": cfg, "runs": runs, "arrays": {}}
    blob = bytearray()
    for k, v in arrays.items():
        a = v.numpy()
        a = a.astype("<i4") if a.dtype.kind in "iu" else a.astype("<f4")
        man["arrays"][k] = {"dtype": "int32" if a.dtype.kind == "i" else "float32",
                            "shape": list(a.shape), "offset": len(blob)}
        blob += a.tobytes()
    with open(os.path.join(OUT, "trainer.bin"), "wb") as f:
        f.write(blob)
    with open(os.path.join(OUT, "trainer.json"), "w") as f:
        json.dump(man, f, indent=1)


if __name__ == "__main__":
    main()

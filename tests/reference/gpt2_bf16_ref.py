#!/usr/bin/python3
"""Float64 reference for quill's bf16 mixed precision (gpt_model_set_bf16,
quill train --bf16): the logits, loss and gradients of the fixtures that
gpt2_ref.py wrote (tests/fixtures/gpt/NAME), with every matrix product's
inputs rounded to bfloat16 (round to nearest even) in the forward and in
the backward, as PyTorch's CPU autocast rounds them, and everything else
exact: linear layers, attention's QK^T and AV, the tied lm_head.  (Autocast
also rounds each product's output to bf16; quill keeps outputs in fp32, so
this reference does too.)

Usage: /usr/bin/python3 tests/reference/gpt2_bf16_ref.py
Writes tests/fixtures/gpt/NAME_bf16.{json,bin}: logits, loss and grads, in
gpt2_ref.py's format.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2_ref  # noqa: E402


def rnd(x):
    """x rounded to bfloat16 (nearest even), as float64."""
    return x.to(torch.float32).to(torch.bfloat16).to(torch.float64)


class BF16Matmul(torch.autograd.Function):
    """a @ b on bf16-rounded inputs; the backward's products round their
    inputs (the incoming gradient too) the same way."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return torch.matmul(rnd(a), rnd(b))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return (torch.matmul(rnd(g), rnd(b).transpose(-1, -2)),
                torch.matmul(rnd(a).transpose(-1, -2), rnd(g)))




def forward(cfg, P, ids):
    """gpt2_ref.forward with each @ through BF16Matmul."""
    real = torch.Tensor.__matmul__
    torch.Tensor.__matmul__ = lambda a, b: BF16Matmul.apply(a, b)
    try:
        return gpt2_ref.forward(cfg, P, ids)
    finally:
        torch.Tensor.__matmul__ = real


def main():
    for name in ("c36", "c64", "c48_erf"):
        cfg, P = gpt2_ref.load_fixture(name)
        base = os.path.join(gpt2_ref.OUT, name)
        man = json.load(open(base + ".json"))
        blob = open(base + ".bin", "rb").read()
        get = lambda k, dt: torch.frombuffer(bytearray(blob), dtype=dt, offset=man["arrays"][k]["offset"],
                                             count=int(torch.tensor(man["arrays"][k]["shape"]).prod()))
        B, T = man["B"], man["T"]
        ids = get("ids", torch.int32).to(torch.long).reshape(B, T)
        labels = get("labels", torch.int32).to(torch.long).reshape(B, T)
        order = [n for n, _, _ in gpt2_ref.layout(cfg)]
        params = {n: P[n].clone().requires_grad_(True) for n in order}
        logits = forward(cfg, params, ids)
        loss = gpt2_ref.loss_of(logits, labels)
        loss.backward()
        arrays = {"logits": logits.detach(), "loss": loss.detach().reshape(1),
                  "grads": torch.cat([params[n].grad.reshape(-1) for n in order])}
        out = {"source": name, "arrays": {}}
        data = bytearray()
        for k, v in arrays.items():
            a = v.numpy().astype("<f4")
            out["arrays"][k] = {"dtype": "float32", "shape": list(a.shape), "offset": len(data)}
            data += a.tobytes()
        with open(base + "_bf16.bin", "wb") as f:
            f.write(data)
        with open(base + "_bf16.json", "w") as f:
            json.dump(out, f, indent=1)
        print(f"{name}_bf16: loss {float(loss):.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()

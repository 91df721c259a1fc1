#!/usr/bin/python3
"""PyTorch reference for bench/train_step: one training step (forward with
dropout, backward, clip_grad_norm_, AdamW) of GPT2LMHeadModel's math, at its
best on this machine: run it with OpenBLAS (libopenblas0-openmp) and
OPENBLAS_CORETYPE=SkylakeX (run.sh sets both), torch.set_num_threads(N),
the fused tanh GELU (F.gelu(approximate="tanh")) and addmm for Conv1D as
transformers does.

Usage: torch_ref.py [--bf16] THREADS [STEPS [B T]]   prints one line like train_step.c
       torch_ref.py --sgemm THREADS          sgemm GFLOP/s (2048^3, best of 5)
--bf16: Trainer's bf16=True on CPU: the forward and the loss under
torch.autocast("cpu", dtype=torch.bfloat16) (fp32 master weights, AdamW).
"""
import math
import sys
import time

import torch
import torch.nn.functional as F

if len(sys.argv) > 1 and sys.argv[1] == "--sgemm":
    # OpenBLAS sgemm alone on large square matrices: the peak to compare with
    torch.set_num_threads(int(sys.argv[2]))
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = 1e30
    for _ in range(5):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    print(f"sgemm threads={sys.argv[2]} gflops={2 * 2048 ** 3 / best / 1e9:.1f}")
    sys.exit(0)
bf16 = len(sys.argv) > 1 and sys.argv[1] == "--bf16"
if bf16:
    del sys.argv[1]
threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
B, T = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (8, 64)
L, NH, C, V, P = 6, 12, 768, 50257, 1024
torch.set_num_threads(threads)
torch.manual_seed(0)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.ln_2 = torch.nn.LayerNorm(C), torch.nn.LayerNorm(C)
        p = lambda *s: torch.nn.Parameter(torch.randn(*s) * 0.02)
        self.c_attn_w, self.c_attn_b = p(C, 3 * C), p(3 * C)
        self.c_proj_w, self.c_proj_b = p(C, C), p(C)
        self.c_fc_w, self.c_fc_b = p(C, 4 * C), p(4 * C)
        self.mlp_proj_w, self.mlp_proj_b = p(4 * C, C), p(C)

    def forward(self, x, mask):
        Bx, Tx, _ = x.shape
        h = torch.addmm(self.c_attn_b, self.ln_1(x).view(-1, C), self.c_attn_w).view(Bx, Tx, 3 * C)
        q, k, v = [z.view(Bx, Tx, NH, C // NH).transpose(1, 2) for z in h.split(C, dim=2)]
        att = (q @ k.transpose(-1, -2)) / math.sqrt(C // NH)
        att = torch.where(mask, att, torch.tensor(torch.finfo(att.dtype).min))
        att = F.dropout(att.softmax(-1), 0.1, self.training)
        y = (att @ v).transpose(1, 2).reshape(-1, C)
        x = x + F.dropout(torch.addmm(self.c_proj_b, y, self.c_proj_w).view(Bx, Tx, C), 0.1, self.training)
        m = F.gelu(torch.addmm(self.c_fc_b, self.ln_2(x).view(-1, C), self.c_fc_w), approximate="tanh")
        return x + F.dropout(torch.addmm(self.mlp_proj_b, m, self.mlp_proj_w).view(Bx, Tx, C), 0.1, self.training)


class GPT(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = torch.nn.Parameter(torch.randn(V, C) * 0.02)
        self.wpe = torch.nn.Parameter(torch.randn(P, C) * 0.02)
        self.h = torch.nn.ModuleList([Block() for _ in range(L)])
        self.ln_f = torch.nn.LayerNorm(C)

    def forward(self, ids):
        Tx = ids.shape[1]
        mask = torch.tril(torch.ones(Tx, Tx, dtype=torch.bool))
        x = F.dropout(self.wte[ids] + self.wpe[:Tx], 0.1, self.training)
        for blk in self.h:
            x = blk(x, mask)
        logits = self.ln_f(x) @ self.wte.T
        return F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))


model = GPT().train()
decay = [p for n, p in model.named_parameters() if p.dim() == 2]
nodecay = [p for n, p in model.named_parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.0}, {"params": nodecay, "weight_decay": 0.0}], lr=5e-5)
ids = torch.randint(0, V, (B, T))
times, cpus = [], []
for s in range(steps + 1):
    w, c = time.perf_counter(), time.process_time()
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(ids)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if s:
        times.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
mean = sum(times) / len(times)
print(f"torch threads={threads} tokens_per_s={B * T / mean:.1f} step_s={mean:.4f} best_s={min(times):.4f} "
      f"cpu_s={sum(cpus) / len(cpus):.4f} precision={'bf16' if bf16 else 'fp32'} loss={float(loss):.4f}")

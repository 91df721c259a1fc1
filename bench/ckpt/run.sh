#!/bin/bash
# bench/ckpt: checkpoint I/O for the distilgpt2 shape (6 layers, 768 wide,
# 50257 tokens, 1024 positions; 81.9M parameters).  A GPT-2-initialised
# model (normal 0.02, scaled residual projections) is written as an HF
# directory by numpy, then timed through `quill import` (safetensors ->
# store) and `quill export` (store -> safetensors, F32 and BF16), and the
# stored size is compared with raw fp32 and with plain zstd of the fp32.
# Prints a markdown section.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
Q="$ROOT/quill"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
/usr/bin/python3 - <<'PY'
import json, struct, numpy as np
L, C, V, P = 6, 768, 50257, 1024
rng = np.random.default_rng(0)
t = [("wte.weight", (V, C)), ("wpe.weight", (P, C))]
for l in range(L):
    p = "h.%d." % l
    t += [(p + "ln_1.weight", (C,)), (p + "ln_1.bias", (C,)), (p + "attn.c_attn.weight", (C, 3 * C)),
          (p + "attn.c_attn.bias", (3 * C,)), (p + "attn.c_proj.weight", (C, C)), (p + "attn.c_proj.bias", (C,)),
          (p + "ln_2.weight", (C,)), (p + "ln_2.bias", (C,)), (p + "mlp.c_fc.weight", (C, 4 * C)),
          (p + "mlp.c_fc.bias", (4 * C,)), (p + "mlp.c_proj.weight", (4 * C, C)), (p + "mlp.c_proj.bias", (C,))]
t += [("ln_f.weight", (C,)), ("ln_f.bias", (C,))]
hdr, at, data = {"__metadata__": {"format": "pt"}}, 0, []
for name, shape in t:
    if name.endswith(".bias"): x = np.zeros(shape, "<f4")
    elif "ln_" in name: x = np.ones(shape, "<f4")
    else: x = (rng.standard_normal(shape) * (0.02 / np.sqrt(2 * L) if name.endswith("c_proj.weight") else 0.02)).astype("<f4")
    b = x.tobytes(); hdr["transformer." + name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [at, at + len(b)]}
    at += len(b); data.append(b)
h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
import os; os.mkdir("in")
with open("in/model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h))); f.write(h); [f.write(b) for b in data]
json.dump({"model_type": "gpt2", "n_layer": L, "n_head": 12, "n_embd": C, "n_positions": P, "vocab_size": V}, open("in/config.json", "w"))
PY
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
raw=$(( $(stat -c %s in/model.safetensors) ))
t_import=$(secs "$Q" --db q.db import in)
t_export=$(secs "$Q" --db q.db export 1 out32)
t_export16=$(secs "$Q" --db q.db export 1 out16 --bf16)
stored=$(sqlite3 q.db "SELECT sum(length(data)) FROM blobs WHERE id = (SELECT tensors_blob FROM checkpoints WHERE id = 1)")
n=$(sqlite3 q.db "SELECT n_params FROM checkpoints WHERE id = 1")
plain=$(zstd -3 -q -c in/model.safetensors | wc -c)
"$Q" --db q.db import out32 >/dev/null
same=$(sqlite3 q.db "SELECT CASE WHEN count(DISTINCT tensors_blob) = 1 THEN 'yes' ELSE 'NO' END FROM checkpoints")
echo "## Checkpoints (bench/ckpt)"
echo
echo "distilgpt2 shape, $n parameters, GPT-2 initialisation (random normal weights: a trained model's mantissas are as incompressible)."
echo
echo "| what | value |"
echo "|---|---|"
echo "| raw fp32 | $((4 * n)) B |"
echo "| stored (byte planes + zstd 3) | $stored B ($(echo "scale=3; $stored / (4 * $n)" | bc)) |"
echo "| plain zstd 3 of the fp32 file | $plain B ($(echo "scale=3; $plain / $raw" | bc)) |"
echo "| quill import (read safetensors, store) | ${t_import} s |"
echo "| quill export F32 | ${t_export} s |"
echo "| quill export BF16 | ${t_export16} s |"
echo "| re-importing the F32 export gives the same stored tensors | $same |"

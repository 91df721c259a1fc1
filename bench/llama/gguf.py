#!/usr/bin/env python3
"""Write a GPT-2 model directory (quill's export: config.json and an F32
model.safetensors, HF names) as GGUF for llama.cpp (arch "gpt2"), for
bench/llama only.

    gguf.py MODEL_DIR TOKENIZER_DIR OUT.gguf f32|bf16|q8_0
    gguf.py random MODEL_DIR   a distilgpt2-shape model with random weights
                               (GPT-2's initialisation: N(0, 0.02), unit
                               norms, zero biases; seed 0) for quill

Written from the GGUF spec (ggml's docs/gguf.md), version 3, little-endian:
  header   "GGUF", u32 version, u64 tensor count, u64 metadata count
  metadata key (u64 length + UTF-8), u32 value type, value; arrays are
           u32 element type, u64 count, elements
  tensors  name, u32 n_dims, u64 dims (fastest first: a numpy (rows, cols)
           array is (cols, rows)), u32 ggml type, u64 offset in the data
  data     from the next multiple of general.alignment (32), each tensor
           at a multiple of it
Types: F32 = 0, Q8_0 = 8 (blocks of 32 along a row: fp16 scale
d = max|x| / 127, then 32 int8 round(x / d), d in fp32 there), BF16 = 30 (the upper half of
the fp32 bits, rounded to nearest even).  As llama.cpp's own converter does,
vectors (biases, norms) stay F32 and GPT-2's Conv1D weights ((in, out) in
HF) are transposed to (out, in); the lm_head is the tied token embedding,
written again as output.weight.  Tokenizer: GPT-2's byte-level BPE
(tokenizer.ggml.model "gpt2", pre "gpt-2") from vocab.json and merges.txt.
Needs numpy only.
"""
import json
import os
import struct
import sys

import numpy as np

# metadata value types
U32, I32, F32T, BOOL, STR, ARR = 4, 5, 6, 7, 8, 9
# ggml tensor types and llama.cpp's file types (general.file_type)
GGML = {"f32": 0, "q8_0": 8, "bf16": 30}
FTYPE = {"f32": 0, "q8_0": 7, "bf16": 32}
ALIGN = 32


def s(x):
    b = x.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key, typ, val):
    """One metadata pair; val is a scalar, or (element type, list) for ARR."""
    out = s(key) + struct.pack("<I", typ)
    if typ == STR:
        return out + s(val)
    if typ == ARR:
        et, items = val
        out += struct.pack("<IQ", et, len(items))
        if et == STR:
            return out + b"".join(s(x) for x in items)
        return out + np.asarray(items, dtype="<i4" if et == I32 else "<u4").tobytes()
    fmt = {U32: "<I", I32: "<i", F32T: "<f", BOOL: "<?"}[typ]
    return out + struct.pack(fmt, val)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in head.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        a, b = info["data_offsets"]
        out[name.removeprefix("transformer.")] = np.frombuffer(data[a:b], "<f4").reshape(info["shape"])
    return out


def bf16(x):
    """fp32 -> bf16 bits, round to nearest even (no NaNs in a model)."""
    u = np.ascontiguousarray(x, "<f4").view("<u4").astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")


def q8_0(x):
    """Rows of x (length a multiple of 32) as Q8_0 blocks."""
    blocks = np.ascontiguousarray(x, "<f4").reshape(-1, 32)
    amax = np.abs(blocks).max(axis=1)
    d = (amax / 127.0).astype(np.float32)
    inv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0).astype(np.float32)
    v = blocks * inv[:, None]
    q = (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int8)  # roundf: half away from 0
    rec = np.zeros(len(blocks), dtype=[("d", "<f2"), ("q", "i1", 32)])
    rec["d"], rec["q"] = d.astype(np.float16), q
    return rec.tobytes()


def encode(x, kind):
    if x.ndim == 1 or kind == "f32":
        return 0, np.ascontiguousarray(x, "<f4").tobytes()
    if kind == "bf16":
        return GGML["bf16"], bf16(x).tobytes()
    return GGML["q8_0"], q8_0(x)


def random_model(d):
    """Write d/config.json and d/model.safetensors (HF names, F32)."""
    L, C, H, V, P = 6, 768, 12, 50257, 1024
    rng = np.random.default_rng(0)
    g = lambda *shape: (rng.standard_normal(shape, dtype=np.float32) * 0.02)
    t = [("transformer.wte.weight", g(V, C)), ("transformer.wpe.weight", g(P, C))]
    for i in range(L):
        p = "transformer.h.%d." % i
        for name, shape in (("ln_1", None), ("attn.c_attn", (C, 3 * C)), ("attn.c_proj", (C, C)),
                            ("ln_2", None), ("mlp.c_fc", (C, 4 * C)), ("mlp.c_proj", (4 * C, C))):
            if shape is None:
                t += [(p + name + ".weight", np.ones(C, np.float32)), (p + name + ".bias", np.zeros(C, np.float32))]
            else:
                t += [(p + name + ".weight", g(*shape)), (p + name + ".bias", np.zeros(shape[1], np.float32))]
    t += [("transformer.ln_f.weight", np.ones(C, np.float32)), ("transformer.ln_f.bias", np.zeros(C, np.float32))]
    hdr, at = {"__metadata__": {"format": "pt"}}, 0
    for name, x in t:
        hdr[name] = {"dtype": "F32", "shape": list(x.shape), "data_offsets": [at, at + x.nbytes]}
        at += x.nbytes
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for _, x in t:
            f.write(np.ascontiguousarray(x, "<f4").tobytes())
    json.dump({"model_type": "gpt2", "n_layer": L, "n_head": H, "n_embd": C, "n_positions": P,
               "vocab_size": V}, open(os.path.join(d, "config.json"), "w"))


def main():
    if sys.argv[1] == "random":
        return random_model(sys.argv[2])
    model, tokdir, out, kind = sys.argv[1:5]
    assert kind in GGML, "type: f32, bf16 or q8_0"
    cfg = json.load(open(model + "/config.json"))
    w = read_safetensors(model + "/model.safetensors")
    L, C = cfg["n_layer"], cfg["n_embd"]
    tensors = [("token_embd.weight", w["wte.weight"]), ("position_embd.weight", w["wpe.weight"])]
    for i in range(L):
        p = "h.%d." % i
        for dst, src, conv in (("attn_norm", "ln_1", 0), ("attn_qkv", "attn.c_attn", 1),
                               ("attn_output", "attn.c_proj", 1), ("ffn_norm", "ln_2", 0),
                               ("ffn_up", "mlp.c_fc", 1), ("ffn_down", "mlp.c_proj", 1)):
            wt = w[p + src + ".weight"]
            tensors.append(("blk.%d.%s.weight" % (i, dst), wt.T if conv else wt))
            tensors.append(("blk.%d.%s.bias" % (i, dst), w[p + src + ".bias"]))
    tensors += [("output_norm.weight", w["ln_f.weight"]), ("output_norm.bias", w["ln_f.bias"]),
                ("output.weight", w["wte.weight"])]

    vocab = json.load(open(tokdir + "/vocab.json", encoding="utf-8"))
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    assert None not in tokens and len(tokens) == cfg["vocab_size"]
    merges = [m for m in open(tokdir + "/merges.txt", encoding="utf-8").read().split("\n")
              if m and not m.startswith("#version")]
    eot = vocab["<|endoftext|>"]
    types = [3 if i == eot else 1 for i in range(len(tokens))]  # 3: control, 1: normal
    meta = [
        kv("general.architecture", STR, "gpt2"),
        kv("general.name", STR, "quill-bench"),
        kv("general.file_type", U32, FTYPE[kind]),
        kv("general.alignment", U32, ALIGN),
        kv("gpt2.context_length", U32, cfg["n_positions"]),
        kv("gpt2.embedding_length", U32, C),
        kv("gpt2.feed_forward_length", U32, cfg.get("n_inner") or 4 * C),
        kv("gpt2.block_count", U32, L),
        kv("gpt2.attention.head_count", U32, cfg["n_head"]),
        kv("gpt2.attention.layer_norm_epsilon", F32T, cfg.get("layer_norm_epsilon", 1e-5)),
        kv("tokenizer.ggml.model", STR, "gpt2"),
        kv("tokenizer.ggml.pre", STR, "gpt-2"),
        kv("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        kv("tokenizer.ggml.token_type", ARR, (I32, types)),
        kv("tokenizer.ggml.merges", ARR, (STR, merges)),
        kv("tokenizer.ggml.bos_token_id", U32, eot),
        kv("tokenizer.ggml.eos_token_id", U32, eot),
        kv("tokenizer.ggml.add_bos_token", BOOL, False),
    ]
    infos, blobs, at = [], [], 0
    for name, x in tensors:
        typ, data = encode(x, kind)
        at += -at % ALIGN
        dims = list(reversed(x.shape))
        infos.append(s(name) + struct.pack("<I", len(dims)) + struct.pack("<%dQ" % len(dims), *dims) +
                     struct.pack("<IQ", typ, at))
        blobs.append((at, data))
        at += len(data)
    with open(out, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)))
        for m in meta + infos:
            f.write(m)
        f.write(b"\0" * (-f.tell() % ALIGN))
        base = f.tell()
        for off, data in blobs:
            f.write(b"\0" * (base + off - f.tell()))
            f.write(data)


if __name__ == "__main__":
    main()

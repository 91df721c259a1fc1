"""Writes a large text corpus for the ingest benchmark: N files of about
1 MB each, made of Frankenstein's words shuffled (seeded), so that every
file is distinct and compresses like real prose.  Usage:
    make_corpus.py SOURCE.txt OUT_DIR TOTAL_MB"""
import os
import random
import sys

src, out, total_mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
words = open(src, encoding="utf-8").read().split()
rng = random.Random(84)
os.makedirs(out, exist_ok=True)
for i in range(total_mb):
    parts, size = [], 0
    while size < 1_000_000:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(6, 18)))
        parts.append(line)
        size += len(line) + 1
    with open(os.path.join(out, "doc%05d.txt" % i), "w", encoding="utf-8") as f:
        f.write("\n".join(parts) + "\n")

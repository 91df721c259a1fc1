#!/bin/bash
# `make bench`: runs every benchmark (bench/*/run.sh), one at a time under
# /tmp/bench.lock so that nothing else is timed at once, and writes its
# section of bench/RESULTS.md with the date and the load it ran under.
# BENCH_ONLY=NAME (make bench BENCH_ONLY=tokenizer) reruns one benchmark and
# replaces only its section.
set -euo pipefail
cd "$(dirname "$0")/.."
# what the benchmarks compare against (PyTorch with OpenBLAS, numpy, wrk, node)
scripts/deps.sh --bench
out=bench/RESULTS.md
how="make bench${BENCH_ONLY:+ BENCH_ONLY=$BENCH_ONLY}"
[ -f "$out" ] || printf '# quill benchmark results\n' >"$out"
for b in bench/*/run.sh; do
    name=$(basename "$(dirname "$b")")
    [ -n "${BENCH_ONLY:-}" ] && [ "$name" != "$BENCH_ONLY" ] && continue
    echo "== $b" >&2
    section=$(mktemp)
    {
        echo "<!-- bench:$name -->"
        flock /tmp/bench.lock bash -c "
            echo \"- run: \$(date -u +%Y-%m-%dT%H:%MZ), \\\`$how\\\`, load average \$(cut -d' ' -f1-3 /proc/loadavg) before the run\"
            echo
            bash $b"
        echo "<!-- /bench:$name -->"
    } >"$section"
    # Replace the old section (or append), keeping the others.
    python3 - "$out" "$name" "$section" <<'PY'
import re, sys
path, name, sec = sys.argv[1], sys.argv[2], open(sys.argv[3]).read().rstrip("\n")
text = open(path).read()
pat = re.compile(r"<!-- bench:%s -->.*?<!-- /bench:%s -->" % (re.escape(name), re.escape(name)), re.S)
text = pat.sub(lambda m: sec, text) if pat.search(text) else text.rstrip("\n") + "\n\n" + sec + "\n"
open(path, "w").write(text)
PY
    rm -f "$section"
done
# The header: the machine and the build every section ran on.
python3 - "$out" <<PY
import sys
path = sys.argv[1]
body = open(path).read().split("\n", 1)[1] if open(path).read().startswith("# ") else open(path).read()
body = body.split("<!-- bench:", 1)
rest = "<!-- bench:" + body[1] if len(body) > 1 else ""
head = """# quill benchmark results

Written by \`make bench\` (bench/run.sh); each section says when it ran and
the load average before it (2 cores; in a full \`make bench\` the 1-minute
average still carries the previous benchmark's own work, so ~1.4 there is
not another job).

- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)
- build: $(./quill --version), gcc $(gcc -dumpversion), \`make\` (-O2 -march=native)

"""
open(path, "w").write(head + rest)
PY
echo "wrote $out" >&2

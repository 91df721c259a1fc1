#!/bin/bash
# `make bench`: runs every benchmark (bench/*/run.sh, one at a time, under
# /tmp/bench.lock so nothing else is timed at once) and writes
# bench/RESULTS.md with the machine, the date and the command.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/RESULTS.md
tmp=$(mktemp)
{
    echo "# quill benchmark results"
    echo
    echo "- command: \`make bench\` (bench/run.sh)"
    echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
    echo "- quill: $(./quill --version), gcc $(gcc -dumpversion)"
    echo
} >"$tmp"
for b in bench/*/run.sh; do
    [ -n "${BENCH_ONLY:-}" ] && [[ $b != *"$BENCH_ONLY"* ]] && continue
    echo "== $b" >&2
    flock /tmp/bench.lock bash "$b" >>"$tmp"
    echo >>"$tmp"
done
mv "$tmp" "$out"
echo "wrote $out" >&2

#!/bin/bash
# cpu.sh QUILL [QUILL2 ...]: the server's CPU time per request of the review
# desk, which other work on the machine does not change (unlike latency):
# each binary serves a store of CPU_N (100,000) outputs (fill.sh) in
# QUILL_SERVE_MODE (default threads) and wrk (bench/desk/desk.lua, CPU_CONNS
# 8 connections, CPU_SECS 5 s) drives reads (the queue API) then writes
# (approvals and edits); the server's utime + stime from /proc before and
# after, over the requests wrk counted, is its CPU µs per request.  The
# binaries are interleaved (A, B, A, B ...) CPU_REPS (3) times, each on a
# fresh store.  Prints one line per run: "BINARY read|write US_PER_REQ N".
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
N=${CPU_N:-100000} SECS=${CPU_SECS:-5} CONNS=${CPU_CONNS:-8} REPS=${CPU_REPS:-3}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
tick=$(getconf CLK_TCK)
cpu() { awk -v t="$tick" '{ print ($14 + $15) * 1e6 / t }' "/proc/$pid/stat"; }
# one run of wrk (WORK) against the server, then its line
measure() { # BINARY WORK URL
    local before after n
    before=$(cpu)
    n=$(DESK_WORK=$2 DESK_SECS=$SECS wrk -t1 -c"$CONNS" -d"${SECS}s" --timeout 10s \
        -s "$HERE/desk.lua" "$3" | sed -nE 's/^desk-result .*"requests":([0-9]+).*/\1/p')
    after=$(cpu)
    awk -v b="$before" -v a="$after" -v n="$n" -v q="$1" -v w="$2" \
        'BEGIN { printf "%s %s %.0f %d\n", q, w, (a - b) / n, n }'
}
for _ in $(seq "$REPS"); do
    for q in "$@"; do
        db=$tmp/desk.db
        bash "$HERE/fill.sh" "$q" "$db" "$N"
        token=$("$q" --db "$db" reviewer add "cpu-$$" 2>/dev/null)
        "$q" --db "$db" serve --listen 127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
        pid=$!
        for _ in $(seq 200); do [ -s "$tmp/out" ] && break; sleep 0.1; done
        url=$(sed 's/^listening on //' "$tmp/out")
        curl -s -D "$tmp/h" -X POST -d "{\"token\":\"$token\"}" "${url}api/login" >"$tmp/login"
        export DESK_COOKIE DESK_CSRF DESK_N=$N
        DESK_COOKIE=$(sed -nE 's/^[Ss]et-[Cc]ookie: quill_session=([0-9a-f]+).*/\1/p' "$tmp/h")
        DESK_CSRF=$(sed -E 's/.*"csrf":"([0-9a-f]+)".*/\1/' "$tmp/login")
        measure "$q" read "$url"
        measure "$q" write "$url"
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        pid=
    done
done

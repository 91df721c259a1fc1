#!/bin/bash
# The review desk under load (issue #13): wrk against `quill serve` on a
# store of BENCH_DESK_N (100,000) outputs, BENCH_DESK_CONNS (64)
# connections for BENCH_DESK_SECS (30) s each: the queue API, then a mix of
# approvals and edits.  Once per libmicrohttpd mode in BENCH_DESK_MODES
# (QUILL_SERVE_MODE: threads = a thread per connection, the default; pool =
# 4 threads each with its epoll loop; epoll = one such thread), each on a
# fresh store.
# Prints a markdown section whose last column checks each mode: reads' p99
# under 50 ms, no socket errors or 5xx, the store's new reviews = the 200s
# answering writes (a failed check is also said on stderr; the exit status
# stays 0 so that bench/run.sh still records the table).  Short run:
# BENCH_DESK_SECS=5 BENCH_DESK_CONNS=8 BENCH_DESK_N=20000.
# The server's CPU time per request, which a busy machine does not change
# as it does latency (an A/B of two builds): bash bench/desk/cpu.sh OLD NEW.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${BENCH_DESK_N:-100000} SECS=${BENCH_DESK_SECS:-30} CONNS=${BENCH_DESK_CONNS:-64}
MODES=${BENCH_DESK_MODES:-threads pool epoll}
DB=bench/data/desk.db
mkdir -p bench/data
echo "## Review desk under load (bench/desk)"
echo
echo "\`wrk -t2 -c$CONNS -d${SECS}s\` with bench/desk/desk.lua against \`quill serve\` on a store"
echo "of $N outputs (bench/desk/fill.sh).  Reads: GET /api/outputs?status=pending&limit=50"
echo "after a random cursor (1 in 20 a first page with the counts).  Writes: approvals (3 in"
echo "4) and edits of 1,000 hot outputs with the version last seen; a 409 (stale version) is"
echo "expected; the last 3 s only GET /api/session so that no write is cut off.  \"reviews\""
echo "is what the store recorded during the write run; it must equal the 200s to writes."
echo "\"read p99 while writing\": a quarter as many connections reading the queue during"
echo "the write run (both wrk share the 2 cores with the server: indicative)."
echo
echo "| mode | reads/s | read p50 ms | read p99 ms | writes/s | write p99 ms | write 200s | 409s | reviews | read p99 while writing | errors | verdict |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for mode in $MODES; do
    bash bench/desk/fill.sh ./quill "$DB" "$N"
    out=$(bash bench/desk/load.sh ./quill "$DB" "$mode" "$SECS" "$CONNS")
    row=$(python3 - "$mode" "$SECS" "$out" <<'PY'
import json, sys
mode, secs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
res = {l.split(" ", 1)[0]: l.split(" ", 1)[1] for l in out.splitlines() if " " in l}
r, m, reviews = json.loads(res["read"]), json.loads(res["mixed"]), int(res["reviews"])
d = json.loads(res["reads_during"])
errors = sum(x[k] for x in (r, m, d) for k in ("connect", "read", "write", "timeout", "s5xx", "other"))
why = []
if r["p99_ms"] >= 50: why.append("read p99 >= 50 ms")
if errors: why.append("%d errors" % errors)
if reviews != m["write_200"]: why.append("reviews %d != 200s %d" % (reviews, m["write_200"]))
print("| %s | %.0f | %.1f | %.1f | %.0f | %.1f | %d | %d | %d | %.1f | %d | %s |" % (
    mode, r["requests"] / r["seconds"], r["p50_ms"], r["p99_ms"],
    (m["write_200"] + m["s409"]) / secs, m["p99_ms"], m["write_200"], m["s409"], reviews,
    d["p99_ms"], errors, "ok" if not why else "FAIL: " + ", ".join(why)))
PY
)
    echo "$row"
    case $row in *FAIL*) echo "bench/desk: $mode: ${row##*FAIL: }" >&2 ;; esac
done
rm -f "$DB" "$DB-wal" "$DB-shm"
echo
echo "The write run's p99 includes its last 3 s of session reads; writes queue on"
echo "the server's one write lock (SQLite has one writer), so their latency is"
echo "connections / write throughput."

#!/bin/bash
# load.sh QUILL DB MODE SECONDS CONNECTIONS: start `quill serve` on the store
# DB (filled by fill.sh) in libmicrohttpd mode MODE (QUILL_SERVE_MODE: pool,
# epoll, threads), log a new reviewer in, and run wrk (bench/desk/desk.lua)
# for SECONDS with CONNECTIONS connections: the queue API, then approvals
# and edits while a quarter as many connections read the queue (do writes
# stall reads?).  Prints four lines for the caller to check:
#   read {wrk result}   mixed {wrk result}   reads_during {wrk result}
#   reviews N (recorded during the mixed run)
set -euo pipefail
QUILL=$1 DB=$2 MODE=$3 SECS=$4 CONNS=$5
HERE=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
token=$("$QUILL" --db "$DB" reviewer add "bench-$MODE-$$" 2>/dev/null)
QUILL_SERVE_MODE=$MODE "$QUILL" --db "$DB" serve --listen 127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 200); do [ -s "$tmp/out" ] && break; sleep 0.1; done
url=$(sed 's/^listening on //' "$tmp/out")
[ -n "$url" ] || { cat "$tmp/err" >&2; exit 1; }
curl -s -D "$tmp/h" -X POST -d "{\"token\":\"$token\"}" "${url}api/login" >"$tmp/login"
export DESK_COOKIE DESK_CSRF DESK_N
DESK_COOKIE=$(sed -nE 's/^[Ss]et-[Cc]ookie: quill_session=([0-9a-f]+).*/\1/p' "$tmp/h")
DESK_CSRF=$(sed -E 's/.*"csrf":"([0-9a-f]+)".*/\1/' "$tmp/login")
DESK_N=$(sqlite3 -cmd ".timeout 5000" "$DB" "SELECT MAX(id) FROM outputs")
reviews() { sqlite3 -cmd ".timeout 5000" "$DB" "SELECT COUNT(*) FROM reviews"; }
run() { # WORK EXTRA CONNS [NAME]: one wrk run of SECS + EXTRA seconds, its result line
    DESK_WORK=$1 DESK_SECS=$SECS wrk -t2 -c"$3" -d"$((SECS + $2))s" \
        --timeout 10s -s "$HERE/desk.lua" "$url" |
        sed -n "s/^desk-result /${4:-$1} /p"
}
run read 0 "$CONNS"
before=$(reviews)
run mixed 3 "$CONNS" >"$tmp/mixed" &
writer=$!
run read -1 $(((CONNS + 3) / 4)) reads_during
wait $writer
cat "$tmp/mixed"
echo "reviews $(($(reviews) - before))"
kill -TERM $pid
wait $pid || { echo "quill serve: exit $?" >&2; cat "$tmp/err" >&2; exit 1; }
trap 'rm -rf "$tmp"' EXIT

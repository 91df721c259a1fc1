#!/bin/bash
# The review desk under a short wrk load (bench/desk at small scale): 8
# connections, 3 s of queue reads then 3 s of approvals and edits (with 2
# connections reading meanwhile), on 2,000
# outputs, in libmicrohttpd's pool and thread-per-connection modes (the
# sanitized binary: races and leaks show).  No socket errors, no 5xx, and
# the store's new reviews equal the 200s that answered writes: nothing
# lost, nothing doubled.  Timing is bench/desk's job, not this test's.
. "$ROOT/tests/lib.sh"

if ! command -v wrk >/dev/null; then
    fail "the load test needs wrk" "apt-get install wrk"
    summary
    exit 1
fi
bash "$ROOT/bench/desk/fill.sh" "$QUILL" load.db 2000
check "fill.sh made 2,000 outputs" [ "$(sqlite3 load.db 'SELECT COUNT(*) FROM outputs')" = 2000 ]
# field NAME LINE: a number from a desk-result line
field() { python3 -c "import json,sys; print(json.loads(sys.argv[2])[sys.argv[1]])" "$1" "$2"; }
for mode in pool threads; do
    out=$(bash "$ROOT/bench/desk/load.sh" "$QUILL_ASAN" load.db "$mode" 3 8 2>load.err)
    echo "$out"
    read_line=$(echo "$out" | sed -n 's/^read //p')
    mixed_line=$(echo "$out" | sed -n 's/^mixed //p')
    during_line=$(echo "$out" | sed -n 's/^reads_during //p')
    reviews=$(echo "$out" | sed -n 's/^reviews //p')
    check "$mode: the load ran (reads, writes, reads while writing answered)" bash -c "[ '$(field s200 "$read_line")' -gt 0 ] && [ '$(field write_200 "$mixed_line")' -gt 0 ] && [ '$(field s200 "$during_line")' -gt 0 ]"
    for k in connect read write timeout s5xx other; do
        check "$mode: no $k errors" [ "$(field $k "$read_line") $(field $k "$mixed_line") $(field $k "$during_line")" = "0 0 0" ]
    done
    check "$mode: reviews recorded = write 200s ($reviews)" [ "$reviews" = "$(field write_200 "$mixed_line")" ]
    check "$mode: the server stopped cleanly" bash -c "! grep -q . load.err"
done
check "the progress counts agree with the outputs after the load" [ "$(sqlite3 load.db "SELECT SUM(n) FROM output_counts WHERE status = 'pending'")" = "$(sqlite3 load.db "SELECT COUNT(*) FROM outputs WHERE status = 'pending'")" ]
expect_fail "QUILL_SERVE_MODE must be known" "QUILL_SERVE_MODE must be" env QUILL_SERVE_MODE=fork timeout 10 "$QUILL" --db load.db serve --listen 127.0.0.1:0
summary

#!/bin/bash
# bench/bulk_store: does the store keep up with bulk generation (issue 14)?
# One job of 100,000 outputs (BULK_N; 10,000 prompts x 10, 8 new tokens)
# from a random tiny model (1 layer, 16 wide: decoding is as fast as it
# gets, so the writer's share is as large as it gets), run with --no-store
# and stored (the one writer, batched transactions in order), at batch 64.
# Reports wall and CPU seconds and outputs/s of both, the writer's cost,
# and the store's growth against the raw text and ids (prompt + continuation
# bytes, 4 bytes a token id), with what each table and index of the outputs
# (db/011_output_rows.sql) takes.  Prints a markdown section.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
Q="$ROOT/quill"
N=${BULK_N:-100000}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
head -c 2000 "$ROOT/recipes/corpora/frankenstein.txt" >text.txt
(cd "$ROOT" && "$Q" --db "$W/t.db" ingest "$W/text.txt" >/dev/null &&
    "$Q" --db "$W/t.db" group --block-size 16 >/dev/null &&
    "$Q" --db "$W/t.db" train --init n_layer=1,n_head=2,n_embd=16,n_positions=64 --seed 1 \
        --max-steps 1 --save-steps 0 --quiet >/dev/null &&
    "$Q" --db "$W/t.db" export latest "$W/m" >/dev/null)
python3 -c "
for i in range($N // 10): print('{\"prompt\": \"Line %d of the long poem\", \"num_return_sequences\": 10}' % i)" >p.jsonl
"$Q" --db s.db ingest text.txt >/dev/null # an empty store (one document)
size() { sqlite3 "$1" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null; stat -c %s "$1"; }
before=$(size s.db)
# run NAME ARGS...: wall and CPU seconds of one job, into NAME_wall, NAME_cpu
run() {
    local name=$1 t0 t1
    shift
    t0=$(date +%s.%N)
    /usr/bin/time -o "$name.time" -f '%U %S' "$Q" "$@" >/dev/null 2>"$name.err"
    t1=$(date +%s.%N)
    tail -1 "$name.err" >&2
    eval "${name}_wall=$(echo "scale=2; ($t1 - $t0) / 1" | bc)"
    eval "${name}_cpu=$(awk '{print $1 + $2}' "$name.time")"
}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
run nostore --db s.db generate --model m --prompts p.jsonl --max-new-tokens 8 --batch 64 --no-store
run store --db s.db generate --model m --prompts p.jsonl --max-new-tokens 8 --batch 64
after=$(size s.db)
stored=$(sqlite3 s.db "SELECT count(*) FROM outputs")
raw=$(sqlite3 s.db "SELECT sum(length(CAST(text AS BLOB)) + 4 * json_array_length(ids_json)) FROM outputs")
# the pages of each table and index of the outputs (db/011), per output
tables=$(sqlite3 s.db "SELECT name, sum(pgsize) FROM dbstat WHERE name LIKE 'output%'
    OR name LIKE 'sqlite_autoindex_output%' GROUP BY name ORDER BY 2 DESC")
rate() { echo "scale=0; $N / $1" | bc; }
echo "## Bulk generation: the store keeps up (bench/bulk_store)"
echo
echo "$N outputs (10 each for $((N / 10)) prompts, 8 new tokens), random tiny model (1 layer, 16 wide), --batch 64, OMP_NUM_THREADS=$OMP_NUM_THREADS."
echo
echo "| job | wall s | CPU s | outputs/s (wall) |"
echo "|---|---|---|---|"
echo "| --no-store | $nostore_wall | $nostore_cpu | $(rate "$nostore_wall") |"
echo "| stored (one writer, batched transactions) | $store_wall | $store_cpu | $(rate "$store_wall") |"
echo
echo "- writer's cost: $(echo "scale=1; 100 * ($store_cpu - $nostore_cpu) / $nostore_cpu" | bc)% more CPU, $(echo "scale=1; 100 * ($store_wall - $nostore_wall) / $nostore_wall" | bc)% more wall time; $stored outputs stored"
echo "- store growth: $((after - before)) B ($(( (after - before) / N )) B/output) against raw text + ids $raw B ($((raw / N)) B/output): $(echo "scale=2; ($after - $before) / $raw" | bc)x"
echo "- where it goes (pages of each table and index of the outputs, db/011_output_rows.sql):"
echo
echo "| table or index | B/output |"
echo "|---|---|"
echo "$tables" | while IFS='|' read -r name b; do
    echo "| $name | $(echo "scale=1; $b / $N" | bc) |"
done

#!/bin/bash
# fill.sh QUILL DB N: a store at DB (made by `quill ingest`, so with every
# migration) holding N generated outputs: recipes "queue" and "hot", prompts
# "prompt I", a 200-character continuation, params as `quill run` writes
# them.  SQL in one statement, so 100,000 rows take about a second (no model
# runs); used by bench/desk/run.sh and tests/t_desk_load.sh.
set -euo pipefail
QUILL=$1 DB=$2 N=$3
rm -f "$DB" "$DB-wal" "$DB-shm"
seed=$(mktemp)
printf 'A document, so that ingest creates the store.\n' >"$seed"
"$QUILL" --db "$DB" ingest "$seed" >/dev/null 2>&1
rm -f "$seed"
cont=" $(printf 'and the rain fell softly on the roofs of the quiet town %.0s' 1 2 3 4)"
sqlite3 -cmd ".timeout 5000" "$DB" "
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
    INSERT INTO outputs (id, recipe_name, model_source, prompt, continuation, text, ids_json,
                         params_json, seed, finish_reason)
    SELECT i, CASE WHEN i % 10 = 0 THEN 'hot' ELSE 'queue' END, 'models/gpt2', 'prompt ' || i,
           '${cont:0:200}', 'prompt ' || i || '${cont:0:200}', '[1,2,3]',
           '{\"temperature\":0.8,\"top_k\":40,\"max_new_tokens\":48}', i, 'length'
    FROM n"

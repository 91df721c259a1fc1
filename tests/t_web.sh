#!/bin/bash
# The review desk in a real browser: fills a store, starts `quill serve`
# and runs tests/web/desk.test.js (Debian's chromium driven by
# puppeteer-core, installed by `npm ci` in tests/web from its committed
# package-lock.json; .ci/run does it).  The test's screenshot of the page
# lands in docs/desk.png when DESK_SHOT_DOCS=1.
. "$ROOT/tests/lib.sh"

sqlite3() { command sqlite3 -cmd ".timeout 5000" "$@"; }
WEB="$ROOT/tests/web"
if [ ! -x /usr/bin/chromium ] || [ ! -d "$WEB/node_modules/puppeteer-core" ]; then
    fail "browser tests need chromium and puppeteer-core" \
        "apt-get install chromium; (cd tests/web && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --ignore-scripts)"
    summary
    exit 1
fi
Q() { "$QUILL" --db web.db "$@"; }
new_store web.db
ANN=$(Q reviewer add ann 2>/dev/null)
BOB=$(Q reviewer add bob 2>/dev/null)
# output ID RECIPE PROMPT CONTINUATION PARAMS
rows=""
add() {
    rows+="($1, '$2', 'models/gpt2', '$3', '$4', '$3$4', '[1]', '$5', $1, 'length'),"
}
for i in $(seq 1 20); do add "$i" kb "Poem $i:" " the rain falls on roof $i" '{}'; done
add 30 ed "The old" " black cat slept by the warm fire" '{"banned_words":["dog"]}'
add 40 two "Two keys" " open one door" '{}'
add 50 stale "Stale" " text before the edit" '{}'
add 60 xss "<script>alert(1)</script>" " <img src=x onerror=alert(1)> javascript:alert(1)" '{}'
sqlite3 web.db "INSERT INTO review_rules (recipe_name, min_approvals) VALUES ('two', 2);
    INSERT INTO outputs (id, recipe_name, model_source, prompt, continuation, text, ids_json,
    params_json, seed, finish_reason) VALUES ${rows%,};
    INSERT INTO train_runs (id, identity, block_set_id, model_source, config_json, params_json,
    status, total_steps) VALUES (1, 'r', 1, 'init', '{}', '{}', 'done', 40);
    INSERT INTO train_logs (run_id, kind, step, epoch, loss) VALUES
    (1, 'train', 10, 0.25, 4.1), (1, 'train', 20, 0.5, 3.4), (1, 'eval', 20, 0.5, 3.6),
    (1, 'train', 30, 0.75, 2.9), (1, 'train', 40, 1, 2.5), (1, 'eval', 40, 1, 3.3)"

"$QUILL" --db web.db serve --listen 127.0.0.1:0 >serve.out 2>serve.err &
PID=$!
for _ in $(seq 100); do [ -s serve.out ] && break; sleep 0.1; done
URL=$(sed 's/^listening on //' serve.out)
SHOT="$SCRATCH/desk.png"
[ "${DESK_SHOT_DOCS:-0}" = 1 ] && SHOT="$ROOT/docs/desk.png"
DESK_URL=$URL ANN_TOKEN=$ANN BOB_TOKEN=$BOB SHOT=$SHOT timeout 300 node "$WEB/desk.test.js" >node.out 2>&1
cat node.out; cat serve.err | tail -5
line=$(grep -E '^# tests: [0-9]+ passed, [0-9]+ failed$' node.out | tail -1)
T_PASS=$((T_PASS + $(echo "$line" | sed -E 's/# tests: ([0-9]+) passed.*/\1/')))
T_FAIL=$((T_FAIL + $(echo "$line" | sed -E 's/.* ([0-9]+) failed/\1/')))
[ -n "$line" ] || fail "browser test printed no summary"
check "the store agrees: 16 approvals and 4 rejections from ann on kb" \
    [ "$(sqlite3 web.db "SELECT group_concat(n) FROM (SELECT COUNT(*) AS n FROM reviews r JOIN outputs o ON o.id = r.output_id WHERE o.recipe_name = 'kb' AND r.reviewer = 'ann' GROUP BY verdict ORDER BY verdict)")" = "16,4" ]
check "output 40 approved by two" [ "$(sqlite3 web.db "SELECT status FROM outputs WHERE id = 40")" = approved ]
check "output 50: no approval of the stale version" [ "$(sqlite3 web.db "SELECT COUNT(*) FROM reviews WHERE output_id = 50 AND verdict = 'approve'")" = 0 ]
check "output 60: ann's approval and its undo recorded, pending again" \
    [ "$(sqlite3 web.db "SELECT group_concat(verdict) FROM reviews WHERE output_id = 60 AND verdict <> 'note' ORDER BY id; SELECT status FROM outputs WHERE id = 60")" = "$(printf 'approve,withdraw\npending')" ]
kill -TERM $PID
wait $PID
check "server stopped cleanly" [ $? = 0 ]
summary

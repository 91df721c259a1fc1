#!/bin/bash
# The review desk's server and its security (quill serve, quill reviewer),
# with curl: tokens kept as hashes, the listen rules, the first stdout line,
# 401 without a live session, 403 without the CSRF header (store
# unchanged), 421 for a foreign Host, 413 for a big body, 404 for path
# traversal, login rate limit, review/edit with 409 and 422, keyset
# pagination, publish preview = quill publish, revocation, clean stop.
. "$ROOT/tests/lib.sh"

sqlite3() { command sqlite3 -cmd ".timeout 5000" "$@"; }
Q() { "$QUILL_ASAN" --db desk.db "$@"; }
sql() { sqlite3 desk.db "$@"; }
# add_output ID RECIPE PROMPT CONTINUATION [PARAMS]
add_output() {
    sql "INSERT INTO outputs (id, recipe_name, model_source, prompt, continuation, text, ids_json,
         params_json, seed, finish_reason) VALUES ($1, '$2', 'models/gpt2', '$3', '$4',
         '$3$4', '[1,2]', '${5:-{\}}', $((100 + $1)), 'length')"
}
# the reviews and outputs as they stand, to show a refused request changed nothing
snapshot() { sql "SELECT * FROM reviews; SELECT id, status FROM outputs; SELECT * FROM sessions" | md5sum; }

printf 'A document, so that ingest creates the store.\n' >seed.txt
Q ingest seed.txt >/dev/null 2>&1
TOKEN=$(Q reviewer add " Ann " --admin 2>ann.err)
check "reviewer add prints a 256-bit token alone on stdout" bash -c "echo '$TOKEN' | grep -Eqx '[0-9a-f]{64}'"
check "the store keeps only the token's SHA-256" bash -c "[ \"\$(sqlite3 desk.db 'SELECT token_hash FROM reviewers')\" = \"\$(printf %s '$TOKEN' | sha256sum | cut -d' ' -f1)\" ] && ! sqlite3 desk.db .dump | grep -q '$TOKEN'"
expect_fail "names are normalised: ANN is ann" "reviewer ann exists" Q reviewer add ANN
BOB=$(Q reviewer add bob 2>/dev/null)
check "reviewer list" bash -c "'$QUILL_ASAN' --db desk.db reviewer list | grep -Eq '^ann +yes' && '$QUILL_ASAN' --db desk.db reviewer list | grep -Eq '^bob +no'"
expect_fail "reviewer remove unknown" "no reviewer named carol" Q reviewer remove carol
expect_fail "reviewer usage" "needs exactly one NAME" Q reviewer add
expect_fail "non-loopback needs TLS or --insecure-http" "not loopback" Q serve --listen 0.0.0.0:0
expect_fail "--listen must be ADDR:PORT" "is not ADDR:PORT" Q serve --listen localhost
expect_fail "--tls-cert needs --tls-key" "go together" Q serve --tls-cert x.pem

add_output 1 r1 "Two roads" " diverged" '{"forbid_chars":"e"}'
add_output 2 r1 "It was" " a dark night"
add_output 3 r2 "Call me" " Ishmael"
add_output 4 r2 "Once upon" " a time"
add_output 5 r2 "In the" " beginning"

"$QUILL_ASAN" --db desk.db serve --listen 127.0.0.1:0 >serve.out 2>serve.err &
PID=$!
for _ in $(seq 100); do [ -s serve.out ] && break; sleep 0.1; done
check "first stdout line is the URL" grep -Eqx 'listening on http://127\.0\.0\.1:[0-9]+/' serve.out
URL=$(sed 's/^listening on //' serve.out)
PORT=$(echo "$URL" | sed -E 's/.*:([0-9]+)\/$/\1/')
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
J() { curl -s -b jar "$@"; }

check "the page is served with a CSP without unsafe-inline" bash -c "curl -s -D - -o page.html '$URL' | grep -i '^content-security-policy:' | grep -q \"script-src 'self'\" && ! grep -qi unsafe-inline page.html && grep -q '<script src=\"/desk.js\"' page.html"
check "no session: /api/outputs is 401" [ "$(code "${URL}api/outputs")" = 401 ]
check "no session: /api/session is 401" [ "$(code "${URL}api/session")" = 401 ]
check "no session: a review is 401" [ "$(code -X POST -d '{"verdict":"approve","version":1}' "${URL}api/outputs/2/review")" = 401 ]
check "wrong token: 401" [ "$(code -X POST -d '{"token":"'"${TOKEN//[0-9]/a}"'"}' "${URL}api/login")" = 401 ]
curl -s -D login.h -c jar -X POST -d "{\"token\":\"$TOKEN\"}" "${URL}api/login" >login.json
CSRF=$(sed -E 's/.*"csrf":"([0-9a-f]+)".*/\1/' login.json)
check "login returns the reviewer and a CSRF token" grep -Eq '"reviewer":"ann","csrf":"[0-9a-f]{64}"' login.json
check "session cookie: HttpOnly, SameSite=Strict, expiring, not Secure on http" bash -c "grep -i '^set-cookie: quill_session=' login.h | grep -q 'HttpOnly; SameSite=Strict' && grep -i '^set-cookie:' login.h | grep -q 'Max-Age=' && ! grep -i '^set-cookie:' login.h | grep -qi secure"
check "session answers" bash -c "curl -s -b jar '${URL}api/session' | grep -q '\"reviewer\":\"ann\"'"
check "queue lists the 5 pending" bash -c "curl -s -b jar '${URL}api/outputs?status=pending' | python3 -c 'import json,sys; d=json.load(sys.stdin); assert [o[\"id\"] for o in d[\"outputs\"]]==[1,2,3,4,5] and d[\"counts\"][\"pending\"]==5 and d[\"next\"] is None'"
check "keyset pagination: limit 2, then the cursor" bash -c "
    p1=\$(curl -s -b jar '${URL}api/outputs?limit=2'); n=\$(echo \"\$p1\" | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"next\"])')
    [ \"\$n\" = 2 ] && curl -s -b jar '${URL}api/outputs?limit=2&cursor=2' | python3 -c 'import json,sys; d=json.load(sys.stdin); assert [o[\"id\"] for o in d[\"outputs\"]]==[3,4] and d[\"next\"]==4'"
check "filters: recipe and prompt text" bash -c "curl -s -b jar '${URL}api/outputs?recipe=r2&q=upon' | python3 -c 'import json,sys; assert [o[\"id\"] for o in json.load(sys.stdin)[\"outputs\"]]==[4]'"
check "output detail: provenance, versions, constraints" bash -c "curl -s -b jar '${URL}api/outputs/1' | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"provenance\"][\"seed\"]==101 and d[\"provenance\"][\"params\"][\"forbid_chars\"]==\"e\" and d[\"versions\"][0][\"text\"]==\"Two roads diverged\" and d[\"prompt\"]==\"Two roads\"'"
check "/api/outputs/2abc is no route: 404" [ "$(J -o /dev/null -w '%{http_code}' "${URL}api/outputs/2abc")" = 404 ]
check "unknown output: 404" [ "$(J -o /dev/null -w '%{http_code}' "${URL}api/outputs/999")" = 404 ]

before=$(snapshot)
check "no CSRF header: 403" [ "$(J -o /dev/null -w '%{http_code}' -X POST -d '{"verdict":"approve","version":1}' "${URL}api/outputs/2/review")" = 403 ]
check "wrong CSRF header: 403" [ "$(J -o /dev/null -w '%{http_code}' -H "X-CSRF-Token: ${CSRF//[0-9]/b}" -X POST -d '{"verdict":"approve","version":1}' "${URL}api/outputs/2/review")" = 403 ]
check "logout without CSRF: 403" [ "$(J -o /dev/null -w '%{http_code}' -X POST "${URL}api/logout")" = 403 ]
check "foreign Host: 421" [ "$(J -o /dev/null -w '%{http_code}' -H 'Host: evil.example' -H "X-CSRF-Token: $CSRF" -X POST -d '{"verdict":"approve","version":1}' "${URL}api/outputs/2/review")" = 421 ]
head -c 10485760 /dev/zero | tr '\0' a >big.body
check "10 MB body: 413" [ "$(J -o /dev/null -w '%{http_code}' -H "X-CSRF-Token: $CSRF" -X POST --data-binary @big.body "${URL}api/outputs/2/review")" = 413 ]
check "10 MB chunked body: 413" [ "$(J -o /dev/null -w '%{http_code}' -H "X-CSRF-Token: $CSRF" -H 'Transfer-Encoding: chunked' -X POST --data-binary @big.body "${URL}api/outputs/2/review")" = 413 ]
check "refused requests changed nothing" [ "$(snapshot)" = "$before" ]
check "Host localhost:PORT is fine" [ "$(code -H "Host: localhost:$PORT" "$URL")" = 200 ]
for p in '/../../etc/passwd' '/%2e%2e/%2e%2e/etc/passwd' '/..%2f..%2fetc%2fpasswd' '/desk.js/../../../etc/passwd' '/%2fetc%2fpasswd' '//etc/passwd' '/web/desk.js'; do
    check "traversal $p: 404" [ "$(code --path-as-is "${URL%/}$p")" = 404 ]
done

H=(-H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json')
check "approve version 1: 200, approved" bash -c "curl -s -b jar -H 'X-CSRF-Token: $CSRF' -X POST -d '{\"verdict\":\"approve\",\"version\":1,\"note\":\"fine\"}' '${URL}api/outputs/2/review' | grep -q '\"status\":\"approved\"'"
check "the review is in the store under the session's reviewer" [ "$(sql "SELECT reviewer || ' ' || verdict || ' ' || version FROM reviews WHERE output_id = 2")" = "ann approve 1" ]
check "edit breaking forbid_chars: 422 naming the character, code breaks" bash -c "[ \"\$(curl -s -b jar -o e.json -w '%{http_code}' -H 'X-CSRF-Token: $CSRF' -X POST -d '{\"text\":\"Two roads went\",\"version\":1}' '${URL}api/outputs/1/edit')\" = 422 ] && grep -q \"'e'\" e.json && grep -q '\"code\":\"breaks\"' e.json"
check "edit keeping the constraints: 200, version 2" bash -c "curl -s -b jar -H 'X-CSRF-Token: $CSRF' -X POST -d '{\"text\":\"Two roads split\",\"version\":1}' '${URL}api/outputs/1/edit' | grep -q '\"version\":2'"
check "stale edit: 409" [ "$(J -o /dev/null -w '%{http_code}' "${H[@]}" -X POST -d '{"text":"Two roads part","version":1}' "${URL}api/outputs/1/edit")" = 409 ]
check "stale approve: 409 with the current output, code stale" bash -c "[ \"\$(curl -s -b jar -o s.json -w '%{http_code}' -H 'X-CSRF-Token: $CSRF' -X POST -d '{\"verdict\":\"approve\",\"version\":1}' '${URL}api/outputs/1/review')\" = 409 ] && grep -q '\"version\":2' s.json && grep -q '\"code\":\"stale\"' s.json"
# the CLI maps the same reasons (db/reviews.h's reviews_rc) to exit statuses
Q review approve 1 --version 1 --reviewer cli >/dev/null 2>&1
check "CLI: a stale version exits 3" [ $? = 3 ]
Q review edit 1 --text "Two roads went" --reviewer cli >/dev/null 2>&1
check "CLI: an edit breaking the constraints exits 4" [ $? = 4 ]
Q review withdraw 2 --reviewer cli >/dev/null 2>&1
check "CLI: a refusal of the rules (nothing to withdraw) exits 5" [ $? = 5 ]
Q review approve 999 --reviewer cli >/dev/null 2>&1
check "CLI: no such output exits 1" [ $? = 1 ]
check "no approval of output 1 was recorded" [ "$(sql "SELECT COUNT(*) FROM reviews WHERE output_id = 1 AND verdict = 'approve'")" = 0 ]
check "note: 200 and recorded" bash -c "[ \"\$(curl -s -b jar -o /dev/null -w '%{http_code}' -H 'X-CSRF-Token: $CSRF' -X POST -d '{\"note\":\"<b>hm</b>\"}' '${URL}api/outputs/4/note')\" = 200 ] && [ \"\$(sqlite3 desk.db \"SELECT note FROM reviews WHERE output_id = 4 AND verdict = 'note'\")\" = '<b>hm</b>' ]"
check "reject then withdraw" bash -c "curl -s -b jar -H 'X-CSRF-Token: $CSRF' -X POST -d '{\"verdict\":\"reject\",\"version\":1}' '${URL}api/outputs/3/review' | grep -q '\"status\":\"rejected\"' && curl -s -b jar -H 'X-CSRF-Token: $CSRF' -X POST -d '{}' '${URL}api/outputs/3/withdraw' | grep -q '\"status\":\"pending\"'"
"$QUILL" --db desk.db publish --out pub.md --format md >/dev/null 2>&1
check "publish preview = the bytes quill publish wrote" bash -c "curl -s -b jar '${URL}api/publish/preview?format=md' | cmp - pub.md"
# undo: my own standing verdict, recorded, never once published
check "undo my approval of 5: 200, pending again" bash -c "curl -s -b jar -H 'X-CSRF-Token: $CSRF' -X POST -d '{\"verdict\":\"approve\",\"version\":1}' '${URL}api/outputs/5/review' | grep -q '\"status\":\"approved\"' && curl -s -b jar -H 'X-CSRF-Token: $CSRF' -X POST -d '{}' '${URL}api/outputs/5/undo' | grep -q '\"status\":\"pending\"'"
check "the undo is recorded, not deleted" [ "$(sql "SELECT group_concat(verdict || ':' || COALESCE(note, ''), ' ') FROM reviews WHERE output_id = 5")" = "approve: withdraw:undo approve of version 1" ]
check "nothing left to undo: 409, code refused" bash -c "[ \"\$(curl -s -b jar -o u.json -w '%{http_code}' -H 'X-CSRF-Token: $CSRF' -X POST -d '{}' '${URL}api/outputs/5/undo')\" = 409 ] && grep -q '\"code\":\"refused\"' u.json && grep -q 'ann has no standing verdict to undo' u.json"
check "undo without CSRF: 403" [ "$(J -o /dev/null -w '%{http_code}' -X POST -d '{}' "${URL}api/outputs/5/undo")" = 403 ]
before=$(snapshot)
check "undo of a published output's approval: 409, it stands" bash -c "[ \"\$(curl -s -b jar -o p.json -w '%{http_code}' -H 'X-CSRF-Token: $CSRF' -X POST -d '{}' '${URL}api/outputs/2/undo')\" = 409 ] && grep -q 'was published' p.json"
check "and the store is unchanged" [ "$(snapshot)" = "$before" ]
check "undo of an unknown output: 404" [ "$(J -o /dev/null -w '%{http_code}' -H "X-CSRF-Token: $CSRF" -X POST -d '{}' "${URL}api/outputs/999/undo")" = 404 ]

sql "INSERT INTO train_runs (id, identity, block_set_id, model_source, config_json, params_json, status, total_steps) VALUES (1, 'x', 1, 'init', '{}', '{}', 'done', 20);
     INSERT INTO train_logs (run_id, kind, step, epoch, loss, learning_rate, grad_norm) VALUES (1, 'train', 10, 0.5, 3.5, 0.001, 1.2), (1, 'train', 20, 1, 2.9, 0.001, 0.9), (1, 'eval', 20, 1, 3.1, NULL, NULL)"
check "runs and their logs" bash -c "curl -s -b jar '${URL}api/runs' | grep -q '\"last_step\":20' && curl -s -b jar '${URL}api/runs/1/logs' | python3 -c 'import json,sys; d=json.load(sys.stdin)[\"logs\"]; assert [(x[\"kind\"],x[\"step\"],x[\"loss\"]) for x in d]==[(\"train\",10,3.5),(\"train\",20,2.9),(\"eval\",20,3.1)]'"
check "unknown run: 404" [ "$(J -o /dev/null -w '%{http_code}' "${URL}api/runs/9/logs")" = 404 ]
# a poetic form's facts (issue 16): each line's syllables and rhymes; an edit breaking it is 422
sql "INSERT INTO outputs (id, recipe_name, model_source, prompt, continuation, text, ids_json, params_json,
     seed, finish_reason) VALUES (7, 'poem', 'm', 'The sea', char(10) || 'the sun is now gray' || char(10) ||
     'and I go away' || char(10), 'The sea' || char(10) || 'the sun is now gray' || char(10) || 'and I go away'
     || char(10), '[1]', '{\"syllables\":[5,5],\"rhyme\":\"AA\"}', 7, 'form')"
check "a form's facts: syllables per line, the rhyme pair" bash -c "curl -s -b jar '${URL}api/outputs/7' | python3 -c 'import json,sys; f=json.load(sys.stdin)[\"form\"]; assert f[\"holds\"] and [l[\"syllables\"] for l in f[\"line\"]]==[5,5] and f[\"line\"][1][\"rhymes_with\"]==1 and f[\"line\"][1][\"rhymes\"] and f[\"line\"][1][\"last_word\"]==\"away\"' && curl -s -b jar '${URL}api/outputs/1' | grep -q '\"form\":null'"
check "an edit breaking the form: 422 naming the break" bash -c "[ \"\$(curl -s -b jar -o f.json -w '%{http_code}' -H 'X-CSRF-Token: $CSRF' -X POST -d '{\"text\":\"The sea\\nthe sun is now gray\\nand I go alone\\n\",\"version\":1}' '${URL}api/outputs/7/edit')\" = 422 ] && grep -q 'lines 1 and 2 do not rhyme' f.json"
check "an edit keeping the form: 200" bash -c "curl -s -b jar -H 'X-CSRF-Token: $CSRF' -X POST -d '{\"text\":\"The sea\\nthe moon is now gray\\nand I go away\\n\",\"version\":1}' '${URL}api/outputs/7/edit' | grep -q '\"version\":2'"
# keyset pages stay right at scale: 100,000 more outputs
sql "WITH RECURSIVE n(i) AS (SELECT 1000 UNION ALL SELECT i + 1 FROM n WHERE i < 100999)
     INSERT INTO outputs (id, recipe_name, model_source, prompt, continuation, text, ids_json,
     params_json, seed, finish_reason) SELECT i, 'bulk', 'm', 'p' || i, ' c', 'p' || i || ' c',
     '[1]', '{}', i, 'length' FROM n"
check "the progress counts (kept by triggers) agree with the outputs" bash -c "
    want=\$(sqlite3 desk.db \"SELECT SUM(status = 'pending') || ' ' || SUM(status = 'approved') || ' ' || SUM(status = 'rejected') FROM outputs\")
    got=\$(curl -s -b jar '${URL}api/outputs?status=all' | python3 -c 'import json,sys; c=json.load(sys.stdin)[\"counts\"]; print(c[\"pending\"], c[\"approved\"], c[\"rejected\"])')
    [ \"\$got\" = \"\$want\" ] && [ \"\$(echo \$want | cut -d' ' -f1)\" -gt 100000 ] && [ \"\$(echo \$want | cut -d' ' -f2)\" -ge 1 ]"
check "100,000 outputs: the page after cursor 100995" bash -c "curl -s -b jar '${URL}api/outputs?recipe=bulk&cursor=100995&limit=3' | python3 -c 'import json,sys; d=json.load(sys.stdin); assert [o[\"id\"] for o in d[\"outputs\"]]==[100996,100997,100998] and d[\"next\"]==100998'"
check "100,000 outputs: the last page has no next" bash -c "curl -s -b jar '${URL}api/outputs?status=pending&cursor=100998' | python3 -c 'import json,sys; d=json.load(sys.stdin); assert [o[\"id\"] for o in d[\"outputs\"]]==[100999] and d[\"next\"] is None'"
check "100,000 outputs: prompt search" bash -c "curl -s -b jar '${URL}api/outputs?q=p5432%25' | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"outputs\"]==[]' && curl -s -b jar '${URL}api/outputs?q=p54321' | python3 -c 'import json,sys; assert [o[\"id\"] for o in json.load(sys.stdin)[\"outputs\"]]==[54321]'"

curl -s -c bobjar -X POST -d "{\"token\":\"$BOB\"}" "${URL}api/login" >bob.json
BCSRF=$(sed -E 's/.*"csrf":"([0-9a-f]+)".*/\1/' bob.json)
check "bob's session works" [ "$(code -b bobjar "${URL}api/outputs")" = 200 ]
check "login and session say who is an admin" bash -c "grep -q '\"admin\":false' bob.json && curl -s -b jar '${URL}api/session' | grep -q '\"admin\":true'"
curl -s -b bobjar -H "X-CSRF-Token: $BCSRF" -X POST -d '{"verdict":"approve","version":1}' "${URL}api/outputs/4/review" >/dev/null
check "undo is only of my own verdict: ann cannot undo bob's" bash -c "[ \"\$(curl -s -b jar -o /dev/null -w '%{http_code}' -H 'X-CSRF-Token: $CSRF' -X POST -d '{}' '${URL}api/outputs/4/undo')\" = 409 ] && [ \"\$(sqlite3 desk.db 'SELECT status FROM outputs WHERE id = 4')\" = approved ]"
# admin: list the reviewers, change a recipe's review rule (recorded)
check "a non-admin may not list reviewers: 403" [ "$(code -b bobjar "${URL}api/reviewers")" = 403 ]
before=$(snapshot; sql "SELECT * FROM review_rules; SELECT COUNT(*) FROM review_rule_changes")
check "a non-admin may not change a rule: 403" [ "$(code -b bobjar -H "X-CSRF-Token: $BCSRF" -X POST -d '{"recipe":"r2","min_approvals":2}' "${URL}api/rules")" = 403 ]
check "and nothing changed" [ "$(snapshot; sql "SELECT * FROM review_rules; SELECT COUNT(*) FROM review_rule_changes")" = "$before" ]
check "an admin lists the reviewers, no token hash" bash -c "curl -s -b jar '${URL}api/reviewers' >rv.json && python3 -c 'import json; d=json.load(open(\"rv.json\"))[\"reviewers\"]; assert [(r[\"name\"],r[\"admin\"]) for r in d]==[(\"ann\",True),(\"bob\",False)] and d[1][\"sessions\"]==1' && ! grep -q token rv.json"
check "an admin changes r2's rule: 200 and recorded under ann" bash -c "curl -s -b jar -H 'X-CSRF-Token: $CSRF' -X POST -d '{\"recipe\":\"r2\",\"min_approvals\":2}' '${URL}api/rules' | grep -q '\"outputs\":3' && [ \"\$(sqlite3 desk.db \"SELECT changed_by || ' ' || new_min FROM review_rule_changes\")\" = 'ann 2' ] && [ \"\$(sqlite3 desk.db 'SELECT status FROM outputs WHERE id = 4')\" = pending ]"
check "a rule for an unknown recipe: 409" [ "$(J -o /dev/null -w '%{http_code}' -H "X-CSRF-Token: $CSRF" -X POST -d '{"recipe":"nope","min_approvals":2}' "${URL}api/rules")" = 409 ]
check "a rule needs min_approvals >= 1: 400" [ "$(J -o /dev/null -w '%{http_code}' -H "X-CSRF-Token: $CSRF" -X POST -d '{"recipe":"r2","min_approvals":0}' "${URL}api/rules")" = 400 ]
check "reviewer remove bob" Q reviewer remove bob
check "removed reviewer's session: 401" [ "$(code -b bobjar "${URL}api/outputs")" = 401 ]
check "removed reviewer's token: 401" [ "$(code -X POST -d "{\"token\":\"$BOB\"}" "${URL}api/login")" = 401 ]
check "logout" [ "$(J -o /dev/null -w '%{http_code}' -H "X-CSRF-Token: $CSRF" -X POST "${URL}api/logout")" = 200 ]
check "after logout: 401" [ "$(J -o /dev/null -w '%{http_code}' "${URL}api/outputs")" = 401 ]
for i in 1 2 3 4; do code -X POST -d '{"token":"nope"}' "${URL}api/login" >/dev/null; done
check "failed logins are rate-limited: 429, even with the right token" [ "$(code -X POST -d "{\"token\":\"$TOKEN\"}" "${URL}api/login")" = 429 ]

check "a slow client is cut off (connection timeout)" python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $PORT)); s.sendall(b'GET / HTTP/1.1\\r\\nHost: localhost\\r\\n')
s.settimeout(40); t = time.time(); d = s.recv(100)
assert d == b'' and time.time() - t < 35, (d, time.time() - t)"
kill -TERM $PID
wait $PID
check "SIGTERM stops it cleanly (exit 0)" [ $? = 0 ]
check "it said so" grep -q "SIGTERM, stopping" serve.err

# TLS: https in the first line, the session cookie gets Secure
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 -subj /CN=localhost >/dev/null 2>&1
"$QUILL_ASAN" --db desk.db serve --listen 127.0.0.1:0 --tls-cert cert.pem --tls-key key.pem >tls.out 2>tls.err &
PID=$!
for _ in $(seq 100); do [ -s tls.out ] && break; sleep 0.1; done
check "TLS: first line is https" grep -Eqx 'listening on https://127\.0\.0\.1:[0-9]+/' tls.out
URL=$(sed 's/^listening on //' tls.out)
curl -sk -D tls.h -o /dev/null -X POST -d "{\"token\":\"$TOKEN\"}" "${URL}api/login"
check "TLS: the session cookie is Secure" grep -qi '^set-cookie: quill_session=.*; Secure' tls.h
kill -INT $PID
wait $PID
check "SIGINT stops it cleanly" [ $? = 0 ]
"$QUILL_ASAN" --db desk.db serve --listen 0.0.0.0:0 --insecure-http >any.out 2>any.err &
PID=$!
for _ in $(seq 100); do [ -s any.out ] && break; sleep 0.1; done
check "--insecure-http on a non-loopback address warns" grep -q 'warning: plain HTTP' any.err
kill -TERM $PID
wait $PID
summary

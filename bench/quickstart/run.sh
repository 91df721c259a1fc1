#!/bin/bash
# bench/quickstart: scripts/quickstart.sh as a new user runs it (issue 15),
# in a copy of scripts/ and recipes/, with this tree's ./quill:
# - offline branch (nothing listens at HF_ENDPOINT): wall time, final eval
#   loss, 3 sample texts;
# - online branch with a distilgpt2-SHAPE model already in models/distilgpt2
#   (GPT-2-initialised random weights made by quill: no pretrained weights
#   can be downloaded here, so the wall time is real but the loss and the
#   texts mean nothing);
# - the store's size after each and after the notebook's job
#   (recipes/distilgpt2-frankenstein.yaml on the same model), with `quill
#   status` by kind and after `quill gc`, before (main at e60a502, built from
#   `git archive` unless QUILL_BASE names its quill) and after this change.
# Prints a markdown section.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
Q="$ROOT/quill"
make -s -C "$ROOT" -j2 quill >/dev/null
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export QUILL_NO_PROGRESS=1 HF_ENDPOINT=http://127.0.0.1:9
BASE=${QUILL_BASE:-}
if [ -z "$BASE" ]; then
    mkdir "$W/base"
    git -C "$ROOT" archive e60a502 | tar -x -C "$W/base"
    make -s -C "$W/base" -j2 quill >/dev/null 2>&1
    BASE="$W/base/quill"
fi
# tree DIR [REV]: scripts/ and recipes/ of this tree (or of git REV)
tree() {
    mkdir -p "$1"
    if [ -n "${2:-}" ]; then
        git -C "$ROOT" archive "$2" scripts/quickstart.sh recipes | tar -x -C "$1"
    else
        mkdir -p "$1/scripts"
        cp "$ROOT/scripts/quickstart.sh" "$1/scripts/"
        cp -r "$ROOT/recipes" "$1/"
    fi
}
secs() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }'; }
mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
# samples DB RECIPE: 2 banned-word texts and 1 lipogram, as quoted lines
samples() {
    local q="SELECT replace(prompt || continuation, char(10), ' / ') AS t, id FROM outputs
        WHERE recipe_name = '$2'"
    sqlite3 "$1" "SELECT t FROM (SELECT * FROM ($q AND prompt LIKE 'It was%') ORDER BY id LIMIT 2)
        UNION ALL SELECT t FROM (SELECT * FROM ($q AND prompt LIKE 'Two roads%') ORDER BY id LIMIT 1)" |
        sed 's/^/> /; s/$/\n/'
}
# sizes QUILL DB: the store's bytes, its status line by kind, and after gc
sizes() {
    local by
    by=$("$1" --db "$2" status 2>/dev/null | grep '^store ' || echo "(no size by kind in this quill)")
    echo "- $(mb "$2"); $by"
    if "$1" --db "$2" gc >/dev/null 2>&1; then
        echo "- after \`quill gc\`: $(mb "$2"); $("$1" --db "$2" status | grep '^store ')"
    else
        echo "- \`quill gc\`: not in this quill"
    fi
}
# the distilgpt2-shape model, once
(
    cd "$W"
    head -c 4000 "$ROOT/recipes/corpora/frankenstein.txt" >seed.txt
    export QUILL_DB="$W/model.db"
    "$Q" ingest seed.txt >/dev/null
    "$Q" group --block-size 64 >/dev/null
    "$Q" train --init n_layer=6,n_head=12,n_embd=768,n_positions=1024 --max-steps 1 --save-steps 0 \
        --quiet >/dev/null
    "$Q" export latest "$W/distilgpt2" >/dev/null
    rm -f model.db
)

# offline, after
tree "$W/off"
t0=$(date +%s.%N)
QUICKSTART_QUILL="$Q" QUILL_DB="$W/off.db" "$W/off/scripts/quickstart.sh" >"$W/off.log" 2>&1
off_s=$(secs "$t0")
off_loss=$(sed -nE 's/^Eval loss ([0-9.]+) .*perplexity ([0-9]+).*/\1 (perplexity \2)/p' "$W/off.log")
# online, after: the model already there
tree "$W/on"
mkdir -p "$W/on/models"
cp -r "$W/distilgpt2" "$W/on/models/distilgpt2"
t0=$(date +%s.%N)
QUICKSTART_QUILL="$Q" QUILL_DB="$W/on.db" "$W/on/scripts/quickstart.sh" >"$W/on.log" 2>&1
on_s=$(secs "$t0")
on_loss=$(sed -nE 's/^Eval loss ([0-9.]+) .*perplexity ([0-9]+).*/\1 (perplexity \2)/p' "$W/on.log")
# the notebook's job, after
t0=$(date +%s.%N)
"$Q" --db "$W/nb.db" run "$W/on/recipes/distilgpt2-frankenstein.yaml" >/dev/null 2>&1
nb_s=$(secs "$t0")
# before: main at e60a502's quickstart and notebook's job, its quill
tree "$W/old" e60a502
mkdir -p "$W/old/models"
cp -r "$W/distilgpt2" "$W/old/models/distilgpt2"
t0=$(date +%s.%N)
"$BASE" --db "$W/old-qs.db" run "$W/old/recipes/quickstart.yaml" >/dev/null 2>&1
old_s=$(secs "$t0")
"$BASE" --db "$W/old-nb.db" run "$W/old/recipes/distilgpt2-frankenstein.yaml" >/dev/null 2>&1

echo "## quickstart: scripts/quickstart.sh, both branches, and the store's size"
echo
echo "2 threads; each run once, from an empty store, in a copy of scripts/ and recipes/."
echo
echo "### Offline (nothing answers at the hub): the from-scratch demo"
echo
echo "recipes/quickstart.yaml: 2 layers x 128 trained on the whole book (3 epochs, a tenth of"
echo "the blocks held out).  Wall time ${off_s} s (build excluded), final eval loss ${off_loss:-n/a}."
echo "The fallback line it printed:"
echo
grep 'offline demo' "$W/off.log" | sed 's/^/    /'
echo
echo "Three of its texts (the first two banned night/day, the third a lipogram without e):"
echo
samples "$W/off.db" quickstart
echo "### Online, distilgpt2 already in models/distilgpt2"
echo
echo "recipes/quickstart-distilgpt2.yaml on a distilgpt2-SHAPE model with random weights: the"
echo "pretrained weights cannot be downloaded on this machine, so the wall time is real (the"
echo "compute does not depend on the weights) but the loss and the texts are meaningless."
echo "Wall time ${on_s} s, final eval loss ${on_loss:-n/a}; a download of distilgpt2 (353 MB) adds"
echo "its own time.  Three texts:"
echo
samples "$W/on.db" quickstart-distilgpt2
echo "### The store's size"
echo
echo "Before: main at e60a502 (its quill, its recipes/quickstart.yaml: 20 000 characters, 30"
echo "epochs, ${old_s} s).  After: this tree.  The notebook's job is"
echo "recipes/distilgpt2-frankenstein.yaml on the distilgpt2-shape model (${nb_s} s after)."
echo
echo "Quickstart (offline demo), before:"
echo
sizes "$BASE" "$W/old-qs.db"
echo
echo "Quickstart (offline demo), after:"
echo
sizes "$Q" "$W/off.db"
echo
echo "Quickstart (online, distilgpt2 shape), after:"
echo
sizes "$Q" "$W/on.db"
echo
echo "The notebook's job, before:"
echo
sizes "$BASE" "$W/old-nb.db"
echo
echo "The notebook's job, after:"
echo
sizes "$Q" "$W/nb.db"

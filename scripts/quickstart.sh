#!/bin/sh
# The README's first command: install what is missing (Debian packages),
# build quill, then run the notebook's job up to the review queue:
# fine-tune distilgpt2 on Frankenstein (recipes/quickstart-distilgpt2.yaml)
# when models/distilgpt2 is there or `quill pull distilgpt2` gets it;
# offline, say so in one line and train a small model from scratch on the
# whole book instead (recipes/quickstart.yaml).  Ends with the eval loss and
# where the outputs are.
#   HF_ENDPOINT        the hub to pull from (default https://huggingface.co)
#   QUICKSTART_QUILL   run this quill instead of building ./quill (the tests)
set -eu
cd "$(dirname "$0")/.."
if [ -n "${QUICKSTART_QUILL:-}" ]; then
    quill=$QUICKSTART_QUILL
else
    scripts/deps.sh
    make -j"$(nproc)" quill
    quill=./quill
fi
model=models/distilgpt2
hub=${HF_ENDPOINT:-https://huggingface.co}
why=$(mktemp)
trap 'rm -f "$why"' EXIT
if [ -f "$model/config.json" ] && [ -f "$model/model.safetensors" ]; then
    echo "quickstart: fine-tuning $model (the notebook's job)"
    recipe=quickstart-distilgpt2
else
    echo "quickstart: downloading distilgpt2 (about 350 MB) from $hub into $model"
    if "$quill" pull distilgpt2 --dir "$model" 2>"$why"; then
        recipe=quickstart-distilgpt2
    else
        # one line: why, what runs instead, and how to get the real model
        echo "quickstart: no distilgpt2 ($(tail -n 1 "$why" | sed 's/^quill: //')), so this is the offline demo (a small model trained from scratch: expect word salad); for the real job: ./quill pull distilgpt2 && scripts/quickstart.sh"
        recipe=quickstart
    fi
fi
"$quill" run "recipes/$recipe.yaml"
# the eval loss of the run's train stage and the outputs waiting (from
# quill status: the train stage's result, the store's counts)
status=$("$quill" status "recipes/$recipe.yaml")
loss=$(echo "$status" | sed -n 's/^ *train .*"eval_loss": *\([0-9.]*\).*/\1/p' | head -n 1)
n=$(echo "$status" | sed -n 's/^outputs pending \([0-9]*\).*/\1/p')
echo
if [ -n "$loss" ]; then
    if [ "$recipe" = quickstart ]; then
        meaning="a small model that has read one book: it has the book's words and short phrases, not its sense"
    else
        meaning="distilgpt2 knows English; the fine-tune leans it toward the book's style"
    fi
    awk -v l="$loss" -v m="$meaning" 'BEGIN {
        printf "Eval loss %.2f on held-out text (perplexity %.0f: on average the model hesitates\n", l, exp(l)
        printf "as if between %.0f equally likely next tokens; %s).\n", exp(l), m }'
fi
echo "${n:-The} outputs wait for review in ${QUILL_DB:-quill.db}: ./quill review   (or ./quill review list)"
echo "Then ./quill publish --recipe recipes/$recipe.yaml writes the approved ones to out/$recipe.md"

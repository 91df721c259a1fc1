#!/bin/bash
# bench/bf16_curve: quill train --bf16's loss curve against fp32's on the
# notebook's kind of job at distilgpt2's shape (6 layers, 12 heads, 768
# wide, vocabulary 50257): a distilgpt2-shape model trained briefly from
# scratch in fp32 on Frankenstein (no pretrained weights offline), then
# fine-tuned from that checkpoint twice with the same data order, once in
# fp32 and once in bf16, logging every step.  Prints a markdown section
# with the worst relative difference of the two curves (the issue asks
# for 1%).  `make bench BENCH_ONLY=bf16_curve`; by hand:
# flock /tmp/bench.lock bash bench/bf16_curve/run.sh
# PRE=n, FT=n: steps of the pretraining (default 20) and of each
# fine-tune (default 30); batch 8 x 64 throughout, 2 threads.
set -euo pipefail
cd "$(dirname "$0")/../.."
PRE=${PRE:-20}
FT=${FT:-30}
BUILD=${BUILD:-build}
make -s -j2 quill >/dev/null
q=$PWD/$BUILD/quill
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export QUILL_DB="$dir/q.db" OMP_NUM_THREADS=2
head -c 200000 recipes/corpora/frankenstein.txt >"$dir/f.txt"
$q ingest "$dir/f.txt" >/dev/null 2>&1
$q group --block-size 64 --eval-fraction 0.05 >/dev/null 2>&1
pre=$($q train --init n_layer=6,n_head=12,n_embd=768,n_positions=1024 --max-steps "$PRE" \
    --batch-size 8 --learning-rate 5e-4 --warmup-steps 5 --logging-steps 10 --quiet 2>/dev/null)
ft="--checkpoint $pre --max-steps $FT --batch-size 8 --learning-rate 5e-5 --logging-steps 1 --quiet"
s0=$(date +%s)
$q train $ft >/dev/null 2>&1
s1=$(date +%s)
$q train $ft --bf16 >/dev/null 2>&1
s2=$(date +%s)
curve() {
    sqlite3 "$QUILL_DB" "SELECT l.step, l.loss FROM train_logs l JOIN train_runs r ON r.id = l.run_id
        WHERE l.kind = 'train' AND r.id = $1 ORDER BY l.step"
}
paste -d'|' <(curve 2) <(curve 3) >"$dir/both"
echo "## bf16_curve: bf16 vs fp32 loss, distilgpt2-shape fine-tune"
echo
echo "A distilgpt2-shape model (random init, then $PRE fp32 steps at lr 5e-4 on the first"
echo "200,000 characters of Frankenstein) fine-tuned for $FT steps at lr 5e-5, batch 8 x 64,"
echo "same data order: once in fp32 ($((s1 - s0)) s), once with \`--bf16\` ($((s2 - s1)) s), 2 threads."
echo
echo "| step | fp32 loss | bf16 loss | relative difference |"
echo "|---|---|---|---|"
awk -F'|' -v n="$FT" '{ d = ($4 - $2) / $2; if (NR == 1 || NR % 5 == 0 || NR == n)
    printf "| %d | %.4f | %.4f | %+.3f%% |\n", $1, $2, $4, 100 * d }' "$dir/both"
echo
awk -F'|' '{ d = ($4 - $2) / $2; d = d < 0 ? -d : d; if (d > w) w = d; s += d; n++ }
    END { printf "Worst relative difference over the %d logged steps: %.3f%% (mean %.3f%%; the issue asks for at most 1%%).\n", n, 100 * w, 100 * s / n }' "$dir/both"

#!/bin/bash
# bench/tokenizer: single-thread encode and decode MB/s of quill, Hugging
# Face `tokenizers` (Node binding), native tiktoken (tiktoken-node) and
# tiktoken's WASM build, on one ~50 MB corpus that defeats word caches
# (bench/tokenizer/gen_corpus.js), plus quill on 2 threads; checks that the
# token counts agree and prints a markdown section.  Needs node and the npm
# packages of tests/reference (installed here if missing).
# Usage: bench/tokenizer/run.sh [MB]   (run it under flock /tmp/bench.lock)
set -euo pipefail
cd "$(dirname "$0")/../.."
MB=${1:-50}
data=bench/data
mkdir -p "$data" build/bench
corpus=$data/tok_corpus_${MB}mb.txt
[ -f "$corpus" ] || node bench/tokenizer/gen_corpus.js recipes/corpora/frankenstein.txt "$corpus" "$MB"
if [ ! -d tests/reference/node_modules/tiktoken-node ]; then
    (cd tests/reference && npm ci --no-audit --no-fund >&2)
fi
gcc -std=c11 -D_GNU_SOURCE -O2 -march=native -fopenmp -Icore $(pkg-config --cflags jansson libutf8proc libxxhash) \
    bench/tokenizer/tokbench.c core/tok.c core/tok_encode.c core/err.c core/hash.c core/slurp.c \
    $(pkg-config --libs jansson libutf8proc libxxhash) -o build/bench/tokbench
load=$(cut -d' ' -f1-3 /proc/loadavg)
q=$(build/bench/tokbench "$corpus")
refs=$(node bench/tokenizer/ref.js "$corpus")
node - "$q" "$refs" "$load" <<'JS'
const [q, refs, load] = process.argv.slice(2);
const Q = JSON.parse(q), R = refs.trim().split('\n').map((l) => JSON.parse(l));
const mbs = (b, s) => (b / 1e6 / s).toFixed(1);
const tt = R.find((r) => r.name.startsWith('tiktoken (native'));
const rows = [['quill, 1 thread', Q.tokens, mbs(Q.bytes, Q.encode1_s), mbs(Q.bytes, Q.decode_s)],
    ['quill, 2 threads', Q.tokens, mbs(Q.bytes, Q.encode2_s), '']];
for (const r of R) rows.push([r.name, r.tokens, mbs(r.bytes, r.encode_s), mbs(r.bytes, r.decode_s)]);
const agree = R.every((r) => r.tokens === Q.tokens);
console.log('## tokenizer (bench/tokenizer)\n');
console.log(`Corpus: ${(Q.bytes / 1e6).toFixed(1)} MB of shuffled, altered text in several scripts ` +
    `(bench/tokenizer/gen_corpus.js); references encode it line by line, quill in one call ` +
    `(its times: best of 7; references: one run, single-threaded).\n`);
console.log('| tokenizer | tokens | encode MB/s | decode MB/s |\n|---|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
const x = (Q.bytes / Q.encode1_s) / (tt.bytes / tt.encode_s), sp = Q.encode1_s / Q.encode2_s;
console.log(`\n- token counts equal across all: **${agree ? 'yes' : 'NO'}**; quill 2-thread ids equal 1-thread: ${Q.parallel_equal}; decode round trip: ${Q.round_trip}`);
console.log(`- quill 1-thread encode / native tiktoken: **${x.toFixed(2)}x** (target >= 3x)`);
console.log(`- quill decode: **${mbs(Q.bytes, Q.decode_s)} MB/s** (target >= 100)`);
console.log(`- quill 2 threads / 1 thread: **${sp.toFixed(2)}x** (target >= 1.8x); CPU seconds ` +
    `${Q.encode1_cpu_s.toFixed(3)} on 1 thread, ${Q.encode2_cpu_s.toFixed(3)} on 2 ` +
    `(wall ${Q.encode1_s.toFixed(3)} s, ${Q.encode2_s.toFixed(3)} s); load average before the run: ${load}`);
console.log(`- quill peak memory beyond text and ids: **${Q.mem_beyond_mb} MB** on 1 thread, ` +
    `${Q.mem_beyond_2_mb} MB on 2 (target < 50)`);
console.log('- npm `tiktoken` is WebAssembly; the native one is `tiktoken-node` (Rust, N-API).');
if (!agree) process.exitCode = 1;
JS

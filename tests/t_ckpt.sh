#!/bin/bash
# quill import / export: a Hugging Face directory through the store and back
# gives identical tensors; BF16 export; errors for bad checkpoints and specs.
. "$ROOT/tests/lib.sh"
export QUILL_DB="$SCRATCH/q.db"

check "import f16 fixture" $QUILL_ASAN import "$ROOT/tests/fixtures/hf_f16"
check "export latest" $QUILL_ASAN export latest out --tokenizer "$ROOT/models/gpt2"
check "export has every file" test -s out/config.json -a -s out/model.safetensors \
    -a -s out/generation_config.json -a -s out/vocab.json -a -s out/merges.txt \
    -a -s out/tokenizer_config.json -a -s out/special_tokens_map.json
check "re-import the export: the same checkpoint" test "$($QUILL_ASAN import out)" = 1
check "export it again" $QUILL_ASAN export 1 out2 --tokenizer "$ROOT/models/gpt2"
check "same bytes after a round trip" cmp out/model.safetensors out2/model.safetensors
check "bf16 export" $QUILL_ASAN export 1 out16 --bf16 --tokenizer "$ROOT/models/gpt2"
check "bf16 tensors" grep -q '"dtype":"BF16"' out16/model.safetensors
check "bf16 config says bfloat16" grep -q '"torch_dtype": "bfloat16"' out16/config.json
check "import bf16 export" $QUILL_ASAN import out16
expect_fail "unknown checkpoint" "checkpoint 99 does not exist" $QUILL_ASAN export 99 x
expect_fail "bad spec" "not a checkpoint id" $QUILL_ASAN export newest x
expect_fail "latest of a run without checkpoints" "run 5 has no checkpoint" \
    $QUILL_ASAN export latest x --run 5
mkdir pt && cp out/config.json pt/ && echo x > pt/pytorch_model.bin
expect_fail "pytorch_model.bin only" "safe_serialization=True" $QUILL_ASAN import pt
mkdir trunc && cp out/config.json trunc/ && head -c 3000 out/model.safetensors > trunc/model.safetensors
expect_fail "truncated safetensors" "model.safetensors: tensor .* past the end" $QUILL_ASAN import trunc
check "failed imports stored nothing" test "$(sqlite3 q.db 'SELECT count(*) FROM checkpoints')" = 2
check "checkpoints lists both" test "$($QUILL checkpoints | wc -l)" = 3
check "checkpoints --json" sh -c "$QUILL checkpoints --json | head -1 | grep -q '\"run\":null,\"step\":0,\"params\":1128'"
expect_fail "checkpoints bad run" "--run .x. is not a whole number" $QUILL checkpoints --run x
check "help" $QUILL export --help
summary

/*
** libFuzzer target for the tokenizer: any bytes encode without a crash,
** every id is in the vocabulary, decode(encode(x)) == x (for every byte
** string, valid UTF-8 or not), and the parallel split gives the serial ids.
** The first byte picks the options (special on/off), the rest is the text.
** Build and run: tests/fuzz/run_tok.sh [SECONDS] (or `make fuzz-tok`).
*/
#include "err.h"
#include "tok.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tok *T;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[ERR_LEN];
    if (!T && tok_load(NULL, &T, err)) {
        fprintf(stderr, "fuzz_tok: %s\n", err);
        abort();
    }
    if (size == 0) return 0;
    int special = data[0] & 1;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    int32_t *ids, *par;
    size_t n_ids, n_par, len;
    if (tok_encode_ex(T, text, n, special, 1, 0, &ids, &n_ids, err)) abort();
    if (tok_encode_ex(T, text, n, special, 3, 16, &par, &n_par, err)) abort();
    if (n_par != n_ids || memcmp(par, ids, n_ids * sizeof *ids)) abort();
    char *back;
    if (tok_decode(T, ids, n_ids, &back, &len, err)) abort();
    if (len != n || memcmp(back, text, n)) abort();
    free(back);
    free(par);
    free(ids);
    return 0;
}

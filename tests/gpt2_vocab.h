/*
** Test helper: the GPT-2 vocabulary (models/gpt2/vocab.json) as raw byte
** strings, decoded with GPT-2's byte-to-unicode table, independently of
** core/tok.c.  Fills a cons_vocab; free with vocab_free().
*/
#ifndef QUILL_TEST_GPT2_VOCAB_H
#define QUILL_TEST_GPT2_VOCAB_H

#include "constrain.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef struct test_vocab {
    cons_vocab v;
    unsigned char **bytes;
    size_t *len;
} test_vocab;

static int vocab_load(test_vocab *tv) {
    int byte_of[324];
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        if (printable) byte_of[b] = b;
    }
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        if (!printable) byte_of[256 + n++] = b;
    }
    json_error_t je;
    json_t *root = json_load_file("models/gpt2/vocab.json", 0, &je);
    if (!root) return -1;
    int V = (int)json_object_size(root);
    tv->bytes = calloc((size_t)V, sizeof *tv->bytes);
    tv->len = calloc((size_t)V, sizeof *tv->len);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        int id = (int)json_integer_value(val);
        if (id < 0 || id >= V) continue;
        size_t kl = strlen(key), k = 0, o = 0;
        unsigned char *out = malloc(kl + 1);
        while (k < kl) {
            utf8proc_int32_t cp;
            k += (size_t)utf8proc_iterate((const utf8proc_uint8_t *)key + k,
                                          (utf8proc_ssize_t)(kl - k), &cp);
            out[o++] = (unsigned char)(cp < 324 ? byte_of[cp] : '?');
        }
        tv->bytes[id] = out;
        tv->len[id] = o;
    }
    json_decref(root);
    tv->v.n = V;
    tv->v.bytes = (const unsigned char *const *)tv->bytes;
    tv->v.len = tv->len;
    tv->v.eos = V - 1;
    return 0;
}

static void vocab_free(test_vocab *tv) {
    for (int i = 0; i < tv->v.n; i++)
        free(tv->bytes[i]);
    free(tv->bytes);
    free(tv->len);
}

/* The id whose bytes are exactly s, or -1. */
static int32_t vocab_id(const test_vocab *tv, const char *s) {
    size_t l = strlen(s);
    for (int i = 0; i < tv->v.n; i++)
        if (tv->len[i] == l && memcmp(tv->bytes[i], s, l) == 0) return i;
    return -1;
}

#endif

/*
** The GPT-2 tokenizer against Hugging Face's ids (tests/fixtures/
** tok_reference.json, made by tests/reference/gen_tok_fixtures.js), its
** round trip, parallel encoding, loading and errors.
*/
#include "test.h"

#include "err.h"
#include "tok.h"

#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static tok *T;

/* FNV-1a 64 over ids as little-endian uint32, as the fixture script does. */
static void fnv_hex(const int32_t *ids, size_t n, char out[17]) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 4; b++)
            h = (h ^ (((uint32_t)ids[i] >> (8 * b)) & 255)) * 0x100000001b3ull;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    *n = fread(buf, 1, (size_t)len, f);
    buf[*n] = 0;
    fclose(f);
    return buf;
}

/* Text of a fixture case: "text", or "gen" = prefix + unit * count + suffix. */
static char *case_text(json_t *c, size_t *n) {
    json_t *text = json_object_get(c, "text");
    if (text) {
        *n = json_string_length(text);
        char *s = malloc(*n + 1);
        memcpy(s, json_string_value(text), *n + 1);
        return s;
    }
    json_t *g = json_object_get(c, "gen");
    const char *pre = json_string_value(json_object_get(g, "prefix"));
    const char *unit = json_string_value(json_object_get(g, "unit"));
    const char *suf = json_string_value(json_object_get(g, "suffix"));
    size_t count = (size_t)json_integer_value(json_object_get(g, "count"));
    pre = pre ? pre : "";
    suf = suf ? suf : "";
    size_t lu = strlen(unit);
    *n = strlen(pre) + lu * count + strlen(suf);
    char *s = malloc(*n + 1), *p = s;
    p = stpcpy(p, pre);
    for (size_t i = 0; i < count; i++)
        p = stpcpy(p, unit);
    strcpy(p, suf);
    return s;
}

/* Encode, compare with the fixture's ids (or count + hash + head), decode. */
static void check_case(json_t *c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    int special = json_is_true(json_object_get(c, "special"));
    size_t n, n_ids;
    char *text = case_text(c, &n), err[ERR_LEN];
    int32_t *ids;
    CHECKF(tok_encode(T, text, n, special, &ids, &n_ids, err) == 0, "%s: %s", name, err);
    json_t *want = json_object_get(c, "ids");
    if (want) {
        int same = json_array_size(want) == n_ids;
        for (size_t i = 0; same && i < n_ids; i++)
            same = json_integer_value(json_array_get(want, i)) == ids[i];
        CHECKF(same, "case %s (special %d): ids differ from Hugging Face's (%zu vs %zu ids)", name,
               special, n_ids, json_array_size(want));
    } else {
        char h[17];
        fnv_hex(ids, n_ids, h);
        CHECKF((json_int_t)n_ids == json_integer_value(json_object_get(c, "ids_count")) &&
                   !strcmp(h, json_string_value(json_object_get(c, "ids_fnv1a64"))),
               "case %s: %zu ids, hash %s differ from Hugging Face's", name, n_ids, h);
    }
    char *back;
    size_t len;
    CHECKF(tok_decode(T, ids, n_ids, &back, &len, err) == 0, "%s: %s", name, err);
    CHECKF(len == n && !memcmp(back, text, n), "case %s: decode(encode(x)) != x", name);
    free(back);
    free(ids);
    free(text);
}

static void test_reference_cases(void) {
    json_error_t je;
    json_t *root = json_load_file("tests/fixtures/tok_reference.json", JSON_ALLOW_NUL, &je);
    CHECKF(root != NULL, "tok_reference.json: %s", je.text);
    if (!root) return;
    json_t *cases = json_object_get(root, "cases");
    CHECK(json_array_size(cases) > 400);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) check_case(c);
    json_decref(root);
}

static void test_notebook(void) {
    const char *s = "Behold! An alabaster anemone. Zzzzap!";
    static const int32_t want[] = {3856, 2946, 0,  1052, 435,  397, 1603, 281,
                                   368,  505,  13, 1168, 3019, 89,  499,  0};
    int32_t *ids;
    size_t n;
    char err[ERR_LEN];
    CHECK(tok_encode(T, s, strlen(s), 1, &ids, &n, err) == 0);
    CHECK_EQ_INT(n, 16);
    CHECK(n == 16 && !memcmp(ids, want, sizeof want));
    free(ids);
    size_t len;
    const unsigned char *b = tok_token_bytes(T, 1052, &len);
    CHECK(b && len == 3 && !memcmp(b, " An", 3));
    CHECK_EQ_INT(tok_piece_id(T, "Be"), 3856);
    CHECK_EQ_INT(tok_piece_id(T, "<|endoftext|>"), 50256);
    CHECK_EQ_INT(tok_piece_id(T, "no such piece at all"), -1);
    CHECK_EQ_INT(tok_vocab_size(T), 50257);
    CHECK_EQ_INT(tok_special_id(T), 50256);
    CHECK(tok_token_bytes(T, 50257, &len) == NULL);
    CHECK(tok_token_bytes(T, -1, &len) == NULL);
    CHECK_EQ_INT(strlen(tok_identity(T)), 32);
}

/* The whole of Frankenstein: HF's count and hash, serial and in parallel
** (split into many chunks, so splitting is exercised), and back. */
static void test_frankenstein(void) {
    json_error_t je;
    json_t *root = json_load_file("tests/fixtures/tok_reference.json", JSON_ALLOW_NUL, &je);
    json_t *fr = json_object_get(root, "frankenstein");
    size_t n, n1, n2;
    char *text = read_all("recipes/corpora/frankenstein.txt", &n), err[ERR_LEN], h[17];
    CHECK(text != NULL);
    if (!text) return;
    int32_t *a, *b;
    CHECK(tok_encode_ex(T, text, n, 1, 1, 0, &a, &n1, err) == 0);
    CHECK(tok_encode_ex(T, text, n, 1, 4, 4096, &b, &n2, err) == 0);
    fnv_hex(a, n1, h);
    CHECK_EQ_INT(n1, json_integer_value(json_object_get(fr, "count")));
    CHECK_STR(h, json_string_value(json_object_get(fr, "fnv1a64")));
    CHECKF(n1 == n2 && !memcmp(a, b, n1 * sizeof *a), "parallel encoding differs from serial");
    char *back;
    size_t len;
    CHECK(tok_decode(T, a, n1, &back, &len, err) == 0);
    CHECK(len == n && !memcmp(back, text, n));
    free(back);
    free(a);
    free(b);
    free(text);
    json_decref(root);
}

/* Parallel splitting on texts built to have split points near
** <|endoftext|>, newlines and spaces. */
static void test_parallel_equals_serial(void) {
    const char *unit[] = {"word ", "x\n", "<|endoftext|>", " ", "\n\n", "'s ", "12 ", "é ", "\t"};
    size_t cap = 200000, n = 0;
    char *s = malloc(cap + 32), err[ERR_LEN];
    unsigned x = 7;
    while (n < cap) {
        x = x * 1103515245 + 12345;
        const char *u = unit[(x >> 16) % 9];
        memcpy(s + n, u, strlen(u));
        n += strlen(u);
    }
    for (int special = 0; special < 2; special++) {
        int32_t *a, *b;
        size_t na, nb;
        CHECK(tok_encode_ex(T, s, n, special, 1, 0, &a, &na, err) == 0);
        CHECK(tok_encode_ex(T, s, n, special, 3, 1000, &b, &nb, err) == 0);
        CHECK(na == nb && !memcmp(a, b, na * sizeof *a));
        free(a);
        free(b);
    }
    free(s);
}

/* Invalid UTF-8: each bad byte is its own non-letter character, and the
** round trip still holds. */
static void test_invalid_utf8(void) {
    const char s[] = "ab\xff\xfe cd\xc3 \xed\xa0\x80x\xf4\x90\x80\x80 \xe2\x82 \xc0\xaf!";
    int32_t *ids;
    size_t n, len;
    char err[ERR_LEN], *back;
    CHECK(tok_encode(T, s, sizeof s - 1, 1, &ids, &n, err) == 0);
    CHECK(tok_decode(T, ids, n, &back, &len, err) == 0);
    CHECK(len == sizeof s - 1 && !memcmp(back, s, len));
    CHECK_EQ_INT(ids[0], 397); /* "ab" */
    free(back);
    free(ids);
}

static void test_decode_errors(void) {
    int32_t ids[] = {0, 50257};
    char *text, err[ERR_LEN];
    size_t len;
    CHECK(tok_decode(T, ids, 2, &text, &len, err) == -1);
    CHECKF(strstr(err, "50257") != NULL, "%s", err);
    ids[1] = -3;
    CHECK(tok_decode(T, ids, 2, &text, &len, err) == -1);
    CHECKF(strstr(err, "-3") != NULL, "%s", err);
    CHECK(tok_decode(T, ids, 0, &text, &len, err) == 0 && len == 0);
    free(text);
    int32_t *none;
    size_t n_none;
    CHECK(tok_encode(T, NULL, 0, 1, &none, &n_none, err) == 0 && n_none == 0);
    free(none);
}

static void write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    fputs(s, f);
    fclose(f);
}

static void test_load_errors(void) {
    tok *t;
    char err[ERR_LEN], dir[] = "/tmp/quill-tok-XXXXXX", p[128];
    CHECK(tok_load("/nonexistent/model", &t, err) == -1);
    CHECKF(strstr(err, "/nonexistent/model") != NULL, "%s", err);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    write_file(p, "{\"a\": 0, \"b\": 1,");
    snprintf(p, sizeof p, "%s/merges.txt", dir);
    write_file(p, "#version: 0.2\na b\n");
    CHECK(tok_load(dir, &t, err) == -1);
    CHECKF(strstr(err, "vocab.json") != NULL, "%s", err);
    /* a vocabulary without every byte */
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    write_file(p, "{\"a\": 0, \"b\": 1, \"ab\": 2}");
    CHECK(tok_load(dir, &t, err) == -1);
    CHECKF(strstr(err, "byte") != NULL, "%s", err);
    unlink(p);
    snprintf(p, sizeof p, "%s/merges.txt", dir);
    unlink(p);
    rmdir(dir);
}

/* tokenizer.json made from the bundled vocab.json + merges.txt: same ids,
** a different identity. */
static void test_tokenizer_json(void) {
    json_error_t je;
    json_t *vocab = json_load_file("models/gpt2/vocab.json", 0, &je), *merges = json_array();
    FILE *f = fopen("models/gpt2/merges.txt", "r");
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (*line && strncmp(line, "#version", 8)) json_array_append_new(merges, json_string(line));
    }
    fclose(f);
    json_t *root = json_pack("{s:[{s:i,s:s,s:b}],s:{s:s,s:o,s:o}}", "added_tokens", "id", 50256,
                             "content", "<|endoftext|>", "special", 1, "model", "type", "BPE",
                             "vocab", vocab, "merges", merges);
    char dir[] = "/tmp/quill-tokjson-XXXXXX", p[128], err[ERR_LEN];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    CHECK(json_dump_file(root, p, JSON_COMPACT) == 0);
    json_decref(root);
    tok *t;
    CHECKF(tok_load(dir, &t, err) == 0, "%s", err);
    if (t) {
        const char *s = "Behold! An alabaster anemone. Zzzzap!<|endoftext|>";
        int32_t *a, *b;
        size_t na, nb;
        CHECK(tok_encode(t, s, strlen(s), 1, &a, &na, err) == 0);
        CHECK(tok_encode(T, s, strlen(s), 1, &b, &nb, err) == 0);
        CHECK(na == 17 && na == nb && !memcmp(a, b, na * sizeof *a));
        CHECK(strcmp(tok_identity(t), tok_identity(T)) != 0);
        CHECK_EQ_INT(tok_vocab_size(t), 50257);
        free(a);
        free(b);
        tok_free(t);
    }
    unlink(p);
    rmdir(dir);
}

/* Replay the fuzzer's corpus (tests/fuzz/corpus_tok): first byte = special,
** the rest the text; round trip and parallel == serial, as the target checks. */
static void test_fuzz_corpus(void) {
    DIR *d = opendir("tests/fuzz/corpus_tok");
    CHECK(d != NULL);
    if (!d) return;
    struct dirent *e;
    int files = 0;
    char path[512], err[ERR_LEN];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "tests/fuzz/corpus_tok/%s", e->d_name);
        size_t n;
        char *data = read_all(path, &n);
        if (!data || n == 0) {
            free(data);
            continue;
        }
        files++;
        int32_t *a, *b;
        size_t na, nb, len;
        char *back;
        CHECK(tok_encode_ex(T, data + 1, n - 1, data[0] & 1, 1, 0, &a, &na, err) == 0);
        CHECK(tok_encode_ex(T, data + 1, n - 1, data[0] & 1, 3, 16, &b, &nb, err) == 0);
        CHECKF(na == nb && !memcmp(a, b, na * sizeof *a), "%s: parallel != serial", e->d_name);
        CHECK(tok_decode(T, a, na, &back, &len, err) == 0);
        CHECKF(len == n - 1 && !memcmp(back, data + 1, len), "%s: round trip", e->d_name);
        free(back);
        free(a);
        free(b);
        free(data);
    }
    closedir(d);
    CHECK(files >= 3);
}

int main(void) {
    char err[ERR_LEN];
    if (tok_load(NULL, &T, err)) {
        printf("cannot load the bundled tokenizer: %s\n", err);
        return 1;
    }
    RUN(test_notebook);
    RUN(test_reference_cases);
    RUN(test_frankenstein);
    RUN(test_parallel_equals_serial);
    RUN(test_invalid_utf8);
    RUN(test_decode_errors);
    RUN(test_load_errors);
    RUN(test_tokenizer_json);
    RUN(test_fuzz_corpus);
    tok_free(T);
    return TEST_SUMMARY();
}

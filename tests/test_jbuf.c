/*
** The direct JSON writer (core/jbuf.h) against jansson: every string,
** hostile or not, must come out byte for byte as json_dumps(cli_json_str(s),
** JSON_COMPACT | JSON_ENSURE_ASCII) writes it (the review desk's queue page
** was built that way, and the page and wrk's script read its bytes), parse
** back with jansson to the same (repaired) text, and be pure ASCII
** with no control character but DEL (jansson writes it raw).
*/
#include "jbuf.h"

#include "cli.h"
#include "rng.h"
#include "test.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

/* s as jansson writes the string cli_json_str makes of it. */
static char *jansson_text(const char *s) {
    json_t *j = cli_json_str(s);
    char *t = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return t;
}

/* s through jbuf_str; 1 when it matches jansson, parses back to what
** cli_json_str keeps and is ASCII without control characters but DEL. */
static int same_as_jansson(const char *s) {
    jbuf b = {0};
    jbuf_str(&b, s);
    size_t n;
    char *mine = jbuf_take(&b, &n), *theirs = jansson_text(s);
    int ok = mine && theirs && n == strlen(mine) && !strcmp(mine, theirs);
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)mine[i] >= 0x20 &&
             (unsigned char)mine[i] <= 0x7F; /* DEL raw, as jansson */
    json_t *back = ok ? json_loads(mine, JSON_DECODE_ANY, NULL) : NULL, *want = cli_json_str(s);
    ok = ok && back && json_equal(back, want);
    if (!ok) printf("  jbuf:    %s\n  jansson: %s\n", mine ? mine : "(null)", theirs);
    json_decref(back), json_decref(want);
    free(mine), free(theirs);
    return ok;
}

static void test_hostile_strings(void) {
    static const char *const cases[] = {
        "",
        "plain text, and the rain fell",
        "\"quoted\" \\back\\slash\\ /slash/",
        "\b\f\n\r\t \x01\x02\x1f\x7f end",
        "<script>alert(1)</script><img src=x onerror=alert(1)> javascript:alert(1)",
        "\xe2\x80\xa8 line separator, \xe2\x80\xa9 paragraph separator",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xef\xbf\xbd \xef\xbb\xbf",
        "bad \xff byte",
        "cut \xe2\x82",           /* a character cut at the end */
        "cut \xf0\x9f\x98 mid",   /* ... and in the middle */
        "\xc0\xaf overlong",      /* an overlong '/' */
        "\xed\xa0\x80 surrogate", /* U+D800 encoded */
        "\xf4\x90\x80\x80 too big",
        "\xf8\x88\x80\x80\x80 five bytes",
        "\x80\x80 lone continuations \xbf",
        "</script><!-- -->",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECKF(same_as_jansson(cases[i]), "case %zu", i);
    jbuf b = {0};
    jbuf_str(&b, NULL);
    size_t n;
    char *s = jbuf_take(&b, &n);
    CHECK_STR(s, "null");
    free(s);
}

/* Random byte strings, biased towards the bytes UTF-8 and JSON care about. */
static void test_random_bytes(void) {
    static const unsigned char pick[] = {'a',  ' ',  '"',  '\\', '/',  '\n', 0x01, 0x1f, 0x7f,
                                         0x80, 0xbf, 0xc2, 0xc3, 0xa9, 0xe2, 0x80, 0xa8, 0xed,
                                         0xa0, 0xef, 0xbf, 0xbd, 0xf0, 0x9f, 0x98, 0xf4, 0xff};
    rng r;
    rng_seed(&r, 13);
    int bad = 0;
    for (int t = 0; t < 20000 && bad < 5; t++) {
        char s[24];
        size_t n = (size_t)rng_below(&r, sizeof s - 1);
        for (size_t i = 0; i < n; i++)
            s[i] = (char)(rng_below(&r, 4) ? pick[rng_below(&r, sizeof pick)]
                                           : 1 + rng_below(&r, 255));
        s[n] = 0;
        bad += !same_as_jansson(s);
    }
    CHECK_EQ_INT(bad, 0);
}

/* A whole object, as the desk writes one, parses to what jansson built. */
static void test_object(void) {
    jbuf b = {0};
    jbuf_lit(&b, "{\"id\":");
    jbuf_int(&b, INT64_MIN);
    jbuf_lit(&b, ",\"n\":");
    jbuf_int(&b, 9007199254740993LL);
    jbuf_lit(&b, ",\"edited\":");
    jbuf_bool(&b, 1);
    jbuf_lit(&b, ",\"no\":");
    jbuf_bool(&b, 0);
    jbuf_lit(&b, ",\"t\":");
    jbuf_str(&b, "x\xff");
    jbuf_lit(&b, "}");
    size_t n;
    char *s = jbuf_take(&b, &n);
    json_t *want =
        json_pack("{s:I,s:I,s:b,s:b,s:s}", "id", (json_int_t)INT64_MIN, "n",
                  (json_int_t)9007199254740993LL, "edited", 1, "no", 0, "t", "x\xef\xbf\xbd");
    char *w = json_dumps(want, JSON_COMPACT | JSON_ENSURE_ASCII);
    CHECK_STR(s, w);
    CHECK_EQ_INT(n, strlen(w));
    json_decref(want);
    free(s), free(w);
    /* an empty buffer is the empty text */
    s = jbuf_take(&b, &n);
    CHECK_STR(s, "");
    free(s);
}

/* Integers as printf writes them, the extremes included. */
static void test_int(void) {
    static const int64_t v[] = {0, 1, -1, 9, 10, -10, 1234567890123LL, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        jbuf b = {0};
        jbuf_int(&b, v[i]);
        size_t n;
        char *s = jbuf_take(&b, &n), want[32];
        snprintf(want, sizeof want, "%lld", (long long)v[i]);
        CHECK_STR(s, want);
        free(s);
    }
}

/* A long string grows the buffer past its first allocation. */
static void test_growth(void) {
    size_t len = 100000;
    char *big = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        big[i] = i % 7 ? 'a' : '\n';
    big[len] = 0;
    jbuf b = {0};
    jbuf_lit(&b, "[");
    jbuf_str(&b, big);
    jbuf_lit(&b, "]");
    size_t n;
    char *s = jbuf_take(&b, &n);
    json_t *j = json_loads(s, 0, NULL);
    CHECK(j && !strcmp(json_string_value(json_array_get(j, 0)), big));
    json_decref(j);
    free(s), free(big);
}

int main(void) {
    RUN(test_hostile_strings);
    RUN(test_random_bytes);
    RUN(test_object);
    RUN(test_int);
    RUN(test_growth);
    return TEST_SUMMARY();
}

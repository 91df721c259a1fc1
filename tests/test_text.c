/*
** Text clean-up: UTF-8 validation edges, U+FFFD repair by maximal
** subparts (the WHATWG rule Python's errors='replace' also follows),
** character-safe prefixes, newlines and Gutenberg markers.
*/
#include "test.h"
#include "text.h"

#include "err.h"

#include <stdlib.h>

static int valid(const char *s, size_t n) {
    size_t bad;
    return txt_utf8_valid((const unsigned char *)s, n, &bad);
}

static void test_validation_edges(void) {
    CHECK(valid("plain ascii", 11));
    CHECK(valid("\xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80", 9));
    CHECK(valid("\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
    CHECK(!valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    CHECK(!valid("\xc0\xaf", 2));         /* overlong '/' */
    CHECK(!valid("\xe0\x80\xaf", 3));     /* overlong */
    CHECK(!valid("\xed\xa0\x80", 3));     /* surrogate U+D800 */
    CHECK(!valid("\xe2\x98", 2));         /* truncated */
    CHECK(!valid("\x80", 1));             /* lone continuation */
    size_t bad = 0;
    CHECK(!txt_utf8_valid((const unsigned char *)"12345678\xff", 9, &bad));
    CHECK_EQ_INT(bad, 8);
}

static void check_repair(const char *in, size_t n, const char *want) {
    size_t out_n;
    char *out = txt_utf8_repair((const unsigned char *)in, n, &out_n);
    CHECKF(out_n == strlen(want) && !memcmp(out, want, out_n), "repair gave %zu bytes", out_n);
    free(out);
}

static void test_repair_maximal_subparts(void) {
    /* Python: b'a\xe2\x98b'.decode('utf-8', 'replace') == 'a\ufffdb' */
    check_repair("a\xe2\x98"
                 "b",
                 4,
                 "a\xef\xbf\xbd"
                 "b");
    /* b'\xf0\x80\x80' -> three replacements (\x80 cannot follow \xf0) */
    check_repair("\xf0\x80\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    /* b'\xed\xa0\x80' (surrogate) -> three replacements */
    check_repair("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    /* b'\xf0\x9f\x98' (truncated emoji) -> one replacement */
    check_repair("\xf0\x9f\x98", 3, "\xef\xbf\xbd");
    check_repair("ok\xff", 3, "ok\xef\xbf\xbd");
}

static void test_prefix_and_count(void) {
    const char *s = "h\xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80!";
    size_t n = strlen(s);
    CHECK_EQ_INT(txt_count_chars((const unsigned char *)s, n), 5);
    CHECK_EQ_INT(txt_prefix_bytes((const unsigned char *)s, n, 0), 0);
    CHECK_EQ_INT(txt_prefix_bytes((const unsigned char *)s, n, 2), 3);
    CHECK_EQ_INT(txt_prefix_bytes((const unsigned char *)s, n, 4), 10);
    CHECK_EQ_INT(txt_prefix_bytes((const unsigned char *)s, n, 99), n);
}

static void test_newlines_bom_gutenberg(void) {
    char buf[] = "a\r\nb\rc\n";
    size_t n = txt_normalize_newlines(buf, strlen(buf));
    CHECK(n == 6 && !memcmp(buf, "a\nb\nc\n", 6));
    CHECK_EQ_INT(txt_bom_len((const unsigned char *)"\xef\xbb\xbfx", 4), 3);
    CHECK_EQ_INT(txt_bom_len((const unsigned char *)"x", 1), 0);
    const char *pg = "junk\n*** START OF THE PROJECT GUTENBERG EBOOK 84 ***\n\n\nBody\ntext\n\n"
                     "*** END OF THE PROJECT GUTENBERG EBOOK 84 ***\nlicence";
    size_t b, e;
    CHECK(txt_gutenberg_body(pg, strlen(pg), &b, &e));
    CHECK(e - b == 9 && !memcmp(pg + b, "Body\ntext", 9));
    CHECK(!txt_gutenberg_body("no markers here", 15, &b, &e));
}

/* Reviewer names: one key per person, no control characters. */
static void test_name_normalize(void) {
    char *out, err[ERR_LEN];
    const char *same[] = {"A", "a", "A ", "  A", "a\xc2\xa0"};
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        CHECK_EQ_INT(txt_name_normalize(same[i], &out, err), 0);
        CHECK_STR(out, "a");
        free(out);
    }
    CHECK_EQ_INT(txt_name_normalize("\xc3\x89lodie Ma", &out, err), 0);
    CHECK_STR(out, "\xc3\xa9lodie ma");
    free(out);
    CHECK_EQ_INT(txt_name_normalize("  ", &out, err), -1);
    CHECK(strstr(err, "is empty"));
    CHECK_EQ_INT(txt_name_normalize("a\033[2J", &out, err), -1);
    CHECK(strstr(err, "control character (U+001B)"));
    CHECK_EQ_INT(txt_name_normalize("r\xe9", &out, err), -1);
    CHECK(strstr(err, "not valid UTF-8"));
    CHECK(!out);
}

/* Control characters are written out, the rest (UTF-8 included) kept. */
static void test_escape_controls(void) {
    char *e = txt_escape_controls("a\x1b[31mb\tc\x7f \xc2\x9b\xc3\xa9 \\x");
    CHECKF(e && !strcmp(e, "a\\x1b[31mb\\x09c\\x7f \\u009b\xc3\xa9 \\x"), "%s", e);
    free(e);
    e = txt_escape_controls("");
    CHECK(e && !*e);
    free(e);
}

/* TXT_CLEAN_TEXT (a generated text on the terminal): lines kept, C0 and
** DEL in caret notation, C1 controls (U+009B is a one-character CSI)
** written out; NULL prints nothing. */
static void test_put_clean_text(void) {
    char *buf = NULL;
    size_t n;
    FILE *f = open_memstream(&buf, &n);
    txt_put_clean(f,
                  "a\x1b[2Jb\n\tc\x7f\x07 \xc2\x9b"
                  "31m \xc2\xa0\xc3\xa9",
                  TXT_CLEAN_TEXT);
    txt_put_clean(f, NULL, TXT_CLEAN_TEXT);
    fclose(f);
    CHECKF(!strcmp(buf, "a^[[2Jb\n\tc^?^G \\u009b31m \xc2\xa0\xc3\xa9"), "%s", buf);
    free(buf);
}

int main(void) {
    RUN(test_escape_controls);
    RUN(test_put_clean_text);
    RUN(test_validation_edges);
    RUN(test_repair_maximal_subparts);
    RUN(test_prefix_and_count);
    RUN(test_newlines_bom_gutenberg);
    RUN(test_name_normalize);
    return TEST_SUMMARY();
}

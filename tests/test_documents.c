/*
** db/documents.c: find, insert, walk and read back documents; nested
** savepoints (db/store.c) undo only their own writes.
*/
#include "documents.h"
#include "err.h"
#include "test.h"
#include "tmp_store.h"

#include <stdlib.h>
#include <string.h>

/* Add text as a document named source; returns its id (0 on failure). */
static int64_t add(store *st, const char *source, const char *hash, const char *text) {
    char err[ERR_LEN];
    documents_row row = {.source = source,
                         .hash = hash,
                         .bytes = (int64_t)strlen(text),
                         .chars = (int64_t)strlen(text)};
    int64_t id = 0;
    if (store_put_blob(st, text, strlen(text), &row.text_blob, err) ||
        documents_insert(st, &row, &id, err))
        printf("  add %s: %s\n", source, err);
    return id;
}

/* documents_fn: remember the sources in order; stop after ctx->stop rows. */
typedef struct seen {
    char sources[4][32];
    int n, stop;
} seen;

static int collect(void *ctx, const documents_row *d) {
    seen *s = ctx;
    snprintf(s->sources[s->n++], sizeof s->sources[0], "%s", d->source);
    return s->n == s->stop ? 7 : 0;
}

static void test_round_trip(void) {
    char err[ERR_LEN];
    store *st = tmp_store_open("documents");
    CHECK(store_begin(st, err) == 0);
    int64_t a = add(st, "a.txt", "aaaa", "first text");
    int64_t b = add(st, "b.txt", "bbbb", "second");
    CHECK(store_commit(st, err) == 0);
    CHECK(a > 0 && b > a);
    int64_t id = -1;
    CHECK(documents_find(st, "bbbb", &id, err) == 0 && id == b);
    CHECK(documents_find(st, "cccc", &id, err) == 0 && id == 0);
    void *text;
    size_t n;
    int found;
    CHECK(documents_text(st, a, &text, &n, &found, err) == 0 && found);
    CHECK(n == 10 && !memcmp(text, "first text", 10));
    free(text);
    CHECK(documents_text(st, 99, &text, &n, &found, err) == 0 && !found && !text);
    seen s = {.stop = 0};
    CHECK(documents_each(st, collect, &s, err) == 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK(!strcmp(s.sources[0], "a.txt") && !strcmp(s.sources[1], "b.txt"));
    seen one = {.stop = 1};
    CHECK(documents_each(st, collect, &one, err) == 7); /* fn's stop is returned */
    CHECK_EQ_INT(one.n, 1);
    tmp_store_close(st);
}

static void test_savepoints(void) {
    char err[ERR_LEN];
    store *st = tmp_store_open("documents-sp");
    CHECK(store_begin(st, err) == 0);
    CHECK(store_savepoint(st, 1, err) == 0);
    add(st, "kept.txt", "k1", "kept");
    CHECK(store_savepoint(st, 2, err) == 0);
    add(st, "undone.txt", "u1", "undone");
    CHECK(store_savepoint_end(st, 2, 1, err) == 0);
    CHECK(store_savepoint_end(st, 1, 0, err) == 0);
    CHECK(store_commit(st, err) == 0);
    int64_t id;
    CHECK(documents_find(st, "k1", &id, err) == 0 && id > 0);
    CHECK(documents_find(st, "u1", &id, err) == 0 && id == 0);
    tmp_store_close(st);
}

int main(void) {
    RUN(test_round_trip);
    RUN(test_savepoints);
    return TEST_SUMMARY();
}

/*
** Store: migrations, version refusal, blob round trips and deduplication,
** rollback leaving the store intact.
*/
#include "err.h"
#include "store.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static char path[256];

static void fresh_path(void) {
    snprintf(path, sizeof path, "/tmp/quill-test-store-%d.db", (int)getpid());
    unlink(path);
}

static void cleanup(void) {
    char p[300];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static void test_blob_round_trip(void) {
    char err[ERR_LEN];
    store *st;
    fresh_path();
    CHECK(store_open(path, &st, err) == 0);
    const char text[] = "It was on a dreary night of November that I beheld the accomplishment";
    int64_t a, b;
    CHECK(store_begin(st, err) == 0);
    CHECK(store_put_blob(st, text, sizeof text - 1, &a, err) == 0);
    CHECK(store_put_blob(st, text, sizeof text - 1, &b, err) == 0);
    CHECK(store_commit(st, err) == 0);
    CHECK_EQ_INT(a, b);
    void *back;
    size_t n;
    CHECK(store_get_blob(st, a, &back, &n, err) == 0);
    CHECK_EQ_INT(n, sizeof text - 1);
    CHECK(memcmp(back, text, n) == 0);
    CHECK(((char *)back)[n] == 0);
    free(back);
    CHECK(store_get_blob(st, 999, &back, &n, err) == -1);
    CHECK(strstr(err, "blob 999 not found") != NULL);
    store_close(st);
    cleanup();
}

static void test_rollback_leaves_store(void) {
    char err[ERR_LEN];
    store *st;
    fresh_path();
    CHECK(store_open(path, &st, err) == 0);
    int64_t id;
    CHECK(store_begin(st, err) == 0);
    CHECK(store_put_blob(st, "abc", 3, &id, err) == 0);
    store_rollback(st);
    sqlite3_stmt *s;
    CHECK(store_prepare(st, "SELECT count(*) FROM blobs", &s, err) == 0);
    CHECK(sqlite3_step(s) == SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(s, 0), 0);
    sqlite3_finalize(s);
    store_close(st);
    cleanup();
}

static void test_newer_store_refused(void) {
    char err[ERR_LEN];
    store *st;
    fresh_path();
    CHECK(store_open(path, &st, err) == 0);
    CHECK(store_exec(st, "PRAGMA user_version = 999", err) == 0);
    store_close(st);
    CHECK(store_open(path, &st, err) == -1);
    CHECKF(strstr(err, "schema version 999") && strstr(err, "newer quill"), "%s", err);
    cleanup();
}

static void test_not_a_database(void) {
    char err[ERR_LEN];
    store *st;
    fresh_path();
    FILE *f = fopen(path, "w");
    fputs("this is not an sqlite database, just some text long enough to matter\n", f);
    fclose(f);
    CHECK(store_open(path, &st, err) == -1);
    CHECKF(strstr(err, path) != NULL, "%s", err);
    cleanup();
}

/* A reader sees the last committed state while a writer holds an open
** write transaction (WAL), and a second writer waits rather than failing. */
static void test_reader_while_writing(void) {
    char err[ERR_LEN];
    store *w, *r;
    fresh_path();
    CHECK(store_open(path, &w, err) == 0);
    CHECK(store_open(path, &r, err) == 0);
    int64_t id;
    CHECK(store_put_blob(w, "committed", 9, &id, err) == 0);
    CHECK(store_begin(w, err) == 0);
    CHECK(store_put_blob(w, "in flight", 9, &id, err) == 0);
    sqlite3_stmt *s;
    CHECK(store_prepare(r, "SELECT count(*) FROM blobs", &s, err) == 0);
    CHECK(sqlite3_step(s) == SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(s, 0), 1);
    sqlite3_finalize(s);
    CHECK(store_commit(w, err) == 0);
    CHECK(store_prepare(r, "SELECT count(*) FROM blobs", &s, err) == 0);
    CHECK(sqlite3_step(s) == SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(s, 0), 2);
    sqlite3_finalize(s);
    store_close(w);
    store_close(r);
    cleanup();
}

#include <sys/stat.h>

/* The pages of a deleted blob go back to the file system. */
static void test_reclaim_shrinks_file(void) {
    char err[ERR_LEN];
    store *st;
    fresh_path();
    CHECK(store_open(path, &st, err) == 0);
    /* 4 MB of incompressible bytes in a blob that nothing references. */
    size_t n = 4u << 20;
    unsigned char *junk = malloc(n);
    unsigned x = 12345;
    for (size_t i = 0; i < n; i++)
        junk[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 24);
    int64_t id;
    CHECK(store_put_blob(st, junk, n, &id, err) == 0);
    free(junk);
    CHECK(store_exec(st, "PRAGMA wal_checkpoint(TRUNCATE)", err) == 0);
    struct stat before, after;
    stat(path, &before);
    CHECK(store_exec(st, "DELETE FROM blobs", err) == 0);
    CHECKF(store_reclaim(st, err) == 0, "%s", err);
    CHECK(store_exec(st, "PRAGMA wal_checkpoint(TRUNCATE)", err) == 0);
    stat(path, &after);
    CHECKF(before.st_size > (off_t)n && after.st_size < (off_t)(n / 4), "%lld -> %lld bytes",
           (long long)before.st_size, (long long)after.st_size);
    void *back;
    size_t bn;
    CHECK(store_get_blob(st, id, &back, &bn, err) == -1);
    store_close(st);
    cleanup();
}

/* Without STORE_CREATE a missing store is an error and no file appears;
** STORE_READ leaves the file alone and refuses writes. */
static void test_open_modes(void) {
    char err[ERR_LEN];
    store *st;
    struct stat sb;
    fresh_path();
    CHECK(store_open_mode(path, STORE_READ, &st, err) == -1);
    CHECK(store_open_mode(path, STORE_WRITE, &st, err) == -1);
    CHECK(stat(path, &sb) == -1);
    CHECK(store_open_mode(path, STORE_CREATE, &st, err) == 0);
    store_close(st);
    CHECK(store_open_mode(path, STORE_READ, &st, err) == 0);
    CHECK(store_exec(st, "CREATE TABLE t(x)", err) == -1);
    CHECKF(strstr(err, "readonly") != NULL, "%s", err);
    store_close(st);
    cleanup();
}

/* store_prepare_cached keeps a statement for the next call with the same
** SQL, never hands one out twice, and releasing ends its read: a writer on
** another connection is not held back and the next step sees its row. */
static void test_prepare_cached(void) {
    char err[ERR_LEN];
    store *st, *w;
    fresh_path();
    CHECK(store_open(path, &st, err) == 0);
    CHECK(store_open(path, &w, err) == 0);
    CHECK(store_exec(st, "CREATE TABLE t (x INTEGER)", err) == 0);
    const char *sql = "SELECT COUNT(*) FROM t";
    char copy[64];
    snprintf(copy, sizeof copy, "%s", sql); /* same text, another pointer */
    sqlite3_stmt *a, *b, *c;
    CHECK(store_prepare_cached(st, sql, &a, err) == 0);
    CHECK(sqlite3_step(a) == SQLITE_ROW);
    CHECK(store_prepare_cached(st, sql, &b, err) == 0);
    CHECK(a != b); /* a is still out */
    store_release(st, b);
    store_release(st, a);
    CHECK(store_exec(w, "INSERT INTO t VALUES (1)", err) == 0);
    CHECK(store_prepare_cached(st, copy, &c, err) == 0);
    CHECK(c == a || c == b);
    CHECK(sqlite3_step(c) == SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(c, 0), 1);
    store_release(st, c);
    store_close(w);
    store_close(st); /* finalizes the kept statements (ASan: no leak) */
    cleanup();
}

int main(void) {
    RUN(test_prepare_cached);
    RUN(test_open_modes);
    RUN(test_reclaim_shrinks_file);
    RUN(test_reader_while_writing);
    RUN(test_blob_round_trip);
    RUN(test_rollback_leaves_store);
    RUN(test_newer_store_refused);
    RUN(test_not_a_database);
    return TEST_SUMMARY();
}

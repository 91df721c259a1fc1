/*
** The tokenize stage: every document gets ids equal to tok_encode's, stored
** as u16 blobs; a second run does nothing; another tokenizer re-tokenizes;
** a failure leaves the store unchanged.
*/
#include "test.h"

#include "err.h"
#include "hash.h"
#include "store.h"
#include "tok.h"
#include "tokenize.h"

#include <stdlib.h>
#include <unistd.h>

static char db_path[64];

/* Insert a document with the given text, as ingest would. */
static int64_t add_doc(store *st, const char *text, size_t n) {
    char err[ERR_LEN], hash[HASH_HEX_LEN];
    int64_t blob;
    if (store_put_blob(st, text, n, &blob, err)) return -1;
    hash_hex(text, n, hash);
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "INSERT INTO documents(source, hash, bytes, chars, text_blob) "
                      "VALUES ('test', ?, ?, ?, ?) RETURNING id",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)n);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)n);
    sqlite3_bind_int64(s, 4, blob);
    int64_t id = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return id;
}

static int64_t count(store *st, const char *sql) {
    char err[ERR_LEN];
    sqlite3_stmt *s;
    if (store_prepare(st, sql, &s, err)) return -1;
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

/* The stored ids of doc under tokenizer tid equal tok_encode's. */
static void check_doc(store *st, const tok *t, int64_t doc, int64_t tid, const char *text,
                      size_t n) {
    char err[ERR_LEN];
    sqlite3_stmt *s;
    CHECK(store_prepare(st,
                        "SELECT n_tokens, dtype, ids_blob FROM doc_tokens WHERE doc_id = ? "
                        "AND tokenizer_id = ?",
                        &s, err) == 0);
    sqlite3_bind_int64(s, 1, doc);
    sqlite3_bind_int64(s, 2, tid);
    CHECK(sqlite3_step(s) == SQLITE_ROW);
    int64_t nt = sqlite3_column_int64(s, 0);
    CHECK_STR((const char *)sqlite3_column_text(s, 1), "u16");
    int64_t blob = sqlite3_column_int64(s, 2);
    sqlite3_finalize(s);
    void *data;
    size_t len;
    CHECK(store_get_blob(st, blob, &data, &len, err) == 0);
    int32_t *ids;
    size_t n_ids;
    CHECK(tok_encode(t, text, n, 1, &ids, &n_ids, err) == 0);
    CHECK_EQ_INT(nt, n_ids);
    CHECK_EQ_INT(len, 2 * n_ids);
    int same = len == 2 * n_ids;
    const unsigned char *b = data;
    for (size_t i = 0; same && i < n_ids; i++)
        same = (b[2 * i] | b[2 * i + 1] << 8) == ids[i];
    CHECK(same);
    free(ids);
    free(data);
}

static void test_stage(void) {
    char err[ERR_LEN];
    store *st;
    CHECK(store_open(db_path, &st, err) == 0);
    tok *t;
    CHECK(tok_load(NULL, &t, err) == 0);
    const char *texts[] = {"Behold! An alabaster anemone. Zzzzap!", "",
                           "two<|endoftext|>docs \xff and more text"};
    int64_t ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = add_doc(st, texts[i], strlen(texts[i]));
    size_t fn;
    FILE *f = fopen("recipes/corpora/frankenstein.txt", "rb");
    char *frank = malloc(1 << 20);
    fn = fread(frank, 1, 1 << 20, f);
    fclose(f);
    int64_t fid = add_doc(st, frank, fn);

    int done;
    int64_t tid;
    CHECKF(stage_tokenize(st, NULL, &done, &tid, err) == 0, "%s", err);
    CHECK_EQ_INT(done, 4);
    for (int i = 0; i < 3; i++)
        check_doc(st, t, ids[i], tid, texts[i], strlen(texts[i]));
    check_doc(st, t, fid, tid, frank, fn);
    CHECK_EQ_INT(count(st, "SELECT count(*) FROM doc_tokens"), 4);

    /* nothing new: nothing done */
    int64_t tid2;
    CHECK(stage_tokenize(st, NULL, &done, &tid2, err) == 0);
    CHECK_EQ_INT(done, 0);
    CHECK_EQ_INT(tid2, tid);

    /* a new document: only it */
    int64_t late = add_doc(st, "late arrival", 12);
    CHECK(stage_tokenize(st, NULL, &done, &tid2, err) == 0);
    CHECK_EQ_INT(done, 1);
    check_doc(st, t, late, tid, "late arrival", 12);

    /* another tokenizer (a copy with a changed merges file) re-tokenizes all */
    char dir[] = "/tmp/quill-tokstage-XXXXXX", p[128], cmd[512];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(
        cmd, sizeof cmd,
        "cp models/gpt2/vocab.json %s/ && head -n 40000 models/gpt2/merges.txt > %s/merges.txt",
        dir, dir);
    CHECK(system(cmd) == 0);
    tok *t2;
    CHECK(tok_load(dir, &t2, err) == 0);
    CHECK(stage_tokenize(st, dir, &done, &tid2, err) == 0);
    CHECK_EQ_INT(done, 5);
    CHECK(tid2 != tid);
    check_doc(st, t2, ids[0], tid2, texts[0], strlen(texts[0]));
    CHECK_EQ_INT(count(st, "SELECT count(*) FROM tokenizers"), 2);

    /* a bad tokenizer is an error naming its file */
    snprintf(p, sizeof p, "%s/merges.txt", dir);
    f = fopen(p, "a");
    fputs("not a merge line at all\n", f);
    fclose(f);
    CHECK(stage_tokenize(st, dir, &done, &tid2, err) == -1);
    CHECKF(strstr(err, "merges.txt") != NULL, "%s", err);

    /* a failure half-way (a document whose text is missing) leaves the store
    ** as it was: no new tokenizer row, no tokens for the good document */
    snprintf(cmd, sizeof cmd, "head -n 30000 models/gpt2/merges.txt > %s/merges.txt", dir);
    CHECK(system(cmd) == 0);
    add_doc(st, "one more", 8);
    CHECK(store_exec(st, "PRAGMA foreign_keys = OFF", err) == 0);
    CHECK(store_exec(st,
                     "INSERT INTO documents(source, hash, bytes, chars, text_blob) "
                     "VALUES ('broken', 'nohash', 1, 1, 999999)",
                     err) == 0);
    CHECK(store_exec(st, "PRAGMA foreign_keys = ON", err) == 0);
    CHECK(stage_tokenize(st, dir, &done, &tid2, err) == -1);
    CHECKF(strstr(err, "document") != NULL, "%s", err);
    CHECK_EQ_INT(done, 0);
    CHECK_EQ_INT(count(st, "SELECT count(*) FROM doc_tokens"), 10);
    CHECK_EQ_INT(count(st, "SELECT count(*) FROM tokenizers"), 2);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    free(frank);
    tok_free(t);
    tok_free(t2);
    store_close(st);
}

int main(void) {
    snprintf(db_path, sizeof db_path, "/tmp/quill-tokstage-%d.db", (int)getpid());
    RUN(test_stage);
    unlink(db_path);
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", db_path);
    unlink(wal);
    return TEST_SUMMARY();
}

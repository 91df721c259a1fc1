/*
** The group stage: run_clm group_texts semantics (per-batch concatenation
** and remainder drop), document and lines modes, seeded held-out split,
** identity (a rerun changes nothing), and errors leaving the store as it was.
** Lines mode uses a byte-per-token encoder so expected ids are obvious.
*/
#include "err.h"
#include "group.h"
#include "store.h"
#include "test.h"
#include "tmp_store.h"

#include <stdlib.h>
#include <unistd.h>

static store *fresh(void) {
    char err[ERR_LEN];
    store *st = tmp_store_open("group");
    if (store_exec(st,
                   "INSERT INTO tokenizers(id, hash, source, vocab_size) VALUES (1, 'tokhash', "
                   "'models/gpt2', 50257)",
                   err)) {
        printf("store: %s\n", err);
        exit(1);
    }
    return st;
}

static int n_docs;

/* A document with text, and (when ids) its doc_tokens as u16. */
static void add_doc(store *st, const char *text, const int32_t *ids, size_t n) {
    char err[ERR_LEN], hash[40];
    int64_t blob;
    sqlite3_stmt *s;
    store_put_blob(st, text, strlen(text), &blob, err);
    snprintf(hash, sizeof hash, "doc%d", ++n_docs);
    store_prepare(st,
                  "INSERT INTO documents(source, hash, bytes, chars, text_blob) VALUES "
                  "('t', ?, ?, ?, ?)",
                  &s, err);
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)strlen(text));
    sqlite3_bind_int64(s, 3, (sqlite3_int64)strlen(text));
    sqlite3_bind_int64(s, 4, blob);
    CHECK(sqlite3_step(s) == SQLITE_DONE);
    sqlite3_finalize(s);
    int64_t doc = sqlite3_last_insert_rowid(store_db(st));
    if (!ids) return;
    uint16_t *u = malloc(2 * n + 2);
    for (size_t i = 0; i < n; i++)
        u[i] = (uint16_t)ids[i];
    store_put_blob(st, u, 2 * n, &blob, err);
    free(u);
    store_prepare(st, "INSERT INTO doc_tokens VALUES (?, 1, ?, 'u16', ?)", &s, err);
    sqlite3_bind_int64(s, 1, doc);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)n);
    sqlite3_bind_int64(s, 3, blob);
    CHECK(sqlite3_step(s) == SQLITE_DONE);
    sqlite3_finalize(s);
}

/* One id per byte. */
static int byte_encode(void *ctx, const char *text, size_t n, int32_t **ids, size_t *n_ids,
                       char *err) {
    (void)ctx;
    if (memchr(text, '!', n)) return err_set(err, "cannot encode '!'");
    *ids = malloc((n + 1) * sizeof **ids);
    for (size_t i = 0; i < n; i++)
        (*ids)[i] = (unsigned char)text[i];
    *n_ids = n;
    return 0;
}

static void test_group_blocks(void) {
    /* examples of 5, 4, 6, 1 ids (0..15), block 3 */
    int32_t ids[16];
    for (int i = 0; i < 16; i++)
        ids[i] = i;
    size_t off[5] = {0, 5, 9, 15, 16};
    int32_t *b;
    /* whole corpus: 16 ids -> 5 blocks, 1 dropped */
    CHECK_EQ_INT(group_blocks(ids, off, 4, 3, 0, &b), 5);
    CHECK(b[12] == 12 && b[14] == 14);
    free(b);
    /* batches of 2 examples: [0..8] -> 3 blocks; [9..15] -> 2 blocks (9..14), 15 dropped */
    CHECK_EQ_INT(group_blocks(ids, off, 4, 3, 2, &b), 5);
    int32_t want[15] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    CHECK(memcmp(b, want, sizeof want) == 0);
    free(b);
    /* batches of 1: 5->1 block (0..2), 4->1 (5..7), 6->2 (9..14), 1->0 */
    CHECK_EQ_INT(group_blocks(ids, off, 4, 3, 1, &b), 4);
    int32_t want1[12] = {0, 1, 2, 5, 6, 7, 9, 10, 11, 12, 13, 14};
    CHECK(memcmp(b, want1, sizeof want1) == 0);
    free(b);
}

static void test_document_mode(void) {
    store *st = fresh();
    int32_t a[10], b[5];
    for (int i = 0; i < 10; i++)
        a[i] = 1 + i;
    for (int i = 0; i < 5; i++)
        b[i] = 11 + i;
    add_doc(st, "a", a, 10);
    add_doc(st, "b", b, 5);
    group_params p;
    group_defaults(&p);
    p.block_size = 5;
    char err[ERR_LEN];
    int64_t id, id2;
    int created;
    CHECKF(stage_group(st, 1, &p, NULL, NULL, &id, &created, err) == 0, "%s", err);
    CHECK(created);
    int bs;
    int32_t *tr, *ev;
    size_t nt, ne;
    CHECKF(group_get(st, id, &bs, &tr, &nt, &ev, &ne, err) == 0, "%s", err);
    CHECK_EQ_INT(bs, 5);
    CHECK_EQ_INT(nt, 3); /* 10 + EOS + 5 = 16 ids: 3 blocks, 1 dropped */
    CHECK_EQ_INT(ne, 0);
    CHECK(ev == NULL);
    int32_t want[15] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, GROUP_EOS, 11, 12, 13, 14};
    CHECK(memcmp(tr, want, sizeof want) == 0);
    free(tr);
    /* rerun: nothing new */
    CHECKF(stage_group(st, 1, &p, NULL, NULL, &id2, &created, err) == 0, "%s", err);
    CHECK(!created && id2 == id);
    sqlite3_stmt *s;
    store_prepare(st, "SELECT count(*), min(params_json) FROM block_sets", &s, err);
    sqlite3_step(s);
    CHECK_EQ_INT(sqlite3_column_int(s, 0), 1);
    CHECKF(strstr((const char *)sqlite3_column_text(s, 1), "\"dropped\":1") != NULL, "%s",
           sqlite3_column_text(s, 1));
    sqlite3_finalize(s);
    /* another parameter: another set */
    p.block_size = 4;
    CHECK(stage_group(st, 1, &p, NULL, NULL, &id2, &created, err) == 0);
    CHECK(created && id2 != id);
    /* a new document changes the identity; without tokens it is an error
    ** that leaves the store unchanged */
    add_doc(st, "c", NULL, 0);
    CHECK(stage_group(st, 1, &p, NULL, NULL, &id2, &created, err) == -1);
    CHECKF(strstr(err, "document 3 has no token ids") != NULL, "%s", err);
    store_prepare(st, "SELECT count(*) FROM block_sets", &s, err);
    sqlite3_step(s);
    CHECK_EQ_INT(sqlite3_column_int(s, 0), 2);
    sqlite3_finalize(s);
    tmp_store_close(st);
}

static void test_lines_mode(void) {
    store *st = fresh();
    add_doc(st, "ab\r\n\ncd\re\n", NULL, 0);
    add_doc(st, "fg\nh", NULL, 0);
    group_params p;
    group_defaults(&p);
    p.mode = GROUP_LINES;
    p.block_size = 2;
    char err[ERR_LEN];
    int64_t id;
    int created, bs;
    int32_t *tr, *ev;
    size_t nt, ne;
    CHECK(stage_group(st, 1, &p, NULL, NULL, &id, &created, err) == -1);
    CHECKF(stage_group(st, 1, &p, byte_encode, NULL, &id, &created, err) == 0, "%s", err);
    CHECK(group_get(st, id, &bs, &tr, &nt, &ev, &ne, err) == 0);
    /* lines ab, "", cd, e, fg, h: no separators, breaks dropped: abcdefgh */
    CHECK_EQ_INT(nt, 4);
    int32_t want[8] = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
    CHECK(memcmp(tr, want, sizeof want) == 0);
    free(tr);
    /* batches of 2 examples: (ab,"") (cd,e) (fg,h): blocks ab, cd, fg; e and h dropped */
    p.batch_examples = 2;
    CHECK(stage_group(st, 1, &p, byte_encode, NULL, &id, &created, err) == 0);
    CHECK(group_get(st, id, &bs, &tr, &nt, &ev, &ne, err) == 0);
    CHECK_EQ_INT(nt, 3);
    int32_t want2[6] = {'a', 'b', 'c', 'd', 'f', 'g'};
    CHECK(memcmp(tr, want2, sizeof want2) == 0);
    free(tr);
    /* an encoder error names the document */
    add_doc(st, "ok\nbad!\n", NULL, 0);
    CHECK(stage_group(st, 1, &p, byte_encode, NULL, &id, &created, err) == -1);
    CHECKF(strstr(err, "document 3: cannot encode") != NULL, "%s", err);
    tmp_store_close(st);
}

static void test_eval_split(void) {
    store *st = fresh();
    int32_t ids[400];
    for (int i = 0; i < 400; i++)
        ids[i] = i;
    add_doc(st, "x", ids, 400);
    group_params p;
    group_defaults(&p);
    p.block_size = 4;
    p.eval_fraction = 0.15;
    char err[ERR_LEN];
    int64_t id, id2;
    int created, bs;
    int32_t *tr, *ev, *tr2, *ev2;
    size_t nt, ne, nt2, ne2;
    CHECK(stage_group(st, 1, &p, NULL, NULL, &id, &created, err) == 0);
    CHECK(group_get(st, id, &bs, &tr, &nt, &ev, &ne, err) == 0);
    CHECK_EQ_INT(ne, 15); /* ceil(0.15 * 100) */
    CHECK_EQ_INT(nt, 85);
    /* every block once, each set in corpus order */
    char seen[100] = {0};
    int ordered = 1;
    for (size_t i = 0; i < nt; i++)
        seen[tr[4 * i] / 4]++, ordered &= !i || tr[4 * i] > tr[4 * i - 4];
    for (size_t i = 0; i < ne; i++)
        seen[ev[4 * i] / 4]++, ordered &= !i || ev[4 * i] > ev[4 * i - 4];
    int all = 1;
    for (int i = 0; i < 100; i++)
        all &= seen[i] == 1;
    CHECK(all && ordered);
    p.seed = 7;
    CHECK(stage_group(st, 1, &p, NULL, NULL, &id2, &created, err) == 0);
    CHECK(group_get(st, id2, &bs, &tr2, &nt2, &ev2, &ne2, err) == 0);
    CHECK(ne2 == 15 && memcmp(ev, ev2, 15 * 4 * sizeof *ev) != 0);
    free(tr);
    free(ev);
    free(tr2);
    free(ev2);
    p.eval_fraction = 0.999;
    CHECK(stage_group(st, 1, &p, NULL, NULL, &id2, &created, err) == -1);
    CHECKF(strstr(err, "leaves no training block") != NULL, "%s", err);
    p.eval_fraction = 1.5;
    CHECK(stage_group(st, 1, &p, NULL, NULL, &id2, &created, err) == -1);
    p.eval_fraction = 0;
    p.block_size = 1000;
    CHECK(stage_group(st, 1, &p, NULL, NULL, &id2, &created, err) == -1);
    CHECKF(strstr(err, "400 tokens make no block of 1000") != NULL, "%s", err);
    CHECK(group_get(st, 99, &bs, &tr, &nt, &ev, &ne, err) == -1);
    tmp_store_close(st);
}

static void test_no_documents(void) {
    store *st = fresh();
    group_params p;
    group_defaults(&p);
    char err[ERR_LEN];
    int64_t id;
    int created;
    CHECK(stage_group(st, 1, &p, NULL, NULL, &id, &created, err) == -1);
    CHECKF(strstr(err, "no documents") != NULL, "%s", err);
    CHECK(stage_group(st, 5, &p, NULL, NULL, &id, &created, err) == -1);
    CHECKF(strstr(err, "tokenizer 5 is not in the store") != NULL, "%s", err);
    tmp_store_close(st);
}

int main(void) {
    RUN(test_group_blocks);
    RUN(test_document_mode);
    RUN(test_lines_mode);
    RUN(test_eval_split);
    RUN(test_no_documents);
    return TEST_SUMMARY();
}

/*
** The block_sets table; see blocks.h.
*/
#include "blocks.h"

#include "err.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Store n blocks of bs ids as one u32 little-endian blob. */
static int put_ids(store *st, const int32_t *ids, size_t n, int bs, int64_t *blob, char *err) {
    size_t m = n * (size_t)bs;
    unsigned char *buf = malloc(4 * m + 1);
    if (!buf) return err_set(err, "out of memory for %zu blocks", n);
    for (size_t i = 0; i < m; i++)
        for (int k = 0; k < 4; k++)
            buf[4 * i + k] = (unsigned char)((uint32_t)ids[i] >> (8 * k));
    int rc = store_put_blob(st, buf, 4 * m, blob, err);
    free(buf);
    return rc;
}

/* Read blob, which must hold n blocks of bs u32 ids, into *out (malloc'd). */
static int get_ids(store *st, int64_t blob, size_t n, int bs, int32_t **out, char *err) {
    void *data;
    size_t nb;
    if (store_get_blob(st, blob, &data, &nb, err)) return -1;
    if (nb != 4 * n * (size_t)bs) {
        free(data);
        return err_set(err, "block blob %lld has %zu bytes, expected %zu blocks of %d u32 ids",
                       (long long)blob, nb, n, bs);
    }
    const unsigned char *b = data;
    int32_t *ids = malloc(nb + 4);
    if (!ids) {
        free(data);
        return err_set(err, "out of memory for %zu blocks", n);
    }
    for (size_t i = 0; i < nb / 4; i++)
        ids[i] = (int32_t)((uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 |
                           (uint32_t)b[4 * i + 2] << 16 | (uint32_t)b[4 * i + 3] << 24);
    free(data);
    *out = ids;
    return 0;
}

int blocks_find(store *st, const char *identity, int64_t *id, char *err) {
    sqlite3_stmt *s;
    *id = 0;
    if (store_prepare(st, "SELECT id FROM block_sets WHERE identity = ?", &s, err)) return -1;
    sqlite3_bind_text(s, 1, identity, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store_error(st, err, "block sets");
    return 0;
}

int blocks_insert(store *st, const blocks_set *b, int64_t *id, char *err) {
    assert(b->n_train > 0 && b->block_size > 0 && (b->n_eval == 0 || b->eval));
    int64_t tblob, eblob = 0;
    sqlite3_stmt *s;
    if (put_ids(st, b->train, b->n_train, b->block_size, &tblob, err) ||
        (b->n_eval && put_ids(st, b->eval, b->n_eval, b->block_size, &eblob, err)) ||
        store_prepare(st,
                      "INSERT INTO block_sets(identity, tokenizer_id, block_size, mode, "
                      "n_train, n_eval, params_json, train_blob, eval_blob) VALUES "
                      "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, b->identity, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, b->tokenizer_id);
    sqlite3_bind_int(s, 3, b->block_size);
    sqlite3_bind_text(s, 4, b->mode, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)b->n_train);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)b->n_eval);
    sqlite3_bind_text(s, 7, b->params_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 8, tblob);
    if (eblob) sqlite3_bind_int64(s, 9, eblob);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_error(st, err, "cannot store the block set");
    *id = sqlite3_last_insert_rowid(store_db(st));
    return 0;
}

int blocks_get(store *st, int64_t id, int with_ids, blocks_set *b, char *err) {
    sqlite3_stmt *s;
    memset(b, 0, sizeof *b);
    if (store_prepare(st,
                      "SELECT identity, tokenizer_id, block_size, mode, params_json, n_train, "
                      "n_eval, train_blob, eval_blob FROM block_sets WHERE id = ?",
                      &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        if (rc == SQLITE_DONE) return err_set(err, "block set %lld does not exist", (long long)id);
        return store_error(st, err, "block set %lld", (long long)id);
    }
    b->id = id;
    b->identity = store_column_dup(s, 0, 0);
    b->tokenizer_id = sqlite3_column_int64(s, 1);
    b->block_size = sqlite3_column_int(s, 2);
    b->mode = store_column_dup(s, 3, 0);
    b->params_json = store_column_dup(s, 4, 0);
    b->n_train = (size_t)sqlite3_column_int64(s, 5);
    b->n_eval = (size_t)sqlite3_column_int64(s, 6);
    int64_t tb = sqlite3_column_int64(s, 7), eb = sqlite3_column_int64(s, 8);
    sqlite3_finalize(s);
    if (!b->identity || !b->mode || !b->params_json)
        rc = err_set(err, "out of memory");
    else if (b->block_size < 1)
        rc = err_set(err, "block size %d", b->block_size);
    else
        rc = with_ids && (get_ids(st, tb, b->n_train, b->block_size, &b->train, err) ||
                          (b->n_eval && get_ids(st, eb, b->n_eval, b->block_size, &b->eval, err)));
    if (rc) {
        blocks_free(b);
        return err_prefix(err, "block set %lld", (long long)id);
    }
    return 0;
}

int blocks_latest(store *st, int64_t *id, char *err) {
    sqlite3_stmt *s;
    *id = 0;
    if (store_prepare(st, "SELECT max(id) FROM block_sets", &s, err)) return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : store_error(st, err, "block sets");
}

void blocks_free(blocks_set *b) {
    free((char *)b->identity);
    free((char *)b->mode);
    free((char *)b->params_json);
    free(b->train);
    free(b->eval);
    memset(b, 0, sizeof *b);
}

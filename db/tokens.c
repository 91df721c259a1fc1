/*
** The tokenizers and doc_tokens tables; see tokens.h.
*/
#include "tokens.h"

#include "err.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tokens_tokenizer_put(store *st, const char *hash, const char *source, int vocab_size,
                         int64_t *id, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "INSERT INTO tokenizers(hash, source, vocab_size) VALUES (?, ?, ?) "
                      "ON CONFLICT(hash) DO UPDATE SET source = source RETURNING id",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, source, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, vocab_size);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : store_error(st, err, "tokenizer %s", hash);
}

int tokens_tokenizer_hash(store *st, int64_t id, char hash[HASH_HEX_LEN], char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st, "SELECT hash FROM tokenizers WHERE id = ?", &s, err)) return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) snprintf(hash, HASH_HEX_LEN, "%s", sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW) return 0;
    if (rc == SQLITE_DONE) return err_set(err, "tokenizer %lld is not in the store", (long long)id);
    return store_error(st, err, "tokenizer %lld", (long long)id);
}

int tokens_each_pending(store *st, int64_t tok_id, int64_t after, int limit,
                        int (*fn)(void *ctx, int64_t doc_id, int64_t text_blob, char *err),
                        void *ctx, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT d.id, d.text_blob FROM documents d WHERE d.id > ?2 AND NOT EXISTS "
                      "(SELECT 1 FROM doc_tokens k WHERE k.doc_id = d.id AND k.tokenizer_id = ?1) "
                      "ORDER BY d.id LIMIT ?3",
                      &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, tok_id);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int(s, 3, limit);
    int rc = 0, step;
    while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW)
        rc = fn(ctx, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), err);
    if (!rc && step != SQLITE_DONE) rc = store_error(st, err, "documents");
    sqlite3_finalize(s);
    return rc;
}

int tokens_put_ids(store *st, int64_t doc_id, int64_t tok_id, const int32_t *ids, size_t n,
                   int wide, char *err) {
    size_t w = wide ? 4 : 2;
    unsigned char *buf = malloc(n * w + 1);
    if (!buf) return err_set(err, "document %lld: out of memory", (long long)doc_id);
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        assert(wide || v < 65536);
        for (size_t b = 0; b < w; b++)
            buf[i * w + b] = (unsigned char)(v >> (8 * b));
    }
    int64_t blob;
    int rc = store_put_blob(st, buf, n * w, &blob, err);
    free(buf);
    if (rc) return err_prefix(err, "document %lld", (long long)doc_id);
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "INSERT INTO doc_tokens(doc_id, tokenizer_id, n_tokens, dtype, ids_blob) "
                      "VALUES (?, ?, ?, ?, ?)",
                      &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, doc_id);
    sqlite3_bind_int64(s, 2, tok_id);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)n);
    sqlite3_bind_text(s, 4, wide ? "u32" : "u16", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, blob);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_error(st, err, "ids of document %lld", (long long)doc_id);
}

/* Decode document doc's stored ids (blob of dtype, n_tokens of them) into
** *ids (malloc'd). */
static int decode_ids(store *st, int64_t doc, int64_t blob, const char *dtype, int64_t n_tokens,
                      int32_t **ids, size_t *n, char *err) {
    void *data;
    size_t nb;
    if (store_get_blob(st, blob, &data, &nb, err)) return -1;
    size_t w = dtype && !strcmp(dtype, "u32") ? 4 : 2;
    if (nb % w || (int64_t)(nb / w) != n_tokens) {
        free(data);
        return err_set(err, "document %lld: ids blob of %zu bytes does not hold %lld %s ids",
                       (long long)doc, nb, (long long)n_tokens, dtype ? dtype : "?");
    }
    const unsigned char *b = data;
    *ids = malloc((nb / w + 1) * sizeof **ids);
    if (!*ids) {
        free(data);
        return err_set(err, "document %lld: out of memory", (long long)doc);
    }
    for (size_t i = 0; i < nb / w; i++) {
        uint32_t v = 0;
        for (size_t k = 0; k < w; k++)
            v |= (uint32_t)b[i * w + k] << (8 * k);
        (*ids)[i] = (int32_t)v;
    }
    *n = nb / w;
    free(data);
    return 0;
}

/* The row s stands on as a tokens_doc, decoded if with_ids; then fn. */
static int visit_doc(store *st, sqlite3_stmt *s, int with_ids,
                     int (*fn)(void *ctx, const tokens_doc *doc, char *err), void *ctx, char *err) {
    tokens_doc d = {.id = sqlite3_column_int64(s, 0),
                    .hash = (const char *)sqlite3_column_text(s, 1),
                    .text_blob = sqlite3_column_int64(s, 2),
                    .has_ids = sqlite3_column_type(s, 3) != SQLITE_NULL};
    int32_t *ids = NULL;
    if (d.has_ids && with_ids &&
        decode_ids(st, d.id, sqlite3_column_int64(s, 3), (const char *)sqlite3_column_text(s, 4),
                   sqlite3_column_int64(s, 5), &ids, &d.n_ids, err))
        return -1;
    d.ids = ids;
    int rc = fn(ctx, &d, err);
    free(ids);
    return rc;
}

int tokens_each_doc(store *st, int64_t tok_id, const int64_t *doc_ids, size_t n, int with_ids,
                    int (*fn)(void *ctx, const tokens_doc *doc, char *err), void *ctx, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      doc_ids ? "SELECT d.id, d.hash, d.text_blob, k.ids_blob, k.dtype, k.n_tokens "
                                "FROM documents d LEFT JOIN doc_tokens k ON k.doc_id = d.id AND "
                                "k.tokenizer_id = ?1 WHERE d.id = ?2"
                              : "SELECT d.id, d.hash, d.text_blob, k.ids_blob, k.dtype, k.n_tokens "
                                "FROM documents d LEFT JOIN doc_tokens k ON k.doc_id = d.id AND "
                                "k.tokenizer_id = ?1 ORDER BY d.id",
                      &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, tok_id);
    int rc = 0;
    for (size_t i = 0; !rc; i++) {
        if (doc_ids && i == n) break;
        if (doc_ids) {
            sqlite3_reset(s);
            sqlite3_bind_int64(s, 2, doc_ids[i]);
        }
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE && doc_ids)
            rc = err_set(err, "document %lld is not in the store", (long long)doc_ids[i]);
        else if (step == SQLITE_DONE)
            break;
        else if (step != SQLITE_ROW)
            rc = store_error(st, err, "documents");
        else
            rc = visit_doc(st, s, with_ids, fn, ctx, err);
    }
    sqlite3_finalize(s);
    return rc;
}

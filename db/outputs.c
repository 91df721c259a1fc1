/*
** The outputs' tables (see outputs.h and db/011_output_rows.sql).
*/
#include "outputs.h"

#include "err.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hash model, then prompt preceded by its length, then params into h: each
** part ends with a NUL, except the prompt (it may hold any byte), so no
** two argument lists collide. */
static void hash_parts(hash_state *h, const char *model, const char *prompt, size_t prompt_len,
                       const char *params) {
    char len[24];
    snprintf(len, sizeof len, "%zu", prompt_len);
    hash_update(h, model, strlen(model) + 1);
    hash_update(h, len, strlen(len) + 1);
    hash_update(h, prompt, prompt_len);
    hash_update(h, params, strlen(params) + 1);
}

void outputs_identity(const char *model, const char *prompt, size_t prompt_len, const char *params,
                      uint64_t seed, outputs_ident *out) {
    char s[24], key[HASH_HEX_LEN];
    hash_state *h = hash_begin();
    hash_parts(h, model, prompt, prompt_len, params);
    hash_end(h, key);
    key[16] = 0;
    out->key = (int64_t)strtoull(key, NULL, 16);
    out->seed = seed;
    /* 007's identity: the same parts and the seed */
    snprintf(s, sizeof s, "%llu", (unsigned long long)seed);
    h = hash_begin();
    hash_parts(h, model, prompt, prompt_len, params);
    hash_update(h, s, strlen(s) + 1);
    hash_end(h, out->legacy);
}

void outputs_identity_hex(const outputs_ident *id, char out[HASH_HEX_LEN]) {
    snprintf(out, HASH_HEX_LEN, "%016llx%016llx", (unsigned long long)id->key,
             (unsigned long long)id->seed);
}

/* Bind v (or NULL when v is 0 / NULL) to parameter i of q. */
static void bind_id(sqlite3_stmt *q, int i, int64_t v) {
    if (v > 0)
        sqlite3_bind_int64(q, i, v);
    else
        sqlite3_bind_null(q, i);
}

/* Step the cached statement q (released here) that returns a row or none:
** *found 1 or 0, *v its first column. */
static int step_one(store *st, sqlite3_stmt *q, int *found, int64_t *v, const char *what,
                    char *err) {
    int rc = sqlite3_step(q);
    *found = rc == SQLITE_ROW;
    if (v) *v = *found ? sqlite3_column_int64(q, 0) : 0;
    store_release(st, q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store_error(st, err, "outputs: %s", what);
    return 0;
}

/* Is the output id names stored?  *found 1 or 0.  An identity key's
** outputs are in its batches' ranges: from a batch's id to the next
** batch's. */
static int stored(store *st, const outputs_ident *id, int *found, char *err) {
    sqlite3_stmt *q;
    if (store_prepare_cached(
            st,
            "SELECT 1 FROM output_batches b, output_rows o WHERE b.key = ?1 AND o.id >= b.id "
            "AND o.id < COALESCE((SELECT MIN(n.id) FROM output_batches n WHERE n.id > b.id), "
            "9223372036854775807) AND o.batch = b.id AND o.seed = ?2 "
            "UNION ALL SELECT 1 FROM output_identities WHERE identity = ?3 LIMIT 1",
            &q, err))
        return -1;
    sqlite3_bind_int64(q, 1, id->key);
    sqlite3_bind_int64(q, 2, (int64_t)id->seed);
    sqlite3_bind_text(q, 3, id->legacy, -1, SQLITE_STATIC);
    return step_one(st, q, found, NULL, "lookup", err);
}

/* An output of a checkpoint stored before outputs had identities (in
** output_legacy) with row's checkpoint, prompt, parameters (the very
** params_json) and seed is row's output: the oldest such copy takes row's
** (007) identity.  *adopted: whether one did. */
static int adopt_legacy(store *st, const outputs_row *row, int *adopted, char *err) {
    *adopted = 0;
    if (row->checkpoint_id <= 0) return 0; /* a directory's contents then are unknown */
    sqlite3_stmt *q;
    if (store_prepare_cached(
            st,
            "SELECT l.output_id FROM output_legacy l, output_rows o, output_batches b, "
            "output_params p WHERE l.seed = ?1 AND o.id = l.output_id AND b.id = o.batch AND "
            "b.checkpoint_id = ?2 AND b.prompt = ?3 AND p.id = b.params AND p.json = ?4 "
            "ORDER BY l.output_id LIMIT 1",
            &q, err))
        return -1;
    sqlite3_bind_int64(q, 1, (int64_t)row->ident->seed);
    sqlite3_bind_int64(q, 2, row->checkpoint_id);
    sqlite3_bind_text(q, 3, row->prompt, (int)row->prompt_len, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, row->params_json, -1, SQLITE_STATIC);
    int64_t id;
    if (step_one(st, q, adopted, &id, "adopt a stored copy", err)) return -1;
    if (!*adopted) return 0;
    if (store_prepare_cached(st, "DELETE FROM output_legacy WHERE output_id = ?", &q, err))
        return -1;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    store_release(st, q);
    if (rc == SQLITE_DONE &&
        store_prepare_cached(st, "INSERT INTO output_identities VALUES (?, ?)", &q, err))
        return -1;
    if (rc == SQLITE_DONE) {
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_text(q, 2, row->ident->legacy, -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
        store_release(st, q);
    }
    return rc == SQLITE_DONE ? 0 : store_error(st, err, "outputs: adopt a stored copy");
}

/* Bind row's source, prompt and parameters to ?1 .. ?7 of q (key, recipe
** run, recipe, model source, checkpoint, prompt, params JSON). */
static void bind_batch(sqlite3_stmt *q, const outputs_row *row) {
    sqlite3_bind_int64(q, 1, row->ident->key);
    bind_id(q, 2, row->recipe_run_id);
    if (row->recipe_name) sqlite3_bind_text(q, 3, row->recipe_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, row->model_source, -1, SQLITE_STATIC);
    bind_id(q, 5, row->checkpoint_id);
    sqlite3_bind_text(q, 6, row->prompt, (int)row->prompt_len, SQLITE_STATIC);
    sqlite3_bind_text(q, 7, row->params_json, -1, SQLITE_STATIC);
}

/* The batch row joins into *batch: the newest batch when it is of row's
** key, source, prompt and parameters (its range then ends at row), else a
** new one after every batch and row. */
static int batch_for(store *st, const outputs_row *row, int64_t *batch, char *err) {
    sqlite3_stmt *q;
    if (store_prepare_cached(
            st,
            "SELECT id FROM output_batches WHERE id = (SELECT MAX(id) FROM output_batches) AND "
            "key = ?1 AND recipe_run_id IS ?2 AND recipe_name IS ?3 AND model_source = ?4 AND "
            "checkpoint_id IS ?5 AND prompt = ?6 AND params = "
            "(SELECT id FROM output_params WHERE json = ?7)",
            &q, err))
        return -1;
    bind_batch(q, row);
    int found;
    if (step_one(st, q, &found, batch, "batch", err)) return -1;
    if (found) return 0;
    if (store_prepare_cached(st, "INSERT OR IGNORE INTO output_params (json) VALUES (?)", &q, err))
        return -1;
    sqlite3_bind_text(q, 1, row->params_json, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    store_release(st, q);
    if (rc != SQLITE_DONE) return store_error(st, err, "outputs: parameters");
    if (store_prepare_cached(
            st,
            "INSERT INTO output_batches (id, key, recipe_run_id, recipe_name, model_source, "
            "checkpoint_id, prompt, params) VALUES (max(COALESCE((SELECT MAX(id) FROM "
            "output_batches), 0), COALESCE((SELECT MAX(id) FROM output_rows), 0)) + 1, "
            "?1, ?2, ?3, ?4, ?5, ?6, (SELECT id FROM output_params WHERE json = ?7))",
            &q, err))
        return -1;
    bind_batch(q, row);
    rc = sqlite3_step(q);
    store_release(st, q);
    if (rc != SQLITE_DONE) return store_error(st, err, "outputs: new batch");
    *batch = sqlite3_last_insert_rowid(store_db(st));
    return 0;
}

/* The finish reasons stored as their index (011); others as text. */
static const char *const finishes[] = {"length",     "eos",  "stop_string",
                                       "all_masked", "form", "dead_end"};

const char *outputs_finish_name(int64_t code) {
    return code >= 0 && code < (int64_t)(sizeof finishes / sizeof *finishes) ? finishes[code]
                                                                             : NULL;
}

/* Bind ids[0..n) to parameter i of q as 011 keeps them: two bytes an id,
** most significant first, when every id is below 65,536, else the JSON
** list.  The bytes (malloc'd) into *buf, freed by the caller. */
static int bind_ids(sqlite3_stmt *q, int i, const int32_t *ids, size_t n, char **buf, char *err) {
    int wide = 0;
    for (size_t k = 0; k < n; k++)
        wide |= ids[k] < 0 || ids[k] > 0xFFFF;
    char *b = *buf = malloc(wide ? 12 * n + 3 : 2 * n + 1);
    if (!b) return err_set(err, "outputs: out of memory");
    size_t m = 0;
    if (wide) {
        b[m++] = '[';
        for (size_t k = 0; k < n; k++)
            m += (size_t)sprintf(b + m, k ? ",%d" : "%d", ids[k]);
        b[m++] = ']';
        sqlite3_bind_text(q, i, b, (int)m, SQLITE_STATIC);
        return 0;
    }
    for (size_t k = 0; k < n; k++) {
        b[m++] = (char)(ids[k] >> 8);
        b[m++] = (char)(ids[k] & 0xFF);
    }
    sqlite3_bind_blob(q, i, b, (int)m, SQLITE_STATIC);
    return 0;
}

/* Insert row's output into batch. */
static int insert_row(store *st, const outputs_row *row, int64_t batch, char *err) {
    sqlite3_stmt *q;
    if (store_prepare_cached(
            st,
            "INSERT INTO output_rows (id, batch, continuation, ids, seed, finish, min_approvals) "
            "VALUES (max(?1, COALESCE((SELECT MAX(id) FROM output_rows), 0) + 1), ?1, ?2, ?3, "
            "?4, ?5, COALESCE((SELECT min_approvals FROM review_rules WHERE recipe_name = ?6), "
            "1))",
            &q, err))
        return -1;
    char *ids;
    if (bind_ids(q, 3, row->ids, row->n_ids, &ids, err)) {
        store_release(st, q);
        return -1;
    }
    sqlite3_bind_int64(q, 1, batch);
    sqlite3_bind_text(q, 2, row->continuation, (int)row->cont_len, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, (int64_t)row->ident->seed);
    int code = -1;
    for (int i = 0; i < (int)(sizeof finishes / sizeof *finishes); i++)
        if (!strcmp(row->finish_reason, finishes[i])) code = i;
    if (code >= 0)
        sqlite3_bind_int(q, 5, code);
    else
        sqlite3_bind_text(q, 5, row->finish_reason, -1, SQLITE_STATIC);
    if (row->recipe_name) sqlite3_bind_text(q, 6, row->recipe_name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    store_release(st, q);
    free(ids);
    return rc == SQLITE_DONE ? 0 : store_error(st, err, "outputs: insert");
}

int outputs_insert(store *st, const outputs_row *row, int *created, char *err) {
    assert(row->ident && row->model_source && row->prompt && row->continuation);
    assert(row->ident->seed <= (uint64_t)INT64_MAX);
    int found, adopted;
    int64_t batch;
    *created = 0;
    if (stored(st, row->ident, &found, err)) return -1;
    if (found) return 0;
    if (adopt_legacy(st, row, &adopted, err)) return -1;
    if (adopted) return 0;
    if (batch_for(st, row, &batch, err) || insert_row(st, row, batch, err)) return -1;
    *created = 1;
    return 0;
}

int outputs_known(store *st, const outputs_ident *ids, size_t n, uint8_t *known, size_t *found,
                  char *err) {
    *found = 0;
    for (size_t i = 0; i < n; i++) {
        int f;
        if (stored(st, &ids[i], &f, err)) return -1;
        if (known) known[i] = (uint8_t)f;
        *found += (size_t)f;
    }
    return 0;
}

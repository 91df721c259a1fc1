/*
** The outputs table (see outputs.h).
*/
#include "outputs.h"

#include "err.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void outputs_identity(const char *model, const char *prompt, size_t prompt_len, const char *params,
                      uint64_t seed, char out[HASH_HEX_LEN]) {
    char s[24];
    snprintf(s, sizeof s, "%llu", (unsigned long long)seed);
    hash_state *h = hash_begin();
    /* Each part ends with a NUL, except the prompt (it may hold any byte),
    ** which is preceded by its length, so no two argument lists collide. */
    char len[24];
    snprintf(len, sizeof len, "%zu", prompt_len);
    hash_update(h, model, strlen(model) + 1);
    hash_update(h, len, strlen(len) + 1);
    hash_update(h, prompt, prompt_len);
    hash_update(h, params, strlen(params) + 1);
    hash_update(h, s, strlen(s) + 1);
    hash_end(h, out);
}

/* Bind v (or NULL when v is 0 / NULL) to parameter i of q. */
static void bind_id(sqlite3_stmt *q, int i, int64_t v) {
    if (v > 0)
        sqlite3_bind_int64(q, i, v);
    else
        sqlite3_bind_null(q, i);
}

/* An output of a checkpoint stored before outputs had identities (NULL)
** with row's checkpoint, prompt, parameters (the very params_json) and
** seed is row's output: the oldest such copy takes row's identity, unless
** an output already has it.  *adopted: whether one did. */
static int adopt_legacy(store *st, const outputs_row *row, int *adopted, char *err) {
    *adopted = 0;
    if (row->checkpoint_id <= 0) return 0; /* a directory's contents then are unknown */
    sqlite3_stmt *q;
    if (store_prepare_cached(
            st,
            "UPDATE outputs SET identity = ?1 WHERE id = (SELECT MIN(id) FROM outputs "
            "WHERE identity IS NULL AND checkpoint_id = ?2 AND seed = ?3 AND prompt = "
            "?4 AND params_json = ?5) AND NOT EXISTS (SELECT 1 FROM outputs WHERE "
            "identity = ?1)",
            &q, err))
        return -1;
    sqlite3_bind_text(q, 1, row->identity, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, row->checkpoint_id);
    sqlite3_bind_int64(q, 3, (int64_t)row->seed);
    sqlite3_bind_text(q, 4, row->prompt, (int)row->prompt_len, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, row->params_json, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    store_release(st, q);
    if (rc != SQLITE_DONE) return store_error(st, err, "outputs: adopt a stored copy");
    *adopted = sqlite3_changes(store_db(st)) > 0;
    return 0;
}

int outputs_insert(store *st, const outputs_row *row, int *created, char *err) {
    assert(row->identity && row->model_source && row->prompt && row->continuation);
    assert(row->seed <= (uint64_t)INT64_MAX);
    int adopted;
    if (adopt_legacy(st, row, &adopted, err)) return -1;
    if (adopted) {
        *created = 0;
        return 0;
    }
    size_t n = row->prompt_len + row->cont_len;
    char *text = malloc(n + 1);
    if (!text) return err_set(err, "outputs: out of memory");
    memcpy(text, row->prompt, row->prompt_len);
    memcpy(text + row->prompt_len, row->continuation, row->cont_len);
    text[n] = 0;
    sqlite3_stmt *q;
    /* ON CONFLICT DO NOTHING: the stored output keeps its id, its run and
    ** its review state.  Cached: a bulk job inserts many. */
    if (store_prepare_cached(
            st,
            "INSERT INTO outputs(recipe_run_id, recipe_name, model_source, "
            "checkpoint_id, prompt, continuation, text, ids_json, params_json, seed, "
            "finish_reason, identity) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(identity) DO NOTHING",
            &q, err)) {
        free(text);
        return -1;
    }
    bind_id(q, 1, row->recipe_run_id);
    if (row->recipe_name)
        sqlite3_bind_text(q, 2, row->recipe_name, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 2);
    sqlite3_bind_text(q, 3, row->model_source, -1, SQLITE_STATIC);
    bind_id(q, 4, row->checkpoint_id);
    sqlite3_bind_text(q, 5, row->prompt, (int)row->prompt_len, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, row->continuation, (int)row->cont_len, SQLITE_STATIC);
    sqlite3_bind_text(q, 7, text, (int)n, SQLITE_STATIC);
    sqlite3_bind_text(q, 8, row->ids_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 9, row->params_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 10, (int64_t)row->seed);
    sqlite3_bind_text(q, 11, row->finish_reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 12, row->identity, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    store_release(st, q);
    free(text);
    if (rc != SQLITE_DONE) return store_error(st, err, "outputs: insert");
    *created = sqlite3_changes(store_db(st)) > 0;
    return 0;
}

int outputs_known(store *st, char (*const ids)[HASH_HEX_LEN], size_t n, uint8_t *known,
                  size_t *found, char *err) {
    sqlite3_stmt *q;
    if (store_prepare(st, "SELECT 1 FROM outputs WHERE identity = ?", &q, err)) return -1;
    *found = 0;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, ids[i], -1, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        if (known) known[i] = rc == SQLITE_ROW;
        if (rc == SQLITE_ROW)
            (*found)++;
        else if (rc != SQLITE_DONE) {
            sqlite3_finalize(q);
            return store_error(st, err, "outputs: lookup");
        }
    }
    sqlite3_finalize(q);
    return 0;
}

/*
** Checkpoints in the store: put/get round trips (parameters, config, state),
** resolve by id and latest-of-run, pruning that frees blobs, retention of
** the optimizer state (latest of each run and pinned ones), import of a
** Hugging Face directory, and the byte-plane layout's compression gain.
*/
#include "checkpoints.h"
#include "ckpt.h"
#include "err.h"
#include "hfmodel.h"
#include "test.h"
#include "tmp_store.h"
#include "zbuf.h"

#include <stdlib.h>
#include <unistd.h>

static store *fresh(void) {
    return tmp_store_open("ckpt");
}

static void small(gpt_config *c) {
    gpt_config_default(c);
    c->n_layer = 2;
    c->n_head = 2;
    c->n_embd = 8;
    c->n_positions = 16;
    c->vocab_size = 50;
    c->resid_pdrop = 0.0f;
}

/* A train run (and the block set it needs) to hang checkpoints on. */
static int64_t make_run(store *st, int k) {
    char sql[1024], err[ERR_LEN];
    snprintf(sql, sizeof sql,
             "INSERT OR IGNORE INTO blobs(id, hash, raw_size, data) VALUES (1000, 'x', 0, x'');"
             "INSERT OR IGNORE INTO tokenizers(id, hash, source, vocab_size) VALUES (1, 'h', "
             "'s', 50257);"
             "INSERT OR IGNORE INTO block_sets(id, identity, tokenizer_id, block_size, mode, "
             "n_train, n_eval, params_json, train_blob) VALUES (1, 'b', 1, 64, 'document', 0, "
             "0, '{}', 1000);"
             "INSERT INTO train_runs(id, identity, block_set_id, model_source, config_json, "
             "params_json, status, total_steps) VALUES (%d, 'r%d', 1, 'init', '{}', '{}', "
             "'running', 10);",
             k, k);
    CHECKF(store_exec(st, sql, err) == 0, "%s", err);
    return k;
}

static void test_planes(void) {
    float x[5] = {1.0f, -2.5f, 3e-8f, 65504.0f, -0.0f}, y[5];
    unsigned char b[20];
    ckpt_planes(x, 5, b);
    CHECK(b[0] == 0x00 && b[15] == 0x3f && b[16] == 0xc0); /* byte 3 of 1.0f, -2.5f */
    ckpt_unplanes(b, 5, y);
    CHECK(memcmp(x, y, sizeof x) == 0);
}

static void test_put_get(void) {
    store *st = fresh();
    gpt_config c, back;
    small(&c);
    float *p, *q;
    CHECK(hf_init_params(&c, 5, &p) == 0);
    int n_t = gpt_layout_count(&c);
    gpt_tensor g[64];
    size_t n = gpt_layout(&c, g), qn;
    (void)n_t;
    char err[ERR_LEN];
    const char state[] = "adam moments, rng, position";
    int64_t id, run, step, id2;
    void *sback;
    size_t sn;
    CHECK(store_begin(st, err) == 0);
    CHECKF(ckpt_put(st, 0, 0, &c, p, n, state, sizeof state, &id, err) == 0, "%s", err);
    CHECK(ckpt_put(st, 0, 0, &c, p, n - 1, NULL, 0, &id2, err) == -1);
    CHECK(strstr(err, "parameters, the config needs") != NULL);
    CHECK(store_commit(st, err) == 0);
    CHECKF(ckpt_get(st, id, &back, &q, &qn, &sback, &sn, &run, &step, err) == 0, "%s", err);
    CHECK(memcmp(&c, &back, sizeof c) == 0);
    CHECK_EQ_INT(qn, n);
    CHECK(memcmp(p, q, n * sizeof *p) == 0);
    CHECK_EQ_INT(sn, sizeof state);
    CHECK(memcmp(sback, state, sn) == 0);
    CHECK_EQ_INT(run, 0);
    CHECK_EQ_INT(step, 0);
    free(q);
    free(sback);
    CHECK(ckpt_get(st, id + 7, &back, &q, &qn, NULL, NULL, NULL, NULL, err) == -1);
    CHECK(strstr(err, "does not exist") != NULL);
    /* a corrupt stored config is an error, not a crash */
    CHECK(store_exec(st, "UPDATE checkpoints SET config_json = '{\"n_layer\": \"x\"}'", err) == 0);
    CHECK(ckpt_get(st, id, &back, &q, &qn, NULL, NULL, NULL, NULL, err) == -1);
    CHECKF(strstr(err, "\"n_layer\" must be an integer") != NULL, "%s", err);
    free(p);
    tmp_store_close(st);
}

static void test_resolve_prune(void) {
    store *st = fresh();
    gpt_config c;
    small(&c);
    char err[ERR_LEN];
    int64_t id, ids[5], r1 = make_run(st, 1), r2 = make_run(st, 2);
    CHECK(ckpt_resolve(st, "latest", 0, &id, err) == -1);
    CHECK(strstr(err, "no checkpoint") != NULL);
    gpt_tensor g[64];
    size_t n = gpt_layout(&c, g);
    CHECK(store_begin(st, err) == 0);
    for (int k = 0; k < 5; k++) {
        float *p;
        hf_init_params(&c, 100 + k, &p);
        char state[16];
        snprintf(state, sizeof state, "state %d", k);
        CHECKF(ckpt_put(st, r1, 10 * (k + 1), &c, p, n, state, 8, &ids[k], err) == 0, "%s", err);
        free(p);
    }
    float *p;
    hf_init_params(&c, 999, &p);
    int64_t other;
    CHECK(ckpt_put(st, r2, 5, &c, p, n, NULL, 0, &other, err) == 0);
    free(p);
    CHECK(store_commit(st, err) == 0);
    CHECK(ckpt_resolve(st, "latest", r1, &id, err) == 0 && id == ids[4]);
    CHECK(ckpt_resolve(st, "latest", r2, &id, err) == 0 && id == other);
    CHECK(ckpt_resolve(st, "latest", 0, &id, err) == 0 && id == other);
    char spec[32];
    snprintf(spec, sizeof spec, "%lld", (long long)ids[2]);
    CHECK(ckpt_resolve(st, spec, 0, &id, err) == 0 && id == ids[2]);
    CHECK(ckpt_resolve(st, "999", 0, &id, err) == -1 && strstr(err, "999 does not exist"));
    CHECK(ckpt_resolve(st, "lat", 0, &id, err) == -1 && strstr(err, "not a checkpoint id"));
    CHECK(ckpt_resolve(st, "latest", 3, &id, err) == -1 && strstr(err, "run 3 has no"));
    sqlite3_stmt *s;
    store_prepare(st, "SELECT count(*) FROM blobs", &s, err);
    sqlite3_step(s);
    int blobs_before = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    CHECK(store_begin(st, err) == 0);
    CHECKF(ckpt_prune(st, r1, 2, err) == 0, "%s", err);
    CHECK(store_commit(st, err) == 0);
    store_prepare(st, "SELECT count(*) FROM blobs", &s, err);
    sqlite3_step(s);
    CHECK_EQ_INT(sqlite3_column_int(s, 0), blobs_before - 6); /* 3 tensors + 3 states */
    sqlite3_finalize(s);
    store_prepare(st, "SELECT group_concat(step) FROM checkpoints WHERE run_id = 1", &s, err);
    sqlite3_step(s);
    CHECK_STR((const char *)sqlite3_column_text(s, 0), "40,50");
    sqlite3_finalize(s);
    CHECK(ckpt_resolve(st, "latest", r1, &id, err) == 0 && id == ids[4]);
    CHECK(ckpt_resolve(st, "latest", r2, &id, err) == 0 && id == other);
    CHECK(ckpt_prune(st, r1, 0, err) == -1);
    tmp_store_close(st);
}

static void test_import(void) {
    store *st = fresh();
    char err[ERR_LEN];
    int64_t id, id2;
    CHECKF(ckpt_import(st, "tests/fixtures/hf_f16", &id, err) == 0, "%s", err);
    CHECKF(ckpt_import(st, "tests/fixtures/hf_f16", &id2, err) == 0, "%s", err);
    CHECK_EQ_INT(id2, id); /* idempotent */
    gpt_config c;
    float *p, *q;
    size_t n, qn;
    CHECK(hf_load("tests/fixtures/hf_f16", &c, &p, &n, err) == 0);
    int64_t run = -1;
    CHECKF(ckpt_get(st, id2, &c, &q, &qn, NULL, NULL, &run, NULL, err) == 0, "%s", err);
    CHECK(qn == n && memcmp(p, q, n * sizeof *p) == 0);
    CHECK_EQ_INT(run, 0);
    free(p);
    free(q);
    sqlite3_stmt *s;
    store_prepare(st, "SELECT count(DISTINCT tensors_blob), min(source) FROM checkpoints", &s, err);
    sqlite3_step(s);
    CHECK_EQ_INT(sqlite3_column_int(s, 0), 1); /* the same tensors are stored once */
    CHECK_STR((const char *)sqlite3_column_text(s, 1), "tests/fixtures/hf_f16");
    sqlite3_finalize(s);
    /* a bad directory leaves no trace */
    CHECK(ckpt_import(st, "tests/fixtures/nonexistent", &id, err) == -1);
    store_prepare(st, "SELECT count(*) FROM checkpoints", &s, err);
    sqlite3_step(s);
    CHECK_EQ_INT(sqlite3_column_int(s, 0), 1);
    sqlite3_finalize(s);
    /* the bf16 fixture is another model */
    CHECKF(ckpt_import(st, "tests/fixtures/hf_bf16", &id2, err) == 0, "%s", err);
    CHECK(id2 != id);
    tmp_store_close(st);
}

/* The byte planes must compress better than plain fp32 (GPT-2-initialised
** weights, which are distributed like trained ones: mostly small normals). */
static void test_compression(void) {
    gpt_config c;
    small(&c);
    c.n_embd = 128;
    c.n_layer = 2;
    c.vocab_size = 2000;
    float *p;
    hf_init_params(&c, 1, &p);
    gpt_tensor g[64];
    size_t n = gpt_layout(&c, g), zn_raw, zn_planes;
    unsigned char *planes = malloc(4 * n);
    ckpt_planes(p, n, planes);
    void *z;
    char err[ERR_LEN];
    CHECK(zbuf_compress(p, 4 * n, 3, &z, &zn_raw, err) == 0);
    free(z);
    CHECK(zbuf_compress(planes, 4 * n, 3, &z, &zn_planes, err) == 0);
    free(z);
    printf("  %zu floats: raw fp32 %zu B, zstd %zu B (%.3f), planes+zstd %zu B (%.3f)\n", n, 4 * n,
           zn_raw, (double)zn_raw / (4 * n), zn_planes, (double)zn_planes / (4 * n));
    CHECK(zn_planes < zn_raw);
    CHECK(zn_planes < 0.9 * 4 * n);
    free(planes);
    free(p);
}

static int page_count(store *st) {
    char err[ERR_LEN];
    sqlite3_stmt *s;
    store_prepare(st, "PRAGMA page_count", &s, err);
    sqlite3_step(s);
    int n = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* Saving and pruning to one checkpoint over and over: the pages freed by
** pruning are reused, so the store stops growing. */
static void test_prune_reclaims(void) {
    store *st = fresh();
    int64_t run = make_run(st, 1), id;
    gpt_config c;
    small(&c);
    c.n_embd = 64;
    c.vocab_size = 1000;
    gpt_tensor g[64];
    size_t n = gpt_layout(&c, g);
    char err[ERR_LEN];
    int pages[8];
    for (int k = 0; k < 8; k++) {
        float *p;
        hf_init_params(&c, 500 + k, &p);
        CHECK(store_begin(st, err) == 0);
        CHECK(ckpt_put(st, run, k, &c, p, n, p, n * sizeof *p / 2, &id, err) == 0);
        CHECK(ckpt_prune(st, run, 1, err) == 0);
        CHECK(store_commit(st, err) == 0);
        free(p);
        pages[k] = page_count(st);
    }
    printf("  pages after each save: %d %d %d ... %d\n", pages[0], pages[1], pages[2], pages[7]);
    CHECKF(pages[7] <= pages[2] + pages[2] / 20, "store grew from %d to %d pages", pages[2],
           pages[7]);
    tmp_store_close(st);
}

/* The first column of sql's first row (an integer). */
static int64_t one(store *st, const char *sql) {
    char err[ERR_LEN];
    sqlite3_stmt *s;
    CHECKF(store_prepare(st, sql, &s, err) == 0, "%s", err);
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

/* Save checkpoint k of run (its state: text) in one transaction with the
** retention rule, as the train stage does; its id. */
static int64_t save(store *st, int64_t run, int k, const char *state) {
    gpt_config c;
    small(&c);
    gpt_tensor g[64];
    size_t n = gpt_layout(&c, g);
    char err[ERR_LEN];
    float *p;
    int64_t id;
    hf_init_params(&c, 700 + k, &p);
    CHECK(store_begin(st, err) == 0);
    CHECKF(ckpt_put(st, run, k, &c, p, n, state, strlen(state), &id, err) == 0, "%s", err);
    CHECKF(checkpoints_drop_state(st, run, NULL, err) == 0, "%s", err);
    CHECK(store_commit(st, err) == 0);
    free(p);
    return id;
}

/* Only the latest checkpoint of each run and pinned ones keep their state;
** a dropped state's blob is deleted unless another row still uses it. */
static void test_retention(void) {
    store *st = fresh();
    char err[ERR_LEN];
    int64_t r1 = make_run(st, 1), r2 = make_run(st, 2), run, shared;
    /* a blob of other data with the same bytes as a state: deduplicated */
    CHECK(store_put_blob(st, "same bytes", 10, &shared, err) == 0);
    CHECK(store_exec(st, "UPDATE block_sets SET eval_blob = (SELECT max(id) FROM blobs)", err) ==
          0);
    int64_t a = save(st, r1, 1, "same bytes"), b = save(st, r1, 2, "state b");
    int64_t o = save(st, r2, 1, "state o");
    CHECK_EQ_INT(one(st, "SELECT count(*) FROM checkpoints WHERE state_blob IS NOT NULL"), 2);
    CHECK(one(st, "SELECT count(*) FROM blobs WHERE hash = (SELECT hash FROM blobs WHERE "
                  "raw_size = 10)") == 1); /* still used by the block set */
    CHECK(store_begin(st, err) == 0);
    CHECK(checkpoints_set_pinned(st, b, 1, &run, err) == 0 && run == r1);
    CHECK(checkpoints_set_pinned(st, 999, 1, &run, err) == 0 && run == -1);
    CHECK(store_commit(st, err) == 0);
    int64_t c = save(st, r1, 3, "state c");
    int64_t blobs = one(st, "SELECT count(*) FROM blobs");
    sqlite3_stmt *s;
    CHECK(store_prepare(st,
                        "SELECT group_concat(id) FROM (SELECT id FROM checkpoints WHERE "
                        "state_blob IS NOT NULL ORDER BY id)",
                        &s, err) == 0 &&
          sqlite3_step(s) == SQLITE_ROW);
    char want[64];
    snprintf(want, sizeof want, "%lld,%lld,%lld", (long long)b, (long long)o, (long long)c);
    CHECK_STR((const char *)sqlite3_column_text(s, 0), want);
    sqlite3_finalize(s);
    /* unpinned, b is not its run's latest: its state and blob go */
    CHECK(store_begin(st, err) == 0);
    CHECK(checkpoints_set_pinned(st, b, 0, &run, err) == 0);
    CHECK(checkpoints_drop_state(st, run, NULL, err) == 0);
    CHECK(store_commit(st, err) == 0);
    CHECK_EQ_INT(one(st, "SELECT count(*) FROM checkpoints WHERE state_blob IS NOT NULL"), 2);
    CHECK_EQ_INT(one(st, "SELECT count(*) FROM blobs"), blobs - 1);
    CHECK(a > 0 && store_free_blobs(st, 0, &blobs, err) == 0 && blobs == 0); /* none unused */
    tmp_store_close(st);
}

int main(void) {
    RUN(test_planes);
    RUN(test_put_get);
    RUN(test_resolve_prune);
    RUN(test_prune_reclaims);
    RUN(test_retention);
    RUN(test_import);
    RUN(test_compression);
    return TEST_SUMMARY();
}

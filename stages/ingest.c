/*
** The ingest stage (see ingest.h); `quill ingest` is ingest_cli.c.
**
** Sources are read one at a time by one thread into a batch of pending
** documents; each document is cleaned, hashed and compressed by an OpenMP
** task as soon as it is read, so reading overlaps compression (the bound).
** A full batch waits for its tasks and is inserted in order.  Each
** top-level path and each archive runs inside its own savepoint so that a
** corrupt archive contributes nothing.  core/sources.c does the reading.
*/
#include "ingest.h"

#include "documents.h"
#include "err.h"
#include "progress.h"
#include "sources.h"
#include "text.h"
#include "zbuf.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_BYTES (64u << 20)
#define BATCH_DOCS 256

/* A document on its way into the store. */
typedef struct pending {
    char *source;
    unsigned char *raw; /* as read; freed after cleaning */
    size_t raw_n;
    char *text; /* cleaned text (raw's buffer, reused when it was valid) */
    size_t text_n, chars;
    char hash[HASH_HEX_LEN];
    void *z;
    size_t zn;
    char *skip; /* reason when it is not stored */
} pending;

typedef struct ingest {
    store *st;
    const ingest_opts *o;
    ingest_result *res;
    pending *batch;
    int n_batch;
    size_t batch_bytes;
    char (*hashes)[HASH_HEX_LEN]; /* content hash of each res->doc_ids entry */
    progress prog;
    int savepoint_depth;
    /* Counts at each open savepoint, restored when it is rolled back. */
    struct {
        int added, duplicates, n_doc_ids;
    } marks[8];
} ingest;

/* The defaults: no --max-chars, nothing stripped or normalised, invalid
** UTF-8 rejected, members up to 1 GiB. */
void ingest_opts_default(ingest_opts *o) {
    o->max_chars = -1;
    o->strip_gutenberg = 0;
    o->normalize_newlines = 0;
    o->replace_invalid = 0;
    o->max_member_bytes = 1LL << 30;
}

/* Append (source, reason) to a skip or error list. */
static void note_add(ingest_note **list, int *n, const char *source, const char *reason) {
    *list = realloc(*list, (size_t)(*n + 1) * sizeof **list);
    (*list)[*n].source = strdup(source);
    (*list)[*n].reason = strdup(reason);
    (*n)++;
}

/* Free the lists of a result from stage_ingest(). */
void ingest_result_free(ingest_result *res) {
    for (int i = 0; i < res->n_skips; i++)
        free(res->skips[i].source), free(res->skips[i].reason);
    for (int i = 0; i < res->n_errors; i++)
        free(res->errors[i].source), free(res->errors[i].reason);
    free(res->skips);
    free(res->errors);
    free(res->doc_ids);
}

/* Clean one document: binary and empty checks, BOM, UTF-8, Gutenberg
** boilerplate, newlines, max_chars; then hash and compress.  Runs in
** parallel, so it touches only p. */
static void clean_one(pending *p, const ingest_opts *o) {
    char reason[ERR_LEN];
    if (p->raw_n == 0) {
        p->skip = strdup("empty file");
        return;
    }
    if (txt_has_nul(p->raw, p->raw_n)) {
        p->skip = strdup("binary (contains NUL bytes)");
        return;
    }
    size_t bom = txt_bom_len(p->raw, p->raw_n), bad;
    const unsigned char *s = p->raw + bom;
    size_t n = p->raw_n - bom;
    if (txt_utf8_valid(s, n, &bad)) {
        /* The common case works in place, without a copy. */
        memmove(p->raw, s, n);
        p->text = (char *)p->raw;
        p->raw = NULL;
        p->text_n = n;
    } else if (o->replace_invalid) {
        p->text = txt_utf8_repair(s, n, &p->text_n);
        free(p->raw);
        p->raw = NULL;
    } else {
        snprintf(reason, sizeof reason,
                 "invalid UTF-8 at byte offset %zu (use --on-invalid-utf8 replace)", bad + bom);
        p->skip = strdup(reason);
        return;
    }
    size_t b = 0, e = p->text_n;
    if (o->strip_gutenberg) txt_gutenberg_body(p->text, p->text_n, &b, &e);
    if (b) memmove(p->text, p->text + b, e - b);
    p->text_n = e - b;
    if (o->normalize_newlines) p->text_n = txt_normalize_newlines(p->text, p->text_n);
    if (o->max_chars >= 0)
        p->text_n = txt_prefix_bytes((unsigned char *)p->text, p->text_n, (size_t)o->max_chars);
    if (p->text_n == 0) {
        p->skip = strdup("empty after clean-up");
        return;
    }
    p->chars = txt_count_chars((unsigned char *)p->text, p->text_n);
    hash_hex(p->text, p->text_n, p->hash);
    char zerr[ERR_LEN];
    if (zbuf_compress(p->text, p->text_n, 3, &p->z, &p->zn, zerr)) p->skip = strdup(zerr);
}

/* Note a document the run saw (duplicates included; repeats are removed
** at the end). */
static void seen_doc(ingest *g, int64_t id, const char *hash) {
    ingest_result *r = g->res;
    r->doc_ids = realloc(r->doc_ids, (size_t)(r->n_doc_ids + 1) * sizeof *r->doc_ids);
    g->hashes = realloc(g->hashes, (size_t)(r->n_doc_ids + 1) * sizeof *g->hashes);
    r->doc_ids[r->n_doc_ids] = id;
    memcpy(g->hashes[r->n_doc_ids], hash, HASH_HEX_LEN);
    r->n_doc_ids++;
}

/* Store a prepared document (its compressed text and its row), or count
** it as a duplicate; either way it joins the documents the run saw. */
static int insert_doc(ingest *g, pending *p, char *err) {
    int64_t existing = 0;
    if (documents_find(g->st, p->hash, &existing, err)) return -1;
    if (existing) {
        g->res->duplicates++;
        seen_doc(g, existing, p->hash);
        return 0;
    }
    documents_row row = {.source = p->source,
                         .hash = p->hash,
                         .bytes = (int64_t)p->text_n,
                         .chars = (int64_t)p->chars};
    int64_t id;
    if (store_put_compressed(g->st, p->hash, p->text_n, p->z, p->zn, &row.text_blob, err) ||
        documents_insert(g->st, &row, &id, err))
        return -1;
    g->res->added++;
    seen_doc(g, id, p->hash);
    return 0;
}

/* Free what a prepared document holds. */
static void pending_free(pending *p) {
    free(p->source);
    free(p->raw);
    free(p->text);
    free(p->z);
    free(p->skip);
}

/* Wait for the batch's clean-up tasks, then free and empty the batch. */
static void batch_drop(ingest *g) {
#pragma omp taskwait
    for (int i = 0; i < g->n_batch; i++)
        pending_free(&g->batch[i]);
    g->n_batch = 0;
    g->batch_bytes = 0;
}

/* Wait for the batch's clean-up tasks, then insert it in order. */
static int batch_flush(ingest *g, char *err) {
    const int n = g->n_batch;
#pragma omp taskwait
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        pending *p = &g->batch[i];
        if (p->skip)
            note_add(&g->res->skips, &g->res->n_skips, p->source, p->skip);
        else
            rc = insert_doc(g, p, err);
    }
    batch_drop(g);
    return rc;
}

/* Queue a document (takes ownership of raw). */
static int batch_add(ingest *g, const char *source, unsigned char *raw, size_t n, char *err) {
    if (!g->batch) g->batch = calloc(BATCH_DOCS, sizeof *g->batch);
    pending *p = &g->batch[g->n_batch++];
    memset(p, 0, sizeof *p);
    p->source = strdup(source);
    p->raw = raw;
    p->raw_n = n;
    g->batch_bytes += n;
    g->res->bytes_in += (long long)n;
    const ingest_opts *o = g->o;
#pragma omp task firstprivate(p, o)
    clean_one(p, o);
    progress_add(&g->prog, (double)n / 1e6);
    if (g->n_batch == BATCH_DOCS || g->batch_bytes >= BATCH_BYTES) return batch_flush(g, err);
    return 0;
}

/* Open a nested savepoint for one PATH or archive. */
static int savepoint_open(ingest *g, char *err) {
    assert(g->savepoint_depth < 8); /* a path, then an archive in it */
    g->savepoint_depth++;
    g->marks[g->savepoint_depth - 1].added = g->res->added;
    g->marks[g->savepoint_depth - 1].duplicates = g->res->duplicates;
    g->marks[g->savepoint_depth - 1].n_doc_ids = g->res->n_doc_ids;
    return store_savepoint(g->st, g->savepoint_depth, err);
}

/* Close the innermost savepoint: keep its work, or undo it when failed. */
static int savepoint_close(ingest *g, int failed, char *err) {
    if (failed) {
        batch_drop(g);
        g->res->added = g->marks[g->savepoint_depth - 1].added;
        g->res->duplicates = g->marks[g->savepoint_depth - 1].duplicates;
        g->res->n_doc_ids = g->marks[g->savepoint_depth - 1].n_doc_ids;
    }
    int rc = store_savepoint_end(g->st, g->savepoint_depth, failed, err);
    g->savepoint_depth--;
    return rc;
}

/* sources_walk callbacks: a source joins the batch, an archive is a
** savepoint, what is left out is noted. */
static int on_add(void *ctx, const char *source, unsigned char *data, size_t n, char *err) {
    return batch_add(ctx, source, data, n, err);
}

static int on_begin(void *ctx, char *err) {
    return savepoint_open(ctx, err);
}

static int on_end(void *ctx, int failed, char *err) {
    if (!failed && batch_flush(ctx, err)) return -1;
    return savepoint_close(ctx, failed, err);
}

static void on_skip(void *ctx, const char *source, const char *reason) {
    ingest *g = ctx;
    note_add(&g->res->skips, &g->res->n_skips, source, reason);
}

static void on_error(void *ctx, const char *source, const char *reason) {
    ingest *g = ctx;
    note_add(&g->res->errors, &g->res->n_errors, source, reason);
}

/* Keep the first appearance of each document in res->doc_ids and hash
** their content hashes, in that order, into res->content_hash. */
static void dedupe_docs(ingest *g) {
    ingest_result *r = g->res;
    hash_state *h = hash_begin();
    int kept = 0;
    for (int i = 0; i < r->n_doc_ids; i++) {
        /* Ids usually increase (new rows, or a rerun in the same order):
        ** only an id out of order can be a repeat, and only then scan. */
        int repeat = 0;
        if (kept && r->doc_ids[i] <= r->doc_ids[kept - 1])
            for (int k = 0; k < kept && !repeat; k++)
                repeat = r->doc_ids[k] == r->doc_ids[i];
        if (repeat) continue;
        r->doc_ids[kept] = r->doc_ids[i];
        hash_update(h, g->hashes[i], HASH_HEX_LEN - 1);
        kept++;
    }
    r->n_doc_ids = kept;
    hash_end(h, r->content_hash);
}

int stage_ingest(store *st, const ingest_opts *o, char *const *paths, int n_paths,
                 ingest_result *res, char *err) {
    memset(res, 0, sizeof *res);
    ingest g = {.st = st, .o = o, .res = res};
    const sources_walk w = {&g, o->max_member_bytes, on_add, on_begin, on_end, on_skip, on_error};
    progress_begin(&g.prog, "ingest", "MB", 0);
    int rc = store_begin(st, err);
    /* One thread walks the paths and talks to SQLite; the others run the
    ** clean-up tasks it creates. */
#pragma omp parallel
#pragma omp single
    for (int i = 0; i < n_paths && !rc; i++) {
        int errors_before = res->n_errors;
        rc = savepoint_open(&g, err);
        if (!rc) rc = sources_read(&w, paths[i], 1, err);
        if (!rc) rc = batch_flush(&g, err);
        if (!rc) rc = savepoint_close(&g, res->n_errors > errors_before, err);
    }
    if (!rc) rc = store_commit(st, err);
    progress_end(&g.prog);
    batch_drop(&g);
    free(g.batch);
    if (!rc) dedupe_docs(&g);
    free(g.hashes);
    if (rc) {
        store_rollback(st);
        ingest_result_free(res);
        memset(res, 0, sizeof *res);
    }
    return rc;
}

/*
** The store's space by kind, and gc; see space.h.
*/
#include "space.h"

#include "checkpoints.h"
#include "err.h"
#include "proc.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Each kind's blob bytes (stored, compressed) into u. */
static int blob_bytes(store *st, space_usage *u, char *err) {
    static const char *ids[] = {
        "SELECT text_blob FROM documents",
        "SELECT ids_blob FROM doc_tokens",
        "SELECT train_blob FROM block_sets UNION SELECT eval_blob FROM block_sets",
        "SELECT tensors_blob FROM checkpoints",
        "SELECT state_blob FROM checkpoints",
    };
    int64_t *k[] = {&u->documents, &u->tokens, &u->blocks, &u->weights, &u->state};
    for (int i = 0; i < 5; i++) {
        char sql[256];
        sqlite3_stmt *s;
        /* length() of a blob reads its size, not its pages */
        snprintf(sql, sizeof sql,
                 "SELECT coalesce(sum(length(data)), 0) FROM blobs WHERE id IN (%s)", ids[i]);
        if (store_prepare(st, sql, &s, err)) return -1;
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) *k[i] += sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        if (rc != SQLITE_ROW) return store_error(st, err, "blob sizes");
    }
    return 0;
}

/* Where the pages of table name count in u (NULL: other). */
static int64_t *table_kind(space_usage *u, const char *name) {
    static const struct {
        const char *table;
        size_t field;
    } kinds[] = {
        {"documents", offsetof(space_usage, documents)},
        {"doc_tokens", offsetof(space_usage, tokens)},
        {"tokenizers", offsetof(space_usage, tokens)},
        {"block_sets", offsetof(space_usage, blocks)},
        {"checkpoints", offsetof(space_usage, weights)},
        {"output_rows", offsetof(space_usage, outputs)},
        {"output_batches", offsetof(space_usage, outputs)},
        {"output_params", offsetof(space_usage, outputs)},
        {"output_identities", offsetof(space_usage, outputs)},
        {"output_legacy", offsetof(space_usage, outputs)},
        {"output_counts", offsetof(space_usage, outputs)},
        {"reviews", offsetof(space_usage, outputs)},
        {"review_rules", offsetof(space_usage, outputs)},
        {"review_cursor", offsetof(space_usage, outputs)},
        {"review_rule_changes", offsetof(space_usage, outputs)},
        {"publications", offsetof(space_usage, outputs)},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(name, kinds[i].table)) return (int64_t *)((char *)u + kinds[i].field);
    return NULL;
}

/* The pages of every table and index but blobs (whose pages are its blobs'
** bytes, counted by blob_bytes) into their kinds, from dbstat; nothing
** (tables_known 0) when this SQLite has no dbstat. */
static int table_bytes(store *st, space_usage *u, char *err) {
    sqlite3_stmt *s;
    /* dbstat reads only the b-tree its name constraint names */
    if (store_prepare(st,
                      "SELECT s.tbl_name, (SELECT coalesce(sum(d.pgsize), 0) FROM "
                      "dbstat('main', 1) d WHERE d.name = s.name) FROM sqlite_schema s WHERE "
                      "s.rootpage > 0 AND s.tbl_name != 'blobs'",
                      &s, err))
        return 0; /* no dbstat */
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t *k = table_kind(u, (const char *)sqlite3_column_text(s, 0));
        if (k) *k += sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_error(st, err, "table sizes");
    u->tables_known = 1;
    return 0;
}

int space_usage_get(store *st, space_usage *u, char *err) {
    memset(u, 0, sizeof *u);
    int pages, page_size, free_pages;
    if (store_pragma_int(st, "page_count", &pages, err) ||
        store_pragma_int(st, "page_size", &page_size, err) ||
        store_pragma_int(st, "freelist_count", &free_pages, err) || blob_bytes(st, u, err) ||
        table_bytes(st, u, err))
        return -1;
    u->total = (int64_t)pages * page_size;
    u->free = (int64_t)free_pages * page_size;
    u->other = u->total - u->free - u->documents - u->tokens - u->blocks - u->weights - u->state -
               u->outputs;
    if (u->other < 0) u->other = 0; /* shared blobs counted twice */
    return 0;
}

void space_human(int64_t n, char out[16]) {
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    if (i)
        snprintf(out, 16, "%.1f %s", v, unit[i]);
    else
        snprintf(out, 16, "%lld B", (long long)n);
}

/* Bytes of st's file and its WAL now. */
static int64_t file_bytes(store *st) {
    char wal[4200];
    struct stat a, b;
    snprintf(wal, sizeof wal, "%s-wal", store_path(st));
    return (stat(store_path(st), &a) ? 0 : (int64_t)a.st_size) +
           (stat(wal, &b) ? 0 : (int64_t)b.st_size);
}

/* Refuse (err says who) when a live process holds a recipe's run lock
** (db/runs.h): it writes between its transactions too. */
static int no_live_run(store *st, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st, "SELECT recipe_name, host, pid, start_time FROM run_locks", &s, err))
        return -1;
    char me[PROC_HOST_LEN];
    proc_host(me);
    int rc, live = 0;
    while (!live && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        long long pid = sqlite3_column_int64(s, 2);
        /* another host's process cannot be looked at: taken as live */
        live = strcmp((const char *)sqlite3_column_text(s, 1), me) ||
               (pid != (long long)getpid() && proc_alive(pid, sqlite3_column_int64(s, 3)));
        if (live)
            err_set(err, "%s: recipe %s is running (pid %lld): run gc when it has finished",
                    store_path(st), (const char *)sqlite3_column_text(s, 0), pid);
    }
    sqlite3_finalize(s);
    if (live) return -1;
    return rc == SQLITE_DONE ? 0 : store_error(st, err, "run locks");
}

/* gc's transaction: the retention rule and the unused blobs. */
static int collect_rows(store *st, space_collected *c, char *err) {
    if (store_begin(st, err)) {
        if (sqlite3_errcode(store_db(st)) != SQLITE_BUSY) return -1;
        return err_set(err,
                       "%s: another quill process is writing to the store: run gc when it "
                       "has finished",
                       store_path(st));
    }
    if (no_live_run(st, err) || checkpoints_drop_state(st, 0, &c->states, err) ||
        store_free_blobs(st, 0, &c->blobs, err) || store_commit(st, err)) {
        store_rollback(st);
        return -1;
    }
    return 0;
}

int space_collect(store *st, space_collected *c, char *err) {
    memset(c, 0, sizeof *c);
    c->before = c->after = file_bytes(st);
    /* refuse rather than wait for a writer; st is left waiting for none */
    sqlite3_busy_timeout(store_db(st), 0);
    if (collect_rows(st, c, err)) return -1;
    int av;
    /* a store made before auto_vacuum: VACUUM converts it */
    if (store_pragma_int(st, "auto_vacuum", &av, err) ||
        (av == 0 && store_exec(st, "PRAGMA auto_vacuum = INCREMENTAL", err)))
        return -1;
    if (store_exec(st, "VACUUM", err)) {
        int code = sqlite3_errcode(store_db(st));
        /* a writer came in after the transaction: the rows are collected */
        if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return 0;
        return -1;
    }
    c->vacuumed = 1;
    /* the VACUUMed pages are in the WAL: move them back and truncate both */
    if (store_exec(st, "PRAGMA wal_checkpoint(TRUNCATE)", err)) return -1;
    c->after = file_bytes(st);
    return 0;
}

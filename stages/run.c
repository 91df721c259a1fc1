/*
** `quill run` and `quill status`: the recipe runner (see run.h).
*/
#include "run.h"

#include "cli.h"
#include "err.h"
#include "jw.h"
#include "hash.h"
#include "group.h"
#include "ingest.h"
#include "review.h"
#include "runs.h"
#include "tok.h"
#include "tokenize.h"
#include "train.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- stage adapters ---- */

/* Set ctx->result_json from an object made by jw_object (consumed); NULL
** is that builder's failure, already described in err. */
static int set_result(stage_ctx *ctx, json_t *o, char *err) {
    if (!o) return -1;
    ctx->result_json = jw_dumps(o, JSON_COMPACT | JSON_SORT_KEYS, "the stage's result", err);
    return ctx->result_json ? 0 : -1;
}

int run_result_int(const stage_ctx *ctx, int stage, const char *key, int64_t *out, char *err) {
    const char *res = ctx->results[stage];
    json_t *o = res ? json_loads(res, 0, NULL) : NULL, *v = json_object_get(o, key);
    int ok = json_is_integer(v);
    if (ok) *out = json_integer_value(v);
    json_decref(o);
    if (!res) return err_set(err, "the %s stage left no result", rcp_stage_names[stage]);
    return ok ? 0 : err_set(err, "the %s stage's result has no %s", rcp_stage_names[stage], key);
}

/* The tokenizer directory: tokenize.model, else model.from when it has
** tokenizer files (tok_dir_has()), else NULL (the bundled GPT-2 tokenizer). */
static const char *tok_dir(const rcp_recipe *r) {
    if (r->tokenize.model) return r->tokenize.model;
    if (!r->model.from) return NULL;
    return tok_dir_has(r->model.from) ? r->model.from : NULL;
}

/* ingest: the recipe's ingest section as ingest_opts; any unreadable path
** fails the stage (a recipe names its inputs, they must all be there). */
static int run_ingest(store *st, const rcp_recipe *r, stage_ctx *ctx, char *err) {
    ingest_opts o;
    ingest_opts_default(&o);
    o.max_chars = r->ingest.max_chars > 0 ? r->ingest.max_chars : -1;
    o.strip_gutenberg = r->ingest.strip_gutenberg;
    o.normalize_newlines = r->ingest.normalize_newlines;
    o.replace_invalid = !strcmp(r->ingest.on_invalid_utf8, "replace");
    ingest_result res;
    if (stage_ingest(st, &o, r->ingest.paths.v, (int)r->ingest.paths.n, &res, err)) return -1;
    int rc = 0;
    if (res.n_errors) rc = err_set(err, "%s: %s", res.errors[0].source, res.errors[0].reason);
    for (int i = 0; i < res.n_skips; i++)
        printf("  skipped %s: %s\n", res.skips[i].source, res.skips[i].reason);
    printf("  added %d, duplicates %d, skipped %d\n", res.added, res.duplicates, res.n_skips);
    if (!rc) {
        json_t *ids = json_array();
        for (int i = 0; i < res.n_doc_ids && ids; i++)
            jw_push(&ids, json_integer(res.doc_ids[i]), "doc_ids", err);
        rc =
            set_result(ctx,
                       jw_object(err, "added", json_integer(res.added), "duplicates",
                                 json_integer(res.duplicates), "skipped", json_integer(res.n_skips),
                                 "content_hash", json_string(res.content_hash), "doc_ids", ids),
                       err);
    }
    ingest_result_free(&res);
    return rc;
}

/* tokenize: every document without ids under the recipe's tokenizer. */
static int run_tokenize(store *st, const rcp_recipe *r, stage_ctx *ctx, char *err) {
    int n_done = 0;
    int64_t tokenizer_id = 0;
    if (stage_tokenize(st, tok_dir(r), &n_done, &tokenizer_id, err)) return -1;
    printf("  tokenized %d document%s\n", n_done, n_done == 1 ? "" : "s");
    return set_result(
        ctx,
        jw_object(err, "tokenizer_id", json_integer(tokenizer_id), "n_done", json_integer(n_done)),
        err);
}

/* group: the corpus into blocks (stage_group_run tokenizes what it needs). */
static int run_group(store *st, const rcp_recipe *r, stage_ctx *ctx, char *err) {
    group_params p;
    group_defaults(&p);
    p.block_size = (int)r->group.block_size;
    p.mode = !strcmp(r->group.mode, "lines") ? GROUP_LINES : GROUP_DOCUMENT;
    p.eval_fraction = r->group.eval_fraction;
    p.seed = (uint64_t)r->seed;
    /* Only the documents this recipe ingested, in its order. */
    json_t *in = ctx->results[RCP_INGEST] ? json_loads(ctx->results[RCP_INGEST], 0, NULL) : NULL;
    json_t *ids = json_object_get(in, "doc_ids");
    int64_t *doc_ids = NULL;
    if (json_is_array(ids)) {
        p.n_doc_ids = json_array_size(ids);
        doc_ids = malloc((p.n_doc_ids + 1) * sizeof *doc_ids);
        for (size_t i = 0; i < p.n_doc_ids; i++)
            doc_ids[i] = json_integer_value(json_array_get(ids, i));
        p.doc_ids = doc_ids;
    }
    json_decref(in);
    int64_t block_set_id = 0;
    int created = 0;
    int rc = stage_group_run(st, tok_dir(r), &p, &block_set_id, &created, err);
    free(doc_ids);
    if (rc) return -1;
    sqlite3_stmt *s;
    long long n_train = 0, n_eval = 0;
    if (store_prepare(st, "SELECT n_train, n_eval FROM block_sets WHERE id = ?", &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, block_set_id);
    if (sqlite3_step(s) == SQLITE_ROW)
        n_train = sqlite3_column_int64(s, 0), n_eval = sqlite3_column_int64(s, 1);
    sqlite3_finalize(s);
    printf("  block set %lld: %lld train, %lld eval blocks of %d tokens%s\n",
           (long long)block_set_id, n_train, n_eval, p.block_size,
           created ? "" : " (already in the store)");
    return set_result(ctx,
                      jw_object(err, "block_set_id", json_integer(block_set_id), "created",
                                json_boolean(created), "n_train", json_integer(n_train), "n_eval",
                                json_integer(n_eval)),
                      err);
}

const run_stage_fn run_stages[RCP_N_STAGES] = {
    [RCP_INGEST] = run_ingest, [RCP_TOKENIZE] = run_tokenize, [RCP_GROUP] = run_group,
    [RCP_TRAIN] = run_train,   [RCP_GENERATE] = run_generate,
};

/* ---- identities ---- */

static int hash_tree(hash_state *h, const char *path, const char *rel, char *err) {
    struct stat sb;
    if (stat(path, &sb)) return err_set(err, "%s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        struct dirent **names;
        int n = scandir(path, &names, NULL, alphasort);
        if (n < 0) return err_set(err, "%s: %s", path, strerror(errno));
        int rc = 0;
        for (int i = 0; i < n; i++) {
            const char *nm = names[i]->d_name;
            if (!rc && strcmp(nm, ".") && strcmp(nm, "..")) {
                size_t lp = strlen(path) + strlen(nm) + 2, lr = strlen(rel) + strlen(nm) + 2;
                char *sub = malloc(lp), *subrel = malloc(lr);
                snprintf(sub, lp, "%s/%s", path, nm);
                snprintf(subrel, lr, "%s/%s", rel, nm);
                rc = hash_tree(h, sub, subrel, err);
                free(sub);
                free(subrel);
            }
            free(names[i]);
        }
        free(names);
        return rc;
    }
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, "%s: %s", path, strerror(errno));
    hash_update(h, rel, strlen(rel) + 1);
    static char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)))
        hash_update(h, buf, got);
    int bad = ferror(f);
    fclose(f);
    hash_update(h, "", 1);
    return bad ? err_set(err, "%s: read error", path) : 0;
}

int run_inputs_hash(char *const *paths, size_t n, char out[HASH_HEX_LEN], char *err) {
    hash_state *h = hash_begin();
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char idx[32];
        snprintf(idx, sizeof idx, "#%zu", i);
        rc = hash_tree(h, paths[i], idx, err);
    }
    hash_end(h, out);
    return rc;
}

/* The external inputs of a stage (see run.h). */
static int stage_inputs(const rcp_recipe *r, int stage, char out[HASH_HEX_LEN], char *err) {
    char *one[1] = {NULL};
    char *const *paths = one;
    size_t n = 0;
    if (stage == RCP_INGEST) {
        paths = r->ingest.paths.v;
        n = r->ingest.paths.n;
    } else if (stage == RCP_TOKENIZE) {
        one[0] = (char *)tok_dir(r);
        n = one[0] != NULL;
    } else if ((stage == RCP_TRAIN || stage == RCP_GENERATE) && r->model.from) {
        one[0] = r->model.from, n = 1;
    }
    return run_inputs_hash(paths, n, out, err);
}

/* identity = hash(name, params hash, previous identity, inputs); prev is
** updated to it. */
static int stage_identity(const rcp_recipe *r, int i, char prev[HASH_HEX_LEN],
                          char identity[HASH_HEX_LEN], char *err) {
    char inputs[HASH_HEX_LEN];
    if (stage_inputs(r, i, inputs, err)) return err_prefix(err, "%s", rcp_stage_names[i]);
    hash_state *h = hash_begin();
    const char *parts[] = {rcp_stage_names[i], r->params_hash[i], prev, inputs};
    for (size_t k = 0; k < 4; k++)
        hash_update(h, parts[k], strlen(parts[k]) + 1);
    hash_end(h, identity);
    memcpy(prev, identity, HASH_HEX_LEN);
    return 0;
}

/* The current UTC time as ISO 8601 with milliseconds, like SQLite's
** strftime('%Y-%m-%dT%H:%M:%fZ'). */
static void now_iso(char out[32]) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char s[24];
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03ldZ", s, ts.tv_nsec / 1000000);
}

/* The result of a done run of (recipe, stage, identity), or NULL. */
static char *find_done(store *st, const char *name, int stage, const char *identity, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT result_json FROM stage_runs WHERE recipe_name = ? AND stage = ? "
                      "AND identity = ? AND status = 'done' ORDER BY id DESC LIMIT 1",
                      &s, err))
        return NULL;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, rcp_stage_names[stage], -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, identity, -1, SQLITE_STATIC);
    char *res = NULL;
    if (sqlite3_step(s) == SQLITE_ROW) res = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return res;
}

/* Run one SQL statement with bound text/int arguments ('s' / 'i' in types). */
static int exec_bind(store *st, const char *sql, const char *types, char *err, ...) {
    sqlite3_stmt *s;
    if (store_prepare(st, sql, &s, err)) return -1;
    va_list ap;
    va_start(ap, err);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 's')
            sqlite3_bind_text(s, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
    }
    va_end(ap);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_error(st, err, "cannot record the run");
    return 0;
}

/* The recipe run's start (db/runs.h runs_start: the recipe's lock, stale
** runs marked interrupted, a new recipe_runs row) and the review rule
** recorded, in one transaction. */
static int begin_run(store *st, const rcp_recipe *r, int64_t *run_id, char *err) {
    if (store_begin(st, err)) return -1;
    if (runs_start(st, r->name, r->path, r->file_hash, run_id, err) ||
        reviews_set_rule(st, r->name, r->review.min_approvals, err)) {
        store_rollback(st);
        return -1;
    }
    return store_commit(st, err);
}

/* Record that stage of recipe r finished in run run_id with this identity
** and result: later runs skip it while the identity is unchanged. */
static int record_stage(store *st, int64_t run_id, const rcp_recipe *r, int stage,
                        const char *identity, const char *result, const char *started, char *err) {
    if (store_begin(st, err)) return -1;
    if (exec_bind(st,
                  "INSERT INTO stage_runs (recipe_run_id, recipe_name, stage, identity, "
                  "params_json, result_json, status, started_at) VALUES (?, ?, ?, ?, ?, ?, "
                  "'done', ?)",
                  "issssss", err, run_id, r->name, rcp_stage_names[stage], identity,
                  r->params_json[stage], result, started)) {
        store_rollback(st);
        return -1;
    }
    return store_commit(st, err);
}

int run_recipe(store *st, const rcp_recipe *r, const run_stage_fn *table, const run_opts *o,
               char *err) {
    int64_t run_id;
    if (begin_run(st, r, &run_id, err)) return -1;
    char prev[HASH_HEX_LEN] = "";
    char *results[RCP_N_STAGES] = {0};
    int rerun = 0, rc = 0;
    for (int i = 0; i < RCP_N_STAGES && !rc; i++) {
        if (!r->enabled[i]) continue;
        if (o->until >= 0 && i > o->until) break;
        const char *name = rcp_stage_names[i];
        char identity[HASH_HEX_LEN];
        if ((rc = stage_identity(r, i, prev, identity, err))) break;
        if (i == o->force || i == o->from) rerun = 1;
        char *done = find_done(st, r->name, i, identity, err);
        if (o->from >= 0 && i < o->from) {
            if (!done) {
                rc = err_set(err,
                             "--from %s: %s has not run with these parameters yet; run "
                             "without --from",
                             rcp_stage_names[o->from], name);
                break;
            }
            printf("%s: before --from, using the recorded run\n", name);
            results[i] = done;
            continue;
        }
        if (done && !rerun) {
            printf("%s: unchanged, skipping\n", name);
            results[i] = done;
            continue;
        }
        free(done);
        rerun = 1; /* everything after a stage that runs runs too */
        if (!table[i]) {
            rc = err_set(err, "%s: not available in this build", name);
            break;
        }
        printf("%s: running\n", name);
        fflush(stdout);
        char started[32];
        now_iso(started);
        stage_ctx ctx = {run_id, i, identity, {0}, NULL};
        for (int k = 0; k < RCP_N_STAGES; k++)
            ctx.results[k] = results[k];
        if (table[i](st, r, &ctx, err)) {
            free(ctx.result_json);
            rc = err_prefix(err, "%s", name);
            break;
        }
        results[i] = ctx.result_json ? ctx.result_json : strdup("{}");
        if (record_stage(st, run_id, r, i, identity, results[i], started, err)) {
            rc = err_prefix(err, "%s: recording the stage", name);
            break;
        }
        printf("%s: done\n", name);
    }
    char e2[ERR_LEN];
    if (runs_finish(st, run_id, rc ? "failed" : "done", rc ? err : NULL, e2) && !rc) {
        memcpy(err, e2, ERR_LEN);
        rc = -1;
    }
    for (int i = 0; i < RCP_N_STAGES; i++)
        free(results[i]);
    return rc;
}

/* ---- commands ---- */

/* The store a recipe (r, or none) runs against: --db / $QUILL_DB when
** given, else the recipe's store key, else quill.db; opened as mode says
** (cli_store()). */
static store *recipe_store(cli *c, const rcp_recipe *r, store_mode mode) {
    if (r && r->store && !getenv("QUILL_DB") && !strcmp(c->db_path, "quill.db"))
        c->db_path = r->store;
    return cli_store(c, mode);
}

/* Parse the stage name v of option opt into *out; prints the error and
** returns non-zero when it is not a stage. */
static int stage_arg(const char *opt, const char *v, int *out) {
    *out = rcp_stage_index(v);
    if (*out < 0)
        return cli_error("run: %s '%s': expected ingest, tokenize, group, train or generate", opt,
                         v);
    return 0;
}

/* `quill run RECIPE [--from S] [--until S] [--force S]`. */
int cmd_run(cli *c, int argc, char **argv) {
    static const char *usage =
        "usage: quill run RECIPE [--from STAGE] [--until STAGE] [--force STAGE]\n"
        "Runs the recipe's stages (ingest, tokenize, group, train, generate) in order;\n"
        "a stage whose parameters and inputs are unchanged since it last completed is\n"
        "skipped.  --force STAGE reruns STAGE and what follows; --from STAGE starts\n"
        "there (earlier stages must be done); --until STAGE stops after it.\n";
    static const struct option opts[] = {{"from", required_argument, 0, 'f'},
                                         {"until", required_argument, 0, 'u'},
                                         {"force", required_argument, 0, 'F'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    run_opts o = {-1, -1, -1};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (opt == 'h') return fputs(usage, stdout), 0;
        if (opt == 'f' && stage_arg("--from", optarg, &o.from)) return 2;
        if (opt == 'u' && stage_arg("--until", optarg, &o.until)) return 2;
        if (opt == 'F' && stage_arg("--force", optarg, &o.force)) return 2;
        if (opt == '?' || opt == ':') return cli_bad_option("run", opt, argv);
    }
    if (optind + 1 != argc)
        return cli_usage_error("run", optind == argc ? "no RECIPE given" : "one RECIPE at a time");
    char err[ERR_LEN];
    rcp_recipe *r;
    if (rcp_load(argv[optind], &r, err)) return cli_error("%s", err);
    int rc = 1;
    store *st = recipe_store(c, r, STORE_CREATE);
    if (st) {
        if (run_recipe(st, r, run_stages, &o, err))
            rc = cli_error("run %s: %s", r->name, err);
        else
            rc = 0;
        if (!rc && r->enabled[RCP_GENERATE])
            printf("outputs wait for review: quill review (or quill review list)\n");
    }
    rcp_free(r);
    return rc;
}

/* The integer the query sql returns (with ?1 = arg when not NULL), or -1. */
static long long count(store *st, const char *sql, const char *arg) {
    char err[ERR_LEN];
    sqlite3_stmt *s;
    if (store_prepare(st, sql, &s, err)) return -1;
    if (arg) sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
    long long v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

/* Print each stage of r: not in the recipe, done, changed or pending,
** with its last run. */
static int status_recipe(store *st, const rcp_recipe *r) {
    char err[ERR_LEN], prev[HASH_HEX_LEN] = "";
    printf("recipe %s (%s)\n", r->name, r->path);
    for (int i = 0; i < RCP_N_STAGES; i++) {
        const char *name = rcp_stage_names[i];
        if (!r->enabled[i]) {
            printf("  %-9s not in this recipe\n", name);
            continue;
        }
        char identity[HASH_HEX_LEN];
        const char *state;
        if (stage_identity(r, i, prev, identity, err)) {
            printf("  %-9s %s\n", name, err);
            continue;
        }
        char *done = find_done(st, r->name, i, identity, err);
        sqlite3_stmt *s;
        char last[160] = "never run";
        if (!store_prepare(st,
                           "SELECT finished_at, result_json FROM stage_runs WHERE recipe_name = ? "
                           "AND stage = ? ORDER BY id DESC LIMIT 1",
                           &s, err)) {
            sqlite3_bind_text(s, 1, r->name, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
            if (sqlite3_step(s) == SQLITE_ROW)
                snprintf(last, sizeof last, "last run %s %s", sqlite3_column_text(s, 0),
                         sqlite3_column_text(s, 1));
            sqlite3_finalize(s);
        }
        state = done ? "done" : strcmp(last, "never run") ? "changed" : "pending";
        printf("  %-9s %-8s %s\n", name, state, last);
        free(done);
    }
    return 0;
}

/* Print the newest run of each recipe (of name only, when not NULL), with
** why it failed or was interrupted. */
static void print_runs(store *st, const char *name) {
    char err[ERR_LEN];
    runs_info *v;
    size_t n;
    if (runs_latest(st, name, &v, &n, err)) {
        fprintf(stderr, "quill: status: %s\n", err);
        return;
    }
    for (size_t i = 0; i < n; i++)
        printf("recipe %s: run %lld %s (started %s)%s%s\n", v[i].recipe_name, (long long)v[i].id,
               v[i].status, v[i].started_at, v[i].error ? ": " : "", v[i].error ? v[i].error : "");
    runs_info_free(v, n);
}

/* `quill status [RECIPE]`: the stages' states (of RECIPE, else each
** recipe's last run) and the store's counts. */
int cmd_status(cli *c, int argc, char **argv) {
    static const char *usage = "usage: quill status [RECIPE]\n"
                               "Each stage's state and last run, and what the store holds.\n";
    if (argc == 2 && !strcmp(argv[1], "--help")) return fputs(usage, stdout), 0;
    if (argc == 2 && argv[1][0] == '-')
        return cli_usage_error("status", "unknown option '%s'", argv[1]);
    if (argc > 2) return cli_usage_error("status", "one RECIPE at a time");
    char err[ERR_LEN];
    rcp_recipe *r = NULL;
    if (argc == 2 && rcp_load(argv[1], &r, err)) return cli_error("%s", err);
    store *st = recipe_store(c, r, STORE_READ);
    if (!st) {
        rcp_free(r);
        return 1;
    }
    if (r) status_recipe(st, r);
    print_runs(st, r ? r->name : NULL);
    const char *name = r ? r->name : NULL;
    printf("documents %lld, tokens %lld, blocks %lld, steps %lld\n",
           count(st, "SELECT COUNT(*) FROM documents", NULL),
           count(st, "SELECT COALESCE(SUM(n_tokens), 0) FROM doc_tokens", NULL),
           count(st, "SELECT COALESCE(SUM(n_train + n_eval), 0) FROM block_sets", NULL),
           count(st, "SELECT COALESCE(MAX(step), 0) FROM train_logs", NULL));
    printf("outputs pending %lld, approved %lld, rejected %lld\n",
           count(st,
                 "SELECT COUNT(*) FROM outputs WHERE status = 'pending' AND (?1 IS NULL OR "
                 "recipe_name = ?1)",
                 name),
           count(st,
                 "SELECT COUNT(*) FROM outputs WHERE status = 'approved' AND (?1 IS NULL OR "
                 "recipe_name = ?1)",
                 name),
           count(st,
                 "SELECT COUNT(*) FROM outputs WHERE status = 'rejected' AND (?1 IS NULL OR "
                 "recipe_name = ?1)",
                 name));
    rcp_free(r);
    return 0;
}

/*
** The recipe runner (see run.h): identities, what to skip, the stages in
** order with their typed results, and the records of it all.
*/
#include "run.h"

#include "err.h"
#include "hash.h"
#include "reviews.h"
#include "runs.h"
#include "stageruns.h"
#include "tok.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

const char *run_tok_dir(const rcp_recipe *r) {
    if (r->tokenize.model) return r->tokenize.model;
    if (!r->model.from) return NULL;
    return tok_dir_has(r->model.from) ? r->model.from : NULL;
}

store *run_store(cli *c, const rcp_recipe *r, store_mode mode) {
    if (r && r->store && !getenv("QUILL_DB") && !strcmp(c->db_path, "quill.db"))
        c->db_path = r->store;
    return cli_store(c, mode);
}

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
    char **some = malloc((r->n_generate + 1) * sizeof *some);
    char *const *paths = some;
    size_t n = 0;
    if (!some) return err_set(err, "out of memory");
    if (stage == RCP_INGEST) {
        paths = r->ingest.paths.v;
        n = r->ingest.paths.n;
    } else if (stage == RCP_TOKENIZE) {
        some[0] = (char *)run_tok_dir(r);
        n = some[0] != NULL;
    } else if ((stage == RCP_TRAIN || stage == RCP_GENERATE) && r->model.from) {
        some[n++] = r->model.from;
    }
    for (size_t i = 0; stage == RCP_GENERATE && i < r->n_generate; i++)
        if (r->generate[i].prompts_file) some[n++] = r->generate[i].prompts_file;
    int rc = run_inputs_hash(paths, n, out, err);
    free(some);
    return rc;
}

int run_stage_identity(const rcp_recipe *r, int i, char prev[HASH_HEX_LEN],
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
                        const char *identity, const run_result *res, const char *started,
                        char *err) {
    char *json;
    if (run_result_json(res, &json, err)) return -1;
    stageruns_done d = {run_id, r->name, rcp_stage_names[stage], identity, r->params_json[stage],
                        json,   started};
    int bad = store_begin(st, err) || stageruns_record(st, &d, err) || store_commit(st, err);
    if (bad) store_rollback(st);
    free(json);
    return bad ? -1 : 0;
}

/* The recorded result of a done run of stage i with this identity into
** *res, *done saying whether there is one. */
static int find_done(store *st, const rcp_recipe *r, int i, const char *identity, int *done,
                     run_result *res, char *err) {
    char *json;
    *done = 0;
    if (stageruns_find_done(st, r->name, rcp_stage_names[i], identity, &json, err)) return -1;
    if (!json) return 0;
    int bad = run_result_parse(i, json, res, err);
    free(json);
    *done = !bad;
    return bad ? -1 : 0;
}

/* Where the loop over the stages stands. */
typedef struct runner {
    store *st;
    const rcp_recipe *r;
    const run_stage_fn *table;
    const run_opts *o;
    int64_t run_id;
    char prev[HASH_HEX_LEN];
    int rerun;                    /* every later stage runs */
    run_result res[RCP_N_STAGES]; /* the results so far */
    int have[RCP_N_STAGES];       /* res[i] is set */
} runner;

/* Run stage i now: its adapter, then its record. */
static int run_one(runner *x, int i, const char *identity, char *err) {
    const char *name = rcp_stage_names[i];
    if (!x->table[i]) return err_set(err, "%s: not available in this build", name);
    printf("%s: running\n", name);
    fflush(stdout);
    char started[32];
    now_iso(started);
    stage_ctx ctx = {.recipe_run_id = x->run_id, .stage = i, .identity = identity};
    for (int k = 0; k < RCP_N_STAGES; k++)
        ctx.in[k] = x->have[k] ? &x->res[k] : NULL;
    run_result_init(&ctx.out, i);
    if (x->table[i](x->st, x->r, &ctx, err)) {
        run_result_free(&ctx.out);
        return err_prefix(err, "%s", name);
    }
    assert(ctx.out.stage == i);
    x->res[i] = ctx.out;
    x->have[i] = 1;
    if (record_stage(x->st, x->run_id, x->r, i, identity, &x->res[i], started, err))
        return err_prefix(err, "%s: recording the stage", name);
    printf("%s: done\n", name);
    return 0;
}

/* Stage i: skipped when done (or before --from), else run. */
static int step_stage(runner *x, int i, char *err) {
    const char *name = rcp_stage_names[i];
    char identity[HASH_HEX_LEN];
    if (run_stage_identity(x->r, i, x->prev, identity, err)) return -1;
    if (i == x->o->force || i == x->o->from) x->rerun = 1;
    int done;
    run_result res;
    if (find_done(x->st, x->r, i, identity, &done, &res, err)) return err_prefix(err, "%s", name);
    if (x->o->from >= 0 && i < x->o->from) {
        if (!done)
            return err_set(err,
                           "--from %s: %s has not run with these parameters yet; run without "
                           "--from",
                           rcp_stage_names[x->o->from], name);
        printf("%s: before --from, using the recorded run\n", name);
    } else if (done && !x->rerun) {
        printf("%s: unchanged, skipping\n", name);
    } else {
        if (done) run_result_free(&res);
        x->rerun = 1; /* everything after a stage that runs runs too */
        return run_one(x, i, identity, err);
    }
    x->res[i] = res;
    x->have[i] = 1;
    return 0;
}

int run_recipe(store *st, const rcp_recipe *r, const run_stage_fn *table, const run_opts *o,
               char *err) {
    runner x = {.st = st, .r = r, .table = table, .o = o};
    if (begin_run(st, r, &x.run_id, err)) return -1;
    int rc = 0;
    for (int i = 0; i < RCP_N_STAGES && !rc; i++) {
        if (!r->enabled[i]) continue;
        if (o->until >= 0 && i > o->until) break;
        rc = step_stage(&x, i, err);
    }
    char e2[ERR_LEN];
    if (runs_finish(st, x.run_id, rc ? "failed" : "done", rc ? err : NULL, e2) && !rc) {
        memcpy(err, e2, ERR_LEN);
        rc = -1;
    }
    for (int i = 0; i < RCP_N_STAGES; i++)
        if (x.have[i]) run_result_free(&x.res[i]);
    return rc;
}

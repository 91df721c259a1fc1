/*
** `quill status [RECIPE]`: each stage's state and last run, the recipes'
** runs, what the store holds (see run.h) and its size by kind (space.h).
** Read-only.
*/
#include "cli.h"
#include "err.h"
#include "hash.h"
#include "recipe.h"
#include "run.h"
#include "runs.h"
#include "space.h"
#include "stageruns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One stage of r: not in the recipe, done, changed or pending, with its
** last run; prev carries the identity chain (run_stage_identity). */
static void status_stage(store *st, const rcp_recipe *r, int i, char prev[HASH_HEX_LEN]) {
    char err[ERR_LEN];
    const char *name = rcp_stage_names[i];
    if (!r->enabled[i]) {
        printf("  %-9s not in this recipe\n", name);
        return;
    }
    char identity[HASH_HEX_LEN];
    if (run_stage_identity(r, i, prev, identity, err)) {
        printf("  %-9s %s\n", name, err);
        return;
    }
    char *done, *finished, *result;
    if (stageruns_find_done(st, r->name, name, identity, &done, err) ||
        stageruns_last(st, r->name, name, &finished, &result, err)) {
        printf("  %-9s %s\n", name, err);
        return;
    }
    char last[160] = "never run";
    if (finished) snprintf(last, sizeof last, "last run %s %s", finished, result);
    const char *state = done ? "done" : finished ? "changed" : "pending";
    printf("  %-9s %-8s %s\n", name, state, last);
    free(done);
    free(finished);
    free(result);
}

/* Print each stage of r. */
static void status_recipe(store *st, const rcp_recipe *r) {
    char prev[HASH_HEX_LEN] = "";
    printf("recipe %s (%s)\n", r->name, r->path);
    for (int i = 0; i < RCP_N_STAGES; i++)
        status_stage(st, r, i, prev);
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

/* The store's size by kind (space.h). */
static void print_space(store *st) {
    char err[ERR_LEN];
    space_usage u;
    if (space_usage_get(st, &u, err)) {
        fprintf(stderr, "quill: status: %s\n", err);
        return;
    }
    const int64_t v[] = {u.total, u.documents, u.tokens, u.blocks, u.weights,
                         u.state, u.outputs,   u.other,  u.free};
    char h[9][16];
    for (int i = 0; i < 9; i++)
        space_human(v[i], h[i]);
    printf("store %s: documents %s, tokens %s, blocks %s, weights %s, optimizer state %s, "
           "outputs %s, other %s%s, free %s%s\n",
           h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
           u.tables_known ? "" : " (with the tables: no dbstat in this SQLite)", h[8],
           u.free ? " (quill gc returns it)" : "");
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
    store *st = run_store(c, r, STORE_READ);
    if (!st) {
        rcp_free(r);
        return 1;
    }
    if (r) status_recipe(st, r);
    print_runs(st, r ? r->name : NULL);
    runs_counts n;
    runs_store_counts(st, r ? r->name : NULL, &n);
    printf("documents %lld, tokens %lld, blocks %lld, steps %lld\n", n.documents, n.tokens,
           n.blocks, n.steps);
    printf("outputs pending %lld, approved %lld, rejected %lld\n", n.pending, n.approved,
           n.rejected);
    print_space(st);
    rcp_free(r);
    return 0;
}

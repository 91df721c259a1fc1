/*
** The recipe runner with stand-in stages: what runs, what is skipped, what
** a change or --force/--from/--until reruns, results passed along, a
** failing stage and the resumed run after it, two recipes in one store.
*/
#include "run.h"

#include "err.h"
#include "test.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char ran[256]; /* stage initials in the order they ran */
static int fail_stage = -1;
static char seen_train[256]; /* what generate saw of train's result */

static int fake(store *st, const rcp_recipe *r, stage_ctx *ctx, char *err) {
    if (ctx->stage == fail_stage) return err_set(err, "boom");
    size_t n = strlen(ran);
    ran[n] = rcp_stage_names[ctx->stage][0];
    ran[n + 1] = 0;
    const run_result *train = ctx->in[RCP_TRAIN];
    if (ctx->stage == RCP_GENERATE && train)
        snprintf(seen_train, sizeof seen_train, "train run %lld checkpoint %lld",
                 (long long)train->train.run_id, (long long)train->train.checkpoint_id);
    else if (ctx->stage == RCP_GENERATE)
        snprintf(seen_train, sizeof seen_train, "(none)");
    /* train's result names the recipe run that made it */
    if (ctx->stage == RCP_TRAIN)
        ctx->out.train.run_id = ctx->recipe_run_id, ctx->out.train.checkpoint_id = 7;
    return 0;
}

static const run_stage_fn table[RCP_N_STAGES] = {fake, fake, fake, fake, fake};
static const run_opts none = {-1, -1, -1};

static const char *tmpl = "name: %s\nmodel: {from: %s}\ningest: {paths: [corpus.txt]}\n"
                          "train: {epochs: %d}\ngenerate:\n  - {prompts: [x], top_k: %d}\n"
                          "review: {min_approvals: 2}\n";

/* Parse the recipe written from tmpl and run it; returns run_recipe's rc. */
static int run(store *st, const char *name, int epochs, int top_k, const run_opts *o) {
    char y[512], err[ERR_LEN] = "";
    snprintf(y, sizeof y, tmpl, name, "modeldir", epochs, top_k);
    rcp_recipe *r;
    if (rcp_parse(y, strlen(y), "tmp_run/r.yaml", &r, err)) {
        printf("  parse: %s\n", err);
        return -2;
    }
    ran[0] = 0;
    int rc = run_recipe(st, r, table, o, err);
    if (rc) printf("  (run: %s)\n", err);
    rcp_free(r);
    return rc;
}

static long long q(store *st, const char *sql) {
    char err[ERR_LEN];
    sqlite3_stmt *s;
    if (store_prepare(st, sql, &s, err)) return -1;
    long long v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_runner(void) {
    system("rm -rf tmp_run && mkdir -p tmp_run/modeldir");
    write_file("tmp_run/corpus.txt", "It was a dark and stormy night.\n");
    write_file("tmp_run/modeldir/config.json", "{}");
    char err[ERR_LEN];
    store *st;
    CHECKF(!store_open("tmp_run/q.db", &st, err), "%s", err);
    if (!st) return;
    CHECK_EQ_INT(run(st, "a", 1, 50, &none), 0);
    CHECK_STR(ran, "itgtg");
    CHECK_EQ_INT(q(st, "SELECT COUNT(*) FROM stage_runs WHERE status = 'done'"), 5);
    CHECK_EQ_INT(q(st, "SELECT min_approvals FROM review_rules WHERE recipe_name = 'a'"), 2);
    CHECK_STR(seen_train, "train run 1 checkpoint 7");
    /* again: everything skipped, and generate is not run so sees nothing */
    CHECK_EQ_INT(run(st, "a", 1, 50, &none), 0);
    CHECK_STR(ran, "");
    /* a change to generate reruns only generate; the skipped train's
    ** recorded result (from run 1) is passed along */
    seen_train[0] = 0;
    CHECK_EQ_INT(run(st, "a", 1, 40, &none), 0);
    CHECK_STR(ran, "g");
    CHECK_STR(seen_train, "train run 1 checkpoint 7");
    /* a change to train reruns train and generate */
    CHECK_EQ_INT(run(st, "a", 2, 40, &none), 0);
    CHECK_STR(ran, "tg");
    /* changed input files rerun from ingest */
    write_file("tmp_run/corpus.txt", "It was a bright cold day in April.\n");
    CHECK_EQ_INT(run(st, "a", 2, 40, &none), 0);
    CHECK_STR(ran, "itgtg");
    /* the model directory is an input of train and generate */
    write_file("tmp_run/modeldir/config.json", "{\"n_layer\": 2}");
    CHECK_EQ_INT(run(st, "a", 2, 40, &none), 0);
    CHECK_STR(ran, "tg");
    /* --force group reruns group and what follows */
    run_opts o = {-1, -1, RCP_GROUP};
    CHECK_EQ_INT(run(st, "a", 2, 40, &o), 0);
    CHECK_STR(ran, "gtg");
    /* --until train stops there; --from generate reruns generate only */
    run_opts until = {-1, RCP_TRAIN, RCP_INGEST};
    CHECK_EQ_INT(run(st, "a", 2, 40, &until), 0);
    CHECK_STR(ran, "itgt");
    run_opts from = {RCP_GENERATE, -1, -1};
    CHECK_EQ_INT(run(st, "a", 2, 40, &from), 0);
    CHECK_STR(ran, "g");
    /* --from with an earlier stage not done for these parameters fails */
    CHECK_EQ_INT(run(st, "a", 3, 40, &from), -1);
    CHECK_STR(ran, "");
    /* a failing stage: the run fails, nothing recorded for it; the next
    ** run resumes at it */
    fail_stage = RCP_TRAIN;
    CHECK_EQ_INT(run(st, "a", 5, 40, &none), -1);
    CHECK_STR(ran, "");
    CHECK_EQ_INT(q(st, "SELECT status = 'failed' FROM recipe_runs ORDER BY id DESC LIMIT 1"), 1);
    fail_stage = -1;
    CHECK_EQ_INT(run(st, "a", 5, 40, &none), 0);
    CHECK_STR(ran, "tg");
    /* a run left 'running' by a killed process becomes 'interrupted' */
    CHECK(!store_exec(st, "UPDATE recipe_runs SET status = 'running' WHERE id = 1", err));
    CHECK_EQ_INT(run(st, "a", 5, 40, &none), 0);
    CHECK_EQ_INT(q(st, "SELECT status = 'interrupted' FROM recipe_runs WHERE id = 1"), 1);
    /* a second recipe in the same store runs its own stages */
    CHECK_EQ_INT(run(st, "b", 5, 40, &none), 0);
    CHECK_STR(ran, "itgtg");
    CHECK_EQ_INT(run(st, "a", 5, 40, &none), 0);
    CHECK_STR(ran, "");
    /* missing inputs fail with the path */
    unlink("tmp_run/corpus.txt");
    char y[512];
    snprintf(y, sizeof y, tmpl, "a", "modeldir", 5, 40);
    rcp_recipe *r;
    CHECK(!rcp_parse(y, strlen(y), "tmp_run/r.yaml", &r, err));
    CHECK_EQ_INT(run_recipe(st, r, table, &none, err), -1);
    CHECKF(strstr(err, "ingest: tmp_run/corpus.txt: No such file") != NULL, "%s", err);
    rcp_free(r);
    store_close(st);
    system("rm -rf tmp_run");
}

/* Run recipe name in a fresh store tmp_run/NAME.db (created by the
** caller's first call) with generate's top_k. */
static store *fresh(const char *path) {
    char err[ERR_LEN];
    store *st = NULL;
    system("rm -rf tmp_run && mkdir -p tmp_run/modeldir");
    write_file("tmp_run/corpus.txt", "It was a dark and stormy night.\n");
    write_file("tmp_run/modeldir/config.json", "{}");
    CHECKF(!store_open(path, &st, err), "%s", err);
    return st;
}

/* A skipped stage's recorded result is read back typed: a key missing
** from it fails the run naming the stage and the key (not a silent 0). */
static void test_recorded_result_typed(void) {
    char err[ERR_LEN];
    store *st = fresh("tmp_run/t.db");
    if (!st) return;
    CHECK_EQ_INT(run(st, "a", 1, 50, &none), 0);
    CHECK(!store_exec(st,
                      "UPDATE stage_runs SET result_json = '{\"run_id\":1}' WHERE stage = "
                      "'train'",
                      err));
    /* generate changes, train is skipped: its result comes from the store */
    CHECK_EQ_INT(run(st, "a", 1, 40, &none), -1);
    CHECK_STR(ran, "");
    CHECK(q(st, "SELECT instr(error, 'train''s recorded result: \"checkpoint_id\" is missing') > 0 "
                "FROM recipe_runs ORDER BY id DESC LIMIT 1") == 1);
    store_close(st);
    system("rm -rf tmp_run");
}

/* A store whose stage_runs cannot be read fails the run with the store's
** error, instead of taking "cannot read" for "not done" and rerunning. */
static void test_find_done_sql_error(void) {
    char err[ERR_LEN];
    store *st = fresh("tmp_run/e.db");
    if (!st) return;
    CHECK_EQ_INT(run(st, "a", 1, 50, &none), 0);
    CHECK_STR(ran, "itgtg");
    /* reading a recorded row now fails (integer overflow in abs()) */
    CHECK(!store_exec(st,
                      "ALTER TABLE stage_runs RENAME TO stage_runs_real;"
                      "CREATE VIEW stage_runs AS SELECT id, recipe_run_id, recipe_name, stage, "
                      "identity, params_json, CASE WHEN abs(-9223372036854775807 - 1) THEN "
                      "result_json END AS result_json, status, started_at, finished_at FROM "
                      "stage_runs_real;",
                      err));
    CHECK_EQ_INT(run(st, "a", 1, 50, &none), -1);
    CHECK_STR(ran, "");
    CHECK(q(st, "SELECT instr(error, 'integer overflow') > 0 FROM recipe_runs ORDER BY id DESC "
                "LIMIT 1") == 1);
    store_close(st);
    system("rm -rf tmp_run");
}

/* Each stage's result as JSON and back; the JSON is what earlier quill
** recorded (the same keys), so their stores' results still read. */
static void test_result_json(void) {
    char err[ERR_LEN], *json;
    run_result r, back;
    run_result_init(&r, RCP_TRAIN);
    r.train = (run_train_out){3, 2, 40, 1.5, NAN};
    CHECK(run_result_json(&r, &json, err) == 0);
    CHECK_STR(json, "{\"checkpoint_id\":3,\"final_loss\":1.5,\"run_id\":2,\"steps\":40}");
    CHECK(run_result_parse(RCP_TRAIN, json, &back, err) == 0);
    CHECK(back.train.checkpoint_id == 3 && back.train.steps == 40 && isnan(back.train.eval_loss));
    free(json);
    r.train.eval_loss = 2.25;
    CHECK(run_result_json(&r, &json, err) == 0);
    CHECK(run_result_parse(RCP_TRAIN, json, &back, err) == 0 && back.train.eval_loss == 2.25);
    free(json);
    /* ingest: doc ids recorded or not (a run before they were) */
    CHECK(run_result_parse(RCP_INGEST,
                           "{\"added\":2,\"content_hash\":\"ab\",\"duplicates\":0,"
                           "\"skipped\":1}",
                           &back, err) == 0);
    CHECK(back.ingest.added == 2 && !back.ingest.has_doc_ids &&
          !strcmp(back.ingest.content_hash, "ab"));
    CHECK(run_result_parse(RCP_INGEST,
                           "{\"added\":2,\"content_hash\":\"ab\",\"doc_ids\":[5,4],"
                           "\"duplicates\":0,\"skipped\":1}",
                           &back, err) == 0);
    CHECK(back.ingest.has_doc_ids && back.ingest.n_doc_ids == 2 && back.ingest.doc_ids[1] == 4);
    CHECK(run_result_json(&back, &json, err) == 0);
    CHECK_STR(json, "{\"added\":2,\"content_hash\":\"ab\",\"doc_ids\":[5,4],\"duplicates\":0,"
                    "\"skipped\":1}");
    free(json);
    run_result_free(&back);
    /* a wrong type or a missing key is an error naming it */
    CHECK(run_result_parse(RCP_GROUP, "{\"block_set_id\":\"1\"}", &back, err) == -1);
    CHECKF(strstr(err, "group's recorded result: \"block_set_id\"") != NULL, "%s", err);
    CHECK(run_result_parse(RCP_GENERATE, "{}", &back, err) == -1);
    CHECKF(strstr(err, "\"n_outputs\" is missing") != NULL, "%s", err);
    CHECK(run_result_parse(RCP_TOKENIZE, "[1]", &back, err) == -1);
}

int main(void) {
    RUN(test_runner);
    RUN(test_recorded_result_typed);
    RUN(test_find_done_sql_error);
    RUN(test_result_json);
    return TEST_SUMMARY();
}

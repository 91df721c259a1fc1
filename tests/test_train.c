/*
** The train stage: Trainer's schedules and step counts, logs and
** checkpoints in the store, exact resume after SIGKILL (forked children
** killed at random moments) and after a stop request, pruning, and parity
** with the PyTorch reference (tests/reference/train_ref.py).
*/
#include "ckpt.h"
#include "err.h"
#include "hash.h"
#include "rng.h"
#include "slurp.h"
#include "test.h"
#include "train.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void db_path(char *out, size_t n, const char *tag) {
    snprintf(out, n, "/tmp/quill-test-train-%d-%s.db", (int)getpid(), tag);
}

static void db_remove(const char *path) {
    char p[300];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static store *open_db(const char *path) {
    char err[ERR_LEN];
    store *st;
    if (store_open(path, &st, err)) {
        printf("store_open: %s\n", err);
        exit(1);
    }
    return st;
}

/* A block set of n_train + n_eval blocks of T ids (as the group stage
** stores them: u32 blobs). */
static int64_t put_blocks(store *st, const int32_t *ids, int64_t n_train, int64_t n_eval, int T) {
    char err[ERR_LEN], ident[HASH_HEX_LEN];
    int64_t tb, eb = 0;
    size_t nt = (size_t)n_train * T * 4, ne = (size_t)n_eval * T * 4;
    hash_hex(ids, nt + ne, ident);
    int ok = store_begin(st, err) == 0 &&
             store_exec(st,
                        "INSERT OR IGNORE INTO tokenizers(hash, source, vocab_size) VALUES "
                        "('test', 'test', 97)",
                        err) == 0 &&
             store_put_blob(st, ids, nt, &tb, err) == 0 &&
             (!n_eval || store_put_blob(st, ids + n_train * T, ne, &eb, err) == 0);
    sqlite3_stmt *s;
    ok = ok && store_prepare(st,
                             "INSERT INTO block_sets(identity, tokenizer_id, block_size, mode, "
                             "n_train, n_eval, params_json, train_blob, eval_blob) VALUES (?, "
                             "(SELECT id FROM tokenizers WHERE hash = 'test'), ?, 'document', ?, "
                             "?, '{}', ?, ?)",
                             &s, err) == 0;
    if (ok) {
        sqlite3_bind_text(s, 1, ident, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 2, T);
        sqlite3_bind_int64(s, 3, n_train);
        sqlite3_bind_int64(s, 4, n_eval);
        sqlite3_bind_int64(s, 5, tb);
        if (eb) sqlite3_bind_int64(s, 6, eb);
        ok = sqlite3_step(s) == SQLITE_DONE;
        sqlite3_finalize(s);
    }
    if (!ok || store_commit(st, err)) {
        printf("put_blocks: %s %s\n", err, sqlite3_errmsg(store_db(st)));
        exit(1);
    }
    return sqlite3_last_insert_rowid(store_db(st));
}

static int64_t count(store *st, const char *sql) {
    char err[ERR_LEN];
    sqlite3_stmt *s;
    if (store_prepare(st, sql, &s, err)) return -1;
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

static int integrity_ok(store *st) {
    sqlite3_stmt *s;
    char err[ERR_LEN];
    if (store_prepare(st, "PRAGMA integrity_check", &s, err)) return 0;
    int ok =
        sqlite3_step(s) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
    return ok;
}

/* The small model and corpus of the stage tests: 2 layers, 32 wide,
** vocabulary 97, 23 train + 5 eval blocks of 16 ids with some structure
** (a noisy counter) so the loss can fall. */
static gpt_config small_cfg(void) {
    gpt_config c;
    gpt_config_default(&c);
    c.n_layer = 2;
    c.n_head = 2;
    c.n_embd = 32;
    c.n_positions = 16;
    c.vocab_size = 97;
    return c;
}

static int64_t small_blocks(store *st) {
    enum { NT = 23, NE = 5, T = 16 };
    static int32_t ids[(NT + NE) * T];
    rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < (NT + NE) * T; i++)
        ids[i] = (int32_t)((i * 3 + (rng_below(&r, 4) == 0 ? rng_below(&r, 97) : 0)) % 97);
    return put_blocks(st, ids, NT, NE, T);
}

static void small_params(trn_params *p) {
    trn_params_default(p);
    p->batch_size = 4; /* 23 blocks: 6 batches, the last of 3 */
    p->epochs = 3;
    p->learning_rate = 1e-2;
    p->warmup_steps = 2;
    p->weight_decay = 0.01;
    p->logging_steps = 4;
    p->save_steps = 3;
}

/* Final parameters of a run's latest checkpoint. */
static float *final_params(store *st, int64_t run_id, size_t *n) {
    char err[ERR_LEN];
    int64_t id;
    gpt_config c;
    float *p = NULL;
    if (ckpt_resolve(st, "latest", run_id, &id, err) ||
        ckpt_get(st, id, &c, &p, n, NULL, NULL, NULL, NULL, err))
        printf("final_params: %s\n", err);
    return p;
}

static void test_lr_lambda(void) {
    trn_params p;
    trn_params_default(&p);
    CHECK_CLOSE(trn_lr_lambda(&p, 0, 10), 1.0, 0, 1e-15); /* full lr first */
    CHECK_CLOSE(trn_lr_lambda(&p, 9, 10), 0.1, 0, 1e-15);
    CHECK_CLOSE(trn_lr_lambda(&p, 10, 10), 0.0, 0, 1e-15);
    p.warmup_steps = 4;
    CHECK_CLOSE(trn_lr_lambda(&p, 0, 10), 0.0, 0, 1e-15);
    CHECK_CLOSE(trn_lr_lambda(&p, 2, 10), 0.5, 0, 1e-15);
    CHECK_CLOSE(trn_lr_lambda(&p, 4, 10), 1.0, 0, 1e-15);
    CHECK_CLOSE(trn_lr_lambda(&p, 7, 10), 0.5, 0, 1e-15);
    p.scheduler = TRN_COSINE;
    CHECK_CLOSE(trn_lr_lambda(&p, 7, 10), 0.5, 0, 1e-12);
    CHECK_CLOSE(trn_lr_lambda(&p, 4, 10), 1.0, 0, 1e-12);
    CHECK_CLOSE(trn_lr_lambda(&p, 10, 10), 0.0, 0, 1e-12);
    p.scheduler = TRN_CONSTANT;
    CHECK_CLOSE(trn_lr_lambda(&p, 1, 10), 0.25, 0, 1e-15);
    CHECK_CLOSE(trn_lr_lambda(&p, 9, 10), 1.0, 0, 1e-15);
    char err[ERR_LEN];
    trn_params_default(&p);
    CHECK(trn_params_check(&p, err) == 0);
    p.batch_size = 0;
    CHECK(trn_params_check(&p, err) == -1 && strstr(err, "batch_size"));
    /* a real that is not finite has no JSON for the run's identity */
    double *reals[] = {&p.epochs,     &p.learning_rate, &p.weight_decay,  &p.adam_beta1,
                       &p.adam_beta2, &p.adam_epsilon,  &p.max_grad_norm, &p.dropout};
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++) {
        trn_params_default(&p);
        *reals[i] = i % 2 ? NAN : INFINITY;
        CHECKF(trn_params_check(&p, err) == -1 && strstr(err, "finite"), "real %zu", i);
    }
    /* the defaults are Trainer's, as a recipe's */
    trn_params_default(&p);
    CHECK_CLOSE(p.epochs, 3.0, 0, 0);
    CHECK_EQ_INT(p.logging_steps, 500);
    trn_params_default(&p);
    char *a = trn_params_json(&p, err);
    p.logging_steps = 7; /* not part of the identity */
    p.save_steps = 9;
    char *b = trn_params_json(&p, err);
    CHECK_STR(a, b);
    CHECK(strstr(a, "\"learning_rate\":5.0000000000000002e-5") != NULL);
    free(a);
    free(b);
}

/* Run the stage in a forked child (so the parent never starts OpenMP
** threads and can fork again); returns its pid. */
static pid_t spawn(const char *path, const trn_params *p, const gpt_config *cfg) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid) return pid;
    char err[ERR_LEN];
    store *st = open_db(path);
    train_source src = {.init = cfg};
    train_result res;
    int rc = stage_train(st, p, 0, &src, &res, err);
    if (rc) printf("child: %s\n", err);
    store_close(st);
    _exit(rc ? 1 : 0);
}

static int wait_ok(pid_t pid) {
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* SIGKILL at random moments, several times; each time the store is intact,
** and the resumed run ends with the uninterrupted run's exact bytes. */
static void test_resume_after_kill(void) {
    char ref[256], kill_db[256];
    db_path(ref, sizeof ref, "ref");
    db_path(kill_db, sizeof kill_db, "kill");
    db_remove(ref);
    db_remove(kill_db);
    gpt_config cfg = small_cfg();
    trn_params p;
    small_params(&p);
    p.epochs = 5; /* 30 steps: long enough for kills to land mid-run */
    p.save_steps = 2;
    p.save_total_limit = 2;
    store *st = open_db(ref);
    small_blocks(st);
    store_close(st);
    st = open_db(kill_db);
    small_blocks(st);
    store_close(st);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(wait_ok(spawn(ref, &p, &cfg)));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dur = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    printf("  uninterrupted run %.2f s; kill seed %u\n", dur, seed);
    int kills = 0;
    for (int i = 0; i < 6; i++) {
        pid_t pid = spawn(kill_db, &p, &cfg);
        usleep((useconds_t)(dur * 1e6 * (0.1 + 0.8 * rand() / (double)RAND_MAX)));
        kills += kill(pid, SIGKILL) == 0;
        waitpid(pid, NULL, 0);
        st = open_db(kill_db);
        CHECKF(integrity_ok(st), "integrity_check failed after kill %d", i);
        int64_t n_ck = count(st, "SELECT count(*) FROM checkpoints");
        CHECKF(n_ck <= 2, "%lld checkpoints despite save_total_limit 2", (long long)n_ck);
        store_close(st);
    }
    CHECK(kills > 0);
    CHECK(wait_ok(spawn(kill_db, &p, &cfg)));
    store *a = open_db(ref), *b = open_db(kill_db);
    size_t na = 0, nb = 0;
    float *pa = final_params(a, 1, &na), *pb = final_params(b, 1, &nb);
    CHECK(pa && pb && na == nb && na > 0);
    CHECKF(pa && pb && memcmp(pa, pb, na * sizeof(float)) == 0,
           "resumed weights differ from the uninterrupted run's");
    /* the logs match too (tokens/s aside) */
    CHECK_EQ_INT(count(a, "SELECT count(*) FROM train_logs"),
                 count(b, "SELECT count(*) FROM train_logs"));
    CHECK_EQ_INT(count(b, "SELECT count(*) FROM train_runs WHERE status = 'done'"), 1);
    /* blobs of pruned checkpoints are gone: each run keeps 2 checkpoints */
    CHECK_EQ_INT(count(b, "SELECT count(*) FROM checkpoints"), 2);
    CHECK_EQ_INT(count(b, "SELECT count(*) FROM blobs WHERE id NOT IN (SELECT tensors_blob FROM "
                          "checkpoints UNION SELECT state_blob FROM checkpoints UNION SELECT "
                          "train_blob FROM block_sets UNION SELECT eval_blob FROM block_sets)"),
                 0);
    free(pa);
    free(pb);
    store_close(a);
    store_close(b);
    db_remove(ref);
    db_remove(kill_db);
}

/* Steps, logs and evals of a run; a second call finds it finished; a stop
** request saves and a rerun resumes to the same bytes. */
static void test_run_and_stop(void) {
    char path[256], err[ERR_LEN];
    db_path(path, sizeof path, "run");
    db_remove(path);
    store *st = open_db(path);
    small_blocks(st);
    gpt_config cfg = small_cfg();
    trn_params p;
    small_params(&p);
    train_source src = {.init = &cfg};
    train_result r1, r2, r3;
    CHECK(stage_train(st, &p, 0, &src, &r1, err) == 0);
    CHECK_EQ_INT(r1.steps, 18); /* 6 batches (last partial) x 3 epochs */
    CHECK(r1.checkpoint > 0 && !r1.already_done && !r1.resumed_from);
    CHECK(isfinite(r1.eval_loss));
    CHECK_EQ_INT(count(st, "SELECT count(*) FROM train_logs WHERE kind = 'train'"), 5);
    CHECK_EQ_INT(count(st, "SELECT count(*) FROM train_logs WHERE kind = 'eval'"), 3);
    CHECK_EQ_INT(count(st, "SELECT count(*) FROM checkpoints"), 6); /* steps 3,6,..,18 */
    /* the loss falls: first logged window vs last */
    double l0 = 0, l1 = 0;
    sqlite3_stmt *s;
    CHECK(store_prepare(st, "SELECT loss FROM train_logs WHERE kind='train' ORDER BY step", &s,
                        err) == 0);
    for (int i = 0; sqlite3_step(s) == SQLITE_ROW; i++) {
        if (i == 0) l0 = sqlite3_column_double(s, 0);
        l1 = sqlite3_column_double(s, 0);
    }
    sqlite3_finalize(s);
    printf("  loss %.4f -> %.4f, eval %.4f\n", l0, l1, r1.eval_loss);
    CHECKF(l1 < l0 - 0.5, "loss did not fall: %g -> %g", l0, l1);
    /* the rate logged at step 4 is the one step 4 (0-based 3) used */
    CHECK_EQ_INT(count(st, "SELECT round(learning_rate * 1e9) FROM train_logs WHERE step = 4"),
                 (int64_t)round(1e-2 * 15.0 / 16.0 * 1e9));

    CHECK(stage_train(st, &p, 0, &src, &r2, err) == 0);
    CHECK(r2.already_done && r2.checkpoint == r1.checkpoint);

    /* a stop request: checkpoint at the next step, status interrupted */
    p.seed = 5; /* a new run */
    train_stop = 1;
    CHECK(stage_train(st, &p, 0, &src, &r3, err) == -1 && strstr(err, "interrupted"));
    train_stop = 0;
    CHECK_EQ_INT(count(st, "SELECT count(*) FROM train_runs WHERE status = 'interrupted'"), 1);
    CHECK(stage_train(st, &p, 0, &src, &r3, err) == 0);
    CHECK_EQ_INT(r3.resumed_from, 1);
    size_t n1, n3;
    float *a = final_params(st, r3.run_id, &n3);
    /* the same run uninterrupted, in a fresh store */
    char path2[256];
    db_path(path2, sizeof path2, "run2");
    db_remove(path2);
    store *st2 = open_db(path2);
    small_blocks(st2);
    train_result r4;
    CHECK(stage_train(st2, &p, 0, &src, &r4, err) == 0);
    float *b = final_params(st2, r4.run_id, &n1);
    CHECK(a && b && n1 == n3 && memcmp(a, b, n1 * sizeof(float)) == 0);
    free(a);
    free(b);

    /* gradient accumulation: ceil(6 / 4) = 2 steps per epoch */
    p.grad_accum = 4;
    p.epochs = 1;
    CHECK(stage_train(st2, &p, 0, &src, &r4, err) == 0);
    CHECK_EQ_INT(r4.steps, 2);
    /* errors: a block set that does not exist, two sources, long blocks */
    CHECK(stage_train(st2, &p, 99, &src, &r4, err) == -1 && strstr(err, "block set 99"));
    train_source two = {.init = &cfg, .checkpoint = 1};
    CHECK(stage_train(st2, &p, 0, &two, &r4, err) == -1 && strstr(err, "exactly one"));
    gpt_config shortc = cfg;
    shortc.n_positions = 8;
    train_source sh = {.init = &shortc};
    CHECK(stage_train(st2, &p, 0, &sh, &r4, err) == -1 && strstr(err, "n_positions"));
    store_close(st2);
    store_close(st);
    db_remove(path);
    db_remove(path2);
}

/* ---- parity with tests/reference/train_ref.py ---- */

typedef struct fixture {
    json_t *man;
    unsigned char *bin;
} fixture;

static void *fx_array(const fixture *f, const char *name, size_t *n) {
    json_t *a = json_object_get(json_object_get(f->man, "arrays"), name);
    size_t cnt = 1, i;
    json_t *d;
    json_array_foreach(json_object_get(a, "shape"), i, d) cnt *= (size_t)json_integer_value(d);
    if (n) *n = cnt;
    return a ? f->bin + json_integer_value(json_object_get(a, "offset")) : NULL;
}

static int fx_load(fixture *f) {
    json_error_t je;
    f->man = json_load_file("tests/fixtures/train/trainer.json", 0, &je);
    if (!f->man) return -1;
    size_t n;
    char err[ERR_LEN];
    return slurp("tests/fixtures/train/trainer.bin", (char **)&f->bin, &n, err);
}

static double jnum(json_t *o, const char *k) {
    return json_number_value(json_object_get(o, k));
}

/* Every step's loss, gradient norm and learning rate, and the final
** weights, against Trainer's loop in PyTorch (float64) with shuffle off,
** dropout 0, warmup, weight decay, clipping and gradient accumulation over
** a partial last batch.  Tolerances: the reference is exact, quill computes
** in fp32 (relative error ~1e-6 per op, a few 1e-6 through a 2-layer model
** and its backward); losses and norms to 5e-5 relative.  Parameters: Adam's
** update m/sqrt(v) turns gradients at the fp32 noise level into +-lr
** steps, so as test_gpt's AdamW test: at most 0.5% of the elements may
** differ by more than lr/100, none by more than 2 lr per step. */
static void test_parity(void) {
    fixture f;
    char err[ERR_LEN], path[256];
    CHECK(fx_load(&f) == 0);
    json_t *jc = json_object_get(f.man, "config");
    gpt_config cfg;
    gpt_config_default(&cfg);
    cfg.n_layer = (int)jnum(jc, "n_layer");
    cfg.n_head = (int)jnum(jc, "n_head");
    cfg.n_embd = (int)jnum(jc, "n_embd");
    cfg.n_positions = (int)jnum(jc, "n_positions");
    cfg.vocab_size = (int)jnum(jc, "vocab_size");
    cfg.embd_pdrop = cfg.attn_pdrop = cfg.resid_pdrop = 0;
    size_t np, nblk;
    const float *p0 = fx_array(&f, "params", &np);
    const int32_t *blk = fx_array(&f, "blocks", &nblk);
    json_t *shape =
        json_object_get(json_object_get(json_object_get(f.man, "arrays"), "blocks"), "shape");
    int T = (int)json_integer_value(json_array_get(shape, 1));
    db_path(path, sizeof path, "parity");
    db_remove(path);
    store *st = open_db(path);
    put_blocks(st, blk, (int64_t)(nblk / T), 0, T);
    int64_t init;
    CHECK(store_begin(st, err) == 0 && ckpt_put(st, 0, 0, &cfg, p0, np, NULL, 0, &init, err) == 0 &&
          store_commit(st, err) == 0);
    size_t i;
    json_t *run;
    json_array_foreach(json_object_get(f.man, "runs"), i, run) {
        const char *name = json_string_value(json_object_get(run, "name"));
        trn_params p;
        trn_params_default(&p);
        p.shuffle = 0;
        p.dropout = 0;
        p.logging_steps = 1;
        p.save_steps = 0;
        p.batch_size = (int)jnum(run, "batch_size");
        p.grad_accum = (int)jnum(run, "gradient_accumulation_steps");
        p.epochs = jnum(run, "epochs");
        p.learning_rate = jnum(run, "learning_rate");
        p.warmup_steps = (int64_t)jnum(run, "warmup_steps");
        p.weight_decay = jnum(run, "weight_decay");
        p.max_grad_norm = jnum(run, "max_grad_norm");
        train_source src = {.checkpoint = init};
        train_result res;
        CHECKF(stage_train(st, &p, 0, &src, &res, err) == 0, "%s: %s", name, err);
        char key[64];
        size_t nsteps;
        snprintf(key, sizeof key, "%s_loss", name);
        const float *loss = fx_array(&f, key, &nsteps);
        snprintf(key, sizeof key, "%s_norm", name);
        const float *norm = fx_array(&f, key, NULL);
        snprintf(key, sizeof key, "%s_lr", name);
        const float *lr = fx_array(&f, key, NULL);
        snprintf(key, sizeof key, "%s_trained", name);
        const float *trained = fx_array(&f, key, NULL);
        CHECK_EQ_INT(res.steps, (int64_t)nsteps);
        sqlite3_stmt *s;
        CHECK(store_prepare(st,
                            "SELECT step, loss, grad_norm, learning_rate FROM train_logs WHERE "
                            "run_id = ? AND kind = 'train' ORDER BY step",
                            &s, err) == 0);
        sqlite3_bind_int64(s, 1, res.run_id);
        size_t k = 0;
        for (; sqlite3_step(s) == SQLITE_ROW && k < nsteps; k++) {
            CHECK_EQ_INT(sqlite3_column_int64(s, 0), (int64_t)k + 1);
            CHECK_CLOSE(sqlite3_column_double(s, 1), loss[k], 0, 5e-5);
            CHECK_CLOSE(sqlite3_column_double(s, 2), norm[k], 0, 5e-5);
            CHECK_CLOSE(sqlite3_column_double(s, 3), lr[k], 1e-12, 1e-6);
        }
        sqlite3_finalize(s);
        CHECK_EQ_INT((int64_t)k, (int64_t)nsteps);
        size_t n;
        float *w = final_params(st, res.run_id, &n);
        CHECK(w && n == np);
        size_t off = 0;
        double worst = 0;
        for (size_t j = 0; w && j < n; j++) {
            double d = fabs((double)w[j] - trained[j]);
            off += d > p.learning_rate / 100;
            worst = d > worst ? d : worst;
        }
        printf("  %s: %zu steps, %zu of %zu params differ by > lr/100, max %.2e\n", name, nsteps,
               off, np, worst);
        CHECKF(off * 200 < np, "%s: %zu params off", name, off);
        CHECKF(worst < 2 * p.learning_rate * (double)nsteps, "%s: worst %.3g", name, worst);
        free(w);
    }
    store_close(st);
    db_remove(path);
    json_decref(f.man);
    free(f.bin);
}

/* The training state blob: the header struct's layout (what stores
** written before hold: magic, step, rng, log sums, eval loss, optimizer
** step, moment count), a round trip, and corrupt blobs refused. */
static void test_state_blob(void) {
    char err[ERR_LEN];
    static int32_t ids[23 * 16];
    trn_params p;
    small_params(&p);
    trn a = {.p = &p, .b = {16, 23, 0, ids, NULL}, .cfg = small_cfg()};
    gpt_tensor *t = malloc(gpt_layout_count(&a.cfg) * sizeof *t);
    a.n = gpt_layout(&a.cfg, t);
    free(t);
    a.params = calloc(a.n, sizeof(float));
    trn b = a;
    b.params = calloc(a.n, sizeof(float));
    trn_plan(&a);
    trn_plan(&b);
    CHECK_EQ_INT(a.spe, 6);
    CHECK_EQ_INT(a.total, 18);
    CHECK(trn_alloc(&a, err) == 0 && trn_alloc(&b, err) == 0);
    a.s.step = a.opt->step = 5;
    a.s.log_loss = 1.25;
    a.s.log_count = 2;
    a.s.eval_loss = 3.5;
    a.opt->m[0] = 1.5f;
    a.opt->v[a.n - 1] = 2.5f;
    size_t len;
    unsigned char *blob = trn_state_pack(&a, &len);
    CHECK(blob && len == sizeof(trn_state_header) + 2 * a.n * sizeof(float));
    CHECK_EQ_INT(sizeof(trn_state_header), 88);
    CHECK(!memcmp(blob, "QTRAIN01", 8));
    int64_t step;
    memcpy(&step, blob + 8, 8);
    CHECK_EQ_INT(step, 5);
    CHECK(trn_state_unpack(&b, blob, len, err) == 0);
    CHECK(b.s.step == 5 && b.opt->step == 5 && b.s.log_count == 2 && b.s.eval_loss == 3.5);
    CHECK(!memcmp(b.s.dropout.s, a.s.dropout.s, sizeof a.s.dropout.s));
    CHECK(b.opt->m[0] == 1.5f && b.opt->v[a.n - 1] == 2.5f);
    CHECK(trn_state_unpack(&b, blob, len - 4, err) == -1 && strstr(err, "moments"));
    trn_state_header h;
    memcpy(&h, blob, sizeof h);
    h.adam_step = 4; /* the optimizer's step must be the run's */
    memcpy(blob, &h, sizeof h);
    CHECK(trn_state_unpack(&b, blob, len, err) == -1 && strstr(err, "optimizer step 4"));
    blob[0] = 'X';
    CHECK(trn_state_unpack(&b, blob, len, err) == -1 && strstr(err, "not a quill training state"));
    free(blob);
    trn_free(&a);
    trn_free(&b);
    /* one table of scheduler names, both ways */
    for (int k = 0; k < TRN_N_SCHED; k++) {
        trn_sched back;
        CHECK(trn_sched_parse(trn_sched_name((trn_sched)k), &back) == 0 && back == (trn_sched)k);
    }
    trn_sched x;
    CHECK(trn_sched_parse("cosin", &x) == -1);
    CHECK_STR(trn_sched_name(TRN_COSINE), "cosine");
}

int main(void) {
    RUN(test_lr_lambda);
    RUN(test_resume_after_kill); /* forks: before this process starts OpenMP */
    RUN(test_run_and_stop);
    RUN(test_parity);
    RUN(test_state_blob);
    return TEST_SUMMARY();
}

/*
** The train stage (see train.h): its inputs from the store, the engine
** (core/trainer.h) with a sink that stores its logs and checkpoints, and
** the data-parallel sharing of the inputs.
*/
#include "train.h"

#include "blocks.h"
#include "checkpoints.h"
#include "ckpt.h"
#include "dist.h"
#include "err.h"
#include "gpt.h"
#include "hash.h"
#include "hfmodel.h"
#include "mem.h"
#include "trainruns.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

volatile sig_atomic_t train_stop = 0;

/* This process's run: the engine's state and where it is stored. */
typedef struct run {
    store *st; /* NULL on processes other than 0 */
    trn t;
    int64_t block_set_id;
    char block_identity[HASH_HEX_LEN];
    int64_t run_id;
} run;

/* ---- inputs ---- */

/* Block set id (0: the newest) into r->t.b (the ids owned by r). */
static int load_blocks(run *r, int64_t id, char *err) {
    if (!id && blocks_latest(r->st, &id, err)) return -1;
    if (!id) return err_set(err, "the store has no block set (run `quill group` first)");
    blocks_set b;
    if (blocks_get(r->st, id, 1, &b, err)) return -1;
    snprintf(r->block_identity, sizeof r->block_identity, "%s", b.identity);
    r->block_set_id = id;
    /* u32 ids as int32: gpt_forward rejects ids >= vocab */
    r->t.b = (trn_blocks){b.block_size, (int64_t)b.n_train, (int64_t)b.n_eval, b.train, b.eval};
    b.train = b.eval = NULL;
    blocks_free(&b);
    if (r->t.b.T < 2) return err_set(err, "block set %lld: block size %d", (long long)id, r->t.b.T);
    if (r->t.b.n_train < 1)
        return err_set(err, "block set %lld has no train blocks", (long long)id);
    return 0;
}

/* The initial model and a description of where it came from. */
static int source_load(store *st, const train_source *src, uint64_t seed, gpt_config *cfg,
                       float **params, size_t *n, char *desc, size_t desc_n, char *err) {
    int k = !!src->model_dir + (src->checkpoint > 0) + !!src->init;
    if (k != 1)
        return err_set(err,
                       "give exactly one model source (a directory, a checkpoint or a config)");
    if (src->model_dir) {
        snprintf(desc, desc_n, "%s", src->model_dir);
        return hf_load(src->model_dir, cfg, params, n, err);
    }
    if (src->checkpoint > 0) {
        snprintf(desc, desc_n, "checkpoint:%lld", (long long)src->checkpoint);
        return ckpt_get(st, src->checkpoint, cfg, params, n, NULL, NULL, NULL, NULL, err);
    }
    snprintf(desc, desc_n, "init");
    *cfg = *src->init;
    if (hf_init_params(cfg, seed, params)) {
        if (gpt_config_check(cfg, err) == 0) err_set(err, "init: out of memory");
        return err_prefix(err, "--init");
    }
    gpt_tensor *t = malloc(gpt_layout_count(cfg) * sizeof *t);
    if (!t) return err_set(err, "init: out of memory");
    *n = gpt_layout(cfg, t);
    free(t);
    return 0;
}

/* ---- the sink: logs and checkpoints into the store ---- */

/* Set the run's status in a transaction of its own. */
static int set_status(run *r, const char *status, char *err) {
    if (store_begin(r->st, err)) return -1;
    if (trainruns_set_status(r->st, r->run_id, status, err) || store_commit(r->st, err)) {
        store_rollback(r->st);
        return -1;
    }
    return 0;
}

/* trn_sink.log: one log line in its own transaction. */
static int sink_log(void *ctx, const trn_log *l, char *err) {
    run *r = ctx;
    trainruns_log row = {r->run_id, l->kind,          l->step,      l->epoch,
                         l->loss,   l->learning_rate, l->grad_norm, l->tokens_per_s};
    if (store_begin(r->st, err)) return -1;
    if (trainruns_add_log(r->st, &row, err) || store_commit(r->st, err)) {
        store_rollback(r->st);
        return -1;
    }
    return 0;
}

/* trn_sink.save: checkpoint at the current step in one transaction, with
** the older checkpoints' optimizer state dropped (checkpoints_drop_state:
** only the latest and pinned ones keep it), pruning and the run's new
** status. */
static int sink_save(void *ctx, const trn *t, const char *status, int64_t *id, char *err) {
    run *r = ctx;
    const trn_params *p = t->p;
    size_t len;
    void *state = trn_state_pack(t, &len);
    if (!state) return err_set(err, "checkpoint: out of memory");
    if (store_begin(r->st, err)) {
        free(state);
        return -1;
    }
    int bad =
        ckpt_put(r->st, r->run_id, t->s.step, &t->cfg, t->params, t->n, state, len, id, err) ||
        checkpoints_drop_state(r->st, r->run_id, NULL, err) ||
        (p->save_total_limit > 0 && ckpt_prune(r->st, r->run_id, p->save_total_limit, err)) ||
        trainruns_set_status(r->st, r->run_id, status, err) || store_commit(r->st, err);
    free(state);
    if (bad) store_rollback(r->st);
    /* Give the dropped states' and pruned checkpoints' pages back to the
    ** file system. */
    else
        bad = store_reclaim(r->st, err);
    return bad ? -1 : 0;
}

/* ---- the run ---- */

/* Load the newest checkpoint of run r (found again) into r->t; nothing
** when it was killed before its first save. */
static int resume(run *r, const char *status, train_result *res, char *err) {
    int64_t id;
    char e2[ERR_LEN];
    if (ckpt_resolve(r->st, "latest", r->run_id, &id, e2)) return 0; /* killed before any save */
    gpt_config c;
    float *params;
    size_t n, state_n;
    void *state;
    if (ckpt_get(r->st, id, &c, &params, &n, &state, &state_n, NULL, NULL, err))
        return err_prefix(err, "resume run %lld", (long long)r->run_id);
    int bad = n != r->t.n || !state;
    if (bad)
        err_set(err, "resume run %lld: checkpoint %lld does not match the run",
                (long long)r->run_id, (long long)id);
    if (!bad) bad = trn_state_unpack(&r->t, state, state_n, err);
    if (!bad) memcpy(r->t.params, params, n * sizeof(float));
    free(params);
    free(state);
    if (bad) return -1;
    res->checkpoint = id;
    res->resumed_from = (int)r->t.s.step;
    res->already_done = !strcmp(status, "done") && r->t.s.step >= r->t.total;
    return 0;
}

/* Find or create the run with this identity; on resume load its newest
** checkpoint's parameters and state into r. */
static int open_run(run *r, const char *identity, const char *source, train_result *res,
                    char *err) {
    store *st = r->st;
    char status[TRAINRUNS_STATUS_LEN];
    if (store_begin(st, err)) return -1;
    int bad = trainruns_find(st, identity, &r->run_id, status, err);
    int found = r->run_id > 0;
    if (!bad && !found) {
        char *cfg = hf_config_json(&r->t.cfg, "float32"), *pj = trn_params_json(r->t.p, err);
        trainruns_new row = {identity, r->block_set_id, source, cfg, pj, r->t.total};
        if (!pj) /* err says why */
            bad = -1;
        else if (!cfg)
            bad = err_set(err, "train run: out of memory");
        else
            bad = trainruns_insert(st, &row, &r->run_id, err);
        free(cfg);
        free(pj);
    }
    if (bad || store_commit(st, err)) {
        store_rollback(st);
        return -1;
    }
    res->run_id = r->run_id;
    return found ? resume(r, status, res, err) : 0;
}

/* The run's identity: block set, initial model, result-changing
** parameters. */
static int run_identity(run *r, char identity[HASH_HEX_LEN], char *err) {
    char *pj = trn_params_json(r->t.p, err);
    if (!pj) return -1;
    char *cfg_json = hf_config_json(&r->t.cfg, "float32");
    if (!cfg_json) {
        free(pj);
        return err_set(err, "train: out of memory");
    }
    hash_state *h = hash_begin();
    hash_update(h, r->block_identity, strlen(r->block_identity) + 1);
    hash_update(h, cfg_json, strlen(cfg_json) + 1);
    hash_update(h, r->t.params, r->t.n * sizeof(float));
    hash_update(h, pj, strlen(pj) + 1);
    hash_end(h, identity);
    free(cfg_json);
    free(pj);
    return 0;
}

/* Process 0 (or the only one): read the blocks and the initial model, find
** or create the run and resume it. */
static int run_prepare(run *r, int64_t block_set_id, const train_source *src, train_result *res,
                       char *err) {
    const trn_params *p = r->t.p;
    trn *t = &r->t;
    assert(r->st && t->rank == 0); /* process 0 reads the store */
    char source[1100];
    if (load_blocks(r, block_set_id, err) ||
        source_load(r->st, src, p->seed, &t->cfg, &t->params, &t->n, source, sizeof source, err))
        return -1;
    if (p->dropout >= 0)
        t->cfg.embd_pdrop = t->cfg.attn_pdrop = t->cfg.resid_pdrop = (float)p->dropout;
    if (t->b.T > t->cfg.n_positions)
        return err_set(err, "block size %d exceeds the model's n_positions %d", t->b.T,
                       t->cfg.n_positions);
    trn_plan(t);
    char identity[HASH_HEX_LEN];
    if (run_identity(r, identity, err) || trn_alloc(t, err)) return -1;
    return open_run(r, identity, source, res, err);
}

/* What process 0 tells the others before training (data parallel). */
typedef struct run_header {
    int ok, done; /* process 0 is ready; the run had already finished */
    gpt_config cfg;
    uint64_t n, state_len;
    int T;
    int64_t n_train, n_eval, total, run_id, checkpoint;
} run_header;

/* Data parallel: process 0's blocks, model and training state to every
** process (the others allocate as they receive).  bad: process 0 failed
** preparing, which ends every process with an error. */
static int run_share(run *r, int bad, train_result *res, char *err) {
    trn *t = &r->t;
    run_header h = {0};
    size_t state_len = 0;
    void *state = NULL;
    if (!t->rank) {
        h.ok = !bad;
        h.done = res->already_done;
        if (h.ok && !h.done) {
            state = trn_state_pack(t, &state_len);
            if (!state) h.ok = 0, err_set(err, "train: out of memory");
        }
        h.cfg = t->cfg;
        h.n = t->n;
        h.state_len = state_len;
        h.T = t->b.T;
        h.n_train = t->b.n_train;
        h.n_eval = t->b.n_eval;
        h.total = t->total;
        h.run_id = r->run_id, h.checkpoint = res->checkpoint;
    }
    if (dist_bcast(&h, sizeof h, err)) goto fail;
    if (!h.ok) {
        if (t->rank) err_set(err, "process 0 could not start the run");
        goto fail;
    }
    res->run_id = h.run_id;
    res->checkpoint = h.checkpoint;
    res->already_done = h.done;
    if (h.done) return 0;
    if (t->rank) {
        t->cfg = h.cfg;
        t->n = h.n;
        t->b = (trn_blocks){h.T, h.n_train, h.n_eval, NULL, NULL};
        r->run_id = h.run_id;
        trn_plan(t);
        assert(t->total == h.total); /* the same parameters on every process */
        t->b.train = malloc(sizeof(int32_t) * (size_t)(h.n_train * h.T + 1));
        t->b.eval = malloc(sizeof(int32_t) * (size_t)(h.n_eval * h.T + 1));
        t->params = mem_huge_alloc(h.n * sizeof(float));
        state = malloc(h.state_len);
        /* a failure here ends the job (main aborts every process) */
        if (!t->b.train || !t->b.eval || !t->params || !state) {
            err_set(err, "train: out of memory");
            goto fail;
        }
        if (trn_alloc(t, err)) goto fail;
    }
    if (dist_bcast(t->b.train, sizeof(int32_t) * (size_t)(h.n_train * h.T), err) ||
        dist_bcast(t->b.eval, sizeof(int32_t) * (size_t)(h.n_eval * h.T), err) ||
        dist_bcast(t->params, h.n * sizeof(float), err) || dist_bcast(state, h.state_len, err))
        goto fail;
    if (t->rank && trn_state_unpack(t, state, h.state_len, err)) goto fail;
    free(state);
    return 0;
fail:
    free(state);
    return -1;
}

int stage_train(store *st, const trn_params *p, int64_t block_set_id, const train_source *src,
                train_result *res, char *err) {
    memset(res, 0, sizeof *res);
    res->eval_loss = NAN;
    if (trn_params_check(p, err)) return -1;
    if (p->processes != dist_size())
        return err_set(err, "processes %d, but %d are running", p->processes, dist_size());
    run r = {.st = st, .t = {.p = p, .rank = dist_rank(), .stop = &train_stop}};
    assert(r.t.rank == 0 || !st); /* only process 0 opens the store */
    int rc = -1;
    int bad = r.t.rank ? 0 : run_prepare(&r, block_set_id, src, res, err);
    if (p->processes > 1 ? run_share(&r, bad, res, err) : bad) goto out;
    res->steps = r.t.total;
    if (!res->already_done) {
        trn_sink sink = {&r, sink_log, sink_save};
        char e2[ERR_LEN];
        if (trn_loop(&r.t, &sink, &res->final_loss, &res->checkpoint, err)) {
            if (!train_stop && !r.t.rank) set_status(&r, "failed", e2);
            goto out;
        }
    }
    res->eval_loss = r.t.s.eval_loss;
    rc = 0;
out:
    trn_free(&r.t);
    free(r.t.b.train);
    free(r.t.b.eval);
    return rc;
}

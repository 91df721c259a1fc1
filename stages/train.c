/*
** The train stage (see train.h) and `quill train`.
*/
#include "train.h"

#include "adamw.h"
#include "ckpt.h"
#include "dist.h"
#include "cli.h"
#include "err.h"
#include "jw.h"
#include "gpt.h"
#include "hash.h"
#include "hfmodel.h"
#include "mem.h"
#include "progress.h"
#include "recipe.h"
#include "rng.h"
#include "run.h"

#include <assert.h>
#include <getopt.h>
#include <limits.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

volatile sig_atomic_t train_stop = 0;

#define STATE_MAGIC "QTRAIN01"

void train_params_of_recipe(const rcp_train *t, train_params *p) {
    memset(p, 0, sizeof *p);
    p->epochs = t->epochs;
    p->max_steps = t->max_steps;
    p->batch_size = (int)t->batch_size;
    p->grad_accum = (int)t->gradient_accumulation_steps;
    p->learning_rate = t->learning_rate;
    p->scheduler = !t->lr_scheduler || !strcmp(t->lr_scheduler, "linear") ? TRAIN_LINEAR
                   : !strcmp(t->lr_scheduler, "constant")                 ? TRAIN_CONSTANT
                                                                          : TRAIN_COSINE;
    p->warmup_steps = t->warmup_steps;
    p->weight_decay = t->weight_decay;
    p->adam_beta1 = t->adam_beta1;
    p->adam_beta2 = t->adam_beta2;
    p->adam_epsilon = t->adam_epsilon;
    p->max_grad_norm = t->max_grad_norm;
    p->seed = (uint64_t)t->seed;
    p->shuffle = t->shuffle;
    p->dropout = t->dropout;
    p->logging_steps = t->logging_steps;
    p->save_steps = t->save_steps;
    p->save_total_limit = (int)t->save_total_limit;
    p->processes = 1;
}

void train_params_default(train_params *p) {
    rcp_train t;
    rcp_train_defaults(&t);
    train_params_of_recipe(&t, p);
    rcp_train_free(&t);
}

int train_params_check(const train_params *p, char *err) {
    /* inf or nan would train nothing useful and have no JSON for the identity */
    const double reals[] = {p->epochs,     p->learning_rate, p->weight_decay,  p->adam_beta1,
                            p->adam_beta2, p->adam_epsilon,  p->max_grad_norm, p->dropout};
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++)
        if (!isfinite(reals[i]))
            return err_set(err, "epochs, learning_rate, weight_decay, adam_beta1, adam_beta2, "
                                "adam_epsilon, max_grad_norm and dropout must be finite");
    if (!(p->epochs > 0) && p->max_steps <= 0)
        return err_set(err, "epochs must be positive (or max_steps set)");
    if (p->batch_size < 1) return err_set(err, "batch_size %d must be at least 1", p->batch_size);
    if (p->grad_accum < 1)
        return err_set(err, "gradient_accumulation_steps %d must be at least 1", p->grad_accum);
    if (p->processes < 1) return err_set(err, "processes %d must be at least 1", p->processes);
    if (!(p->learning_rate >= 0)) return err_set(err, "learning_rate must be >= 0");
    if (p->warmup_steps < 0) return err_set(err, "warmup_steps must be >= 0");
    if (!(p->weight_decay >= 0)) return err_set(err, "weight_decay must be >= 0");
    if (!(p->adam_beta1 >= 0 && p->adam_beta1 < 1) || !(p->adam_beta2 >= 0 && p->adam_beta2 < 1))
        return err_set(err, "adam betas must be in [0, 1)");
    if (!(p->adam_epsilon >= 0)) return err_set(err, "adam_epsilon must be >= 0");
    if (!(p->max_grad_norm >= 0)) return err_set(err, "max_grad_norm must be >= 0");
    if (p->dropout >= 1) return err_set(err, "dropout %g must be below 1", p->dropout);
    if (p->logging_steps < 1) return err_set(err, "logging_steps must be at least 1");
    if (p->save_steps < 0) return err_set(err, "save_steps must be >= 0");
    if (p->save_total_limit < 0) return err_set(err, "save_total_limit must be >= 0");
    return 0;
}

static const char *sched_name(train_sched s) {
    return s == TRAIN_LINEAR ? "linear" : s == TRAIN_CONSTANT ? "constant" : "cosine";
}

char *train_params_json(const train_params *p, char *err) {
    json_t *o = jw_object(
        err, "epochs", json_real(p->epochs), "max_steps", json_integer(p->max_steps), "batch_size",
        json_integer(p->batch_size), "gradient_accumulation_steps", json_integer(p->grad_accum),
        "learning_rate", json_real(p->learning_rate), "lr_scheduler",
        json_string(sched_name(p->scheduler)), "warmup_steps", json_integer(p->warmup_steps),
        "weight_decay", json_real(p->weight_decay), "adam_beta1", json_real(p->adam_beta1),
        "adam_beta2", json_real(p->adam_beta2), "adam_epsilon", json_real(p->adam_epsilon),
        "max_grad_norm", json_real(p->max_grad_norm), "seed", json_integer((json_int_t)p->seed),
        "shuffle", json_boolean(p->shuffle), "dropout", json_real(p->dropout));
    /* only when data parallel, so single-process identities stay as they were */
    if (o && p->processes > 1 && jw_set(o, "processes", json_integer(p->processes), err)) {
        json_decref(o);
        o = NULL;
    }
    if (!o) return NULL;
    return jw_dumps(o, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(17), "the parameters",
                    err);
}

double train_lr_lambda(const train_params *p, int64_t step, int64_t total) {
    int64_t w = p->warmup_steps;
    if (step < w) return (double)step / (double)(w > 1 ? w : 1);
    double rest = (double)(total - w > 1 ? total - w : 1);
    if (p->scheduler == TRAIN_CONSTANT) return 1.0;
    if (p->scheduler == TRAIN_LINEAR) return fmax(0.0, (double)(total - step) / rest);
    double progress = (double)(step - w) / rest; /* cosine, num_cycles 0.5 */
    return fmax(0.0, 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * progress)));
}

/* ---- inputs ---- */

typedef struct blocks {
    int64_t id;
    char identity[HASH_HEX_LEN];
    int T;
    int64_t n_train, n_eval;
    int32_t *train, *eval; /* n * T ids */
} blocks;

static int32_t *load_ids(store *st, int64_t blob, int64_t n, int T, const char *what, char *err) {
    void *raw;
    size_t len;
    if (store_get_blob(st, blob, &raw, &len, err)) {
        err_prefix(err, "%s blocks", what);
        return NULL;
    }
    if (len != (size_t)n * (size_t)T * 4) {
        free(raw);
        err_set(err, "%s blocks: blob has %zu bytes, expected %lld blocks of %d u32 ids", what, len,
                (long long)n, T);
        return NULL;
    }
    return raw; /* u32 little-endian ids read as int32: gpt_forward rejects ids >= vocab */
}

static int blocks_load(store *st, int64_t id, blocks *b, char *err) {
    sqlite3_stmt *s;
    memset(b, 0, sizeof *b);
    const char *sql = id > 0 ? "SELECT id, identity, block_size, n_train, n_eval, train_blob, "
                               "eval_blob FROM block_sets WHERE id = ?"
                             : "SELECT id, identity, block_size, n_train, n_eval, train_blob, "
                               "eval_blob FROM block_sets ORDER BY id DESC LIMIT 1";
    if (store_prepare(st, sql, &s, err)) return -1;
    if (id > 0) sqlite3_bind_int64(s, 1, id);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        if (id > 0) return err_set(err, "block set %lld does not exist", (long long)id);
        return err_set(err, "the store has no block set (run `quill group` first)");
    }
    b->id = sqlite3_column_int64(s, 0);
    snprintf(b->identity, sizeof b->identity, "%s", (const char *)sqlite3_column_text(s, 1));
    b->T = sqlite3_column_int(s, 2);
    b->n_train = sqlite3_column_int64(s, 3);
    b->n_eval = sqlite3_column_int64(s, 4);
    int64_t tb = sqlite3_column_int64(s, 5), eb = sqlite3_column_int64(s, 6);
    sqlite3_finalize(s);
    if (b->T < 2) return err_set(err, "block set %lld: block size %d", (long long)b->id, b->T);
    if (b->n_train < 1) return err_set(err, "block set %lld has no train blocks", (long long)b->id);
    if (!(b->train = load_ids(st, tb, b->n_train, b->T, "train", err))) return -1;
    if (b->n_eval > 0 && !(b->eval = load_ids(st, eb, b->n_eval, b->T, "eval", err))) return -1;
    return 0;
}

static void blocks_free(blocks *b) {
    free(b->train);
    free(b->eval);
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
    *n = gpt_layout(cfg, t);
    free(t);
    return 0;
}

/* ---- state blob: everything a resume needs beyond the parameters ---- */

typedef struct train_state {
    int64_t step;      /* optimizer steps done */
    rng dropout;       /* the dropout rng after them */
    double log_loss;   /* sum of step losses since the last log */
    int64_t log_count; /* steps since the last log */
    double eval_loss;  /* last eval loss or NAN */
} train_state;

static void *state_pack(const train_state *s, const adamw *a, size_t *len) {
    size_t hdr = 8 + 8 + 32 + 8 + 8 + 8 + 8 + 8;
    *len = hdr + 2 * a->n * sizeof(float);
    unsigned char *b = malloc(*len), *q = b;
    if (!b) return NULL;
    int64_t astep = a->step;
    uint64_t n = a->n;
#define PUT(x) (memcpy(q, &(x), sizeof(x)), q += sizeof(x))
    memcpy(q, STATE_MAGIC, 8), q += 8;
    PUT(s->step);
    PUT(s->dropout.s);
    PUT(s->log_loss);
    PUT(s->log_count);
    PUT(s->eval_loss);
    PUT(astep);
    PUT(n);
#undef PUT
    memcpy(q, a->m, a->n * sizeof(float));
    memcpy(q + a->n * sizeof(float), a->v, a->n * sizeof(float));
    return b;
}

static int state_unpack(const unsigned char *b, size_t len, train_state *s, adamw *a, char *err) {
    size_t hdr = 8 + 8 + 32 + 8 + 8 + 8 + 8 + 8;
    if (len < hdr || memcmp(b, STATE_MAGIC, 8))
        return err_set(err, "training state: not a quill training state");
    const unsigned char *q = b + 8;
    int64_t astep;
    uint64_t n;
#define GET(x) (memcpy(&(x), q, sizeof(x)), q += sizeof(x))
    GET(s->step);
    GET(s->dropout.s);
    GET(s->log_loss);
    GET(s->log_count);
    GET(s->eval_loss);
    GET(astep);
    GET(n);
#undef GET
    if (n != a->n || len != hdr + 2 * n * sizeof(float))
        return err_set(err, "training state: %llu moments for %zu parameters",
                       (unsigned long long)n, a->n);
    a->step = (long)astep;
    memcpy(a->m, q, n * sizeof(float));
    memcpy(a->v, q + n * sizeof(float), n * sizeof(float));
    return 0;
}

/* ---- the run ---- */

typedef struct run {
    store *st;
    const train_params *p;
    blocks b;
    gpt_config cfg;
    float *params, *grads, *tmp;
    size_t n;
    gpt_model *m;
    gpt_batch *batch;
    adamw *opt;
    int32_t *ids;  /* batch_size * T */
    int64_t *perm; /* n_train */
    int64_t perm_epoch;
    int64_t run_id, total, spe, nb;
    int64_t mbs; /* micro-batches per optimizer step: grad_accum * processes */
    int rank;    /* this process (0 writes to the store) */
    train_state s;
} run;

static int exec1(store *st, const char *sql, int64_t a, const char *text, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st, sql, &s, err)) return -1;
    sqlite3_bind_int64(s, 1, a);
    if (text) sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return err_set(err, "%s", sqlite3_errmsg(store_db(st)));
    return 0;
}

static void set_status(run *r, const char *status) {
    char err[ERR_LEN];
    if (store_begin(r->st, err)) return;
    if (exec1(r->st, "UPDATE train_runs SET status = ?2 WHERE id = ?1", r->run_id, status, err) ||
        store_commit(r->st, err))
        store_rollback(r->st);
}

/* Block order of an epoch: identity, or a Fisher-Yates permutation from a
** stream derived from (seed, epoch) so any epoch can be rebuilt on resume. */
static void epoch_order(run *r, int64_t epoch) {
    if (r->perm_epoch == epoch) return;
    int64_t n = r->b.n_train;
    for (int64_t i = 0; i < n; i++)
        r->perm[i] = i;
    if (r->p->shuffle) {
        rng g;
        rng_seed(&g, rng_derive(r->p->seed, (uint64_t)epoch));
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)rng_below(&g, (uint64_t)i + 1), t = r->perm[i];
            r->perm[i] = r->perm[j];
            r->perm[j] = t;
        }
    }
    r->perm_epoch = epoch;
}

/* Mean eval loss over every predicted token of the eval blocks. */
static int evaluate(run *r, double *out, char *err) {
    int B = r->p->batch_size, T = r->b.T;
    double sum = 0;
    for (int64_t i = 0; i < r->b.n_eval; i += B) {
        if (i / B % r->p->processes != r->rank) continue; /* another process's batch */
        int rows = (int)(r->b.n_eval - i < B ? r->b.n_eval - i : B);
        float loss;
        if (gpt_forward(r->batch, r->b.eval + i * T, r->b.eval + i * T, rows, T, NULL, &loss, err))
            return err_prefix(err, "evaluation");
        sum += (double)loss * rows;
    }
    if (dist_sum_f64(&sum, 1, err)) return -1;
    *out = sum / (double)r->b.n_eval;
    return 0;
}

static int write_log(run *r, const char *kind, int64_t step, double loss, double lr, double norm,
                     double tps, char *err) {
    sqlite3_stmt *s;
    if (store_begin(r->st, err)) return -1;
    if (store_prepare(r->st,
                      "INSERT OR REPLACE INTO train_logs(run_id, kind, step, epoch, loss, "
                      "learning_rate, grad_norm, tokens_per_s, perplexity) VALUES "
                      "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      &s, err)) {
        store_rollback(r->st);
        return -1;
    }
    int eval = !strcmp(kind, "eval");
    sqlite3_bind_int64(s, 1, r->run_id);
    sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, step);
    sqlite3_bind_double(s, 4, (double)step / (double)r->spe);
    sqlite3_bind_double(s, 5, loss);
    if (!eval) {
        sqlite3_bind_double(s, 6, lr);
        sqlite3_bind_double(s, 7, norm);
        if (tps > 0) sqlite3_bind_double(s, 8, tps);
    } else {
        sqlite3_bind_double(s, 9, exp(loss));
    }
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        err_set(err, "train log: %s", sqlite3_errmsg(store_db(r->st)));
        store_rollback(r->st);
        return -1;
    }
    return store_commit(r->st, err);
}

/* Checkpoint at the current step in one transaction, with pruning and the
** run's new status. */
static int save(run *r, const char *status, int64_t *id, char *err) {
    size_t len;
    void *state = state_pack(&r->s, r->opt, &len);
    if (!state) return err_set(err, "checkpoint: out of memory");
    if (store_begin(r->st, err)) {
        free(state);
        return -1;
    }
    int bad =
        ckpt_put(r->st, r->run_id, r->s.step, &r->cfg, r->params, r->n, state, len, id, err) ||
        (r->p->save_total_limit > 0 && ckpt_prune(r->st, r->run_id, r->p->save_total_limit, err)) ||
        exec1(r->st, "UPDATE train_runs SET status = ?2 WHERE id = ?1", r->run_id, status, err) ||
        store_commit(r->st, err);
    free(state);
    if (bad) store_rollback(r->st);
    /* Give the pruned checkpoints' pages back to the file system. */
    else if (r->p->save_total_limit > 0)
        bad = store_reclaim(r->st, err);
    return bad ? -1 : 0;
}

/* One optimizer step: the micro-batches of step s of the current epoch
** (this process's share of them, then the sum over processes). */
static int train_step(run *r, int64_t s, double *loss, float *norm, char *err) {
    int B = r->p->batch_size, T = r->b.T;
    int64_t b0 = s * r->mbs, b1 = b0 + r->mbs;
    if (b1 > r->nb) b1 = r->nb;
    int64_t tokens = 0;
    for (int64_t j = b0; j < b1; j++) {
        int64_t rows = r->b.n_train - j * B < B ? r->b.n_train - j * B : B;
        tokens += rows * (T - 1);
    }
    memset(r->grads, 0, r->n * sizeof(float));
    *loss = 0;
    for (int64_t j = b0; j < b1; j++) {
        if ((j - b0) / r->p->grad_accum != r->rank) {
            /* another process's: draw what its forward draws, so the
            ** dropout stream stays the same everywhere */
            if (gpt_batch_draws(r->batch)) rng_u64(&r->s.dropout);
            continue;
        }
        int rows = (int)(r->b.n_train - j * B < B ? r->b.n_train - j * B : B);
        for (int i = 0; i < rows; i++)
            memcpy(r->ids + (size_t)i * T, r->b.train + r->perm[j * B + i] * T,
                   (size_t)T * sizeof(int32_t));
        float l;
        if (gpt_forward(r->batch, r->ids, r->ids, rows, T, &r->s.dropout, &l, err)) return -1;
        /* token weight of this micro-batch in the step's mean loss */
        double w = (double)rows * (T - 1) / (double)tokens;
        *loss += w * l;
        if (b1 - b0 == 1) {
            if (gpt_backward(r->batch, r->grads, err)) return -1;
            continue;
        }
        memset(r->tmp, 0, r->n * sizeof(float));
        if (gpt_backward(r->batch, r->tmp, err)) return -1;
        float wf = (float)w;
        for (size_t i = 0; i < r->n; i++)
            r->grads[i] += wf * r->tmp[i];
    }
    if (dist_sum_f32(r->grads, r->n, err) || dist_sum_f64(loss, 1, err)) return -1;
    *norm = adamw_grad_norm(r->grads, r->n);
    return 0;
}

static int loop(run *r, train_result *res, char *err) {
    const train_params *p = r->p;
    adamw_hparams hp;
    adamw_defaults(&hp);
    hp.beta1 = (float)p->adam_beta1;
    hp.beta2 = (float)p->adam_beta2;
    hp.eps = (float)p->adam_epsilon;
    hp.weight_decay = (float)p->weight_decay;
    progress pg;
    progress_begin(&pg, "train", "step", (double)r->total);
    if (r->rank) pg.enabled = 0; /* one bar for the job */
    progress_add(&pg, (double)r->s.step);
    double t_log = progress_now();
    int64_t tok_log = 0;
    while (r->s.step < r->total) {
        int64_t g = r->s.step, epoch = g / r->spe;
        epoch_order(r, epoch);
        double loss;
        float norm;
        if (train_step(r, g % r->spe, &loss, &norm, err))
            return err_prefix(err, "step %lld", (long long)g + 1);
        /* a diverged step is not applied: the checkpoints saved so far
        ** stay the last good ones */
        if (!isfinite(loss) || !isfinite(norm))
            return err_set(err,
                           "step %lld: the loss is %g and the gradient norm %g: training "
                           "diverged (try a lower --learning-rate); stopped without applying "
                           "the step, the checkpoints saved so far are kept",
                           (long long)g + 1, loss, (double)norm);
        double lr = p->learning_rate * train_lr_lambda(p, g, r->total);
        hp.lr = (float)lr;
        hp.grad_scale = adamw_clip_coef(norm, (float)p->max_grad_norm); /* clipping, fused */
        adamw_step(r->opt, r->params, r->grads, &hp);
        r->s.step = ++g;
        r->s.log_loss += loss;
        r->s.log_count++;
        int64_t s0 = (g - 1) % r->spe * r->mbs;
        for (int64_t j = s0; j < s0 + r->mbs && j < r->nb; j++) {
            int64_t rows = r->b.n_train - j * p->batch_size;
            tok_log += (rows < p->batch_size ? rows : p->batch_size) * r->b.T;
        }
        progress_add(&pg, 1);
        if (g % p->logging_steps == 0 || g == r->total) {
            double now = progress_now(), mean = r->s.log_loss / (double)r->s.log_count;
            double tps = now > t_log ? (double)tok_log / (now - t_log) : 0;
            if (!r->rank && write_log(r, "train", g, mean, lr, norm, tps, err)) return -1;
            if (p->verbose && !r->rank)
                fprintf(stderr,
                        "step %lld/%lld epoch %.2f loss %.4f lr %.3g grad_norm %.3f "
                        "tokens/s %.0f\n",
                        (long long)g, (long long)r->total, (double)g / r->spe, mean, lr, norm, tps);
            res->final_loss = mean;
            r->s.log_loss = 0;
            r->s.log_count = 0;
            t_log = now;
            tok_log = 0;
        }
        if ((g % r->spe == 0 || g == r->total) && r->b.n_eval > 0) {
            if (evaluate(r, &r->s.eval_loss, err)) return -1;
            if (!r->rank && write_log(r, "eval", g, r->s.eval_loss, 0, 0, 0, err)) return -1;
            if (p->verbose && !r->rank)
                fprintf(stderr, "step %lld epoch %.2f eval_loss %.4f perplexity %.2f\n",
                        (long long)g, (double)g / r->spe, r->s.eval_loss, exp(r->s.eval_loss));
        }
        int stop = train_stop && g < r->total;
        if (dist_max_int(&stop, err)) return -1; /* an interrupt stops every process */
        if (((p->save_steps > 0 && g % p->save_steps == 0) || g == r->total || stop) && !r->rank) {
            const char *status = g == r->total ? "done" : stop ? "interrupted" : "running";
            /* a finite loss can still leave infinite weights: never save them */
            if (gpt_params_check(&r->cfg, r->params, r->n, "training", err))
                return err_prefix(err,
                                  "step %lld: not saved, training diverged (try a lower "
                                  "--learning-rate)",
                                  (long long)g);
            if (save(r, status, &res->checkpoint, err)) return -1;
        }
        if (stop) {
            progress_end(&pg);
            return err_set(err,
                           "interrupted at step %lld of %lld (checkpoint %lld saved; the "
                           "same command resumes)",
                           (long long)g, (long long)r->total, (long long)res->checkpoint);
        }
    }
    progress_end(&pg);
    return 0;
}

/* Find or create the run with this identity; on resume load its newest
** checkpoint's parameters and state into r. */
static int open_run(run *r, const char *identity, const char *source, train_result *res,
                    char *err) {
    store *st = r->st;
    sqlite3_stmt *s;
    if (store_begin(st, err)) return -1;
    if (store_prepare(st, "SELECT id, status FROM train_runs WHERE identity = ?", &s, err))
        goto fail;
    sqlite3_bind_text(s, 1, identity, -1, SQLITE_STATIC);
    int found = sqlite3_step(s) == SQLITE_ROW;
    char status[16] = "";
    if (found) {
        r->run_id = sqlite3_column_int64(s, 0);
        snprintf(status, sizeof status, "%s", (const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    if (!found) {
        char *cfg = hf_config_json(&r->cfg, "float32"), *pj = train_params_json(r->p, err);
        if (!pj || store_prepare(st,
                                 "INSERT INTO train_runs(identity, block_set_id, model_source, "
                                 "config_json, params_json, status, total_steps) VALUES "
                                 "(?, ?, ?, ?, ?, 'running', ?)",
                                 &s, err)) {
            free(cfg);
            free(pj);
            goto fail;
        }
        sqlite3_bind_text(s, 1, identity, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, r->b.id);
        sqlite3_bind_text(s, 3, source, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, cfg, -1, free);
        sqlite3_bind_text(s, 5, pj, -1, free);
        sqlite3_bind_int64(s, 6, r->total);
        int rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE) {
            err_set(err, "train run: %s", sqlite3_errmsg(store_db(st)));
            goto fail;
        }
        r->run_id = sqlite3_last_insert_rowid(store_db(st));
    }
    if (store_commit(st, err)) goto fail;
    res->run_id = r->run_id;
    if (!found) return 0;
    int64_t id;
    char e2[ERR_LEN];
    if (ckpt_resolve(st, "latest", r->run_id, &id, e2)) return 0; /* killed before any save */
    gpt_config c;
    float *params;
    size_t n, state_n;
    void *state;
    if (ckpt_get(st, id, &c, &params, &n, &state, &state_n, NULL, NULL, err))
        return err_prefix(err, "resume run %lld", (long long)r->run_id);
    int bad = n != r->n || !state;
    if (bad)
        err_set(err, "resume run %lld: checkpoint %lld does not match the run",
                (long long)r->run_id, (long long)id);
    if (!bad) bad = state_unpack(state, state_n, &r->s, r->opt, err);
    if (!bad) memcpy(r->params, params, n * sizeof(float));
    free(params);
    free(state);
    if (bad) return -1;
    res->checkpoint = id;
    res->resumed_from = (int)r->s.step;
    res->already_done = !strcmp(status, "done") && r->s.step >= r->total;
    return 0;
fail:
    store_rollback(st);
    return -1;
}

/* Buffers, model, batch and optimizer for r's config, parameters and
** blocks; the dropout stream starts from the seed. */
static int run_alloc(run *r, char *err) {
    const train_params *p = r->p;
    r->grads = mem_huge_alloc(r->n * sizeof(float));
    r->tmp = r->mbs > 1 ? mem_huge_alloc(r->n * sizeof(float)) : NULL;
    r->ids = malloc((size_t)p->batch_size * r->b.T * sizeof(int32_t));
    r->perm = malloc((size_t)(r->b.n_train ? r->b.n_train : 1) * sizeof(int64_t));
    if (!r->grads || (r->mbs > 1 && !r->tmp) || !r->ids || !r->perm)
        return err_set(err, "train: out of memory");
    if (gpt_model_create(&r->cfg, r->params, &r->m, err) ||
        gpt_batch_create(r->m, p->batch_size, r->b.T, &r->batch, err) ||
        adamw_create(&r->cfg, &r->opt, err))
        return -1;
    rng_seed(&r->s.dropout, p->seed);
    r->s.eval_loss = NAN;
    return 0;
}

/* Process 0 (or the only one): read the blocks and the initial model, find
** or create the run and resume it. */
static int run_prepare(run *r, int64_t block_set_id, const train_source *src, train_result *res,
                       char *err) {
    const train_params *p = r->p;
    char source[1100];
    if (blocks_load(r->st, block_set_id, &r->b, err) ||
        source_load(r->st, src, p->seed, &r->cfg, &r->params, &r->n, source, sizeof source, err))
        return -1;
    if (p->dropout >= 0)
        r->cfg.embd_pdrop = r->cfg.attn_pdrop = r->cfg.resid_pdrop = (float)p->dropout;
    if (r->b.T > r->cfg.n_positions)
        return err_set(err, "block size %d exceeds the model's n_positions %d", r->b.T,
                       r->cfg.n_positions);
    r->nb = (r->b.n_train + p->batch_size - 1) / p->batch_size;
    r->spe = (r->nb + r->mbs - 1) / r->mbs;
    r->total = p->max_steps > 0 ? p->max_steps : (int64_t)ceil(p->epochs * (double)r->spe);
    /* identity: block set, initial model, result-changing parameters */
    char identity[HASH_HEX_LEN];
    char *pj = train_params_json(p, err);
    if (!pj) return -1;
    char *cfg_json = hf_config_json(&r->cfg, "float32");
    hash_state *h = hash_begin();
    hash_update(h, r->b.identity, strlen(r->b.identity) + 1);
    hash_update(h, cfg_json, strlen(cfg_json) + 1);
    hash_update(h, r->params, r->n * sizeof(float));
    hash_update(h, pj, strlen(pj) + 1);
    hash_end(h, identity);
    free(cfg_json);
    free(pj);
    if (run_alloc(r, err)) return -1;
    return open_run(r, identity, source, res, err);
}

/* What process 0 tells the others before training (data parallel). */
typedef struct run_header {
    int ok, done; /* process 0 is ready; the run had already finished */
    gpt_config cfg;
    uint64_t n, state_len;
    int T;
    int64_t n_train, n_eval, nb, spe, total, run_id, checkpoint;
} run_header;

/* Data parallel: process 0's blocks, model and training state to every
** process (the others allocate as they receive).  bad: process 0 failed
** preparing, which ends every process with an error. */
static int run_share(run *r, int bad, train_result *res, char *err) {
    run_header h = {0};
    size_t state_len = 0;
    void *state = NULL;
    if (!r->rank) {
        h.ok = !bad;
        h.done = res->already_done;
        if (h.ok && !h.done) {
            state = state_pack(&r->s, r->opt, &state_len);
            if (!state) h.ok = 0, err_set(err, "train: out of memory");
        }
        h.cfg = r->cfg;
        h.n = r->n;
        h.state_len = state_len;
        h.T = r->b.T;
        h.n_train = r->b.n_train;
        h.n_eval = r->b.n_eval;
        h.nb = r->nb, h.spe = r->spe, h.total = r->total;
        h.run_id = r->run_id, h.checkpoint = res->checkpoint;
    }
    if (dist_bcast(&h, sizeof h, err)) goto fail;
    if (!h.ok) {
        if (r->rank) err_set(err, "process 0 could not start the run");
        goto fail;
    }
    res->run_id = h.run_id;
    res->checkpoint = h.checkpoint;
    res->already_done = h.done;
    if (h.done) return 0;
    if (r->rank) {
        r->cfg = h.cfg;
        r->n = h.n;
        r->b.T = h.T;
        r->b.n_train = h.n_train;
        r->b.n_eval = h.n_eval;
        r->nb = h.nb, r->spe = h.spe, r->total = h.total, r->run_id = h.run_id;
        r->b.train = malloc(sizeof(int32_t) * (size_t)(h.n_train * h.T + 1));
        r->b.eval = malloc(sizeof(int32_t) * (size_t)(h.n_eval * h.T + 1));
        r->params = mem_huge_alloc(h.n * sizeof(float));
        state = malloc(h.state_len);
        /* a failure here ends the job (main aborts every process) */
        if (!r->b.train || !r->b.eval || !r->params || !state) {
            err_set(err, "train: out of memory");
            goto fail;
        }
        if (run_alloc(r, err)) goto fail;
    }
    if (dist_bcast(r->b.train, sizeof(int32_t) * (size_t)(h.n_train * h.T), err) ||
        dist_bcast(r->b.eval, sizeof(int32_t) * (size_t)(h.n_eval * h.T), err) ||
        dist_bcast(r->params, h.n * sizeof(float), err) || dist_bcast(state, h.state_len, err))
        goto fail;
    if (r->rank && state_unpack(state, h.state_len, &r->s, r->opt, err)) goto fail;
    free(state);
    return 0;
fail:
    free(state);
    return -1;
}

int stage_train(store *st, const train_params *p, int64_t block_set_id, const train_source *src,
                train_result *res, char *err) {
    memset(res, 0, sizeof *res);
    res->eval_loss = NAN;
    if (train_params_check(p, err)) return -1;
    if (p->processes != dist_size())
        return err_set(err, "processes %d, but %d are running", p->processes, dist_size());
    run r = {.st = st, .p = p, .perm_epoch = -1, .rank = dist_rank()};
    r.mbs = (int64_t)p->grad_accum * p->processes;
    int rc = -1;
    int bad = r.rank ? 0 : run_prepare(&r, block_set_id, src, res, err);
    if (p->processes > 1 ? run_share(&r, bad, res, err) : bad) goto out;
    res->steps = r.total;
    if (res->already_done) {
        res->eval_loss = r.s.eval_loss;
        rc = 0;
        goto out;
    }
    if (loop(&r, res, err)) {
        if (!train_stop && !r.rank) set_status(&r, "failed");
        goto out;
    }
    res->eval_loss = r.s.eval_loss;
    rc = 0;
out:
    adamw_free(r.opt);
    gpt_batch_free(r.batch);
    gpt_model_free(r.m);
    blocks_free(&r.b);
    free(r.params);
    free(r.grads);
    free(r.tmp);
    free(r.ids);
    free(r.perm);
    return rc;
}

/* ---- the recipe runner's stage ---- */

int run_train(store *st, const rcp_recipe *r, stage_ctx *ctx, char *err) {
    const rcp_train *t = &r->train;
    train_params p;
    train_params_of_recipe(t, &p);
    p.verbose = 1;
    int64_t block_set = 0;
    json_t *g = ctx->results[RCP_GROUP] ? json_loads(ctx->results[RCP_GROUP], 0, NULL) : NULL;
    if (json_is_integer(json_object_get(g, "block_set_id")))
        block_set = json_integer_value(json_object_get(g, "block_set_id"));
    json_decref(g);
    if (!block_set) return err_set(err, "train: no block set (enable the group stage)");
    gpt_config init;
    train_source src = {0};
    if (r->model.from) {
        src.model_dir = r->model.from;
    } else if (r->model.init.present) {
        gpt_config_default(&init);
        init.n_layer = (int)r->model.init.n_layer;
        init.n_head = (int)r->model.init.n_head;
        init.n_embd = (int)r->model.init.n_embd;
        init.n_positions = (int)r->model.init.n_positions;
        init.vocab_size = (int)r->model.init.vocab_size;
        src.init = &init;
    } else {
        return err_set(err, "train: no model (model.from or model.init)");
    }
    train_result res;
    if (stage_train(st, &p, block_set, &src, &res, err)) return -1;
    printf("  train run %lld: %lld steps%s, checkpoint %lld\n", (long long)res.run_id,
           (long long)res.steps, res.already_done ? " (already done)" : "",
           (long long)res.checkpoint);
    if (t->export) {
        gpt_config cfg;
        float *params;
        size_t n;
        if (ckpt_get(st, res.checkpoint, &cfg, &params, &n, NULL, NULL, NULL, NULL, err)) return -1;
        int bad = hf_save(t->export, &cfg, params, 0, r->tokenize.model, err);
        free(params);
        if (bad) return err_prefix(err, "train: export");
        printf("  exported to %s\n", t->export);
    }
    json_t *o = jw_object(err, "checkpoint_id", json_integer(res.checkpoint), "run_id",
                          json_integer(res.run_id), "steps", json_integer(res.steps), "final_loss",
                          json_real(res.final_loss));
    if (o && isfinite(res.eval_loss) && jw_set(o, "eval_loss", json_real(res.eval_loss), err)) {
        json_decref(o);
        o = NULL;
    }
    ctx->result_json = o ? jw_dumps(o, JSON_COMPACT | JSON_SORT_KEYS, "the result", err) : NULL;
    return ctx->result_json ? 0 : -1;
}

/* ---- quill train ---- */

/* Print quill train's usage, with the defaults of train_params_default(). */
static void train_usage(FILE *f) {
    train_params d;
    train_params_default(&d);
    fprintf(f,
            "usage: quill train (--model DIR | --init KEY=V,... | --checkpoint ID) [options]\n\n"
            "Train on a block set (from `quill group`) with Hugging Face Trainer's semantics,\n"
            "checkpointing into the store.  Run the same command again after an interruption\n"
            "(Ctrl-C saves a checkpoint at the next step; a kill loses at most save_steps\n"
            "steps) to resume exactly; a finished run only prints its final checkpoint.\n\n"
            "model:\n"
            "  --model DIR                Hugging Face GPT-2 directory to fine-tune\n"
            "  --init n_layer=4,n_head=4,n_embd=128,n_positions=64[,vocab_size=50257]\n"
            "                             a new GPT-2-initialised model (from --seed)\n"
            "  --checkpoint ID            a checkpoint in the store (e.g. from quill import)\n"
            "  --block-set ID             block set to train on (default: the newest)\n"
            "training (Trainer's defaults, as in a recipe's train section):\n"
            "  --epochs N (%g)  --max-steps N (%lld)  --batch-size N (%d)\n"
            "  --gradient-accumulation-steps N (%d)  --learning-rate X (%g)\n"
            "  --lr-scheduler linear|constant|cosine (%s)  --warmup-steps N (%lld)\n"
            "  --weight-decay X (%g)  --adam-beta1 X (%g)  --adam-beta2 X (%g)\n"
            "  --adam-epsilon X (%g)  --max-grad-norm X (%g; 0 = off)  --seed N (%llu)\n"
            "  --no-shuffle  --dropout P (default: the model config's)\n"
            "  --logging-steps N (%lld)  --save-steps N (%lld; 0 = only at the end)\n"
            "  --save-total-limit N (%d = keep all)  --quiet (no log lines on stderr)\n\n"
            "Prints the final checkpoint id on stdout (for quill export / generate).\n"
            "Under mpirun (mpirun -np W quill train ...) W processes train data-parallel:\n"
            "each takes --gradient-accumulation-steps micro-batches of every step.\n",
            d.epochs, (long long)d.max_steps, d.batch_size, d.grad_accum, d.learning_rate,
            sched_name(d.scheduler), (long long)d.warmup_steps, d.weight_decay, d.adam_beta1,
            d.adam_beta2, d.adam_epsilon, d.max_grad_norm, (unsigned long long)d.seed,
            (long long)d.logging_steps, (long long)d.save_steps, d.save_total_limit);
}

/* Parse --init's KEY=V,... over GPT-2 small's defaults: the shape keys
** with the recipe's model.init ranges, the dropouts in [0, 1] and
** layer_norm_epsilon in (0, 1]; a key given twice is an error. */
static int parse_init(const char *spec, gpt_config *cfg, char *err) {
    static const char *const keys[] = {"n_layer",     "n_head",      "n_embd",
                                       "n_positions", "vocab_size",  "embd_pdrop",
                                       "attn_pdrop",  "resid_pdrop", "layer_norm_epsilon"};
    enum { NKEYS = sizeof keys / sizeof *keys, NINTS = 5 };
    gpt_config_default(cfg);
    int *iv[NINTS] = {&cfg->n_layer, &cfg->n_head, &cfg->n_embd, &cfg->n_positions,
                      &cfg->vocab_size};
    float *fv[NKEYS - NINTS] = {&cfg->embd_pdrop, &cfg->attn_pdrop, &cfg->resid_pdrop,
                                &cfg->layer_norm_epsilon};
    int seen[NKEYS] = {0};
    char *copy = strdup(spec), *save = NULL;
    if (!copy) return err_set(err, "--init: out of memory");
    int rc = 0;
    for (char *kv = strtok_r(copy, ",", &save); kv && !rc; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            rc = err_set(err, "--init: '%s' is not KEY=VALUE", kv);
            break;
        }
        *eq = 0;
        size_t k = 0;
        while (k < NKEYS && strcmp(kv, keys[k]))
            k++;
        if (k == NKEYS) {
            rc = err_set(err, "--init: unknown key '%s'", kv);
        } else if (seen[k]++) {
            rc = err_set(err, "--init: %s is given twice", kv);
        } else if (k < NINTS) {
            rcp_range r;
            long long v;
            int found = rcp_key_range("init", kv, &r);
            assert(found == 0); /* the recipe's model.init has every shape key */
            (void)found;
            if (cli_int(eq + 1, (long long)r.min, (long long)r.max, &v))
                rc = err_set(err, "--init: %s '%s' is not a whole number in [%.0f, %.0f]", kv,
                             eq + 1, r.min, r.max);
            else
                *iv[k] = (int)v;
        } else {
            double v;
            int eps = !strcmp(kv, "layer_norm_epsilon");
            if (cli_float(eq + 1, 0, 1, eps, &v))
                rc = err_set(err, "--init: %s '%s' is not a number in %s0, 1]", kv, eq + 1,
                             eps ? "(" : "[");
            else
                *fv[k - NINTS] = (float)v;
        }
    }
    free(copy);
    return rc ? rc : gpt_config_check(cfg, err) ? err_prefix(err, "--init") : 0;
}

/* Ctrl-C, or SIGTERM (what mpirun sends every process on Ctrl-C, and
** what a job scheduler sends): stop at the next step with a checkpoint. */
static void on_stop_signal(int sig) {
    train_stop = 1;
    signal(sig, SIG_DFL); /* a second one kills at once */
}

int cmd_train(cli *c, int argc, char **argv) {
    enum {
        O_EPOCHS = 256,
        O_MAXSTEPS,
        O_BS,
        O_GA,
        O_LR,
        O_SCHED,
        O_WARM,
        O_WD,
        O_B1,
        O_B2,
        O_EPS,
        O_NORM,
        O_SEED,
        O_NOSHUF,
        O_DROP,
        O_LOG,
        O_SAVE,
        O_LIMIT,
        O_MODEL,
        O_INIT,
        O_CKPT,
        O_BLOCKS,
        O_QUIET,
        O_HELP
    };
    static const struct option opts[] = {
        {"epochs", required_argument, 0, O_EPOCHS},
        {"max-steps", required_argument, 0, O_MAXSTEPS},
        {"batch-size", required_argument, 0, O_BS},
        {"gradient-accumulation-steps", required_argument, 0, O_GA},
        {"learning-rate", required_argument, 0, O_LR},
        {"lr-scheduler", required_argument, 0, O_SCHED},
        {"warmup-steps", required_argument, 0, O_WARM},
        {"weight-decay", required_argument, 0, O_WD},
        {"adam-beta1", required_argument, 0, O_B1},
        {"adam-beta2", required_argument, 0, O_B2},
        {"adam-epsilon", required_argument, 0, O_EPS},
        {"max-grad-norm", required_argument, 0, O_NORM},
        {"seed", required_argument, 0, O_SEED},
        {"no-shuffle", no_argument, 0, O_NOSHUF},
        {"dropout", required_argument, 0, O_DROP},
        {"logging-steps", required_argument, 0, O_LOG},
        {"save-steps", required_argument, 0, O_SAVE},
        {"save-total-limit", required_argument, 0, O_LIMIT},
        {"model", required_argument, 0, O_MODEL},
        {"init", required_argument, 0, O_INIT},
        {"checkpoint", required_argument, 0, O_CKPT},
        {"block-set", required_argument, 0, O_BLOCKS},
        {"quiet", no_argument, 0, O_QUIET},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0}};
    train_params p;
    train_params_default(&p);
    p.verbose = 1;
    train_source src = {0};
    gpt_config init;
    int64_t block_set = 0;
    char err[ERR_LEN];
    int o, rc;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        long long iv = 0;
        double v = 0;
        switch (o) {
        case O_HELP:
            train_usage(stdout);
            return 0;
        case O_NOSHUF:
            p.shuffle = 0;
            continue;
        case O_QUIET:
            p.verbose = 0;
            continue;
        case O_MODEL:
            src.model_dir = optarg;
            continue;
        case O_INIT:
            if (parse_init(optarg, &init, err)) return cli_usage_error("train", "%s", err);
            src.init = &init;
            continue;
        case O_SCHED:
            if (!strcmp(optarg, "linear"))
                p.scheduler = TRAIN_LINEAR;
            else if (!strcmp(optarg, "constant"))
                p.scheduler = TRAIN_CONSTANT;
            else if (!strcmp(optarg, "cosine"))
                p.scheduler = TRAIN_COSINE;
            else
                return cli_usage_error(
                    "train", "--lr-scheduler '%s': use linear, constant or cosine", optarg);
            continue;
        case O_CKPT:
        case O_BLOCKS:
            if ((rc = cli_int_opt("train", o == O_CKPT ? "--checkpoint" : "--block-set", optarg, 1,
                                  LLONG_MAX, &iv)))
                return rc;
            *(o == O_CKPT ? &src.checkpoint : &block_set) = iv;
            continue;
        case '?':
        case ':':
            return cli_bad_option("train", o, argv);
        }
        if ((rc = cli_recipe_opt("train", "train", cli_option_name(opts, o), optarg, &iv, &v)))
            return rc;
        switch (o) {
        case O_EPOCHS:
            p.epochs = v;
            break;
        case O_MAXSTEPS:
            p.max_steps = iv;
            break;
        case O_BS:
            p.batch_size = (int)iv;
            break;
        case O_GA:
            p.grad_accum = (int)iv;
            break;
        case O_LR:
            p.learning_rate = v;
            break;
        case O_WARM:
            p.warmup_steps = iv;
            break;
        case O_WD:
            p.weight_decay = v;
            break;
        case O_B1:
            p.adam_beta1 = v;
            break;
        case O_B2:
            p.adam_beta2 = v;
            break;
        case O_EPS:
            p.adam_epsilon = v;
            break;
        case O_NORM:
            p.max_grad_norm = v;
            break;
        case O_SEED:
            p.seed = (uint64_t)iv;
            break;
        case O_DROP:
            p.dropout = v;
            break;
        case O_LOG:
            p.logging_steps = iv;
            break;
        case O_SAVE:
            p.save_steps = iv;
            break;
        case O_LIMIT:
            p.save_total_limit = (int)iv;
            break;
        }
    }
    if (optind < argc) return cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
    if (!!src.model_dir + (src.checkpoint > 0) + !!src.init != 1)
        return cli_usage_error("train", "give one of --model DIR, --init ... or --checkpoint ID");
    /* data parallel: process 0 alone opens the store (see train.h) */
    p.processes = dist_size();
    store *st = dist_rank() ? NULL : cli_store(c, STORE_WRITE);
    if (!st && !dist_rank()) return 1;
    train_result res;
    train_stop = 0;
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    int bad = stage_train(st, &p, block_set, &src, &res, err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (bad) {
        if (dist_size() > 1)
            cli_error("train (process %d of %d): %s", dist_rank(), dist_size(), err);
        else
            cli_error("train: %s", err);
        return train_stop ? 130 : 1;
    }
    if (dist_rank()) return 0; /* process 0 reports */
    if (res.already_done)
        fprintf(stderr, "run %lld already finished (%lld steps)\n", (long long)res.run_id,
                (long long)res.steps);
    else if (res.resumed_from)
        fprintf(stderr, "run %lld resumed at step %d and finished (%lld steps)\n",
                (long long)res.run_id, res.resumed_from, (long long)res.steps);
    printf("%lld\n", (long long)res.checkpoint);
    return 0;
}

/*
** The training engine (see trainer.h).
*/
#include "trainer.h"

#include "dist.h"
#include "err.h"
#include "jw.h"
#include "mem.h"
#include "progress.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The header has no padding: its size is the sum of its fields', which is
** what a stored state blob starts with. */
_Static_assert(sizeof(trn_state_header) == 8 + 8 + 32 + 8 + 8 + 8 + 8 + 8,
               "training-state header has padding");

/* The one table of scheduler names, indexed by trn_sched. */
static const char *const sched_names[TRN_N_SCHED] = {
    [TRN_LINEAR] = "linear", [TRN_CONSTANT] = "constant", [TRN_COSINE] = "cosine"};

const char *trn_sched_name(trn_sched s) {
    assert(s >= 0 && s < TRN_N_SCHED);
    return sched_names[s];
}

int trn_sched_parse(const char *name, trn_sched *out) {
    for (int i = 0; i < TRN_N_SCHED; i++)
        if (!strcmp(name, sched_names[i])) {
            *out = (trn_sched)i;
            return 0;
        }
    return -1;
}

void trn_params_of_recipe(const rcp_train *t, trn_params *p) {
    memset(p, 0, sizeof *p);
    p->epochs = t->epochs;
    p->max_steps = t->max_steps;
    p->batch_size = (int)t->batch_size;
    p->grad_accum = (int)t->gradient_accumulation_steps;
    p->learning_rate = t->learning_rate;
    /* the recipe's check allows only the three names */
    p->scheduler = TRN_LINEAR;
    int bad = t->lr_scheduler && trn_sched_parse(t->lr_scheduler, &p->scheduler);
    assert(!bad);
    (void)bad;
    p->warmup_steps = t->warmup_steps;
    p->weight_decay = t->weight_decay;
    p->adam_beta1 = t->adam_beta1;
    p->adam_beta2 = t->adam_beta2;
    p->adam_epsilon = t->adam_epsilon;
    p->max_grad_norm = t->max_grad_norm;
    p->seed = (uint64_t)t->seed;
    p->shuffle = t->shuffle;
    p->dropout = t->dropout;
    p->bf16 = t->bf16;
    p->logging_steps = t->logging_steps;
    p->save_steps = t->save_steps;
    p->save_total_limit = (int)t->save_total_limit;
    p->processes = 1;
}

void trn_params_default(trn_params *p) {
    rcp_train t;
    rcp_train_defaults(&t);
    trn_params_of_recipe(&t, p);
    rcp_train_free(&t);
}

int trn_params_check(const trn_params *p, char *err) {
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

char *trn_params_json(const trn_params *p, char *err) {
    json_t *o = jw_object(
        err, "epochs", json_real(p->epochs), "max_steps", json_integer(p->max_steps), "batch_size",
        json_integer(p->batch_size), "gradient_accumulation_steps", json_integer(p->grad_accum),
        "learning_rate", json_real(p->learning_rate), "lr_scheduler",
        json_string(trn_sched_name(p->scheduler)), "warmup_steps", json_integer(p->warmup_steps),
        "weight_decay", json_real(p->weight_decay), "adam_beta1", json_real(p->adam_beta1),
        "adam_beta2", json_real(p->adam_beta2), "adam_epsilon", json_real(p->adam_epsilon),
        "max_grad_norm", json_real(p->max_grad_norm), "seed", json_integer((json_int_t)p->seed),
        "shuffle", json_boolean(p->shuffle), "dropout", json_real(p->dropout));
    /* only when data parallel or in bf16, so other identities stay as they were */
    if (o && ((p->processes > 1 && jw_set(o, "processes", json_integer(p->processes), err)) ||
              (p->bf16 && jw_set(o, "bf16", json_true(), err)))) {
        json_decref(o);
        o = NULL;
    }
    if (!o) return NULL;
    return jw_dumps(o, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(17), "the parameters",
                    err);
}

double trn_lr_lambda(const trn_params *p, int64_t step, int64_t total) {
    int64_t w = p->warmup_steps;
    if (step < w) return (double)step / (double)(w > 1 ? w : 1);
    double rest = (double)(total - w > 1 ? total - w : 1);
    if (p->scheduler == TRN_CONSTANT) return 1.0;
    if (p->scheduler == TRN_LINEAR) return fmax(0.0, (double)(total - step) / rest);
    double progress = (double)(step - w) / rest; /* cosine, num_cycles 0.5 */
    return fmax(0.0, 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * progress)));
}

/* Block order of an epoch: identity, or a Fisher-Yates permutation from a
** stream derived from (seed, epoch) so any epoch can be rebuilt on resume. */
static void epoch_order(trn *t, int64_t epoch) {
    if (t->perm_epoch == epoch) return;
    int64_t n = t->b.n_train;
    for (int64_t i = 0; i < n; i++)
        t->perm[i] = i;
    if (t->p->shuffle) {
        rng g;
        rng_seed(&g, rng_derive(t->p->seed, (uint64_t)epoch));
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)rng_below(&g, (uint64_t)i + 1), swap = t->perm[i];
            t->perm[i] = t->perm[j];
            t->perm[j] = swap;
        }
    }
    t->perm_epoch = epoch;
}

/* Mean eval loss over every predicted token of the eval blocks. */
static int evaluate(trn *t, double *out, char *err) {
    assert(t->b.n_eval > 0 && t->b.eval);
    int B = t->p->batch_size, T = t->b.T;
    double sum = 0;
    for (int64_t i = 0; i < t->b.n_eval; i += B) {
        if (i / B % t->p->processes != t->rank) continue; /* another process's batch */
        int rows = (int)(t->b.n_eval - i < B ? t->b.n_eval - i : B);
        float loss;
        if (gpt_forward(t->batch, t->b.eval + i * T, t->b.eval + i * T, rows, T, NULL, &loss, err))
            return err_prefix(err, "evaluation");
        sum += (double)loss * rows;
    }
    if (dist_sum_f64(&sum, 1, err)) return -1;
    *out = sum / (double)t->b.n_eval;
    return 0;
}

/* One optimizer step: the micro-batches of step s of the current epoch
** (this process's share of them, then the sum over processes). */
static int train_step(trn *t, int64_t s, double *loss, float *norm, char *err) {
    int B = t->p->batch_size, T = t->b.T;
    int64_t b0 = s * t->mbs, b1 = b0 + t->mbs;
    if (b1 > t->nb) b1 = t->nb;
    assert(s >= 0 && s < t->spe && b0 < b1); /* a step has at least one micro-batch */
    int64_t tokens = 0;
    for (int64_t j = b0; j < b1; j++) {
        int64_t rows = t->b.n_train - j * B < B ? t->b.n_train - j * B : B;
        tokens += rows * (T - 1);
    }
    int have = 0; /* t->grads holds this process's part of the step */
    *loss = 0;
    for (int64_t j = b0; j < b1; j++) {
        if ((j - b0) / t->p->grad_accum != t->rank) {
            /* another process's: draw what its forward draws, so the
            ** dropout stream stays the same everywhere */
            if (gpt_batch_draws(t->batch)) rng_u64(&t->s.dropout);
            continue;
        }
        int rows = (int)(t->b.n_train - j * B < B ? t->b.n_train - j * B : B);
        assert(rows >= 1 && t->perm_epoch >= 0);
        for (int i = 0; i < rows; i++)
            memcpy(t->ids + (size_t)i * T, t->b.train + t->perm[j * B + i] * T,
                   (size_t)T * sizeof(int32_t));
        float l;
        if (gpt_forward(t->batch, t->ids, t->ids, rows, T, &t->s.dropout, &l, err)) return -1;
        /* token weight of this micro-batch in the step's mean loss */
        double w = (double)rows * (T - 1) / (double)tokens;
        *loss += w * l;
        if (b1 - b0 == 1) {
            if (gpt_backward(t->batch, t->grads, err)) return -1;
            have = 1;
            continue;
        }
        if (gpt_backward(t->batch, t->tmp, err)) return -1;
        const float wf = (float)w;
        if (have) {
#pragma omp parallel for simd schedule(static)
            for (size_t i = 0; i < t->n; i++)
                t->grads[i] += wf * t->tmp[i];
        } else { /* 0 + w g: the bytes of adding to zeroed gradients */
#pragma omp parallel for simd schedule(static)
            for (size_t i = 0; i < t->n; i++)
                t->grads[i] = 0.0f + wf * t->tmp[i];
        }
        have = 1;
    }
    if (!have) adamw_zero_grads(t->grads, t->n); /* no micro-batch of this step here */
    if (dist_sum_f32(t->grads, t->n, err) || dist_sum_f64(loss, 1, err)) return -1;
    *norm = adamw_grad_norm(t->grads, t->n);
    return 0;
}

void trn_plan(trn *t) {
    const trn_params *p = t->p;
    assert(t->b.n_train >= 1 && p->batch_size >= 1 && p->grad_accum >= 1 && p->processes >= 1);
    t->mbs = (int64_t)p->grad_accum * p->processes;
    t->nb = (t->b.n_train + p->batch_size - 1) / p->batch_size;
    t->spe = (t->nb + t->mbs - 1) / t->mbs;
    t->total = p->max_steps > 0 ? p->max_steps : (int64_t)ceil(p->epochs * (double)t->spe);
    t->perm_epoch = -1;
}

int trn_alloc(trn *t, char *err) {
    const trn_params *p = t->p;
    assert(t->mbs >= 1 && t->b.T >= 2 && t->params); /* trn_plan ran, a model is there */
    t->grads = mem_huge_alloc(t->n * sizeof(float));
    t->tmp = t->mbs > 1 ? mem_huge_alloc(t->n * sizeof(float)) : NULL;
    t->ids = malloc((size_t)p->batch_size * t->b.T * sizeof(int32_t));
    t->perm = malloc((size_t)(t->b.n_train ? t->b.n_train : 1) * sizeof(int64_t));
    if (!t->grads || (t->mbs > 1 && !t->tmp) || !t->ids || !t->perm)
        return err_set(err, "train: out of memory");
    if (gpt_model_create(&t->cfg, t->params, &t->m, err) ||
        gpt_batch_create(t->m, p->batch_size, t->b.T, &t->batch, err) ||
        adamw_create(&t->cfg, &t->opt, err))
        return -1;
    gpt_model_set_bf16(t->m, p->bf16);
    rng_seed(&t->s.dropout, p->seed);
    t->s.eval_loss = NAN;
    return 0;
}

void trn_free(trn *t) {
    adamw_free(t->opt);
    gpt_batch_free(t->batch);
    gpt_model_free(t->m);
    free(t->params);
    free(t->grads);
    free(t->tmp);
    free(t->ids);
    free(t->perm);
    t->opt = NULL, t->batch = NULL, t->m = NULL, t->params = t->grads = t->tmp = NULL;
    t->ids = NULL, t->perm = NULL;
}

void *trn_state_pack(const trn *t, size_t *len) {
    const adamw *a = t->opt;
    assert(a && a->n == t->n);
    trn_state_header h;
    memcpy(h.magic, TRN_STATE_MAGIC, sizeof h.magic);
    h.step = t->s.step;
    memcpy(h.rng, t->s.dropout.s, sizeof h.rng);
    h.log_loss = t->s.log_loss;
    h.log_count = t->s.log_count;
    h.eval_loss = t->s.eval_loss;
    h.adam_step = a->step;
    h.n_moments = a->n;
    *len = sizeof h + 2 * a->n * sizeof(float);
    unsigned char *b = malloc(*len);
    if (!b) return NULL;
    memcpy(b, &h, sizeof h);
    memcpy(b + sizeof h, a->m, a->n * sizeof(float));
    memcpy(b + sizeof h + a->n * sizeof(float), a->v, a->n * sizeof(float));
    return b;
}

int trn_state_unpack(trn *t, const void *blob, size_t len, char *err) {
    adamw *a = t->opt;
    assert(a);
    trn_state_header h;
    if (len < sizeof h || memcmp(blob, TRN_STATE_MAGIC, sizeof h.magic))
        return err_set(err, "training state: not a quill training state");
    memcpy(&h, blob, sizeof h);
    if (h.n_moments != a->n || len != sizeof h + 2 * h.n_moments * sizeof(float))
        return err_set(err, "training state: %llu moments for %zu parameters",
                       (unsigned long long)h.n_moments, a->n);
    if (h.adam_step != h.step || h.step < 0 || h.log_count < 0)
        return err_set(err, "training state: step %lld, optimizer step %lld, %lld logged",
                       (long long)h.step, (long long)h.adam_step, (long long)h.log_count);
    t->s.step = h.step;
    memcpy(t->s.dropout.s, h.rng, sizeof h.rng);
    t->s.log_loss = h.log_loss;
    t->s.log_count = h.log_count;
    t->s.eval_loss = h.eval_loss;
    a->step = (long)h.adam_step;
    const unsigned char *q = (const unsigned char *)blob + sizeof h;
    memcpy(a->m, q, a->n * sizeof(float));
    memcpy(a->v, q + a->n * sizeof(float), a->n * sizeof(float));
    return 0;
}

/* What the loop keeps between logging steps. */
typedef struct window {
    progress pg;
    double t_log;    /* when the window began */
    int64_t tok_log; /* tokens trained since */
    adamw_hparams hp;
} window;

/* Tokens of optimizer step g-1 of its epoch (all processes' micro-batches). */
static int64_t step_tokens(const trn *t, int64_t g) {
    int B = t->p->batch_size;
    int64_t s0 = (g - 1) % t->spe * t->mbs, tok = 0;
    for (int64_t j = s0; j < s0 + t->mbs && j < t->nb; j++) {
        int64_t rows = t->b.n_train - j * B;
        tok += (rows < B ? rows : B) * t->b.T;
    }
    return tok;
}

/* Step t->s.step + 1: its micro-batches, then (unless it diverged) the
** scheduled, clipped AdamW update.  *lr and *norm: the step's. */
static int step_apply(trn *t, window *w, double *lr, float *norm, char *err) {
    const trn_params *p = t->p;
    int64_t g = t->s.step;
    epoch_order(t, g / t->spe);
    double loss;
    if (train_step(t, g % t->spe, &loss, norm, err))
        return err_prefix(err, "step %lld", (long long)g + 1);
    /* a diverged step is not applied: the checkpoints saved so far stay
    ** the last good ones */
    if (!isfinite(loss) || !isfinite(*norm))
        return err_set(err,
                       "step %lld: the loss is %g and the gradient norm %g: training "
                       "diverged (try a lower --learning-rate); stopped without applying "
                       "the step, the checkpoints saved so far are kept",
                       (long long)g + 1, loss, (double)*norm);
    *lr = p->learning_rate * trn_lr_lambda(p, g, t->total);
    w->hp.lr = (float)*lr;
    w->hp.grad_scale = adamw_clip_coef(*norm, (float)p->max_grad_norm); /* clipping, fused */
    adamw_step(t->opt, t->params, t->grads, &w->hp);
    t->s.step = ++g;
    t->s.log_loss += loss;
    t->s.log_count++;
    assert(t->opt->step == t->s.step && t->s.step <= t->total); /* unpack checks it */
    w->tok_log += step_tokens(t, g);
    progress_add(&w->pg, 1);
    return 0;
}

/* At a logging step: the window's mean loss to the sink (and stderr). */
static int log_train(trn *t, const trn_sink *sink, window *w, double lr, float norm,
                     double *final_loss, char *err) {
    int64_t g = t->s.step;
    assert(t->s.log_count > 0);
    double now = progress_now(), mean = t->s.log_loss / (double)t->s.log_count;
    double tps = now > w->t_log ? (double)w->tok_log / (now - w->t_log) : 0;
    trn_log l = {"train", g, (double)g / (double)t->spe, mean, lr, norm, tps};
    if (!t->rank && sink->log(sink->ctx, &l, err)) return -1;
    if (t->p->verbose && !t->rank)
        fprintf(stderr,
                "step %lld/%lld epoch %.2f loss %.4f lr %.3g grad_norm %.3f tokens/s %.0f\n",
                (long long)g, (long long)t->total, l.epoch, mean, lr, norm, tps);
    *final_loss = mean;
    t->s.log_loss = 0;
    t->s.log_count = 0;
    w->t_log = now;
    w->tok_log = 0;
    return 0;
}

/* At an epoch's end (and the last step): the eval loss, logged. */
static int log_eval(trn *t, const trn_sink *sink, char *err) {
    int64_t g = t->s.step;
    if (evaluate(t, &t->s.eval_loss, err)) return -1;
    trn_log l = {"eval", g, (double)g / (double)t->spe, t->s.eval_loss, 0, 0, 0};
    if (!t->rank && sink->log(sink->ctx, &l, err)) return -1;
    if (t->p->verbose && !t->rank)
        fprintf(stderr, "step %lld epoch %.2f eval_loss %.4f perplexity %.2f\n", (long long)g,
                l.epoch, t->s.eval_loss, exp(t->s.eval_loss));
    return 0;
}

/* A checkpoint through the sink, never of non-finite weights. */
static int save(trn *t, const trn_sink *sink, const char *status, int64_t *checkpoint, char *err) {
    /* a finite loss can still leave infinite weights: never save them */
    if (gpt_params_check(&t->cfg, t->params, t->n, "training", err))
        return err_prefix(err,
                          "step %lld: not saved, training diverged (try a lower "
                          "--learning-rate)",
                          (long long)t->s.step);
    return sink->save(sink->ctx, t, status, checkpoint, err);
}

/* After step g: log, evaluate and save as the parameters say; *stop is
** set when every process is to stop here. */
static int after_step(trn *t, const trn_sink *sink, window *w, double lr, float norm,
                      double *final_loss, int64_t *checkpoint, int *stop, char *err) {
    const trn_params *p = t->p;
    int64_t g = t->s.step;
    if ((g % p->logging_steps == 0 || g == t->total) &&
        log_train(t, sink, w, lr, norm, final_loss, err))
        return -1;
    if ((g % t->spe == 0 || g == t->total) && t->b.n_eval > 0 && log_eval(t, sink, err)) return -1;
    *stop = t->stop && *t->stop && g < t->total;
    if (dist_max_int(stop, err)) return -1; /* an interrupt stops every process */
    if (((p->save_steps > 0 && g % p->save_steps == 0) || g == t->total || *stop) && !t->rank) {
        const char *status = g == t->total ? "done" : *stop ? "interrupted" : "running";
        if (save(t, sink, status, checkpoint, err)) return -1;
    }
    return 0;
}

int trn_loop(trn *t, const trn_sink *sink, double *final_loss, int64_t *checkpoint, char *err) {
    const trn_params *p = t->p;
    assert(t->opt && t->s.step >= 0 && t->s.step <= t->total);
    window w = {.tok_log = 0};
    adamw_defaults(&w.hp);
    w.hp.beta1 = (float)p->adam_beta1;
    w.hp.beta2 = (float)p->adam_beta2;
    w.hp.eps = (float)p->adam_epsilon;
    w.hp.weight_decay = (float)p->weight_decay;
    progress_begin(&w.pg, "train", "step", (double)t->total);
    if (t->rank) w.pg.enabled = 0; /* one bar for the job */
    progress_add(&w.pg, (double)t->s.step);
    w.t_log = progress_now();
    while (t->s.step < t->total) {
        double lr = 0;
        float norm = 0;
        int stop = 0;
        if (step_apply(t, &w, &lr, &norm, err) ||
            after_step(t, sink, &w, lr, norm, final_loss, checkpoint, &stop, err))
            return -1;
        if (stop) {
            progress_end(&w.pg);
            return err_set(err,
                           "interrupted at step %lld of %lld (checkpoint %lld saved; the "
                           "same command resumes)",
                           (long long)t->s.step, (long long)t->total, (long long)*checkpoint);
        }
    }
    progress_end(&w.pg);
    return 0;
}

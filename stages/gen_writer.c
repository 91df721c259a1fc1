/*
** The generate job's writer; see gen_writer.h.
*/
#include "gen_writer.h"
#include "outputs.h"

#include "err.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

char *gwr_params(const gen_request *r, size_t i, int identity, char *err) {
    gen_request q;
    gen_row_request(r, i, &q);
    if (identity) { /* an output's own seed stands for the request's seed and count */
        q.seed = 0;
        q.num_return_sequences = 1;
        q.raw_seed = 1;
        q.meta = NULL;
    }
    return gen_params_json(&q, err);
}

int gwr_init(gen_writer *w, const gen_request *r, int bar, char *err) {
    w->r = r;
    w->n = gen_n_outputs(r);
    w->next = 0;
    w->held = calloc(w->n, sizeof *w->held);
    w->have = calloc(w->n, 1);
    w->in_txn = 0;
    w->params = w->id_params = NULL;
    w->params_of = SIZE_MAX;
    w->written = w->stored_new = 0;
    memset(w->reason, 0, sizeof w->reason);
    memset(w->reason_n, 0, sizeof w->reason_n);
    if (!w->held || !w->have) return err_set(err, "generate: out of memory");
    size_t todo = 0;
    for (size_t k = 0; k < w->n; k++)
        todo += !(r->skip && r->skip[k]);
    progress_begin(&w->bar, "generate", "outputs", (double)todo);
    if (!bar) w->bar.enabled = 0;
    return 0;
}

/* w's parameters for prompt i (every prompt's are the same without rows). */
static int params_for(gen_writer *w, size_t i, char *err) {
    if (!w->r->rows) i = 0;
    if (w->params_of == i) return 0;
    free(w->params), free(w->id_params);
    w->params = gwr_params(w->r, i, 0, err);
    w->id_params = w->params ? gwr_params(w->r, i, 1, err) : NULL;
    w->params_of = w->id_params ? i : SIZE_MAX;
    return w->id_params ? 0 : err_prefix(err, "outputs");
}

int gwr_store(gen_writer *w, const gen_output *o, int *created, char *err) {
    if (params_for(w, o->prompt_index, err)) return -1;
    const char *pr = w->r->prompts[o->prompt_index];
    outputs_ident ident;
    outputs_identity(w->model_key, pr, strlen(pr), w->id_params, o->seed, &ident);
    outputs_row row = {
        w->recipe_run_id, w->recipe_name,  w->model_source, w->checkpoint_id, pr,
        strlen(pr),       o->continuation, o->cont_len,     o->ids,           o->n_ids,
        w->params,        o->finish,       &ident};
    return outputs_insert(w->st, &row, created, err);
}

/* Count o's finish reason. */
static void count_reason(gen_writer *w, const char *finish) {
    for (int i = 0; i < GWR_REASONS; i++) {
        if (!w->reason[i]) w->reason[i] = finish;
        if (!strcmp(w->reason[i], finish)) {
            w->reason_n[i]++;
            return;
        }
    }
}

/* Store (when there is a store), print and count output o, the next one. */
static int write_one(gen_writer *w, const gen_output *o, char *err) {
    if (w->st) {
        if (!w->in_txn) {
            if (store_begin(w->st, err)) return -1;
            w->in_txn = 1;
            w->txn_n = 0;
            w->txn_t = progress_now();
        }
        int created;
        if (gwr_store(w, o, &created, err)) return -1;
        w->txn_n++;
        w->stored_new += created;
    }
    if (w->print && w->print(w->print_ctx, w->r, o, err)) return -1;
    count_reason(w, o->finish);
    w->written++;
    progress_add(&w->bar, 1);
    return 0;
}

/* Write the held outputs that are next in order. */
static int drain(gen_writer *w, char *err) {
    while (w->next < w->n) {
        const size_t k = w->next;
        if (w->r->skip && w->r->skip[k]) {
            w->next++;
            continue;
        }
        if (!w->have[k]) break;
        int rc = write_one(w, &w->held[k], err);
        free(w->held[k].continuation), free(w->held[k].ids);
        w->held[k].continuation = NULL, w->held[k].ids = NULL;
        w->have[k] = 0;
        if (rc) return -1;
        w->next++;
    }
    return 0;
}

/* Commit the open transaction now (force), or when it is big or old. */
static int commit_due(gen_writer *w, int force, char *err) {
    if (!w->in_txn) return 0;
    if (!force && w->txn_n < GWR_BATCH && progress_now() - w->txn_t < GWR_MS / 1e3) return 0;
    w->in_txn = 0;
    return store_commit(w->st, err);
}

int gwr_output(void *ctx, size_t k, const gen_output *o, char *err) {
    gen_writer *w = ctx;
    assert(k < w->n && !w->have[k] && k >= w->next);
    gen_output *h = &w->held[k];
    *h = *o;
    h->continuation = malloc(o->cont_len + 1);
    h->ids = malloc((o->n_ids + 1) * sizeof *h->ids);
    if (!h->continuation || !h->ids) {
        free(h->continuation), free(h->ids);
        return err_set(err, "generate: out of memory");
    }
    memcpy(h->continuation, o->continuation, o->cont_len + 1);
    memcpy(h->ids, o->ids, o->n_ids * sizeof *h->ids);
    w->have[k] = 1;
    return drain(w, err) || commit_due(w, 0, err) ? -1 : 0;
}

int gwr_step(void *ctx, char *err) {
    return commit_due(ctx, 0, err);
}

int gwr_finish(gen_writer *w, char *err) {
    if (drain(w, err) || commit_due(w, 1, err)) return -1;
    assert(w->next == w->n);
    progress_end(&w->bar);
    return 0;
}

void gwr_free(gen_writer *w) {
    if (w->in_txn) store_rollback(w->st);
    for (size_t k = 0; w->held && k < w->n; k++)
        free(w->held[k].continuation), free(w->held[k].ids);
    free(w->held), free(w->have), free(w->params), free(w->id_params);
    w->held = NULL;
    w->have = NULL;
    w->params = w->id_params = NULL;
}

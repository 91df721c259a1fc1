/*
** The generate stage and the recipe runner's generate stage; see
** generate.h.  The engine is core/gen.c, the commands generate_cli.c and
** next.c.
*/
#include "generate.h"
#include "gen_mpi.h"
#include "lm.h"
#include "outputs.h"
#include "pfile.h"

#include "dist.h"
#include "err.h"
#include "jw.h"
#include "recipe.h"
#include "run.h"
#include "slurp.h"

#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gen_model_key(const char *model_dir, int64_t checkpoint_id, char out[GEN_KEY_LEN], char *err) {
    assert(!model_dir != !checkpoint_id);
    if (checkpoint_id) {
        snprintf(out, GEN_KEY_LEN, "checkpoint:%lld", (long long)checkpoint_id);
        return 0;
    }
    char h[HASH_HEX_LEN];
    char *const dirs[1] = {(char *)model_dir};
    if (run_inputs_hash(dirs, 1, h, err)) return err_prefix(err, "model");
    snprintf(out, GEN_KEY_LEN, "dir:%s", h);
    return 0;
}

int gen_identities(const gen_request *r, const char *model_key, outputs_ident *ids, char *err) {
    char *params = NULL;
    size_t k = 0;
    for (size_t i = 0; i < r->n_prompts; i++) {
        if (i == 0 || r->rows) {
            free(params);
            if (!(params = gwr_params(r, i, 1, err))) return err_prefix(err, "outputs");
        }
        gen_request q;
        gen_row_request(r, i, &q);
        for (int j = 0; j < q.num_return_sequences; j++, k++)
            outputs_identity(model_key, r->prompts[i], strlen(r->prompts[i]), params,
                             gen_output_seed(r, i, j, k), &ids[k]);
    }
    free(params);
    return 0;
}

int gen_store_outputs(store *st, const gen_request *r, const gen_output *o, size_t n,
                      const char *model_source, const char *model_key, int64_t checkpoint_id,
                      int64_t recipe_run_id, const char *recipe_name, size_t *n_new, char *err) {
    gen_writer w = {.st = st,
                    .r = r,
                    .model_source = model_source,
                    .model_key = model_key,
                    .recipe_name = recipe_name,
                    .checkpoint_id = checkpoint_id,
                    .recipe_run_id = recipe_run_id,
                    .params_of = SIZE_MAX};
    int rc = 0;
    *n_new = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int created;
        rc = gwr_store(&w, &o[i], &created, err);
        *n_new += !rc && created;
    }
    gwr_free(&w);
    return rc;
}

/* Which of r's outputs the store holds (model_key as gen_model_key): *skip
** (malloc'd, one flag per output), *known of them. */
static int known_outputs(store *st, const gen_request *r, const char *model_key, uint8_t **skip,
                         size_t *known, char *err) {
    size_t n = gen_n_outputs(r);
    outputs_ident *ids = malloc((n + 1) * sizeof *ids);
    *skip = calloc(n + 1, 1);
    if (!ids || !*skip) {
        free(ids);
        return err_set(err, "generate: out of memory");
    }
    int rc = gen_identities(r, model_key, ids, err) || outputs_known(st, ids, n, *skip, known, err);
    free(ids);
    return rc ? -1 : 0;
}

/* The summary of a job whose writer is w and engine stats st. */
static void summarize(const gen_writer *w, const gen_stats *st, size_t known, gen_summary *sum) {
    sum->outputs = w->n;
    sum->known = known;
    sum->written = w->written;
    sum->stored_new = w->stored_new;
    sum->stats = *st;
    memcpy(sum->reason, w->reason, sizeof sum->reason);
    memcpy(sum->reason_n, w->reason_n, sizeof sum->reason_n);
}

/* Generate j's request with model l into writer w (set up here). */
static int run_job(const gen_job *j, lm_model *l, gen_writer *w, gen_summary *sum, char *err) {
    gen_request q = *j->r;
    char key[GEN_KEY_LEN] = "";
    uint8_t *skip = NULL;
    size_t known = 0;
    gen_stats st = {0};
    int rc = 0;
    if (w->st) rc = gen_model_key(l->ckpt_id ? NULL : l->source, l->ckpt_id, key, err);
    if (!rc && w->st && j->resume) rc = known_outputs(w->st, &q, key, &skip, &known, err);
    q.skip = skip;
    const gen_sink sink = {gwr_output, gwr_step, w};
    q.sink = &sink;
    w->model_source = l->source;
    w->model_key = key;
    w->checkpoint_id = l->ckpt_id;
    if (!rc) rc = gwr_init(w, &q, j->bar, err);
    gen_output *o;
    size_t no;
    if (!rc && dist_size() > 1)
        rc = gmpi_run(l->m, l->t, &q, w, &st, err);
    else if (!rc && known < w->n)
        rc = gen_run(l->m, l->t, &q, &o, &no, &st, err);
    if (!rc && !dist_rank()) rc = gwr_finish(w, err);
    if (!rc && sum) summarize(w, &st, known, sum);
    free(skip);
    return rc;
}

int stage_generate(const gen_job *j, gen_summary *sum, char *err) {
    lm_model l;
    if (lm_load(j->st, j->model_dir, j->checkpoint, &l, err)) return -1;
    int rc = gpt_model_prepare_generation(l.m, j->r->bf16, err); /* part of loading: not timed */
    gen_writer w = {.st = j->st && j->record ? j->st : NULL,
                    .recipe_name = j->recipe_name,
                    .recipe_run_id = j->recipe_run_id,
                    .print = j->print,
                    .print_ctx = j->print_ctx};
    if (!rc) rc = run_job(j, &l, &w, sum, err);
    gwr_free(&w);
    lm_free(&l);
    return rc;
}

void gen_print_summary(FILE *f, const gen_summary *s, int record) {
    const gen_stats *t = &s->stats;
    fprintf(f, "generate: %zu outputs: %zu generated", s->outputs, s->written);
    if (record) fprintf(f, " (%zu new in the store), %zu already stored", s->stored_new, s->known);
    fprintf(f, "; %ld tokens, %.1f tokens/s; constraints %.1f%% of the time; ended:", t->tokens,
            t->seconds > 0 ? t->tokens / t->seconds : 0,
            t->seconds > 0 ? 100 * t->cons_seconds / t->seconds : 0);
    for (int i = 0; i < GWR_REASONS && s->reason[i]; i++)
        fprintf(f, " %s %zu", s->reason[i], s->reason_n[i]);
    fprintf(f, "\n");
}

/* ---- recipe runner ---- */

/* One recipe job as a gen_request; the arrays are malloc'd into *bad_ids,
** *bad_off, *sup and the vocabulary's words (free them after use). */
static int request_of_job(const rcp_gen *j, gen_request *q, int32_t **bad_ids, size_t **bad_off,
                          int32_t **sup, char ***vocab, char *err) {
    gen_request_defaults(q);
    q->prompts = (const char *const *)j->prompts.v;
    q->n_prompts = j->prompts.n;
    q->num_return_sequences = (int)j->num_return_sequences;
    q->seed = (uint64_t)j->seed;
    q->bf16 = strcmp(j->dtype, "float32") != 0;
    samp_params *p = &q->sp;
    p->do_sample = j->do_sample;
    p->temperature = (float)j->temperature;
    p->top_k = (int)j->top_k;
    p->top_p = (float)j->top_p;
    p->min_p = (float)j->min_p;
    p->typical_p = (float)j->typical_p;
    p->repetition_penalty = (float)j->repetition_penalty;
    p->no_repeat_ngram_size = (int)j->no_repeat_ngram_size;
    p->min_new_tokens = (int)j->min_new_tokens;
    p->max_new_tokens = j->max_new_tokens ? (int)j->max_new_tokens : -1;
    if (j->max_length) p->max_length = (int)j->max_length;
    p->ignore_eos = j->ignore_eos;
    p->stop = (const char *const *)j->stop_strings.v;
    p->n_stop = j->stop_strings.n;
    size_t total = 0;
    for (size_t i = 0; i < j->bad_words_ids.n; i++)
        total += j->bad_words_ids.v[i].n;
    *bad_ids = malloc((total + 1) * sizeof **bad_ids);
    *bad_off = malloc((j->bad_words_ids.n + 1) * sizeof **bad_off);
    *sup = malloc((j->suppress_tokens.n + 1) * sizeof **sup);
    if (!*bad_ids || !*bad_off || !*sup) return err_set(err, "generate: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < j->bad_words_ids.n; i++) {
        (*bad_off)[i] = k;
        for (size_t m = 0; m < j->bad_words_ids.v[i].n; m++)
            (*bad_ids)[k++] = (int32_t)j->bad_words_ids.v[i].v[m];
    }
    (*bad_off)[j->bad_words_ids.n] = k;
    p->bad_ids = *bad_ids;
    p->bad_off = *bad_off;
    p->n_bad = j->bad_words_ids.n;
    for (size_t i = 0; i < j->suppress_tokens.n; i++)
        (*sup)[i] = (int32_t)j->suppress_tokens.v[i];
    p->suppress = *sup;
    p->n_suppress = j->suppress_tokens.n;
    q->co.words = (const char *const *)j->banned_words.v;
    q->co.n_words = j->banned_words.n;
    q->co.substring = j->match && !strcmp(j->match, "substring");
    q->co.case_sensitive = q->co.forbid_case_sensitive = j->case_sensitive;
    q->co.forbid_chars = j->forbid_chars && *j->forbid_chars ? j->forbid_chars : NULL;
    if (j->syllables.n > FORM_MAX_LINES)
        return err_set(err, "syllables: more than %d lines", FORM_MAX_LINES);
    for (size_t i = 0; i < j->syllables.n; i++)
        q->fo.syllables[i] = (int)j->syllables.v[i];
    q->fo.n_syllables = j->syllables.n;
    if (form_opts_set(&q->fo, NULL, j->form, j->rhyme, j->acrostic, (long)j->lines, err) ||
        (j->vocabulary && form_load_vocabulary(j->vocabulary, vocab, &q->fo.n_vocabulary, err)))
        return -1;
    q->fo.vocabulary = (const char *const *)*vocab;
    return 0;
}

/* The prompts file's bytes: process 0 reads them and sends them to the
** others (mpirun), which never open the file.  *data malloc'd. */
static int prompts_bytes(const char *path, char **data, size_t *n, char *err) {
    int64_t len = -1;
    *data = NULL;
    if (!dist_rank() && !slurp(path, data, n, err)) len = (int64_t)*n;
    if (dist_bcast(&len, sizeof len, err)) return -1;
    if (len < 0) return dist_rank() ? err_set(err, "%s: process 0 cannot read it", path) : -1;
    if (dist_rank() && !(*data = malloc((size_t)len + 1)))
        return err_set(err, "%s: out of memory", path);
    *n = (size_t)len;
    (*data)[len] = 0;
    return dist_bcast(*data, *n, err);
}

int gen_load_prompts(const char *path, pfile *f, FILE *report, char *err) {
    char *data;
    size_t n;
    memset(f, 0, sizeof *f);
    if (prompts_bytes(path, &data, &n, err)) {
        free(data);
        return -1;
    }
    if (!pfile_parse(path, data, n, f, err)) return 0;
    for (size_t i = 0; report && i < f->n_errors; i++)
        fprintf(report, "%s\n", f->errors[i]);
    if (report && f->n_bad > f->n_errors)
        fprintf(report, "%s: ... and %zu more bad lines\n", path, f->n_bad - f->n_errors);
    return -1;
}

/* How many of the outputs q asks for are stored already (model_key as
** gen_model_key), in *found. */
static int job_known(store *st, const gen_request *q, const char *model_key, size_t *found,
                     char *err) {
    size_t n = gen_n_outputs(q);
    outputs_ident *ids = malloc((n + 1) * sizeof *ids);
    if (!ids) return err_set(err, "generate: out of memory");
    int rc = gen_identities(q, model_key, ids, err) || outputs_known(st, ids, n, NULL, found, err);
    free(ids);
    return rc ? -1 : 0;
}

/* What process 0 tells the others (mpirun) before each recipe job: which
** job (-1: no more), its checkpoint (0: model.from), then whether it runs. */
typedef struct job_msg {
    int64_t job, checkpoint_id, go;
} job_msg;

/* Recipe job i's request into *q (the prompts file's rows in *f; free the
** rest after use as request_of_job says). */
static int job_request(const rcp_recipe *r, size_t i, gen_request *q, int32_t **bad, size_t **off,
                       int32_t **sup, char ***vocab, pfile *f, char *err) {
    const rcp_gen *g = &r->generate[i];
    if (request_of_job(g, q, bad, off, sup, vocab, err)) return -1;
    if (!g->prompts_file) return 0;
    if (gen_load_prompts(g->prompts_file, f, dist_rank() ? NULL : stderr, err)) return -1;
    q->prompts = f->prompts;
    q->n_prompts = f->n;
    q->rows = f->rows;
    return 0;
}

/* Recipe job i (its model: base's dir or checkpoint, key as gen_model_key):
** the outputs not stored yet, generated and stored; a job whose outputs are
** all stored (a resumed or repeated run) does not load the model.  Process
** 0 (st given) tells the others (gen_recipe_worker, st NULL) under mpirun. */
static int run_job_i(store *st, const rcp_recipe *r, size_t i, const gen_job *base, const char *key,
                     long long *total, char *err) {
    gen_request q;
    int32_t *bad = NULL, *sup = NULL;
    size_t *off = NULL, known = 0, n = 0;
    char **vocab = NULL;
    pfile f = {0};
    job_msg m = {(int64_t)i, base->checkpoint ? atoll(base->checkpoint) : 0, 0};
    int rc = st ? dist_bcast(&m, sizeof m, err) : 0;
    if (!rc) rc = job_request(r, i, &q, &bad, &off, &sup, &vocab, &f, err);
    if (!rc && st) rc = job_known(st, &q, key, &known, err);
    if (!rc) n = gen_n_outputs(&q);
    m.go = known < n;
    if (!rc) rc = dist_bcast(&m, sizeof m, err);
    gen_job j = *base;
    j.r = &q;
    if (!rc && m.go) rc = stage_generate(&j, NULL, err);
    free(bad), free(off), free(sup);
    form_words_free(vocab, q.fo.n_vocabulary);
    pfile_free(&f);
    if (rc) return err_prefix(err, "generate job %zu", i + 1);
    if (!st) return 0;
    *total += (long long)n;
    if (known)
        printf("  generate job %zu: %zu outputs, %zu of them already in the store\n", i + 1, n,
               known);
    else
        printf("  generate job %zu: %zu outputs\n", i + 1, n);
    return 0;
}

int run_generate(store *st, const rcp_recipe *r, stage_ctx *ctx, char *err) {
    char spec[32];
    const char *dir = r->model.from, *ckpt = NULL;
    int64_t ckpt_id = 0;
    if (ctx->in[RCP_TRAIN]) { /* the recipe trains: its checkpoint */
        ckpt_id = ctx->in[RCP_TRAIN]->train.checkpoint_id;
        snprintf(spec, sizeof spec, "%lld", (long long)ckpt_id);
        ckpt = spec;
        dir = NULL;
    }
    if (!dir && !ckpt) return err_set(err, "generate: no model (model.from, or a train stage)");
    char key[GEN_KEY_LEN];
    if (gen_model_key(dir, ckpt_id, key, err)) return err_prefix(err, "generate");
    const gen_job base = {.st = st,
                          .record = 1,
                          .resume = 1,
                          .bar = 1,
                          .model_dir = dir,
                          .checkpoint = ckpt,
                          .recipe_run_id = ctx->recipe_run_id,
                          .recipe_name = r->name};
    long long total = 0;
    for (size_t i = 0; i < r->n_generate; i++)
        if (run_job_i(st, r, i, &base, key, &total, err)) return -1;
    ctx->out.generate.n_outputs = total;
    return 0;
}

int gen_recipe_end(char *err) {
    job_msg m = {-1, 0, 0};
    return dist_bcast(&m, sizeof m, err);
}

int gen_recipe_worker(store *st, const rcp_recipe *r, char *err) {
    for (;;) {
        job_msg m;
        if (dist_bcast(&m, sizeof m, err)) return -1;
        if (m.job < 0) return 0;
        if ((size_t)m.job >= r->n_generate)
            return err_set(err, "generate: no job %lld", (long long)m.job + 1);
        char spec[32];
        snprintf(spec, sizeof spec, "%lld", (long long)m.checkpoint_id);
        const gen_job base = {.st = m.checkpoint_id ? st : NULL,
                              .model_dir = m.checkpoint_id ? NULL : r->model.from,
                              .checkpoint = m.checkpoint_id ? spec : NULL};
        long long total = 0;
        if (run_job_i(NULL, r, (size_t)m.job, &base, "", &total, err)) return -1;
    }
}

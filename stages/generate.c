/*
** The generate stage and the recipe runner's generate stage; see
** generate.h.  The engine is core/gen.c, the commands generate_cli.c and
** next.c.
*/
#include "generate.h"
#include "lm.h"
#include "outputs.h"

#include "err.h"
#include "jw.h"
#include "recipe.h"
#include "run.h"

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

/* The parameters that shape each output's text: r's without the request
** seed and the number of outputs (an output's own seed stands for them),
** so an output is the same one whichever request made it.  malloc'd; NULL
** with err when they cannot be written. */
static char *identity_params(const gen_request *r, char *err) {
    gen_request q = *r;
    q.seed = 0;
    q.num_return_sequences = 1;
    q.raw_seed = 1;
    return gen_params_json(&q, err);
}

int gen_identities(const gen_request *r, const char *model_key, char (*ids)[HASH_HEX_LEN],
                   char *err) {
    char *params = identity_params(r, err);
    if (!params) return err_prefix(err, "outputs");
    size_t nrs = (size_t)r->num_return_sequences;
    for (size_t k = 0; k < r->n_prompts * nrs; k++) {
        const char *pr = r->prompts[k / nrs];
        outputs_identity(model_key, pr, strlen(pr), params, gen_output_seed(r, k), ids[k]);
    }
    free(params);
    return 0;
}

int gen_store_outputs(store *st, const gen_request *r, const gen_output *o, size_t n,
                      const char *model_source, const char *model_key, int64_t checkpoint_id,
                      int64_t recipe_run_id, const char *recipe_name, size_t *n_new, char *err) {
    char *params = gen_params_json(r, err), *id_params = params ? identity_params(r, err) : NULL;
    int rc = params && id_params ? 0 : err_prefix(err, "outputs");
    *n_new = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *pr = r->prompts[o[i].prompt_index];
        char identity[HASH_HEX_LEN];
        outputs_identity(model_key, pr, strlen(pr), id_params, o[i].seed, identity);
        char *ids = jw_dumps(gen_ids_json(o[i].ids, o[i].n_ids, err), JSON_COMPACT, "the ids", err);
        if (!ids) {
            rc = err_set(err, "outputs: out of memory");
            break;
        }
        outputs_row row = {recipe_run_id, recipe_name,       model_source,  checkpoint_id, pr,
                           strlen(pr),    o[i].continuation, o[i].cont_len, ids,           params,
                           o[i].seed,     o[i].finish,       identity};
        int created;
        rc = outputs_insert(st, &row, &created, err);
        *n_new += !rc && created;
        free(ids);
    }
    free(params);
    free(id_params);
    return rc;
}

int stage_generate(store *st, int record, const char *model_dir, const char *checkpoint,
                   const gen_request *r, int64_t recipe_run_id, const char *recipe_name,
                   gen_output **outs, size_t *n, gen_stats *stats, char *err) {
    lm_model l;
    if (lm_load(st, model_dir, checkpoint, &l, err)) return -1;
    if (gpt_model_prepare_generation(l.m, r->bf16, err)) { /* part of loading: not timed */
        lm_free(&l);
        return -1;
    }
    gen_output *o;
    size_t no;
    int rc = gen_run(l.m, l.t, r, &o, &no, stats, err);
    char key[GEN_KEY_LEN];
    size_t n_new;
    if (!rc && st && record) {
        rc =
            gen_model_key(l.ckpt_id ? NULL : l.source, l.ckpt_id, key, err) || store_begin(st, err);
        if (!rc) {
            rc = gen_store_outputs(st, r, o, no, l.source, key, l.ckpt_id, recipe_run_id,
                                   recipe_name, &n_new, err);
            if (rc)
                store_rollback(st);
            else
                rc = store_commit(st, err);
        }
    }
    lm_free(&l);
    if (rc) {
        if (st && record) gen_outputs_free(o, no); /* generated, but not stored */
        return -1;
    }
    if (outs) {
        *outs = o;
        *n = no;
    } else {
        gen_outputs_free(o, no);
    }
    return 0;
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

/* How many of the outputs q asks for are stored already (model_key as
** gen_model_key), in *found. */
static int job_known(store *st, const gen_request *q, const char *model_key, size_t *found,
                     char *err) {
    size_t n = q->n_prompts * (size_t)q->num_return_sequences;
    char(*ids)[HASH_HEX_LEN] = malloc((n + 1) * sizeof *ids);
    if (!ids) return err_set(err, "generate: out of memory");
    int rc = gen_identities(q, model_key, ids, err) || outputs_count_known(st, ids, n, found, err);
    free(ids);
    return rc ? -1 : 0;
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
    long long total = 0;
    for (size_t i = 0; i < r->n_generate; i++) {
        gen_request q;
        int32_t *bad = NULL, *sup = NULL;
        size_t *off = NULL, known = 0;
        long long n = 0;
        /* A job whose outputs are all stored (a resumed or repeated run)
        ** is not generated again; one partly stored regenerates and keeps
        ** the stored ones. */
        char **vocab = NULL;
        int rc = request_of_job(&r->generate[i], &q, &bad, &off, &sup, &vocab, err) ||
                 job_known(st, &q, key, &known, err);
        if (!rc) n = (long long)q.n_prompts * q.num_return_sequences;
        if (!rc && (long long)known < n)
            rc = stage_generate(st, 1, dir, ckpt, &q, ctx->recipe_run_id, r->name, NULL, NULL, NULL,
                                err);
        free(bad), free(off), free(sup);
        form_words_free(vocab, q.fo.n_vocabulary);
        if (rc) return err_prefix(err, "generate job %zu", i + 1);
        total += n;
        if (known)
            printf("  generate job %zu: %lld outputs, %zu of them already in the store\n", i + 1, n,
                   known);
        else
            printf("  generate job %zu: %lld outputs\n", i + 1, n);
    }
    ctx->out.generate.n_outputs = total;
    return 0;
}

/*
** The generate stage and the `quill generate` / `quill next` commands; see
** generate.h.
*/
#include "generate.h"
#include "lm.h"

#include "cli.h"
#include "err.h"
#include "pool.h"
#include "recipe.h"
#include "run.h"

#include <assert.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void gen_request_defaults(gen_request *r) {
    memset(r, 0, sizeof *r);
    r->num_return_sequences = 1;
    samp_defaults(&r->sp);
    r->seed = 42;
}

void gen_outputs_free(gen_output *o, size_t n) {
    for (size_t i = 0; o && i < n; i++) {
        free(o[i].continuation);
        free(o[i].ids);
    }
    free(o);
}

/* The seed of output k: 63 bits so it stores as a positive INTEGER. */
static uint64_t output_seed(const gen_request *r, size_t k) {
    return r->raw_seed ? r->seed : rng_derive(r->seed, k) >> 1;
}

/* Everything gen_run holds, freed in one place. */
typedef struct run_state {
    int32_t **pids;
    size_t *pn;
    size_t np;
    const unsigned char **tb;
    size_t *tl;
    cons *c;
    gpt_kv *kv;
    samp_seq *seqs;
    size_t nseqs;
    samp_work *works;
    int nworks;
    float *logits;
    int nslots;
    int *slot_out, *slots, *ntok;
    int *twin_of; /* per slot: the slot whose prompt it waits for, or -1 */
    int32_t *tokens;
} run_state;

static void run_state_free(run_state *s) {
    for (size_t i = 0; i < s->np; i++)
        free(s->pids[i]);
    for (size_t i = 0; i < s->nseqs; i++)
        samp_seq_free(&s->seqs[i]);
    for (int i = 0; i < s->nworks; i++)
        samp_work_free(&s->works[i]);
    free(s->pids), free(s->pn), free(s->tb), free(s->tl), free(s->seqs), free(s->works);
    free(s->logits), free(s->slot_out), free(s->slots), free(s->ntok), free(s->tokens);
    free(s->twin_of);
    cons_free(s->c);
    gpt_kv_free(s->kv);
}

/* Decode the finished sequence into its output. */
static int finish_output(const tok *t, const samp_params *p, const samp_seq *s, gen_output *o,
                         char *err) {
    size_t ng = s->n - s->n_prompt, k = 0;
    o->ids = malloc((ng + 1) * sizeof *o->ids);
    int32_t *text_ids = malloc((ng + 1) * sizeof *text_ids);
    if (!o->ids || !text_ids) {
        free(text_ids);
        return err_set(err, "generate: out of memory");
    }
    memcpy(o->ids, s->ids + s->n_prompt, ng * sizeof *o->ids);
    o->n_ids = ng;
    for (size_t i = 0; i < ng; i++)
        if (o->ids[i] != p->eos_id) text_ids[k++] = o->ids[i];
    int rc = tok_decode(t, text_ids, k, &o->continuation, &o->cont_len, err);
    free(text_ids);
    o->seed = s->seed;
    o->finish = s->finish;
    return rc;
}

/* A slot whose cache holds, or this step will hold, the prompt of q (slot
** b's fresh sequence): a live slot whose sequence starts with the same
** q->n tokens and has all but the last of them cached, or is fresh too
** and will step them now.  -1 when there is none. */
static int prompt_donor(const run_state *s, int b, const samp_seq *q) {
    for (int d = 0; d < s->nslots; d++) {
        if (d == b || s->slot_out[d] < 0 || s->twin_of[d] >= 0) continue;
        const samp_seq *o = &s->seqs[s->slot_out[d]];
        const int len = gpt_kv_len(s->kv, d);
        if (o->n < q->n || memcmp(o->ids, q->ids, q->n * sizeof *q->ids)) continue;
        /* a fresh leader comes earlier, so it is already known not to be a twin */
        if (len == 0 ? d < b : len >= (int)q->n - 1) return d;
    }
    return -1;
}

/* After a step: each twin (a fresh sequence whose prompt its leader just
** stepped) takes the leader's keys and values and its logits row, and
** joins the sampling as sequence *nlive, *nlive + 1, ...  Exact: a row's
** keys, values and logits do not depend on the rest of the step. */
static int take_twins(run_state *s, int B, int *nlive, int V, long *shared, char *err) {
    const int nstep = *nlive;
    for (int b = 0; b < B; b++) {
        const int d = s->twin_of[b];
        if (d < 0) continue;
        s->twin_of[b] = -1;
        int i = 0;
        while (s->slots[i] != d)
            i++;
        assert(i < nstep);
        if (gpt_kv_copy(s->kv, b, d, gpt_kv_len(s->kv, d), err)) return -1;
        *shared += gpt_kv_len(s->kv, d);
        memcpy(s->logits + (size_t)*nlive * V, s->logits + (size_t)i * V, sizeof(float) * V);
        s->slots[(*nlive)++] = b;
    }
    return 0;
}

/* One step's sampling, a pool task per live sequence (the thread pool, not
** OpenMP: see core/pool.h). */
typedef struct samp_job {
    const gen_request *r;
    run_state *s;
    const cons_vocab *cv;
    int V;
} samp_job;

static void samp_task(void *ctx, int i) {
    const samp_job *j = ctx;
    run_state *s = j->s;
    int b = s->slots[i];
    samp_seq *q = &s->seqs[s->slot_out[b]];
    s->ntok[i] =
        samp_seq_step(&j->r->sp, s->c, j->cv, q, s->logits + (size_t)i * j->V, &s->works[b]) >= 0;
}

int gen_run(gpt_model *m, const tok *t, const gen_request *r, gen_output **outs, size_t *n,
            gen_stats *stats, char *err) {
    *outs = NULL;
    *n = 0;
    double t0 = omp_get_wtime();
    const gpt_config *cfg = gpt_model_config(m);
    int V = cfg->vocab_size;
    if (tok_vocab_size(t) != V)
        return err_set(err, "generate: the tokenizer has %d tokens, the model %d",
                       tok_vocab_size(t), V);
    if (samp_validate(&r->sp, V, err)) return err_prefix(err, "generate");
    if (r->n_prompts == 0) return err_set(err, "generate: no prompt");
    if (r->num_return_sequences < 1) return err_set(err, "generate: num_return_sequences < 1");
    size_t N = r->n_prompts * (size_t)r->num_return_sequences;
    if (r->raw_seed && N != 1)
        return err_set(err, "generate: a raw seed regenerates one output (one prompt, one "
                            "sequence)");
    run_state s = {0};
    gen_output *out = calloc(N, sizeof *out);
    s.np = r->n_prompts;
    s.pids = calloc(s.np, sizeof *s.pids);
    s.pn = calloc(s.np, sizeof *s.pn);
    if (!out || !s.pids || !s.pn) {
        free(out);
        run_state_free(&s);
        return err_set(err, "generate: out of memory");
    }
    int max_len = 1, rc = -1;
    for (size_t i = 0; i < s.np; i++) {
        const char *pr = r->prompts[i];
        if (tok_encode(t, pr, strlen(pr), 1, &s.pids[i], &s.pn[i], err)) goto done;
        if (s.pn[i] == 0) { /* nothing to condition on: start from <|endoftext|> */
            s.pids[i] = realloc(s.pids[i], sizeof(int32_t));
            s.pids[i][0] = r->sp.eos_id;
            s.pn[i] = 1;
        }
        int need = (int)s.pn[i] + samp_max_new(&r->sp, s.pn[i]);
        if (need > cfg->n_positions) {
            err_set(err,
                    "generate: prompt %zu (%zu tokens) plus %d new tokens exceeds the "
                    "model's %d positions",
                    i + 1, s.pn[i], samp_max_new(&r->sp, s.pn[i]), cfg->n_positions);
            goto done;
        }
        if (need > max_len) max_len = need;
    }
    /* the vocabulary as bytes, and the constraints */
    s.tb = malloc((size_t)V * sizeof *s.tb);
    s.tl = malloc((size_t)V * sizeof *s.tl);
    if (!s.tb || !s.tl) {
        err_set(err, "generate: out of memory");
        goto done;
    }
    for (int i = 0; i < V; i++)
        s.tb[i] = tok_token_bytes(t, i, &s.tl[i]);
    cons_vocab cv = {V, s.tb, s.tl, r->sp.eos_id};
    if ((r->co.n_words || (r->co.forbid_chars && *r->co.forbid_chars)) &&
        cons_new(&cv, &r->co, &s.c, err)) {
        err_prefix(err, "generate");
        goto done;
    }
    int B = r->max_batch > 0 ? r->max_batch : 32;
    if ((size_t)B > N) B = (int)N;
    s.nseqs = N;
    s.seqs = calloc(N, sizeof *s.seqs);
    s.works = calloc((size_t)B, sizeof *s.works);
    s.logits = malloc((size_t)B * (size_t)V * sizeof *s.logits);
    s.slot_out = malloc((size_t)B * sizeof *s.slot_out);
    s.slots = malloc((size_t)B * sizeof *s.slots);
    s.twin_of = malloc((size_t)B * sizeof *s.twin_of);
    s.nslots = B;
    s.ntok = malloc((size_t)B * sizeof *s.ntok);
    s.tokens = malloc((size_t)B * (size_t)max_len * sizeof *s.tokens);
    if (!s.seqs || !s.works || !s.logits || !s.slot_out || !s.slots || !s.ntok || !s.tokens ||
        !s.twin_of) {
        err_set(err, "generate: out of memory");
        goto done;
    }
    for (; s.nworks < B; s.nworks++)
        if (samp_work_init(&s.works[s.nworks], V, err)) goto done;
    if (gpt_model_generation(m) != r->bf16 && gpt_model_prepare_generation(m, r->bf16, err))
        goto done;
    if (gpt_kv_create(m, B, max_len, &s.kv, err)) goto done;
    for (int b = 0; b < B; b++)
        s.slot_out[b] = s.twin_of[b] = -1;
    size_t next = 0, done_n = 0;
    long steps = 0, tokens = 0, shared = 0;
    double fwd = 0;
    while (done_n < N) {
        /* refill free slots */
        for (int b = 0; b < B && next < N; b++) {
            while (s.slot_out[b] < 0 && next < N) {
                size_t k = next++, pi = k / (size_t)r->num_return_sequences;
                samp_seq *q = &s.seqs[k];
                out[k].prompt_index = pi;
                out[k].seq_index = (int)(k % (size_t)r->num_return_sequences);
                const char *pr = r->prompts[pi];
                if (samp_seq_init(q, &r->sp, s.pids[pi], s.pn[pi], pr, strlen(pr), s.c,
                                  output_seed(r, k), err))
                    goto done;
                if (q->finish) { /* max_new_tokens 0 */
                    if (finish_output(t, &r->sp, q, &out[k], err)) goto done;
                    done_n++;
                } else {
                    s.slot_out[b] = (int)k;
                    gpt_kv_reset(s.kv, b);
                }
            }
        }
        /* the step: live slots but twins, which wait for their leader */
        int nlive = 0, ntokens = 0, ntwins = 0;
        for (int b = 0; b < B; b++) {
            if (s.slot_out[b] < 0) continue;
            samp_seq *q = &s.seqs[s.slot_out[b]];
            int have = gpt_kv_len(s.kv, b);
            if (have == 0) {
                int d = prompt_donor(&s, b, q);
                if (d >= 0 && gpt_kv_len(s.kv, d) == 0) {
                    s.twin_of[b] = d;
                    ntwins++;
                    continue;
                }
                if (d >= 0 && gpt_kv_copy(s.kv, b, d, (int)q->n - 1, err)) goto done;
                have = gpt_kv_len(s.kv, b);
                shared += have;
            }
            int add = (int)q->n - have;
            s.slots[nlive] = b;
            s.ntok[nlive] = add;
            memcpy(s.tokens + ntokens, q->ids + have, (size_t)add * sizeof *s.tokens);
            ntokens += add;
            nlive++;
        }
        if (!nlive) break;
        double tf = omp_get_wtime();
        if (gpt_kv_step(s.kv, nlive, s.slots, s.ntok, s.tokens, s.logits, err)) goto done;
        if (ntwins && take_twins(&s, B, &nlive, V, &shared, err)) goto done;
        fwd += omp_get_wtime() - tf;
        steps++;
        samp_job sj = {r, &s, &cv, V};
        pool_for(nlive, samp_task, &sj); /* s.ntok[i] = 1 when sequence i got a token */
        for (int i = 0; i < nlive; i++)
            tokens += s.ntok[i];
        for (int i = 0; i < nlive; i++) {
            int b = s.slots[i];
            size_t k = (size_t)s.slot_out[b];
            if (!s.seqs[k].finish) continue;
            if (finish_output(t, &r->sp, &s.seqs[k], &out[k], err)) goto done;
            s.slot_out[b] = -1;
            done_n++;
        }
    }
    if (stats) {
        stats->steps = steps;
        stats->tokens = tokens;
        stats->shared = shared;
        stats->seconds = omp_get_wtime() - t0;
        stats->fwd_seconds = fwd;
        long h, mi;
        stats->cons_seconds = 0;
        if (s.c) cons_stats(s.c, &h, &mi, &stats->cons_seconds);
    }
    rc = 0;
done:
    run_state_free(&s);
    if (rc) {
        gen_outputs_free(out, N);
        return -1;
    }
    *outs = out;
    *n = N;
    return 0;
}

static json_t *json_strings(const char *const *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

char *gen_params_json(const gen_request *r) {
    const samp_params *p = &r->sp;
    json_t *o = json_object();
    json_object_set_new(o, "do_sample", json_boolean(p->do_sample));
    json_object_set_new(o, "temperature", json_real(p->temperature));
    json_object_set_new(o, "top_k", json_integer(p->top_k));
    json_object_set_new(o, "top_p", json_real(p->top_p));
    json_object_set_new(o, "min_p", json_real(p->min_p));
    json_object_set_new(o, "typical_p", json_real(p->typical_p));
    json_object_set_new(o, "repetition_penalty", json_real(p->repetition_penalty));
    json_object_set_new(o, "no_repeat_ngram_size", json_integer(p->no_repeat_ngram_size));
    json_object_set_new(o, "min_new_tokens", json_integer(p->min_new_tokens));
    json_object_set_new(o, "max_new_tokens",
                        p->max_new_tokens >= 0 ? json_integer(p->max_new_tokens) : json_null());
    json_object_set_new(o, "max_length", json_integer(p->max_length));
    json_object_set_new(o, "ignore_eos", json_boolean(p->ignore_eos));
    json_object_set_new(o, "eos_token_id", json_integer(p->eos_id));
    json_t *sup = json_array();
    for (size_t i = 0; i < p->n_suppress; i++)
        json_array_append_new(sup, json_integer(p->suppress[i]));
    json_object_set_new(o, "suppress_tokens", sup);
    json_t *bad = json_array();
    for (size_t i = 0; i < p->n_bad; i++) {
        json_t *b = json_array();
        for (size_t j = p->bad_off[i]; j < p->bad_off[i + 1]; j++)
            json_array_append_new(b, json_integer(p->bad_ids[j]));
        json_array_append_new(bad, b);
    }
    json_object_set_new(o, "bad_words_ids", bad);
    json_object_set_new(o, "stop_strings", json_strings(p->stop, p->n_stop));
    json_object_set_new(o, "banned_words", json_strings(r->co.words, r->co.n_words));
    json_object_set_new(o, "match", json_string(r->co.substring ? "substring" : "word"));
    json_object_set_new(o, "case_sensitive", json_boolean(r->co.case_sensitive));
    json_object_set_new(o, "forbid_chars",
                        json_string(r->co.forbid_chars ? r->co.forbid_chars : ""));
    json_object_set_new(o, "forbid_case_sensitive", json_boolean(r->co.forbid_case_sensitive));
    json_object_set_new(o, "num_return_sequences", json_integer(r->num_return_sequences));
    json_object_set_new(o, "seed", json_integer((json_int_t)r->seed));
    json_object_set_new(o, "dtype", json_string(r->bf16 ? "bfloat16" : "float32"));
    json_object_set_new(o, "raw_seed", json_boolean(r->raw_seed));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static char *ids_json(const int32_t *ids, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(ids[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

int gen_store_outputs(store *st, const gen_request *r, const gen_output *o, size_t n,
                      const char *model_source, int64_t checkpoint_id, int64_t recipe_run_id,
                      const char *recipe_name, char *err) {
    sqlite3_stmt *q;
    if (store_prepare(st,
                      "INSERT INTO outputs(recipe_run_id, recipe_name, model_source, "
                      "checkpoint_id, prompt, continuation, text, ids_json, params_json, seed, "
                      "finish_reason) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                      &q, err))
        return -1;
    char *params = gen_params_json(r);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *pr = r->prompts[o[i].prompt_index];
        size_t pl = strlen(pr);
        char *text = malloc(pl + o[i].cont_len + 1);
        char *ids = ids_json(o[i].ids, o[i].n_ids);
        if (!text || !ids || !params) {
            free(text), free(ids);
            rc = err_set(err, "outputs: out of memory");
            break;
        }
        memcpy(text, pr, pl);
        memcpy(text + pl, o[i].continuation, o[i].cont_len + 1);
        sqlite3_reset(q);
        if (recipe_run_id > 0)
            sqlite3_bind_int64(q, 1, recipe_run_id);
        else
            sqlite3_bind_null(q, 1);
        if (recipe_name)
            sqlite3_bind_text(q, 2, recipe_name, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(q, 2);
        sqlite3_bind_text(q, 3, model_source, -1, SQLITE_TRANSIENT);
        if (checkpoint_id > 0)
            sqlite3_bind_int64(q, 4, checkpoint_id);
        else
            sqlite3_bind_null(q, 4);
        sqlite3_bind_text(q, 5, pr, (int)pl, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 6, o[i].continuation, (int)o[i].cont_len, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 7, text, (int)(pl + o[i].cont_len), SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 8, ids, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 9, params, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 10, (int64_t)o[i].seed);
        sqlite3_bind_text(q, 11, o[i].finish, -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE)
            rc = err_set(err, "outputs: insert: %s", sqlite3_errmsg(sqlite3_db_handle(q)));
        free(text);
        free(ids);
    }
    free(params);
    sqlite3_finalize(q);
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
    if (!rc && st && record) {
        rc = store_begin(st, err);
        if (!rc) {
            rc = gen_store_outputs(st, r, o, no, l.source, l.ckpt_id, recipe_run_id, recipe_name,
                                   err);
            if (rc)
                store_rollback(st);
            else
                rc = store_commit(st, err);
        }
    }
    lm_free(&l);
    if (rc) return -1;
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
** *bad_off and *sup (free them after use). */
static int request_of_job(const rcp_gen *j, gen_request *q, int32_t **bad_ids, size_t **bad_off,
                          int32_t **sup, char *err) {
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
    return 0;
}

int run_generate(store *st, const rcp_recipe *r, stage_ctx *ctx, char *err) {
    char spec[32];
    const char *dir = r->model.from, *ckpt = NULL;
    const char *train = ctx->results[RCP_TRAIN];
    if (train) {
        json_error_t je;
        json_t *o = json_loads(train, 0, &je);
        json_t *id = json_object_get(o, "checkpoint_id");
        if (json_is_integer(id)) {
            snprintf(spec, sizeof spec, "%lld", (long long)json_integer_value(id));
            ckpt = spec;
            dir = NULL;
        }
        json_decref(o);
    }
    if (!dir && !ckpt) return err_set(err, "generate: no model (model.from, or a train stage)");
    long long total = 0;
    for (size_t i = 0; i < r->n_generate; i++) {
        gen_request q;
        int32_t *bad = NULL, *sup = NULL;
        size_t *off = NULL;
        int rc = request_of_job(&r->generate[i], &q, &bad, &off, &sup, err) ||
                 stage_generate(st, 1, dir, ckpt, &q, ctx->recipe_run_id, r->name, NULL, NULL, NULL,
                                err);
        free(bad), free(off), free(sup);
        if (rc) return err_prefix(err, "generate job %zu", i + 1);
        total += (long long)q.n_prompts * q.num_return_sequences;
        printf("  generate job %zu: %lld outputs\n", i + 1,
               (long long)q.n_prompts * q.num_return_sequences);
    }
    json_t *res = json_pack("{sI}", "n_outputs", (json_int_t)total);
    ctx->result_json = json_dumps(res, JSON_COMPACT);
    json_decref(res);
    return 0;
}

/* ---- command line ---- */

/* Split "a,b,c" into a malloc'd array of malloc'd strings. */
static char **split_commas(const char *s, size_t *n) {
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **v = calloc(cap, sizeof *v);
    *n = 0;
    const char *p = s;
    while (v) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        while (l && p[0] == ' ')
            p++, l--; /* "a, b" */
        if (l) v[(*n)++] = strndup(p, l);
        if (!e) break;
        p = e + 1;
    }
    return v;
}

/* Parse "[[1,2],[3]]" (or "[1,2]" for suppress: flat) into ids/off. */
static int parse_id_lists(const char *s, int nested, int32_t **ids, size_t **off, size_t *n,
                          char *err) {
    json_error_t je;
    json_t *a = json_loads(s, 0, &je);
    if (!a || !json_is_array(a)) {
        json_decref(a);
        return err_set(err, "'%s' is not a JSON array", s);
    }
    size_t total = 0, i, j;
    json_t *x, *y;
    json_array_foreach(a, i, x) total += nested ? json_array_size(x) : 1;
    *ids = malloc((total + 1) * sizeof **ids);
    *off = malloc((json_array_size(a) + 1) * sizeof **off);
    size_t k = 0;
    *n = 0;
    int rc = 0;
    json_array_foreach(a, i, x) {
        (*off)[(*n)++] = k;
        if (!nested) {
            if (!json_is_integer(x))
                rc = -1;
            else
                (*ids)[k++] = (int32_t)json_integer_value(x);
            continue;
        }
        if (!json_is_array(x) || json_array_size(x) == 0) rc = -1;
        json_array_foreach(x, j, y) {
            if (!json_is_integer(y))
                rc = -1;
            else
                (*ids)[k++] = (int32_t)json_integer_value(y);
        }
    }
    (*off)[*n] = k;
    json_decref(a);
    if (rc)
        return err_set(err, "'%s': expected %s", s,
                       nested ? "a list of non-empty lists of ids" : "a list of ids");
    return 0;
}

/* Print bytes as a quoted, escaped piece: ' the', '\n'. */
static void print_piece(FILE *f, const unsigned char *b, size_t n, int width) {
    int w = 2;
    fputc('\'', f);
    for (size_t i = 0; i < n; i++) {
        if (b[i] == '\n')
            fputs("\\n", f), w += 2;
        else if (b[i] == '\t')
            fputs("\\t", f), w += 2;
        else if (b[i] == '\'' || b[i] == '\\')
            fprintf(f, "\\%c", b[i]), w += 2;
        else if (b[i] < 32 || b[i] == 127)
            fprintf(f, "\\x%02x", b[i]), w += 4;
        else {
            fputc(b[i], f);
            if ((b[i] & 0xC0) != 0x80) w++;
        }
    }
    fputc('\'', f);
    for (; w < width; w++)
        fputc(' ', f);
}

enum {
    O_MODEL = 256,
    O_CKPT,
    O_PROMPT,
    O_MAXNEW,
    O_MAXLEN,
    O_MINNEW,
    O_TEMP,
    O_TOPK,
    O_TOPP,
    O_MINP,
    O_TYP,
    O_REP,
    O_NGRAM,
    O_NRS,
    O_SEED,
    O_RAWSEED,
    O_GREEDY,
    O_SAMPLE,
    O_IGNEOS,
    O_STOP,
    O_BANNED,
    O_MATCH,
    O_CASE,
    O_FORBID,
    O_FORBIDCASE,
    O_BADIDS,
    O_SUPPRESS,
    O_JSON,
    O_NOSTORE,
    O_BATCH,
    O_HELP,
    O_TOP,
    O_TOKEN,
    O_STATS,
    O_DTYPE
};

static const char *GEN_USAGE =
    "usage: quill generate (--model DIR | --checkpoint ID|latest) --prompt TEXT [--prompt TEXT "
    "...]\n"
    "                      [options]\n\n"
    "Generate continuations as transformers' generate() does (defaults of the\n"
    "text-generation pipeline for distilgpt2: sampling, top_k 50, max_length 50).\n"
    "  --max-new-tokens N      new tokens per output (overrides --max-length)\n"
    "  --max-length N          prompt + new tokens (default 50)\n"
    "  --min-new-tokens N      <|endoftext|> is masked before N new tokens\n"
    "  --temperature T         (default 1)      --top-k K (default 50, 0: off)\n"
    "  --top-p P  --min-p P  --typical-p P      (default off)\n"
    "  --repetition-penalty R  --no-repeat-ngram-size N\n"
    "  --num-return-sequences N  outputs per prompt (default 1)\n"
    "  --seed S                master seed (default 42); output k gets its own seed\n"
    "  --raw-seed              use S itself as the seed of the single output (to\n"
    "                          regenerate a stored output exactly)\n"
    "  --greedy                argmax instead of sampling (do_sample false)\n"
    "  --ignore-eos            do not stop at <|endoftext|>\n"
    "  --stop-string S         stop when S appears (repeatable)\n"
    "  --banned-words a,b,c    words that never appear in the continuation, however\n"
    "                          tokenized (whole words, any case, by default)\n"
    "  --match word|substring  --case-sensitive   (for --banned-words)\n"
    "  --forbid-chars CHARS    characters that never appear (lipogram; any case)\n"
    "  --forbid-case-sensitive\n"
    "  --bad-words-ids JSON    token sequences, transformers' bad_words_ids\n"
    "  --suppress-tokens JSON  token ids never generated\n"
    "  --batch N               sequences decoded together (default 32)\n"
    "  --json                  one JSON line per output\n"
    "  --stats                 print speed and constraint cost to stderr\n"
    "  --dtype float32|bf16    weights in bfloat16: about twice as fast, logits\n"
    "                          within about 1% (default float32)\n"
    "  --no-store              do not record the outputs (they are recorded when the\n"
    "                          store exists or --checkpoint is used)\n";

static const struct option GEN_OPTS[] = {{"model", required_argument, 0, O_MODEL},
                                         {"checkpoint", required_argument, 0, O_CKPT},
                                         {"prompt", required_argument, 0, O_PROMPT},
                                         {"max-new-tokens", required_argument, 0, O_MAXNEW},
                                         {"max-length", required_argument, 0, O_MAXLEN},
                                         {"min-new-tokens", required_argument, 0, O_MINNEW},
                                         {"temperature", required_argument, 0, O_TEMP},
                                         {"top-k", required_argument, 0, O_TOPK},
                                         {"top-p", required_argument, 0, O_TOPP},
                                         {"min-p", required_argument, 0, O_MINP},
                                         {"typical-p", required_argument, 0, O_TYP},
                                         {"repetition-penalty", required_argument, 0, O_REP},
                                         {"no-repeat-ngram-size", required_argument, 0, O_NGRAM},
                                         {"num-return-sequences", required_argument, 0, O_NRS},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"raw-seed", no_argument, 0, O_RAWSEED},
                                         {"greedy", no_argument, 0, O_GREEDY},
                                         {"do-sample", no_argument, 0, O_SAMPLE},
                                         {"ignore-eos", no_argument, 0, O_IGNEOS},
                                         {"stop-string", required_argument, 0, O_STOP},
                                         {"stop-strings", required_argument, 0, O_STOP},
                                         {"banned-words", required_argument, 0, O_BANNED},
                                         {"match", required_argument, 0, O_MATCH},
                                         {"case-sensitive", no_argument, 0, O_CASE},
                                         {"forbid-chars", required_argument, 0, O_FORBID},
                                         {"forbid-case-sensitive", no_argument, 0, O_FORBIDCASE},
                                         {"bad-words-ids", required_argument, 0, O_BADIDS},
                                         {"suppress-tokens", required_argument, 0, O_SUPPRESS},
                                         {"batch", required_argument, 0, O_BATCH},
                                         {"json", no_argument, 0, O_JSON},
                                         {"no-store", no_argument, 0, O_NOSTORE},
                                         {"stats", no_argument, 0, O_STATS},
                                         {"dtype", required_argument, 0, O_DTYPE},
                                         {"top", required_argument, 0, O_TOP},
                                         {"token", required_argument, 0, O_TOKEN},
                                         {"help", no_argument, 0, O_HELP},
                                         {0, 0, 0, 0}};

/* Options shared by generate and next. */
typedef struct gen_cli {
    gen_request r;
    const char *model, *checkpoint;
    const char **prompts, **stops, **tokens;
    size_t n_prompts, n_stops, n_tokens;
    char **words;
    int32_t *bad_ids, *sup_ids;
    size_t *bad_off, *sup_off, n_sup;
    int json, no_store, stats, top;
} gen_cli;

static void gen_cli_free(gen_cli *g) {
    for (size_t i = 0; i < g->r.co.n_words; i++)
        free(g->words[i]);
    free(g->words), free(g->prompts), free(g->stops), free(g->tokens);
    free(g->bad_ids), free(g->bad_off), free(g->sup_ids), free(g->sup_off);
}

static int push(const char ***v, size_t *n, const char *s) {
    const char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) return -1;
    nv[(*n)++] = s;
    *v = nv;
    return 0;
}

/* Parse argv into g; returns 0 to go on, 1 when --help was printed, -1 on
** an error (printed). */
static int parse_gen_cli(const char *name, const char *usage, int argc, char **argv, gen_cli *g) {
    memset(g, 0, sizeof *g);
    gen_request_defaults(&g->r);
    g->top = 10;
    char err[ERR_LEN];
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", GEN_OPTS, NULL)) != -1) {
        char *end = NULL;
        samp_params *p = &g->r.sp;
        switch (o) {
        case O_HELP:
            fputs(usage, stdout);
            return 1;
        case O_MODEL:
            g->model = optarg;
            break;
        case O_CKPT:
            g->checkpoint = optarg;
            break;
        case O_PROMPT:
            push(&g->prompts, &g->n_prompts, optarg);
            break;
        case O_TOKEN:
            push(&g->tokens, &g->n_tokens, optarg);
            break;
        case O_STOP:
            push(&g->stops, &g->n_stops, optarg);
            break;
        case O_MAXNEW:
            p->max_new_tokens = (int)strtol(optarg, &end, 10);
            break;
        case O_MAXLEN:
            p->max_length = (int)strtol(optarg, &end, 10);
            break;
        case O_MINNEW:
            p->min_new_tokens = (int)strtol(optarg, &end, 10);
            break;
        case O_TEMP:
            p->temperature = strtof(optarg, &end);
            break;
        case O_TOPK:
            p->top_k = (int)strtol(optarg, &end, 10);
            break;
        case O_TOPP:
            p->top_p = strtof(optarg, &end);
            break;
        case O_MINP:
            p->min_p = strtof(optarg, &end);
            break;
        case O_TYP:
            p->typical_p = strtof(optarg, &end);
            break;
        case O_REP:
            p->repetition_penalty = strtof(optarg, &end);
            break;
        case O_NGRAM:
            p->no_repeat_ngram_size = (int)strtol(optarg, &end, 10);
            break;
        case O_NRS:
            g->r.num_return_sequences = (int)strtol(optarg, &end, 10);
            break;
        case O_SEED:
            g->r.seed = strtoull(optarg, &end, 10);
            break;
        case O_BATCH:
            g->r.max_batch = (int)strtol(optarg, &end, 10);
            break;
        case O_TOP:
            g->top = (int)strtol(optarg, &end, 10);
            break;
        case O_RAWSEED:
            g->r.raw_seed = 1;
            break;
        case O_GREEDY:
            p->do_sample = 0;
            break;
        case O_SAMPLE:
            p->do_sample = 1;
            break;
        case O_IGNEOS:
            p->ignore_eos = 1;
            break;
        case O_CASE:
            g->r.co.case_sensitive = 1;
            break;
        case O_FORBIDCASE:
            g->r.co.forbid_case_sensitive = 1;
            break;
        case O_FORBID:
            g->r.co.forbid_chars = optarg;
            break;
        case O_JSON:
            g->json = 1;
            break;
        case O_NOSTORE:
            g->no_store = 1;
            break;
        case O_STATS:
            g->stats = 1;
            break;
        case O_DTYPE:
            if (strcmp(optarg, "float32") && strcmp(optarg, "fp32") && strcmp(optarg, "bf16") &&
                strcmp(optarg, "bfloat16")) {
                cli_error("%s: --dtype must be float32 or bf16, not '%s'", name, optarg);
                return -1;
            }
            g->r.bf16 = !strncmp(optarg, "bf", 2);
            break;
        case O_MATCH:
            if (strcmp(optarg, "word") && strcmp(optarg, "substring")) {
                cli_error("%s: --match must be word or substring, not '%s'", name, optarg);
                return -1;
            }
            g->r.co.substring = !strcmp(optarg, "substring");
            break;
        case O_BANNED:
            for (size_t i = 0; i < g->r.co.n_words; i++)
                free(g->words[i]);
            free(g->words);
            g->words = split_commas(optarg, &g->r.co.n_words);
            break;
        case O_BADIDS:
            free(g->bad_ids), free(g->bad_off);
            if (parse_id_lists(optarg, 1, &g->bad_ids, &g->bad_off, &p->n_bad, err)) {
                cli_error("%s: --bad-words-ids: %s", name, err);
                return -1;
            }
            break;
        case O_SUPPRESS:
            free(g->sup_ids), free(g->sup_off);
            if (parse_id_lists(optarg, 0, &g->sup_ids, &g->sup_off, &g->n_sup, err)) {
                cli_error("%s: --suppress-tokens: %s", name, err);
                return -1;
            }
            break;
        default:
            cli_error("%s: bad arguments (see quill %s --help)", name, name);
            return -1;
        }
        if (end && (*end || end == optarg)) {
            cli_error("%s: '%s' is not a number", name, optarg);
            return -1;
        }
    }
    if (optind < argc) {
        cli_error("%s: unexpected argument '%s'", name, argv[optind]);
        return -1;
    }
    if (!g->model == !g->checkpoint) {
        cli_error("%s: give --model DIR or --checkpoint ID", name);
        return -1;
    }
    if (!g->n_prompts) {
        cli_error("%s: give at least one --prompt", name);
        return -1;
    }
    g->r.prompts = g->prompts;
    g->r.n_prompts = g->n_prompts;
    g->r.co.words = (const char *const *)g->words;
    g->r.sp.stop = g->stops;
    g->r.sp.n_stop = g->n_stops;
    g->r.sp.bad_ids = g->bad_ids;
    g->r.sp.bad_off = g->bad_off;
    g->r.sp.suppress = g->sup_ids;
    g->r.sp.n_suppress = g->n_sup;
    return 0;
}

static void print_output(const gen_request *r, const gen_output *o, int json) {
    const char *pr = r->prompts[o->prompt_index];
    if (json) {
        json_t *j = json_object();
        size_t pl = strlen(pr);
        char *text = malloc(pl + o->cont_len + 1);
        memcpy(text, pr, pl);
        memcpy(text + pl, o->continuation, o->cont_len + 1);
        json_object_set_new(j, "prompt", json_string(pr));
        json_object_set_new(j, "text", json_stringn(text, pl + o->cont_len));
        json_object_set_new(j, "continuation", json_stringn(o->continuation, o->cont_len));
        json_t *ids = json_array();
        for (size_t i = 0; i < o->n_ids; i++)
            json_array_append_new(ids, json_integer(o->ids[i]));
        json_object_set_new(j, "ids", ids);
        json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
        json_object_set_new(j, "finish_reason", json_string(o->finish));
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
        puts(s);
        free(s);
        free(text);
        json_decref(j);
        return;
    }
    printf("--- prompt %zu, output %d (seed %llu, ended: %s)\n%s%s\n", o->prompt_index + 1,
           o->seq_index + 1, (unsigned long long)o->seed, o->finish, pr, o->continuation);
}

int cmd_generate(cli *c, int argc, char **argv) {
    gen_cli g;
    int pr = parse_gen_cli("generate", GEN_USAGE, argc, argv, &g);
    if (pr) {
        gen_cli_free(&g);
        return pr > 0 ? 0 : 1;
    }
    struct stat sb;
    store *st = NULL;
    int record = !g.no_store && (g.checkpoint || stat(c->db_path, &sb) == 0);
    if (record || g.checkpoint) {
        st = cli_store(c, record ? STORE_WRITE : STORE_READ);
        if (!st) {
            gen_cli_free(&g);
            return 1;
        }
    }
    char err[ERR_LEN];
    gen_output *o;
    size_t n;
    gen_stats stats;
    if (stage_generate(st, record, g.model, g.checkpoint, &g.r, 0, NULL, &o, &n, &stats, err)) {
        gen_cli_free(&g);
        return cli_error("generate: %s", err);
    }
    for (size_t i = 0; i < n; i++)
        print_output(&g.r, &o[i], g.json);
    if (g.stats)
        fprintf(stderr,
                "generate: %zu outputs, %ld tokens in %ld steps, %.3f s (forward %.3f s), "
                "%.1f tokens/s; constraints %.3f ms/step (%.1f%% of the time); "
                "%ld prompt tokens reused\n",
                n, stats.tokens, stats.steps, stats.seconds, stats.fwd_seconds,
                stats.seconds > 0 ? stats.tokens / stats.seconds : 0,
                stats.steps ? 1e3 * stats.cons_seconds / stats.steps : 0,
                stats.seconds > 0 ? 100 * stats.cons_seconds / stats.seconds : 0, stats.shared);
    gen_outputs_free(o, n);
    gen_cli_free(&g);
    return 0;
}

static const char *NEXT_USAGE =
    "usage: quill next (--model DIR | --checkpoint ID|latest) --prompt TEXT [--top N]\n"
    "                  [--token PIECE ...] [--temperature T] [--dtype float32|bf16] [--json]\n\n"
    "Show the model's next-token distribution after the prompt: the N most likely\n"
    "tokens (default 10) with their logit and probability after temperature, and\n"
    "the logit, probability and rank of each --token (e.g. --token ' the').\n"
    "A lower temperature sharpens the distribution, a higher one flattens it;\n"
    "top-k sampling keeps only the first K rows.\n";

typedef struct rank_row {
    float logit;
    int32_t id;
} rank_row;

static int cmp_rank(const void *a, const void *b) {
    const rank_row *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int cmd_next(cli *c, int argc, char **argv) {
    gen_cli g;
    int pr = parse_gen_cli("next", NEXT_USAGE, argc, argv, &g);
    if (pr) {
        gen_cli_free(&g);
        return pr > 0 ? 0 : 1;
    }
    char err[ERR_LEN];
    int rc = 1;
    store *st = g.checkpoint ? cli_store(c, STORE_READ) : NULL;
    lm_model l;
    if (g.checkpoint && !st) {
        gen_cli_free(&g);
        return 1;
    }
    if (g.r.sp.temperature <= 0) {
        gen_cli_free(&g);
        return cli_error("next: --temperature must be > 0");
    }
    if (lm_load(st, g.model, g.checkpoint, &l, err) ||
        gpt_model_prepare_generation(l.m, g.r.bf16, err)) {
        gen_cli_free(&g);
        return cli_error("next: %s", err);
    }
    int V = l.cfg.vocab_size;
    int32_t *ids = NULL, *want = calloc(g.n_tokens + 1, sizeof *want);
    size_t n = 0;
    float *x = malloc((size_t)V * sizeof *x);
    rank_row *rows = malloc((size_t)V * sizeof *rows);
    gpt_kv *kv = NULL;
    const char *prompt = g.prompts[g.n_prompts - 1];
    if (!want || !x || !rows) {
        cli_error("next: out of memory");
        goto out;
    }
    for (size_t i = 0; i < g.n_tokens; i++) {
        want[i] = tok_piece_id(l.t, g.tokens[i]);
        if (want[i] < 0) {
            cli_error("next: '%s' is not one token of the vocabulary (try a leading space: ' %s')",
                      g.tokens[i], g.tokens[i]);
            goto out;
        }
    }
    if (tok_encode(l.t, prompt, strlen(prompt), 1, &ids, &n, err)) {
        cli_error("next: %s", err);
        goto out;
    }
    if (n == 0) {
        ids = realloc(ids, sizeof *ids);
        ids[0] = tok_special_id(l.t);
        n = 1;
    }
    if ((int)n > l.cfg.n_positions) {
        cli_error("next: the prompt has %zu tokens, the model %d positions", n, l.cfg.n_positions);
        goto out;
    }
    int slot = 0, nt = (int)n;
    if (gpt_kv_create(l.m, 1, (int)n, &kv, err) || gpt_kv_step(kv, 1, &slot, &nt, ids, x, err)) {
        cli_error("next: %s", err);
        goto out;
    }
    float T = g.r.sp.temperature;
    double mx = -INFINITY, z = 0;
    for (int i = 0; i < V; i++) {
        rows[i] = (rank_row){x[i], i};
        if (x[i] / T > mx) mx = x[i] / T;
    }
    for (int i = 0; i < V; i++)
        z += exp(x[i] / T - mx);
    qsort(rows, (size_t)V, sizeof *rows, cmp_rank);
    int *rank = malloc((size_t)V * sizeof *rank);
    if (!rank) {
        cli_error("next: out of memory");
        goto out;
    }
    for (int i = 0; i < V; i++)
        rank[rows[i].id] = i + 1;
    int top = g.top < V ? g.top : V;
    if (g.json) {
        json_t *j = json_object(), *arr = json_array(), *tk = json_array();
        for (int i = 0; i < top + (int)g.n_tokens; i++) {
            int32_t id = i < top ? rows[i].id : want[i - top];
            size_t bl;
            const unsigned char *b = tok_token_bytes(l.t, id, &bl);
            json_t *e = json_object();
            json_object_set_new(e, "id", json_integer(id));
            json_object_set_new(e, "token", json_stringn((const char *)b, bl));
            json_object_set_new(e, "logit", json_real(x[id]));
            json_object_set_new(e, "prob", json_real(exp(x[id] / T - mx) / z));
            json_object_set_new(e, "rank", json_integer(rank[id]));
            json_array_append_new(i < top ? arr : tk, e);
        }
        json_object_set_new(j, "prompt", json_string(prompt));
        json_object_set_new(j, "temperature", json_real(T));
        json_object_set_new(j, "top", arr);
        json_object_set_new(j, "tokens", tk);
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
        puts(s);
        free(s);
        json_decref(j);
    } else {
        printf("Next token after \"%s\" (%zu prompt tokens), temperature %g:\n\n", prompt, n, T);
        printf("  rank  token                   id     logit     prob  cumulative\n");
        double cum = 0;
        for (int i = 0; i < top + (int)g.n_tokens; i++) {
            if (i == top) printf("\n  asked for:\n");
            int32_t id = i < top ? rows[i].id : want[i - top];
            size_t bl;
            const unsigned char *b = tok_token_bytes(l.t, id, &bl);
            double p = exp(x[id] / T - mx) / z;
            printf("  %5d  ", rank[id]);
            print_piece(stdout, b, bl, 22);
            printf("  %5d  %8.3f  %s", id, x[id], p >= 1e-4 ? "" : "  ");
            printf(p >= 1e-4 ? "%6.2f%%" : "%.0e", p >= 1e-4 ? 100 * p : p);
            if (i < top) printf("  %9.2f%%", 100 * (cum += p));
            printf("\n");
        }
        printf("\nprob: softmax(logit / temperature).  top_k K samples among the first K rows;\n"
               "top_p P among the first rows whose cumulative probability reaches P.\n");
    }
    free(rank);
    rc = 0;
out:
    gpt_kv_free(kv);
    free(ids), free(want), free(x), free(rows);
    lm_free(&l);
    gen_cli_free(&g);
    return rc;
}

/*
** The generate stage and the `quill generate` / `quill next` commands; see
** generate.h.
*/
#include "generate.h"
#include "lm.h"
#include "outputs.h"

#include "cli.h"
#include "err.h"
#include "jw.h"
#include "pool.h"
#include "recipe.h"
#include "run.h"
#include "text.h"

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

int gen_check_prompt(const char *s, size_t n, char *err) {
    size_t bad;
    const char *nul = memchr(s, 0, n), *rep = memmem(s, n, "\xEF\xBF\xBD", 3);
    if (!txt_utf8_valid((const unsigned char *)s, n, &bad))
        return err_set(err, "not valid UTF-8 (byte %zu)", bad);
    if (nul) return err_set(err, "holds NUL (byte %zu)", (size_t)(nul - s));
    if (rep)
        return err_set(err, "holds U+FFFD, the mark of broken text (byte %zu)", (size_t)(rep - s));
    assert(txt_u8_run(TXT_U8_START, (const unsigned char *)s, n) == TXT_U8_START);
    return 0;
}

/* Everything gen_run holds, freed in one place. */
typedef struct run_state {
    int32_t **pids;
    size_t *pn;
    size_t np;
    const unsigned char **tb;
    size_t *tl;
    samp_vocab sv;
    cons *c;
    form *f;
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
    form_free(s->f);
    samp_vocab_free(&s->sv);
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
    int V;
} samp_job;

static void samp_task(void *ctx, int i) {
    const samp_job *j = ctx;
    run_state *s = j->s;
    int b = s->slots[i];
    samp_seq *q = &s->seqs[s->slot_out[b]];
    s->ntok[i] =
        samp_seq_step(&j->r->sp, s->c, &s->sv, q, s->logits + (size_t)i * j->V, &s->works[b]) >= 0;
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
        if (gen_check_prompt(pr, strlen(pr), err)) {
            err_prefix(err, "generate: prompt %zu", i + 1);
            goto done;
        }
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
    if (samp_vocab_init(&s.sv, &cv, err)) goto done;
    if ((r->co.n_words || (r->co.forbid_chars && *r->co.forbid_chars)) &&
        cons_new(&s.sv.v, &r->co, &s.c, err)) {
        err_prefix(err, "generate");
        goto done;
    }
    if (form_requested(&r->fo) && form_new(&s.sv.v, &r->fo, &r->co, &s.f, err)) goto done;
    int B = r->max_batch > 0 ? r->max_batch : GEN_BATCH;
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
                                  output_seed(r, k), err) ||
                    (s.f && samp_seq_set_form(q, s.f, err)))
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
            if (have >= (int)q->n) { /* it backed out of a form's dead end */
                gpt_kv_truncate(s.kv, b, (int)q->n - 1);
                have = (int)q->n - 1;
            }
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
        samp_job sj = {r, &s, V};
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
        stats->cons_seconds = stats->form_seconds = 0;
        stats->form_hits = stats->form_misses = 0;
        if (s.c) cons_stats(s.c, &h, &mi, &stats->cons_seconds);
        if (s.f) form_stats(s.f, &stats->form_hits, &stats->form_misses, &stats->form_seconds);
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

/* v as a JSON list of strings: NULL (err naming what) when one cannot be
** written (not valid UTF-8). */
static json_t *json_strings(const char *const *v, size_t n, const char *what, char *err) {
    json_t *a = json_array();
    for (size_t i = 0; i < n && a; i++)
        jw_push(&a, json_string(v[i]), what, err);
    return a;
}

/* v as a JSON list of integers: NULL (err naming what) when out of memory. */
static json_t *json_ints(const int32_t *v, size_t n, const char *what, char *err) {
    json_t *a = json_array();
    for (size_t i = 0; i < n && a; i++)
        jw_push(&a, json_integer(v[i]), what, err);
    return a;
}

/* Add form f's keys (syllables, rhyme, acrostic, lines, vocabulary) to the
** parameters o: 0, or -1 with err naming the key. */
static int form_params(json_t *o, const form_opts *f, char *err) {
    json_t *sy = json_array();
    for (size_t i = 0; i < f->n_syllables && sy; i++)
        jw_push(&sy, json_integer(f->syllables[i]), "syllables", err);
    return jw_set(o, "syllables", sy, err) ||
           jw_set(o, "rhyme", json_string(f->rhyme ? f->rhyme : ""), err) ||
           jw_set(o, "acrostic", json_string(f->acrostic ? f->acrostic : ""), err) ||
           jw_set(o, "lines", json_integer(f->lines), err) ||
           jw_set(o, "vocabulary",
                  f->vocabulary ? json_strings(f->vocabulary, f->n_vocabulary, "vocabulary", err)
                                : json_null(),
                  err);
}

char *gen_params_json(const gen_request *r, char *err) {
    const samp_params *p = &r->sp;
    json_t *bad = json_array();
    for (size_t i = 0; i < p->n_bad && bad; i++)
        jw_push(&bad,
                json_ints(p->bad_ids + p->bad_off[i], p->bad_off[i + 1] - p->bad_off[i],
                          "bad_words_ids", err),
                "bad_words_ids", err);
    json_t *o = jw_object(
        err, "do_sample", json_boolean(p->do_sample), "temperature", json_real(p->temperature),
        "top_k", json_integer(p->top_k), "top_p", json_real(p->top_p), "min_p", json_real(p->min_p),
        "typical_p", json_real(p->typical_p), "repetition_penalty",
        json_real(p->repetition_penalty), "no_repeat_ngram_size",
        json_integer(p->no_repeat_ngram_size), "min_new_tokens", json_integer(p->min_new_tokens),
        "max_new_tokens", p->max_new_tokens >= 0 ? json_integer(p->max_new_tokens) : json_null(),
        "max_length", json_integer(p->max_length), "ignore_eos", json_boolean(p->ignore_eos),
        "eos_token_id", json_integer(p->eos_id), "suppress_tokens",
        json_ints(p->suppress, p->n_suppress, "suppress_tokens", err), "bad_words_ids", bad,
        "stop_strings", json_strings(p->stop, p->n_stop, "stop_strings", err), "banned_words",
        json_strings(r->co.words, r->co.n_words, "banned_words", err), "match",
        json_string(r->co.substring ? "substring" : "word"), "case_sensitive",
        json_boolean(r->co.case_sensitive), "forbid_chars",
        json_string(r->co.forbid_chars ? r->co.forbid_chars : ""), "forbid_case_sensitive",
        json_boolean(r->co.forbid_case_sensitive), "num_return_sequences",
        json_integer(r->num_return_sequences), "seed", json_integer((json_int_t)r->seed), "dtype",
        json_string(r->bf16 ? "bfloat16" : "float32"), "raw_seed", json_boolean(r->raw_seed));
    if (!o || (form_requested(&r->fo) && form_params(o, &r->fo, err))) {
        json_decref(o);
        return NULL;
    }
    return jw_dumps(o, JSON_COMPACT | JSON_SORT_KEYS, "the parameters", err);
}

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
        outputs_identity(model_key, pr, strlen(pr), params, output_seed(r, k), ids[k]);
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
        char *ids =
            jw_dumps(json_ints(o[i].ids, o[i].n_ids, "the ids", err), JSON_COMPACT, "the ids", err);
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
    if (ctx->in[RCP_TRAIN]) {
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
    O_STATS,
    O_DTYPE,
    O_SYLL, /* the poetic form: O_SYLL .. O_VOCAB in gen_cli.form's order */
    O_FORM,
    O_RHYME,
    O_ACRO,
    O_VOCAB,
    O_LINES,
    O_TOP,  /* next's own */
    O_TOKEN /* next's own */
};

/* Print generate's usage, with the defaults of gen_request_defaults(). */
static void gen_usage(FILE *f) {
    gen_request d;
    gen_request_defaults(&d);
    fprintf(f,
            "usage: quill generate (--model DIR | --checkpoint ID|latest) --prompt TEXT "
            "[--prompt TEXT ...]\n"
            "                      [options]\n\n"
            "Generate continuations as transformers' generate() does (defaults of the\n"
            "text-generation pipeline for distilgpt2: sampling, top_k %d, max_length %d).\n"
            "  --max-new-tokens N      new tokens per output (overrides --max-length)\n"
            "  --max-length N          prompt + new tokens (default %d)\n"
            "  --min-new-tokens N      <|endoftext|> is masked before N new tokens\n"
            "  --temperature T         (default %g)      --top-k K (default %d, 0: off)\n"
            "  --top-p P  --min-p P  --typical-p P      (default off)\n"
            "  --repetition-penalty R  --no-repeat-ngram-size N\n"
            "  --num-return-sequences N  outputs per prompt (default %d)\n"
            "  --seed S                master seed (default %llu); output k gets its own seed\n"
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
            "  --batch N               sequences decoded together (default %d)\n"
            "  --json                  one JSON line per output\n"
            "  --stats                 print speed and constraint cost to stderr\n"
            "  --dtype float32|bf16    weights in bfloat16: about twice as fast, logits\n"
            "                          within about 1%% (default float32)\n"
            "  --syllables 5,7,5       poetic form: lines of exactly these syllable counts\n"
            "  --form haiku            (= --syllables 5,7,5)   --rhyme ABAB   --lines N\n"
            "  --acrostic WORD         line i begins with the i-th letter of WORD\n"
            "  --vocabulary FILE       every word is one of FILE's (one per line)\n"
            "  --no-store              do not record the outputs (they are recorded when the\n"
            "                          store exists or --checkpoint is used)\n",
            d.sp.top_k, d.sp.max_length, d.sp.max_length, d.sp.temperature, d.sp.top_k,
            d.num_return_sequences, (unsigned long long)d.seed, GEN_BATCH);
}

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
                                         {"syllables", required_argument, 0, O_SYLL},
                                         {"form", required_argument, 0, O_FORM},
                                         {"rhyme", required_argument, 0, O_RHYME},
                                         {"acrostic", required_argument, 0, O_ACRO},
                                         {"vocabulary", required_argument, 0, O_VOCAB},
                                         {"lines", required_argument, 0, O_LINES},
                                         {"help", no_argument, 0, O_HELP},
                                         {0, 0, 0, 0}};

/* generate's options. */
typedef struct gen_cli {
    gen_request r;
    const char *model, *checkpoint;
    const char **prompts, **stops;
    size_t n_prompts, n_stops;
    char **words;
    int32_t *bad_ids, *sup_ids;
    size_t *bad_off, *sup_off, n_sup;
    int json, no_store, stats;
    const char *form[5]; /* syllables, form, rhyme, acrostic, vocabulary file */
    long lines;
    char **vocab;
} gen_cli;

static void gen_cli_free(gen_cli *g) {
    for (size_t i = 0; i < g->r.co.n_words; i++)
        free(g->words[i]);
    free(g->words), free(g->prompts), free(g->stops);
    free(g->bad_ids), free(g->bad_off), free(g->sup_ids), free(g->sup_off);
    form_words_free(g->vocab, g->r.fo.n_vocabulary);
}

static int push(const char ***v, size_t *n, const char *s) {
    const char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) return -1;
    nv[(*n)++] = s;
    *v = nv;
    return 0;
}

/* --dtype ARG of command CMD into *bf16; 0, or 2 after a usage error. */
static int parse_dtype(const char *cmd, const char *arg, int *bf16) {
    if (strcmp(arg, "float32") && strcmp(arg, "fp32") && strcmp(arg, "bf16") &&
        strcmp(arg, "bfloat16"))
        return cli_usage_error(cmd, "--dtype must be float32 or bf16, not '%s'", arg);
    *bf16 = !strncmp(arg, "bf", 2);
    return 0;
}

/* --temperature ARG of command CMD into *t, in the recipe's range; 0 gets
** its own message, naming greedy decoding.  0, or 2 after a usage error. */
static int parse_temperature(const char *cmd, const char *arg, float *t) {
    double v;
    long long unused;
    if (!cli_float(arg, 0, 0, 0, &v))
        return cli_usage_error(cmd,
                               "--temperature 0 is not a temperature (it must be > 0); for "
                               "greedy decoding use --greedy%s",
                               strcmp(cmd, "next") ? "" : " with quill generate");
    int rc = cli_recipe_opt(cmd, "generate", "temperature", arg, &unused, &v);
    if (!rc) *t = (float)v;
    return rc;
}

/* The checks after the options common to generate and next: one model
** source and a prompt.  0, or 2 after a usage error. */
static int check_source(const char *cmd, const char *model, const char *checkpoint,
                        size_t n_prompts) {
    if (!model == !checkpoint) return cli_usage_error(cmd, "give --model DIR or --checkpoint ID");
    if (!n_prompts) return cli_usage_error(cmd, "give a --prompt");
    return 0;
}

/* Parse generate's argv into g; returns 0 to go on, -1 when --help was
** printed, else the exit status of a usage error (printed). */
static int parse_gen_cli(int argc, char **argv, gen_cli *g) {
    memset(g, 0, sizeof *g);
    gen_request_defaults(&g->r);
    char err[ERR_LEN];
    int o, rc;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":", GEN_OPTS, NULL)) != -1) {
        samp_params *p = &g->r.sp;
        long long iv = 0;
        double v = 0;
        switch (o) {
        case O_HELP:
            gen_usage(stdout);
            return -1;
        case O_MODEL:
            g->model = optarg;
            continue;
        case O_CKPT:
            g->checkpoint = optarg;
            continue;
        case O_PROMPT:
            if (push(&g->prompts, &g->n_prompts, optarg)) return cli_error("out of memory");
            continue;
        case O_STOP:
            if (push(&g->stops, &g->n_stops, optarg)) return cli_error("out of memory");
            continue;
        case O_TEMP:
            if ((rc = parse_temperature("generate", optarg, &p->temperature))) return rc;
            continue;
        case O_SEED: /* a stored output's seed has 63 bits (see output_seed) */
            if ((rc = cli_int_opt("generate", "--seed", optarg, 0, INT64_MAX, &iv))) return rc;
            g->r.seed = (uint64_t)iv;
            continue;
        case O_BATCH:
            if ((rc = cli_int_opt("generate", "--batch", optarg, 1, 1 << 16, &iv))) return rc;
            g->r.max_batch = (int)iv;
            continue;
        case O_RAWSEED:
            g->r.raw_seed = 1;
            continue;
        case O_GREEDY:
            p->do_sample = 0;
            continue;
        case O_SAMPLE:
            p->do_sample = 1;
            continue;
        case O_IGNEOS:
            p->ignore_eos = 1;
            continue;
        case O_CASE:
            g->r.co.case_sensitive = 1;
            continue;
        case O_FORBIDCASE:
            g->r.co.forbid_case_sensitive = 1;
            continue;
        case O_FORBID:
            g->r.co.forbid_chars = optarg;
            continue;
        case O_JSON:
            g->json = 1;
            continue;
        case O_NOSTORE:
            g->no_store = 1;
            continue;
        case O_STATS:
            g->stats = 1;
            continue;
        case O_DTYPE:
            if ((rc = parse_dtype("generate", optarg, &g->r.bf16))) return rc;
            continue;
        case O_SYLL:
        case O_FORM:
        case O_RHYME:
        case O_ACRO:
        case O_VOCAB:
            g->form[o - O_SYLL] = optarg;
            continue;
        case O_LINES:
            if ((rc = cli_int_opt("generate", "--lines", optarg, 1, FORM_MAX_LINES, &iv)))
                return rc;
            g->lines = (long)iv;
            continue;
        case O_MATCH:
            if (strcmp(optarg, "word") && strcmp(optarg, "substring"))
                return cli_usage_error("generate", "--match must be word or substring, not '%s'",
                                       optarg);
            g->r.co.substring = !strcmp(optarg, "substring");
            continue;
        case O_BANNED:
            for (size_t i = 0; i < g->r.co.n_words; i++)
                free(g->words[i]);
            free(g->words);
            g->words = split_commas(optarg, &g->r.co.n_words);
            continue;
        case O_BADIDS:
            free(g->bad_ids), free(g->bad_off);
            if (parse_id_lists(optarg, 1, &g->bad_ids, &g->bad_off, &p->n_bad, err))
                return cli_usage_error("generate", "--bad-words-ids: %s", err);
            continue;
        case O_SUPPRESS:
            free(g->sup_ids), free(g->sup_off);
            if (parse_id_lists(optarg, 0, &g->sup_ids, &g->sup_off, &g->n_sup, err))
                return cli_usage_error("generate", "--suppress-tokens: %s", err);
            continue;
        case '?':
        case ':':
            return cli_bad_option("generate", o, argv);
        }
        /* the rest are numbers, checked as the recipe's generate keys */
        if ((rc = cli_recipe_opt("generate", "generate", cli_option_name(GEN_OPTS, o), optarg, &iv,
                                 &v)))
            return rc;
        switch (o) {
        case O_MAXNEW:
            p->max_new_tokens = (int)iv;
            break;
        case O_MAXLEN:
            p->max_length = (int)iv;
            break;
        case O_MINNEW:
            p->min_new_tokens = (int)iv;
            break;
        case O_TOPK:
            p->top_k = (int)iv;
            break;
        case O_TOPP:
            p->top_p = (float)v;
            break;
        case O_MINP:
            p->min_p = (float)v;
            break;
        case O_TYP:
            p->typical_p = (float)v;
            break;
        case O_REP:
            p->repetition_penalty = (float)v;
            break;
        case O_NGRAM:
            p->no_repeat_ngram_size = (int)iv;
            break;
        case O_NRS:
            g->r.num_return_sequences = (int)iv;
            break;
        }
    }
    if (optind < argc) return cli_usage_error("generate", "unexpected argument '%s'", argv[optind]);
    if ((rc = check_source("generate", g->model, g->checkpoint, g->n_prompts))) return rc;
    for (size_t i = 0; i < g->n_prompts; i++)
        if (gen_check_prompt(g->prompts[i], strlen(g->prompts[i]), err))
            return cli_usage_error("generate", "--prompt %zu: %s", i + 1, err);
    if (form_opts_set(&g->r.fo, g->form[0], g->form[1], g->form[2], g->form[3], g->lines, err) ||
        (g->form[4] && form_load_vocabulary(g->form[4], &g->vocab, &g->r.fo.n_vocabulary, err)))
        return cli_usage_error("generate", "%s", err);
    g->r.fo.vocabulary = (const char *const *)g->vocab;
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

/* Print one output as text or as a JSON line (text that is not valid
** UTF-8 repaired, as stored text is on every --json output).  Returns 0, or
** -1 with err when the line cannot be written. */
static int print_output(const gen_request *r, const gen_output *o, int json, char *err) {
    const char *pr = r->prompts[o->prompt_index];
    if (json) {
        size_t pl = strlen(pr);
        char *text = malloc(pl + o->cont_len + 1);
        if (!text) return err_set(err, "out of memory");
        memcpy(text, pr, pl);
        memcpy(text + pl, o->continuation, o->cont_len + 1);
        json_t *j = jw_object(
            err, "prompt", cli_json_strn(pr, pl), "text", cli_json_strn(text, pl + o->cont_len),
            "continuation", cli_json_strn(o->continuation, o->cont_len), "ids",
            json_ints(o->ids, o->n_ids, "the ids", err), "seed", json_integer((json_int_t)o->seed),
            "finish_reason", json_string(o->finish));
        free(text);
        return j ? jw_print(stdout, j, JSON_COMPACT | JSON_ENSURE_ASCII, "the output", err) : -1;
    }
    printf("--- prompt %zu, output %d (seed %llu, ended: %s)\n%s%s\n", o->prompt_index + 1,
           o->seq_index + 1, (unsigned long long)o->seed, o->finish, pr, o->continuation);
    return 0;
}

int cmd_generate(cli *c, int argc, char **argv) {
    gen_cli g;
    int pr = parse_gen_cli(argc, argv, &g);
    if (pr) {
        gen_cli_free(&g);
        return pr < 0 ? 0 : pr;
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
        /* the engine's own errors already say "generate: " */
        return cli_error("%s%s", strncmp(err, "generate: ", 10) ? "generate: " : "", err);
    }
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (print_output(&g.r, &o[i], g.json, err))
            rc = cli_error("generate: output %zu: %s", i + 1, err);
    if (g.stats)
        fprintf(stderr,
                "generate: %zu outputs, %ld tokens in %ld steps, %.3f s (forward %.3f s), "
                "%.1f tokens/s; constraints %.3f ms/step (%.1f%% of the time); "
                "form %.3f ms/step (%ld masks cached, %ld computed); "
                "%ld prompt tokens reused\n",
                n, stats.tokens, stats.steps, stats.seconds, stats.fwd_seconds,
                stats.seconds > 0 ? stats.tokens / stats.seconds : 0,
                stats.steps ? 1e3 * stats.cons_seconds / stats.steps : 0,
                stats.seconds > 0 ? 100 * stats.cons_seconds / stats.seconds : 0,
                stats.steps ? 1e3 * stats.form_seconds / stats.steps : 0, stats.form_hits,
                stats.form_misses, stats.shared);
    gen_outputs_free(o, n);
    gen_cli_free(&g);
    return rc;
}

#define NEXT_TOP 10 /* rows `quill next` shows unless --top says */
#define SPELL_(x) #x
#define SPELL(x) SPELL_(x) /* a macro's value as a string literal */
static const char *NEXT_USAGE =
    "usage: quill next (--model DIR | --checkpoint ID|latest) --prompt TEXT [--top N]\n"
    "                  [--token PIECE ...] [--temperature T] [--dtype float32|bf16] [--json]\n\n"
    "Show the model's next-token distribution after the prompt: the N most likely\n"
    "tokens (default " SPELL(
        NEXT_TOP) ") with their logit and probability after temperature, and\n"
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

/* next's options. */
typedef struct next_cli {
    const char *model, *checkpoint, *prompt;
    const char **tokens;
    size_t n_tokens;
    float temperature;
    int bf16, json, top;
} next_cli;

/* Parse next's argv into g; returns 0 to go on, -1 when --help was
** printed, else the exit status of a usage error (printed). */
static int parse_next_cli(int argc, char **argv, next_cli *g) {
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},   {"checkpoint", required_argument, 0, O_CKPT},
        {"prompt", required_argument, 0, O_PROMPT}, {"top", required_argument, 0, O_TOP},
        {"token", required_argument, 0, O_TOKEN},   {"temperature", required_argument, 0, O_TEMP},
        {"dtype", required_argument, 0, O_DTYPE},   {"json", no_argument, 0, O_JSON},
        {"help", no_argument, 0, O_HELP},           {0, 0, 0, 0}};
    samp_params d;
    samp_defaults(&d);
    memset(g, 0, sizeof *g);
    g->temperature = d.temperature;
    g->top = NEXT_TOP;
    int o, rc;
    long long iv;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (o) {
        case O_HELP:
            fputs(NEXT_USAGE, stdout);
            return -1;
        case O_MODEL:
            g->model = optarg;
            break;
        case O_CKPT:
            g->checkpoint = optarg;
            break;
        case O_PROMPT:
            if (g->prompt) return cli_usage_error("next", "give one --prompt");
            g->prompt = optarg;
            break;
        case O_TOKEN:
            if (push(&g->tokens, &g->n_tokens, optarg)) return cli_error("out of memory");
            break;
        case O_TOP:
            if ((rc = cli_int_opt("next", "--top", optarg, 0, 1 << 24, &iv))) return rc;
            g->top = (int)iv;
            break;
        case O_TEMP:
            if ((rc = parse_temperature("next", optarg, &g->temperature))) return rc;
            break;
        case O_DTYPE:
            if ((rc = parse_dtype("next", optarg, &g->bf16))) return rc;
            break;
        case O_JSON:
            g->json = 1;
            break;
        default:
            return cli_bad_option("next", o, argv);
        }
    }
    if (optind < argc) return cli_usage_error("next", "unexpected argument '%s'", argv[optind]);
    if ((rc = check_source("next", g->model, g->checkpoint, g->prompt != NULL))) return rc;
    char err[ERR_LEN];
    if (gen_check_prompt(g->prompt, strlen(g->prompt), err))
        return cli_usage_error("next", "--prompt: %s", err);
    return 0;
}

/* Report that --token PIECE is not one token: say what may be meant (the
** piece with a leading space, when that is a token) or what it is (the
** tokens it encodes to). */
static void bad_token(const tok *t, const char *piece) {
    char err[ERR_LEN], list[256] = "";
    size_t pl = strlen(piece), n = 0, used = 0;
    char *spaced = malloc(pl + 2);
    int32_t *ids = NULL;
    if (spaced) snprintf(spaced, pl + 2, " %s", piece);
    if (spaced && piece[0] != ' ' && tok_piece_id(t, spaced) >= 0) {
        cli_error("next: --token '%s' is not one token of the vocabulary, but '%s' is (a word "
                  "after a space starts with one)",
                  piece, spaced);
    } else if (!tok_encode(t, piece, pl, 0, &ids, &n, err) && n > 1) {
        for (size_t i = 0; i < n && used < sizeof list; i++) {
            size_t bl;
            const unsigned char *b = tok_token_bytes(t, ids[i], &bl);
            used += (size_t)snprintf(list + used, sizeof list - used, "%s'%.*s'", i ? " " : "",
                                     (int)bl, (const char *)b);
        }
        cli_error("next: --token '%s' is %zu tokens, %s: give each as its own --token", piece, n,
                  list);
    } else {
        cli_error("next: --token '%s' is not one token of the vocabulary", piece);
    }
    free(spaced);
    free(ids);
}

int cmd_next(cli *c, int argc, char **argv) {
    next_cli g;
    int pr = parse_next_cli(argc, argv, &g);
    if (pr) {
        free(g.tokens);
        return pr < 0 ? 0 : pr;
    }
    char err[ERR_LEN];
    int rc = 1;
    store *st = g.checkpoint ? cli_store(c, STORE_READ) : NULL;
    lm_model l;
    if (g.checkpoint && !st) {
        free(g.tokens);
        return 1;
    }
    if (lm_load(st, g.model, g.checkpoint, &l, err) ||
        gpt_model_prepare_generation(l.m, g.bf16, err)) {
        free(g.tokens);
        return cli_error("next: %s", err);
    }
    int V = l.cfg.vocab_size;
    int32_t *ids = NULL, *want = calloc(g.n_tokens + 1, sizeof *want);
    size_t n = 0;
    float *x = malloc((size_t)V * sizeof *x);
    rank_row *rows = malloc((size_t)V * sizeof *rows);
    gpt_kv *kv = NULL;
    const char *prompt = g.prompt;
    if (!want || !x || !rows) {
        cli_error("next: out of memory");
        goto out;
    }
    for (size_t i = 0; i < g.n_tokens; i++) {
        want[i] = tok_piece_id(l.t, g.tokens[i]);
        if (want[i] < 0) {
            bad_token(l.t, g.tokens[i]);
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
    float T = g.temperature;
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
        json_t *arr = json_array(), *tk = json_array();
        int bad = 0;
        for (int i = 0; i < top + (int)g.n_tokens && !bad; i++) {
            int32_t id = i < top ? rows[i].id : want[i - top];
            size_t bl;
            const unsigned char *b = tok_token_bytes(l.t, id, &bl);
            /* A token may be part of a character: its bytes are repaired
            ** here, its id says exactly which it is. */
            json_t *e =
                jw_object(err, "id", json_integer(id), "token", cli_json_strn((const char *)b, bl),
                          "logit", json_real(x[id]), "prob", json_real(exp(x[id] / T - mx) / z),
                          "rank", json_integer(rank[id]));
            bad = jw_append(i < top ? arr : tk, e, "a token", err);
        }
        json_t *j =
            bad ? NULL
                : jw_object(err, "prompt", cli_json_str(prompt), "temperature", json_real(T), "top",
                            json_incref(arr), "tokens", json_incref(tk));
        json_decref(arr);
        json_decref(tk);
        if (!j || jw_print(stdout, j, JSON_COMPACT | JSON_ENSURE_ASCII, "the distribution", err)) {
            cli_error("next: %s", err);
            free(rank);
            goto out;
        }
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
    free(g.tokens);
    return rc;
}

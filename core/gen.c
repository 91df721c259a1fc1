/*
** The batched generation engine; see gen.h.
*/
#include "gen.h"

#include "err.h"
#include "jw.h"
#include "mem.h"
#include "pool.h"
#include "text.h"

#include <assert.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

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

size_t gen_n_outputs(const gen_request *r) {
    size_t n = 0;
    for (size_t i = 0; i < r->n_prompts; i++)
        n += (size_t)(r->rows && r->rows[i].num_return_sequences ? r->rows[i].num_return_sequences
                                                                 : r->num_return_sequences);
    return n;
}

uint64_t gen_output_seed(const gen_request *r, size_t i, int j, size_t k) {
    if (r->raw_seed) return r->seed;
    if (r->rows && r->rows[i].has_seed) return rng_derive(r->rows[i].seed, (uint64_t)j) >> 1;
    return rng_derive(r->seed, k) >> 1;
}

void gen_row_request(const gen_request *r, size_t i, gen_request *q) {
    assert(i < r->n_prompts);
    *q = *r;
    q->prompts = r->prompts + i;
    q->n_prompts = 1;
    q->rows = NULL;
    q->skip = NULL;
    q->sink = NULL;
    const gen_row *w = r->rows ? &r->rows[i] : NULL;
    if (!w) return;
    if (w->num_return_sequences) q->num_return_sequences = w->num_return_sequences;
    if (w->max_new_tokens >= 0) q->sp.max_new_tokens = w->max_new_tokens;
    if (w->temperature > 0) q->sp.temperature = w->temperature;
    if (w->top_k >= 0) q->sp.top_k = w->top_k;
    if (w->top_p > 0) q->sp.top_p = w->top_p;
    if (w->has_banned) q->co.words = w->banned, q->co.n_words = w->n_banned;
    if (w->forbid_chars) q->co.forbid_chars = *w->forbid_chars ? w->forbid_chars : NULL;
    if (w->has_seed) q->seed = w->seed;
    q->meta = w->meta;
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

int gen_encode_prompt(const tok *t, const char *s, int32_t start, int32_t **ids, size_t *n,
                      char *err) {
    if (tok_encode(t, s, strlen(s), 1, ids, n, err)) return -1;
    if (*n) return 0;
    int32_t *one = realloc(*ids, sizeof *one);
    if (!one) return err_set(err, "out of memory");
    one[0] = start;
    *ids = one;
    *n = 1;
    return 0;
}

/* Everything gen_run holds, freed in one place, and where the run is.
** Slot b (0 <= b < nslots) is free (slot_out[b] == -1) or decodes output
** slot_out[b], a live sequence of seqs[]; a fresh one may wait for its
** prompt as the twin of another slot (twin_of[b], only within a step). */
typedef struct run_state {
    const gen_request *r;
    const tok *t;
    gen_output *out;
    size_t N; /* outputs */
    int V;    /* vocabulary size */
    int32_t **pids;
    size_t *pn;
    size_t np;
    samp_params *psp; /* per prompt: its parameters (its row's overrides applied) */
    cons **pc;        /* per prompt: its constraints (s->c, or one of s->rc) */
    cons **rc;        /* the rows' own constraints */
    size_t nrc;
    size_t *out_prompt; /* per output: its prompt */
    int *out_seq;       /* per output: its index among its prompt's outputs */
    int max_len;        /* the longest prompt + new tokens */
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
    size_t next, done_n;          /* the next output to start, outputs finished */
    long steps, n_tokens, shared; /* gen_stats' */
    double fwd;                   /* seconds inside gpt_kv_step */
    double form_setup;            /* seconds building the form (setup_vocab) */
} run_state;

static void run_state_free(run_state *s) {
    for (size_t i = 0; s->pids && i < s->np; i++)
        free(s->pids[i]);
    for (size_t i = 0; s->seqs && i < s->nseqs; i++)
        samp_seq_free(&s->seqs[i]);
    for (int i = 0; i < s->nworks; i++)
        samp_work_free(&s->works[i]);
    free(s->pids), free(s->pn), free(s->tb), free(s->tl), free(s->seqs), free(s->works);
    free(s->logits), free(s->slot_out), free(s->slots), free(s->ntok), free(s->tokens);
    free(s->twin_of), free(s->psp), free(s->pc), free(s->out_prompt), free(s->out_seq);
    for (size_t i = 0; i < s->nrc; i++)
        cons_free(s->rc[i]);
    free(s->rc);
    cons_free(s->c);
    form_free(s->f);
    samp_vocab_free(&s->sv);
    gpt_kv_free(s->kv);
}

/* Decode the finished sequence into its output. */
static int finish_output(const tok *t, const samp_params *p, const samp_seq *s, gen_output *o,
                         char *err) {
    assert(s->finish && s->n >= s->n_prompt);
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
        /* a fresh leader comes earlier, so it is already known not to be a
        ** twin; its logits are q's only when its prompt is q's, not longer */
        if (len == 0 ? d < b && o->n == q->n : len >= (int)q->n - 1) return d;
    }
    return -1;
}

/* After a step: each twin (a fresh sequence whose prompt its leader just
** stepped) takes the leader's keys and values and its logits row, and
** joins the sampling as sequence *nlive, *nlive + 1, ...  Exact: a row's
** keys, values and logits do not depend on the rest of the step. */
static int take_twins(run_state *s, int *nlive, char *err) {
    const int nstep = *nlive, V = s->V;
    for (int b = 0; b < s->nslots; b++) {
        const int d = s->twin_of[b];
        if (d < 0) continue;
        assert(d != b && s->twin_of[d] < 0 && s->slot_out[b] >= 0 && s->slot_out[d] >= 0);
        s->twin_of[b] = -1;
        int i = 0;
        while (s->slots[i] != d)
            i++;
        assert(i < nstep && *nlive < s->nslots);
        if (gpt_kv_copy(s->kv, b, d, gpt_kv_len(s->kv, d), err)) return -1;
        s->shared += gpt_kv_len(s->kv, d);
        memcpy(s->logits + (size_t)*nlive * V, s->logits + (size_t)i * V, sizeof(float) * V);
        s->slots[(*nlive)++] = b;
    }
    return 0;
}

/* One step's sampling, a pool task per live sequence (the thread pool, not
** OpenMP: see core/pool.h).  ntok[i] becomes 1 when sequence i got a
** token, 0 when it finished without one, -1 when out of memory. */
typedef struct samp_job {
    const gen_request *r;
    run_state *s;
    int V;
} samp_job;

static void samp_task(void *ctx, int i) {
    const samp_job *j = ctx;
    run_state *s = j->s;
    int b = s->slots[i];
    const size_t k = (size_t)s->slot_out[b], pi = s->out_prompt[k];
    int32_t t = samp_seq_step(&s->psp[pi], s->pc[pi], &s->sv, &s->seqs[k],
                              s->logits + (size_t)i * j->V, &s->works[b]);
    s->ntok[i] = t >= 0 ? 1 : t == SAMP_NOMEM ? -1 : 0;
}

/* The request's checks before anything is allocated. */
static int check_request(const gpt_config *cfg, const tok *t, const gen_request *r, char *err) {
    int V = cfg->vocab_size;
    if (tok_vocab_size(t) != V)
        return err_set(err, "generate: the tokenizer has %d tokens, the model %d",
                       tok_vocab_size(t), V);
    if (r->n_prompts == 0) return err_set(err, "generate: no prompt");
    for (size_t i = 0; i < r->n_prompts; i++) {
        gen_request q;
        gen_row_request(r, i, &q);
        if (samp_validate(&q.sp, V, err))
            return r->rows ? err_prefix(err, "generate: prompt %zu", i + 1)
                           : err_prefix(err, "generate");
        if (q.num_return_sequences < 1)
            return err_set(err, "generate: prompt %zu: num_return_sequences < 1", i + 1);
    }
    if (r->raw_seed && gen_n_outputs(r) != 1)
        return err_set(err, "generate: a raw seed regenerates one output (one prompt, one "
                            "sequence)");
    return 0;
}

/* Each prompt's parameters (s->psp) and each output's prompt and index
** among its prompt's (s->out_prompt, s->out_seq). */
static int plan_outputs(run_state *s, char *err) {
    const gen_request *r = s->r;
    s->out = calloc(s->N, sizeof *s->out);
    s->pids = calloc(r->n_prompts, sizeof *s->pids);
    s->pn = calloc(r->n_prompts, sizeof *s->pn);
    s->psp = malloc(r->n_prompts * sizeof *s->psp);
    s->pc = calloc(r->n_prompts, sizeof *s->pc);
    s->out_prompt = malloc(s->N * sizeof *s->out_prompt);
    s->out_seq = malloc(s->N * sizeof *s->out_seq);
    if (!s->out || !s->pids || !s->pn || !s->psp || !s->pc || !s->out_prompt || !s->out_seq)
        return err_set(err, "generate: out of memory");
    s->np = r->n_prompts;
    size_t k = 0;
    for (size_t i = 0; i < s->np; i++) {
        gen_request q;
        gen_row_request(r, i, &q);
        s->psp[i] = q.sp;
        for (int j = 0; j < q.num_return_sequences; j++, k++)
            s->out_prompt[k] = i, s->out_seq[k] = j;
    }
    assert(k == s->N);
    return 0;
}

/* Check and encode every prompt (s->pids, s->pn) and find the longest
** sequence, prompt and new tokens (s->max_len). */
static int encode_prompts(run_state *s, const gpt_config *cfg, char *err) {
    const gen_request *r = s->r;
    s->max_len = 1;
    for (size_t i = 0; i < s->np; i++) {
        const char *pr = r->prompts[i];
        const samp_params *sp = &s->psp[i];
        if (gen_check_prompt(pr, strlen(pr), err))
            return err_prefix(err, "generate: prompt %zu", i + 1);
        if (gen_encode_prompt(s->t, pr, r->sp.eos_id, &s->pids[i], &s->pn[i], err))
            return err_prefix(err, "generate: prompt %zu", i + 1);
        int need = (int)s->pn[i] + samp_max_new(sp, s->pn[i]);
        if (need > cfg->n_positions)
            return err_set(err,
                           "generate: prompt %zu (%zu tokens) plus %d new tokens exceeds the "
                           "model's %d positions",
                           i + 1, s->pn[i], samp_max_new(sp, s->pn[i]), cfg->n_positions);
        if (need > s->max_len) s->max_len = need;
    }
    return 0;
}

/* The vocabulary as bytes, and the constraints and the form over it. */
static int setup_vocab(run_state *s, char *err) {
    const gen_request *r = s->r;
    s->tb = malloc((size_t)s->V * sizeof *s->tb);
    s->tl = malloc((size_t)s->V * sizeof *s->tl);
    if (!s->tb || !s->tl) return err_set(err, "generate: out of memory");
    for (int i = 0; i < s->V; i++)
        s->tb[i] = tok_token_bytes(s->t, i, &s->tl[i]);
    cons_vocab cv = {s->V, s->tb, s->tl, r->sp.eos_id};
    if (samp_vocab_init(&s->sv, &cv, err)) return -1;
    if ((r->co.n_words || (r->co.forbid_chars && *r->co.forbid_chars)) &&
        cons_new(&s->sv.v, &r->co, &s->c, err))
        return err_prefix(err, "generate");
    double t0 = omp_get_wtime();
    if (form_requested(&r->fo) && form_new(&s->sv.v, &r->fo, &r->co, &s->f, err)) return -1;
    s->form_setup = omp_get_wtime() - t0;
    return 0;
}

/* Whether constraints a and b are the same. */
static int same_cons(const cons_opts *a, const cons_opts *b) {
    if (a->n_words != b->n_words || a->substring != b->substring ||
        a->case_sensitive != b->case_sensitive ||
        a->forbid_case_sensitive != b->forbid_case_sensitive ||
        strcmp(a->forbid_chars ? a->forbid_chars : "", b->forbid_chars ? b->forbid_chars : ""))
        return 0;
    for (size_t i = 0; i < a->n_words; i++)
        if (strcmp(a->words[i], b->words[i])) return 0;
    return 1;
}

/* Each prompt's constraints (s->pc): the request's, or for a row with its
** own banned words or characters, constraints built once for every row
** that asks for the same (s->rc). */
static int setup_row_cons(run_state *s, char *err) {
    const gen_request *r = s->r;
    size_t *first = NULL; /* per s->rc: the first row that uses it */
    for (size_t i = 0; i < s->np; i++) {
        const gen_row *w = r->rows ? &r->rows[i] : NULL;
        s->pc[i] = s->c;
        if (!w || (!w->has_banned && !w->forbid_chars)) continue;
        gen_request q, o;
        gen_row_request(r, i, &q);
        size_t j = 0;
        for (; j < s->nrc; j++) {
            gen_row_request(r, first[j], &o);
            if (same_cons(&q.co, &o.co)) break;
        }
        if (j == s->nrc) {
            size_t *nf = realloc(first, (j + 1) * sizeof *nf);
            cons **nc = nf ? realloc(s->rc, (j + 1) * sizeof *nc) : NULL;
            if (nf) first = nf;
            if (!nc) {
                free(first);
                return err_set(err, "generate: out of memory");
            }
            s->rc = nc;
            nf[j] = i;
            s->rc[j] = NULL;
            s->nrc++;
            if ((q.co.n_words || q.co.forbid_chars) && cons_new(&s->sv.v, &q.co, &s->rc[j], err)) {
                free(first);
                return err_prefix(err, "generate: prompt %zu", i + 1);
            }
        }
        s->pc[i] = s->rc[j];
    }
    free(first);
    return 0;
}

/* B slots (live sequences at once), their scratch space and the KV cache
** of model m, every slot free. */
static int setup_slots(run_state *s, gpt_model *m, int B, char *err) {
    assert(B >= 1 && (size_t)B <= s->N);
    const size_t b = (size_t)B, V = (size_t)s->V;
    s->seqs = calloc(s->N, sizeof *s->seqs);
    s->works = calloc(b, sizeof *s->works);
    s->logits = mem_big_alloc(b * V * sizeof *s->logits); /* 13 MB at batch 64: huge pages */
    s->slot_out = malloc(b * sizeof *s->slot_out);
    s->slots = malloc(b * sizeof *s->slots);
    s->twin_of = malloc(b * sizeof *s->twin_of);
    s->ntok = malloc(b * sizeof *s->ntok);
    s->tokens = malloc(b * (size_t)s->max_len * sizeof *s->tokens);
    if (!s->seqs || !s->works || !s->logits || !s->slot_out || !s->slots || !s->ntok ||
        !s->tokens || !s->twin_of)
        return err_set(err, "generate: out of memory");
    s->nseqs = s->N;
    s->nslots = B;
    for (; s->nworks < B; s->nworks++)
        if (samp_work_init(&s->works[s->nworks], s->V, err)) return -1;
    if (gpt_model_generation(m) != s->r->bf16 && gpt_model_prepare_generation(m, s->r->bf16, err))
        return -1;
    if (gpt_kv_create(m, B, s->max_len, &s->kv, err)) return -1;
    for (int i = 0; i < B; i++)
        s->slot_out[i] = s->twin_of[i] = -1;
    return 0;
}

/* Output k is finished: decode it, free its sequence, and hand it to the
** sink (which has it freed after) when there is one. */
static int output_done(run_state *s, size_t k, char *err) {
    samp_seq *q = &s->seqs[k];
    gen_output *o = &s->out[k];
    int rc = finish_output(s->t, &s->r->sp, q, o, err);
    samp_seq_free(q);
    memset(q, 0, sizeof *q);
    s->done_n++;
    const gen_sink *sk = s->r->sink;
    if (!rc && sk) {
        rc = sk->output(sk->ctx, k, o, err);
        free(o->continuation), free(o->ids);
        o->continuation = NULL, o->ids = NULL;
    }
    return rc;
}

/* Start the waiting outputs, in order, in the free slots; an output with
** nothing to generate (max_new_tokens 0) finishes at once, one the request
** skips is not started. */
static int refill(run_state *s, char *err) {
    const gen_request *r = s->r;
    for (int b = 0; b < s->nslots && s->next < s->N; b++) {
        while (s->slot_out[b] < 0 && s->next < s->N) {
            size_t k = s->next++, pi = s->out_prompt[k];
            samp_seq *q = &s->seqs[k];
            s->out[k].prompt_index = pi;
            s->out[k].seq_index = s->out_seq[k];
            if (r->skip && r->skip[k]) {
                s->done_n++;
                continue;
            }
            const char *pr = r->prompts[pi];
            if (samp_seq_init(q, &s->psp[pi], s->pids[pi], s->pn[pi], pr, strlen(pr), s->pc[pi],
                              gen_output_seed(r, pi, s->out_seq[k], k), err) ||
                (s->f && samp_seq_set_form(q, s->f, err)))
                return -1;
            if (q->finish) { /* max_new_tokens 0 */
                if (output_done(s, k, err)) return -1;
            } else {
                s->slot_out[b] = (int)k;
                gpt_kv_reset(s->kv, b);
            }
        }
    }
    return 0;
}

/* How many tokens of slot b's sequence q its cache holds for this step, or
** -1 with err.  One that backed out of a form's dead end drops the rest; a
** fresh one takes its prompt from a donor (prompt_donor) that holds it, or
** waits as the twin of one that steps it now (*twin set). */
static int cached_len(run_state *s, int b, const samp_seq *q, int *twin, char *err) {
    int have = gpt_kv_len(s->kv, b);
    if (have >= (int)q->n) { /* it backed out of a form's dead end */
        gpt_kv_truncate(s->kv, b, (int)q->n - 1);
        have = (int)q->n - 1;
    }
    if (have == 0) {
        int d = prompt_donor(s, b, q);
        if (d >= 0 && gpt_kv_len(s->kv, d) == 0) {
            s->twin_of[b] = d;
            *twin = 1;
            return 0;
        }
        if (d >= 0 && gpt_kv_copy(s->kv, b, d, (int)q->n - 1, err)) return -1;
        have = gpt_kv_len(s->kv, b);
        s->shared += have;
    }
    return have;
}

/* The step's input: each live slot's tokens not in its cache, but twins,
** which wait for their leader (*nlive slots step, *ntwins wait). */
static int plan_step(run_state *s, int *nlive, int *ntwins, char *err) {
    int ntokens = 0;
    *nlive = *ntwins = 0;
    for (int b = 0; b < s->nslots; b++) {
        if (s->slot_out[b] < 0) continue;
        assert((size_t)s->slot_out[b] < s->N && s->twin_of[b] < 0);
        const samp_seq *q = &s->seqs[s->slot_out[b]];
        assert(!q->finish && q->n > 0 && (int)q->n <= s->max_len);
        int twin = 0, have = cached_len(s, b, q, &twin, err);
        if (have < 0) return -1;
        if (twin) {
            (*ntwins)++;
            continue;
        }
        int add = (int)q->n - have;
        assert(add >= 1 && ntokens + add <= s->nslots * s->max_len);
        s->slots[*nlive] = b;
        s->ntok[*nlive] = add;
        memcpy(s->tokens + ntokens, q->ids + have, (size_t)add * sizeof *s->tokens);
        ntokens += add;
        (*nlive)++;
    }
    return 0;
}

/* Sample the step's nlive sequences, then finish the ones that ended and
** free their slots. */
static int sample_step(run_state *s, int nlive, char *err) {
    samp_job sj = {s->r, s, s->V};
    pool_for(nlive, samp_task, &sj);
    for (int i = 0; i < nlive; i++) {
        if (s->ntok[i] < 0) return err_set(err, "generate: out of memory");
        s->n_tokens += s->ntok[i];
    }
    for (int i = 0; i < nlive; i++) {
        int b = s->slots[i];
        size_t k = (size_t)s->slot_out[b];
        if (!s->seqs[k].finish) continue;
        s->slot_out[b] = -1;
        if (output_done(s, k, err)) return -1;
    }
    return 0;
}

/* Step until every output is finished. */
static int decode(run_state *s, char *err) {
    while (s->done_n < s->N) {
        int nlive, ntwins;
        if (refill(s, err) || plan_step(s, &nlive, &ntwins, err)) return -1;
        if (!nlive) break;
        assert(nlive + ntwins <= s->nslots);
        double tf = omp_get_wtime();
        if (gpt_kv_step(s->kv, nlive, s->slots, s->ntok, s->tokens, s->logits, err)) return -1;
        if (ntwins && take_twins(s, &nlive, err)) return -1;
        s->fwd += omp_get_wtime() - tf;
        s->steps++;
        if (sample_step(s, nlive, err)) return -1;
        const gen_sink *sk = s->r->sink;
        if (sk && sk->step && sk->step(sk->ctx, err)) return -1;
    }
    return 0;
}

static void fill_stats(const run_state *s, double t0, gen_stats *stats) {
    stats->steps = s->steps;
    stats->tokens = s->n_tokens;
    stats->shared = s->shared;
    stats->seconds = omp_get_wtime() - t0;
    stats->fwd_seconds = s->fwd;
    stats->form_setup_seconds = s->form_setup;
    long h, mi;
    stats->cons_seconds = stats->form_seconds = 0;
    stats->form_hits = stats->form_misses = 0;
    for (size_t i = 0; i <= s->nrc; i++) {
        cons *c = i < s->nrc ? s->rc[i] : s->c;
        double sec = 0;
        if (c) cons_stats(c, &h, &mi, &sec);
        stats->cons_seconds += sec;
    }
    if (s->f) form_stats(s->f, &stats->form_hits, &stats->form_misses, &stats->form_seconds);
}

int gen_run(gpt_model *m, const tok *t, const gen_request *r, gen_output **outs, size_t *n,
            gen_stats *stats, char *err) {
    *outs = NULL;
    *n = 0;
    double t0 = omp_get_wtime();
    const gpt_config *cfg = gpt_model_config(m);
    if (check_request(cfg, t, r, err)) return -1;
    run_state s = {.r = r, .t = t, .V = cfg->vocab_size};
    s.N = gen_n_outputs(r);
    int B = r->max_batch > 0 ? r->max_batch : GEN_BATCH;
    if ((size_t)B > s.N) B = (int)s.N;
    int rc = plan_outputs(&s, err) || encode_prompts(&s, cfg, err) || setup_vocab(&s, err) ||
             setup_row_cons(&s, err) || setup_slots(&s, m, B, err) || decode(&s, err);
    if (!rc && stats) fill_stats(&s, t0, stats);
    run_state_free(&s);
    if (rc || r->sink) {
        gen_outputs_free(s.out, s.N);
        return rc ? -1 : 0;
    }
    *outs = s.out;
    *n = s.N;
    return 0;
}

/* ---- the parameters as JSON ---- */

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

json_t *gen_ids_json(const int32_t *ids, size_t n, char *err) {
    return json_ints(ids, n, "the ids", err);
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
    if (!o || (r->meta && jw_set(o, "meta", json_loads(r->meta, JSON_DECODE_ANY, NULL), err)) ||
        (form_requested(&r->fo) && form_params(o, &r->fo, err))) {
        json_decref(o);
        return NULL;
    }
    return jw_dumps(o, JSON_COMPACT | JSON_SORT_KEYS, "the parameters", err);
}

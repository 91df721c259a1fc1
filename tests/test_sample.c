/*
** Logits processors and warpers against results computed with
** transformers' formulas (the kept sets below come from running the
** logits_process.py code of each class in PyTorch on the same row), sampling
** statistics against exact probabilities, the stopping rules, and the
** UTF-8 rules (a character split over tokens, the last step, EOS and stop
** strings mid-character, a character straddling the prompt).
*/
#include "err.h"
#include "sample.h"
#include "test.h"

#include <stdlib.h>

#define NEG (-INFINITY)

static const float ROW[8] = {3.0f, 2.5f, 2.0f, 1.0f, 0.0f, -1.0f, 0.5f, 2.2f};

/* kept[i] = samp_warp left token i (and its candidates are in id order) */
static void check_kept(const samp_work *w, const int *kept, int n) {
    int left[16] = {0};
    for (int i = 0; i < w->n_cand; i++) {
        CHECK(w->cid[i] >= 0 && w->cid[i] < n && (i == 0 || w->cid[i] > w->cid[i - 1]));
        if (w->cid[i] >= 0 && w->cid[i] < n) left[w->cid[i]] = 1;
    }
    for (int i = 0; i < n; i++)
        CHECKF(left[i] == kept[i], "token %d kept=%d", i, left[i]);
}

/* samp_warp on ROW: the tokens left are in w. */
static void warp_row(samp_params *p, samp_work *w) {
    float x[8];
    memcpy(x, ROW, sizeof ROW);
    samp_warp(p, x, 8, w, NULL);
}

/* samp_warp on row x[0..n) (n <= 16) leaves the tokens kept[i] says. */
static void check_warp(samp_params *p, const float *x, int n, const int *kept) {
    samp_work w;
    char err[ERR_LEN];
    float y[16];
    CHECK(samp_work_init(&w, n, err) == 0);
    memcpy(y, x, (size_t)n * sizeof *x);
    samp_warp(p, y, n, &w, NULL);
    check_kept(&w, kept, n);
    samp_work_free(&w);
}

/* The warped logit samp_warp left for token t (NaN if none). */
static float cand_logit(const samp_work *w, int t) {
    for (int i = 0; i < w->n_cand; i++)
        if (w->cid[i] == t) return w->cx[i];
    return NAN;
}

static void off(samp_params *p) {
    samp_defaults(p);
    p->top_k = 0;
}

static void test_top_p(void) {
    samp_params p;
    off(&p);
    p.top_p = 0.5f;
    check_warp(&p, ROW, 8, (int[]){1, 1, 0, 0, 0, 0, 0, 0});
    p.top_p = 0.8f;
    check_warp(&p, ROW, 8, (int[]){1, 1, 1, 0, 0, 0, 0, 1});
    p.top_p = 0.95f;
    check_warp(&p, ROW, 8, (int[]){1, 1, 1, 1, 0, 0, 1, 1});
}

static void test_min_p(void) {
    samp_params p;
    off(&p);
    p.min_p = 0.1f;
    check_warp(&p, ROW, 8, (int[]){1, 1, 1, 1, 0, 0, 0, 1});
    p.min_p = 0.3f;
    check_warp(&p, ROW, 8, (int[]){1, 1, 1, 0, 0, 0, 0, 1});
    p.min_p = 0.6f;
    check_warp(&p, ROW, 8, (int[]){1, 1, 0, 0, 0, 0, 0, 0});
}

static void test_typical_p(void) {
    samp_params p;
    off(&p);
    p.typical_p = 0.3f; /* keeps the two most typical, not the most likely */
    check_warp(&p, ROW, 8, (int[]){0, 1, 0, 0, 0, 0, 0, 1});
    p.typical_p = 0.5f;
    check_warp(&p, ROW, 8, (int[]){0, 1, 1, 0, 0, 0, 0, 1});
    p.typical_p = 0.9f;
    check_warp(&p, ROW, 8, (int[]){1, 1, 1, 1, 0, 0, 0, 1});
}

/* Whether samp_warp left the same tokens with the same logits in a and b. */
static int same_cands(const samp_work *a, const samp_work *b) {
    return a->n_cand == b->n_cand && !memcmp(a->cid, b->cid, (size_t)a->n_cand * sizeof *a->cid) &&
           !memcmp(a->cx, b->cx, (size_t)a->n_cand * sizeof *a->cx);
}

/* A ban handed to samp_warp (top_k applies it in its pass) leaves exactly
** the tokens that masking the banned tokens first and warping without one
** does: random rows with ties, -inf already in them, every density of ban,
** k above and below the number of tokens left, with and without top_p. */
static void test_top_k_ban(void) {
    enum { V = 1000 };
    samp_work wa, wb;
    char err[ERR_LEN];
    CHECK(samp_work_init(&wa, V, err) == 0 && samp_work_init(&wb, V, err) == 0);
    static float a[V], b[V];
    uint64_t ban[(V + 63) / 64];
    rng r;
    rng_seed(&r, 77);
    int diff = 0, rows = 0;
    static const int ks[] = {1, 2, 16, 50, 300, 999, 1000, 5000};
    static const float dens[] = {0, 0.01f, 0.4f, 0.97f, 1};
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
        for (size_t di = 0; di < sizeof dens / sizeof *dens; di++)
            for (int rep = 0; rep < 4; rep++, rows++) {
                samp_params p;
                samp_defaults(&p);
                p.top_k = ks[ki];
                p.temperature = rep % 2 ? 0.7f : 1.0f;
                p.top_p = rep == 3 ? 0.8f : 1.0f;
                memset(ban, 0, sizeof ban);
                for (int i = 0; i < V; i++) {
                    /* few distinct values (ties), some -inf already */
                    a[i] = rng_uniform(&r) < 0.05f ? NEG : (float)(rng_uniform(&r) * 20) / 4;
                    if (rng_uniform(&r) < dens[di]) ban[i / 64] |= 1ull << (i % 64);
                }
                for (int i = 0; i < V; i++)
                    b[i] = ban[i / 64] >> (i % 64) & 1 ? NEG : a[i];
                samp_warp(&p, a, V, &wa, ban);
                samp_warp(&p, b, V, &wb, NULL);
                diff += !same_cands(&wa, &wb);
            }
    printf("  %d rows: %d differ\n", rows, diff);
    CHECK_EQ_INT(diff, 0);
    samp_work_free(&wa);
    samp_work_free(&wb);
}

static void test_top_k_temperature(void) {
    samp_params p;
    samp_work w;
    char err[ERR_LEN];
    CHECK(samp_work_init(&w, 8, err) == 0);
    off(&p);
    p.top_k = 3;
    p.temperature = 0.5f;
    warp_row(&p, &w);
    check_kept(&w, (int[]){1, 1, 0, 0, 0, 0, 0, 1}, 8);
    CHECK_CLOSE(cand_logit(&w, 0), 6.0, 1e-6, 0);
    CHECK_CLOSE(cand_logit(&w, 7), 4.4, 1e-6, 1e-6);
    /* ties at the k-th value stay (transformers removes only "<") */
    float t[5] = {1, 3, 3, 2, 3};
    off(&p);
    p.top_k = 2;
    samp_warp(&p, t, 5, &w, NULL);
    check_kept(&w, (int[]){0, 1, 1, 0, 1}, 5);
    samp_work_free(&w);
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x > y ? -1 : x < y;
}

typedef struct ref_pair {
    float x;
    int id;
} ref_pair;

/* ascending; among equals the higher id first (it goes first) */
static int cmp_ref(const void *a, const void *b) {
    const ref_pair *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return q->id - p->id;
}

/* max of the finite logits; *sum = the sum of exp(x - max) in id order */
static double ref_max_sum(const float *x, int V, double *sum) {
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < V; i++)
        if (x[i] > mx) mx = x[i];
    for (int i = 0; i < V; i++)
        if (x[i] != NEG) s += exp((double)x[i] - mx);
    *sum = s;
    return mx;
}

/* The plain definitions on a whole row: temperature; -inf on the banned
** tokens and on those below the k-th largest of the rest (none when fewer
** than k: ties at it stay); top_p (ascending sort, cumulative mass). */
static void ref_warp(const samp_params *p, float *x, int V, const uint64_t *ban) {
    static float s[5000];
    static ref_pair pr[5000];
    int n = 0;
    for (int i = 0; i < V; i++) {
        x[i] /= p->temperature;
        if (ban[i / 64] >> (i % 64) & 1)
            x[i] = NEG;
        else
            s[n++] = x[i];
    }
    qsort(s, (size_t)n, sizeof *s, cmp_desc);
    float thr = n >= p->top_k ? s[p->top_k - 1] : NEG;
    n = 0;
    for (int i = 0; i < V; i++) {
        if (x[i] < thr) x[i] = NEG;
        if (x[i] != NEG) pr[n++] = (ref_pair){x[i], i};
    }
    if (p->top_p >= 1) return;
    qsort(pr, (size_t)n, sizeof *pr, cmp_ref);
    double sum, mx = ref_max_sum(x, V, &sum), cum = 0;
    for (int i = 0; i < n - 1; i++) {
        cum += exp((double)pr[i].x - mx) / sum;
        if (cum > 1.0 - (double)p->top_p) break;
        x[pr[i].id] = NEG;
    }
}

/* The draw over the finite logits of x, in id order; -1 if none. */
static int ref_draw(const float *x, int V, rng *r) {
    double sum, mx = ref_max_sum(x, V, &sum);
    if (sum == 0) return -1;
    double u = rng_uniform_double(r) * sum, cum = 0;
    int last = -1;
    for (int i = 0; i < V; i++)
        if (x[i] != NEG) {
            cum += exp((double)x[i] - mx);
            last = i;
            if (u < cum) return i;
        }
    return last;
}

/* samp_warp and samp_draw against the plain definitions: the same tokens
** with the same logits in id order, the same draws from the same rng.
** Rows with many ties at the k-th largest, -inf entries, banned tokens,
** fewer finite logits than k, k either side of the scan's batch sizes. */
static void test_warp_reference(void) {
    enum { VMAX = 5000 };
    static float a[VMAX], b[VMAX];
    static uint64_t ban[(VMAX + 63) / 64];
    samp_work w;
    char err[ERR_LEN];
    CHECK(samp_work_init(&w, VMAX, err) == 0);
    rng g;
    rng_seed(&g, 2024);
    static const int Vs[] = {VMAX, 77, 1013};
    static const int ks[] = {1, 2, 7, 50, 63, 64, 255, 300, 1200, 4999, 5000, 9999};
    int rows = 0, bad_set = 0, bad_pick = 0, tied = 0, short_rows = 0;
    for (size_t vi = 0; vi < sizeof Vs / sizeof *Vs; vi++)
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
            for (int rep = 0; rep < 6; rep++, rows++) {
                const int V = Vs[vi];
                samp_params p;
                samp_defaults(&p);
                p.top_k = ks[ki];
                p.temperature = rep & 1 ? 0.7f : 1.0f;
                p.top_p = rep >= 4 ? 0.9f : 1.0f;
                const float ninf = rep % 3 == 2 ? 0.95f : 0.05f, dens = rep % 3 == 1 ? 0.3f : 0;
                int finite = 0;
                memset(ban, 0, sizeof ban);
                for (int i = 0; i < V; i++) {
                    /* few distinct values (ties) in half the rows */
                    float v = rep < 3 ? (float)(int)(rng_uniform(&g) * 12) / 4
                                      : (float)(3 * rng_normal(&g));
                    a[i] = b[i] = rng_uniform(&g) < ninf ? NEG : v;
                    if (rng_uniform(&g) < dens) ban[i / 64] |= 1ull << (i % 64);
                    finite += a[i] != NEG && !(ban[i / 64] >> (i % 64) & 1);
                }
                ref_warp(&p, b, V, ban);
                samp_warp(&p, a, V, &w, dens > 0 ? ban : NULL);
                int n = 0, same = 1;
                for (int i = 0; i < V; i++)
                    if (b[i] != NEG) same &= n < w.n_cand && w.cid[n] == i && w.cx[n] == b[i], n++;
                bad_set += !(same && n == w.n_cand);
                tied += p.top_p == 1 && n > p.top_k;
                short_rows += finite < p.top_k;
                rng r1, r2;
                rng_seed(&r1, (uint64_t)rows), rng_seed(&r2, (uint64_t)rows);
                for (int d = 0; d < 20; d++)
                    bad_pick += samp_draw(&w, &r1) != ref_draw(b, V, &r2);
            }
    printf("  %d rows (%d with ties past k, %d with fewer than k): %d sets, %d draws differ\n",
           rows, tied, short_rows, bad_set, bad_pick);
    CHECK_EQ_INT(bad_set, 0);
    CHECK_EQ_INT(bad_pick, 0);
    CHECK(tied > 20 && short_rows > 20);
    samp_work_free(&w);
}

/* typical_p over a row with every token masked leaves none (it read before
** its sort buffer). */
static void test_typical_empty(void) {
    samp_params p;
    off(&p);
    p.typical_p = 0.5f;
    check_warp(&p, (const float[]){NEG, NEG, NEG, NEG}, 4, (int[]){0, 0, 0, 0});
}

static void test_processors(void) {
    samp_params p;
    samp_work w;
    char err[ERR_LEN];
    CHECK(samp_work_init(&w, 10, err) == 0);
    samp_defaults(&p);
    p.eos_id = 9;
    /* repetition penalty: once per distinct id, prompt included */
    float x[10] = {2, -2, 1, 4, 0, 0, 0, 0, 0, 0};
    p.repetition_penalty = 2.0f;
    int32_t ids[] = {0, 1, 0, 3};
    samp_process(&p, ids, 4, 2, x, 10, &w);
    CHECK_CLOSE(x[0], 1.0, 1e-7, 0);
    CHECK_CLOSE(x[1], -4.0, 1e-7, 0);
    CHECK_CLOSE(x[2], 1.0, 1e-7, 0);
    CHECK_CLOSE(x[3], 2.0, 1e-7, 0);
    /* no_repeat_ngram_size 3: [1 2 3 1 2] bans 3 only */
    samp_defaults(&p);
    p.eos_id = 9;
    p.no_repeat_ngram_size = 3;
    float y[10] = {0};
    int32_t ng[] = {1, 2, 3, 1, 2};
    samp_process(&p, ng, 5, 5, y, 10, &w);
    for (int i = 0; i < 10; i++)
        CHECKF((y[i] == NEG) == (i == 3), "ngram token %d", i);
    /* bad_words_ids [[7], [1, 2], [4, 5, 6], [9]]: [9] (= eos) is dropped;
    ** [1,2] bans 2 only after 1; [4,5,6] bans 6 only after 4,5 */
    samp_defaults(&p);
    p.eos_id = 9;
    int32_t bad[] = {7, 1, 2, 4, 5, 6, 9};
    size_t boff[] = {0, 1, 3, 6, 7};
    p.bad_ids = bad;
    p.bad_off = boff;
    p.n_bad = 4;
    int32_t s1[] = {3, 1}, s2[] = {4, 5}, s3[] = {5, 4};
    float z[10] = {0};
    samp_process(&p, s1, 2, 2, z, 10, &w);
    for (int i = 0; i < 10; i++)
        CHECKF((z[i] == NEG) == (i == 7 || i == 2), "bad a %d", i);
    memset(z, 0, sizeof z);
    samp_process(&p, s2, 2, 2, z, 10, &w);
    for (int i = 0; i < 10; i++)
        CHECKF((z[i] == NEG) == (i == 7 || i == 6), "bad b %d", i);
    memset(z, 0, sizeof z);
    samp_process(&p, s3, 2, 2, z, 10, &w);
    for (int i = 0; i < 10; i++)
        CHECKF((z[i] == NEG) == (i == 7), "bad c %d", i);
    /* min_new_tokens counts generated tokens only; suppress_tokens */
    samp_defaults(&p);
    p.eos_id = 9;
    p.min_new_tokens = 2;
    int32_t sup[] = {0};
    p.suppress = sup;
    p.n_suppress = 1;
    int32_t g[] = {1, 2, 3, 4};
    memset(z, 0, sizeof z);
    samp_process(&p, g, 4, 3, z, 10, &w);
    CHECK(z[9] == NEG && z[0] == NEG && z[1] == 0);
    memset(z, 0, sizeof z);
    samp_process(&p, g, 4, 2, z, 10, &w);
    CHECK(z[9] == 0 && z[0] == NEG);
    samp_work_free(&w);
}

/* Exact distribution after temperature 0.8, top_k 12, top_p 0.9, computed
** here independently (sort, cut, renormalise), against 200 000 draws. */
static void test_statistics(void) {
    enum { V = 40, N = 200000 };
    float logit[V];
    rng g;
    rng_seed(&g, 7);
    for (int i = 0; i < V; i++)
        logit[i] = (float)(1.2 * rng_normal(&g));
    /* expected: sort by logit descending */
    int order[V];
    for (int i = 0; i < V; i++)
        order[i] = i;
    for (int i = 0; i < V; i++)
        for (int j = i + 1; j < V; j++)
            if (logit[order[j]] > logit[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    double prob[V] = {0}, z = 0;
    int k = 12;
    for (int i = 0; i < k; i++)
        z += exp(logit[order[i]] / 0.8);
    /* top_p keeps the smallest head whose mass reaches 0.9 (the kept set is
    ** everything whose ascending cumulative mass exceeds 0.1) */
    double head = 0, zk = 0;
    int kept = 0;
    while (kept < k && head < 0.9)
        head += exp(logit[order[kept++]] / 0.8) / z;
    for (int i = 0; i < kept; i++)
        zk += exp(logit[order[i]] / 0.8);
    for (int i = 0; i < kept; i++)
        prob[order[i]] = exp(logit[order[i]] / 0.8) / zk;

    samp_params p;
    samp_defaults(&p);
    p.temperature = 0.8f;
    p.top_k = k;
    p.top_p = 0.9f;
    samp_work w;
    char err[ERR_LEN];
    CHECK(samp_work_init(&w, V, err) == 0);
    float x[V];
    memcpy(x, logit, sizeof x);
    samp_warp(&p, x, V, &w, NULL);
    static long count[V];
    rng r;
    rng_seed(&r, 12345);
    for (int n = 0; n < N; n++)
        count[samp_draw(&w, &r)]++;
    double chi = 0, tv = 0;
    int outside = 0;
    for (int i = 0; i < V; i++) {
        if (prob[i] == 0) {
            outside += count[i] != 0;
            continue;
        }
        double e = prob[i] * N;
        chi += (count[i] - e) * (count[i] - e) / e;
        tv += fabs(count[i] / (double)N - prob[i]) / 2;
    }
    int df = kept - 1;
    /* threshold: mean + 6 standard deviations of chi-square(df) */
    double lim = df + 6 * sqrt(2.0 * df);
    printf("  statistics: %d kept tokens, chi2 %.2f (limit %.2f, df %d), TV %.4f\n", kept, chi, lim,
           df, tv);
    CHECK(kept >= 3 && kept < k);
    CHECK_EQ_INT(outside, 0);
    CHECKF(chi < lim, "chi2 %.2f >= %.2f", chi, lim);
    CHECKF(tv < 0.01, "TV %.4f", tv);
    /* greedy picks the first maximum */
    float tie[4] = {1, 5, 5, 2};
    CHECK_EQ_INT(samp_argmax(tie, 4), 1);
    float none[2] = {NEG, NEG};
    CHECK_EQ_INT(samp_argmax(none, 2), -1);
    samp_warp(&p, none, 2, &w, NULL);
    CHECK_EQ_INT(samp_draw(&w, &r), -1);
    samp_work_free(&w);
}

/* Vocabulary "a", "b", "c", "stop", EOS; logits forced per step. */
static const unsigned char *TB[] = {(const unsigned char *)"a", (const unsigned char *)"b",
                                    (const unsigned char *)"c", (const unsigned char *)"st",
                                    (const unsigned char *)"<|endoftext|>"};
static const size_t TL[] = {1, 1, 1, 2, 13};

static const cons_vocab TV5 = {5, TB, TL, 4};

static void run_forced_c(samp_params *p, cons *c, const int *want, int n, samp_seq *s) {
    samp_vocab v;
    samp_work w;
    char err[ERR_LEN];
    int32_t prompt[] = {0, 1};
    CHECK(samp_vocab_init(&v, &TV5, err) == 0);
    CHECK(samp_work_init(&w, 5, err) == 0);
    CHECK(samp_seq_init(s, p, prompt, 2, "ab", 2, c, 99, err) == 0);
    for (int i = 0; i < n && !s->finish; i++) {
        float x[5] = {0, 0, 0, 0, 0};
        x[want[i]] = 10;
        samp_seq_step(p, c, &v, s, x, &w);
    }
    samp_work_free(&w);
    samp_vocab_free(&v);
}

static void run_forced(samp_params *p, const int *want, int n, samp_seq *s) {
    run_forced_c(p, NULL, want, n, s);
}

static void test_stopping(void) {
    samp_params p;
    samp_seq s;
    samp_defaults(&p);
    p.do_sample = 0;
    p.eos_id = 4;
    p.max_length = 5; /* counts the prompt: 3 new tokens */
    run_forced(&p, (int[]){2, 2, 2, 2, 2}, 5, &s);
    CHECK_STR(s.finish, "length");
    CHECK_EQ_INT(s.n, 5);
    CHECK_STR(s.text, "ccc");
    samp_seq_free(&s);
    p.max_new_tokens = 10;
    run_forced(&p, (int[]){2, 4, 2}, 3, &s);
    CHECK_STR(s.finish, "eos");
    CHECK_EQ_INT(s.n, 4);
    CHECK_STR(s.text, "c");
    samp_seq_free(&s);
    p.min_new_tokens = 2; /* EOS masked on the first two steps */
    run_forced(&p, (int[]){4, 4, 4}, 3, &s);
    CHECK_STR(s.finish, "eos");
    CHECK_EQ_INT(s.n - s.n_prompt, 3);
    samp_seq_free(&s);
    p.min_new_tokens = 0;
    p.ignore_eos = 1;
    p.max_new_tokens = 3;
    run_forced(&p, (int[]){4, 4, 2}, 3, &s);
    CHECK_STR(s.finish, "length");
    CHECK_STR(s.text, "c");
    samp_seq_free(&s);
    /* stop string "ca" spans two tokens and is kept in the text */
    const char *stops[] = {"ca"};
    p.ignore_eos = 0;
    p.max_new_tokens = 10;
    p.stop = stops;
    p.n_stop = 1;
    run_forced(&p, (int[]){2, 2, 0, 1, 1}, 5, &s);
    CHECK_STR(s.finish, "stop_string");
    CHECK_STR(s.text, "cca");
    samp_seq_free(&s);
    /* a stop string where the text may not end yet ("abc" banned, "abc|"
    ** would complete it): the output ends at the first safe point */
    const char *words[] = {"abc"}, *stop_c[] = {"c"};
    cons_opts co = {words, 1, 0, 0, NULL, 0};
    cons *c;
    char err[ERR_LEN];
    CHECK(cons_new(&TV5, &co, &c, err) == 0);
    p.stop = stop_c;
    run_forced_c(&p, c, (int[]){2, 0, 1}, 3, &s);
    CHECK_STR(s.finish, "stop_string");
    CHECK_STR(s.text, "ca");
    samp_seq_free(&s);
    cons_free(c);
    /* a dead end: after "ab"+"c" every token is masked ("a", "b", "st"
    ** forbidden, "c" after "c" a bad word, <|endoftext|> would complete
    ** "abc"): the "c" is dropped and the output ends empty */
    cons_opts co2 = {words, 1, 0, 0, "abs", 0};
    CHECK(cons_new(&TV5, &co2, &c, err) == 0);
    int32_t bad[] = {2, 2};
    size_t boff[] = {0, 2};
    p.n_stop = 0;
    p.bad_ids = bad;
    p.bad_off = boff;
    p.n_bad = 1;
    run_forced_c(&p, c, (int[]){2, 2}, 2, &s);
    CHECK_STR(s.finish, "all_masked");
    CHECK_EQ_INT(s.n, 2);
    CHECK_STR(s.text, "");
    samp_seq_free(&s);
    cons_free(c);
    p.n_bad = 0;
    /* every token masked: the output ends with the reason */
    int32_t sup[] = {0, 1, 2, 3, 4};
    p.n_stop = 0;
    p.suppress = sup;
    p.n_suppress = 5;
    run_forced(&p, (int[]){2}, 1, &s);
    CHECK_STR(s.finish, "all_masked");
    CHECK_EQ_INT(s.n, 2);
    samp_seq_free(&s);
}

/* A vocabulary of character pieces: "a", lead C3, A9, lead E2, 80, 80 99,
** "é" whole, FF (never valid), NUL, "x" + lead C3, U+FFFD, EOS. */
static const unsigned char *UB[] = {(const unsigned char *)"a",
                                    (const unsigned char *)"\xC3",
                                    (const unsigned char *)"\xA9",
                                    (const unsigned char *)"\xE2",
                                    (const unsigned char *)"\x80",
                                    (const unsigned char *)"\x80\x99",
                                    (const unsigned char *)"\xC3\xA9",
                                    (const unsigned char *)"\xFF",
                                    (const unsigned char *)"",
                                    (const unsigned char *)"x\xC3",
                                    (const unsigned char *)"\xEF\xBF\xBD",
                                    (const unsigned char *)"<|endoftext|>"};
static const size_t UL[] = {1, 1, 1, 1, 1, 2, 2, 1, 1, 2, 3, 13};
static const cons_vocab TU = {12, UB, UL, 11};

/* The tokens samp_utf8_mask leaves from the state after bytes `text`. */
static void check_u8_mask(const samp_vocab *sv, const char *text, int after, const int *kept) {
    samp_work w;
    char err[ERR_LEN];
    CHECK(samp_work_init(&w, 12, err) == 0);
    float x[12] = {0};
    unsigned st = txt_u8_run(TXT_U8_START, (const unsigned char *)text, strlen(text));
    CHECK(st < TXT_U8_NSTATES);
    samp_utf8_mask(sv, st, after, x, &w);
    for (int i = 0; i < 12; i++)
        CHECKF((x[i] != NEG) == kept[i], "after \"%s\" (%d to spare): token %d kept=%d", text,
               after, i, x[i] != NEG);
    samp_work_free(&w);
}

static void test_utf8_mask(void) {
    samp_vocab sv;
    char err[ERR_LEN];
    CHECK(samp_vocab_init(&sv, &TU, err) == 0);
    CHECK_EQ_INT(sv.dist[TXT_U8_START], 0);
    /* at a boundary: no stray continuation, FF, NUL or U+FFFD */
    check_u8_mask(&sv, "ab", 5, (int[]){1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 1});
    /* the last token must not leave a character open */
    check_u8_mask(&sv, "ab", 0, (int[]){1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});
    /* after C3 only a continuation; no EOS mid-character */
    check_u8_mask(&sv, "a\xC3", 3, (int[]){0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0});
    /* after E2 with one token to spare: only the two-byte completion */
    check_u8_mask(&sv, "\xE2", 0, (int[]){0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0});
    check_u8_mask(&sv, "\xE2", 1, (int[]){0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0});
    /* E2 needs two bytes: with one token to spare after it, only because the
    ** vocabulary has "\x80\x99"; EF BF may not become U+FFFD */
    check_u8_mask(&sv, "", 1, (int[]){1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 1});
    check_u8_mask(&sv, "\xEF\xBF", 2, (int[]){0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0});
    samp_vocab_free(&sv);
}

/* Greedy steps over TU after prompt text `prompt`, the logits favouring
** want[i] at step i (every other token 0). */
static void run_u8(samp_params *p, const char *prompt, const int *want, int n, samp_seq *s) {
    samp_vocab v;
    samp_work w;
    char err[ERR_LEN];
    int32_t ids[] = {0};
    CHECK(samp_vocab_init(&v, &TU, err) == 0);
    CHECK(samp_work_init(&w, 12, err) == 0);
    CHECK(samp_seq_init(s, p, ids, 1, prompt, strlen(prompt), NULL, 7, err) == 0);
    for (int i = 0; i < n && !s->finish; i++) {
        float x[12] = {0};
        x[want[i]] = 10;
        samp_seq_step(p, NULL, &v, s, x, &w);
    }
    samp_work_free(&w);
    samp_vocab_free(&v);
}

/* With top_k sampling a step's UTF-8 mask at a character boundary (and the
** constraints') go to top_k's pass as a bitset: the same draws as top_k 0
** (the masks written over the logits) when k is the whole vocabulary, over
** random logits on TU, near the length limit too, with and without
** constraints. */
static void test_utf8_bits(void) {
    samp_vocab v;
    samp_work wa, wb;
    char err[ERR_LEN];
    CHECK(samp_vocab_init(&v, &TU, err) == 0);
    CHECK(samp_work_init(&wa, 12, err) == 0 && samp_work_init(&wb, 12, err) == 0);
    const char *words[] = {"a\xC3\xA9"};
    cons_opts co = {words, 1, 1, 0, "x", 0};
    cons *c;
    CHECK(cons_new(&TU, &co, &c, err) == 0);
    rng g;
    rng_seed(&g, 5);
    int steps = 0, differ = 0, at_boundary = 0;
    int32_t ids[] = {0};
    for (int trial = 0; trial < 300; trial++) {
        samp_params pa, pb;
        samp_defaults(&pa);
        pa.eos_id = 11;
        pa.max_new_tokens = 1 + trial % 9;
        pa.top_k = 100;
        pb = pa;
        pb.top_k = 0;
        cons *ct = trial % 2 ? c : NULL;
        samp_seq a, b;
        CHECK(samp_seq_init(&a, &pa, ids, 1, "a", 1, ct, (uint64_t)trial, err) == 0);
        CHECK(samp_seq_init(&b, &pb, ids, 1, "a", 1, ct, (uint64_t)trial, err) == 0);
        while (!a.finish && !b.finish) {
            float xa[12], xb[12];
            for (int i = 0; i < 12; i++)
                xa[i] = xb[i] = (float)rng_normal(&g);
            at_boundary +=
                a.u8 == TXT_U8_START && a.max_new - (int)(a.n - a.n_prompt) - 1 >= v.settle;
            int ta = samp_seq_step(&pa, ct, &v, &a, xa, &wa),
                tb = samp_seq_step(&pb, ct, &v, &b, xb, &wb);
            differ += ta != tb || !a.finish != !b.finish;
            steps++;
        }
        samp_seq_free(&a);
        samp_seq_free(&b);
    }
    printf("  %d steps (%d at a boundary with room): %d differ\n", steps, at_boundary, differ);
    CHECK_EQ_INT(differ, 0);
    CHECK(at_boundary > 100 && steps - at_boundary > 100);
    cons_free(c);
    samp_work_free(&wa);
    samp_work_free(&wb);
    samp_vocab_free(&v);
}

static int text_valid(const samp_seq *s) {
    size_t bad;
    return txt_utf8_valid((const unsigned char *)s->text, s->text_len, &bad);
}

static void test_utf8_steps(void) {
    samp_params p;
    samp_seq s;
    samp_defaults(&p);
    p.do_sample = 0;
    p.eos_id = 11;
    p.max_new_tokens = 4;
    /* a character split over tokens: "a" cannot follow E2 or E2 A9, the
    ** best continuation (lowest id, A9) completes it: U+2A69, then "a" */
    run_u8(&p, "ab", (int[]){3, 0, 0, 0}, 4, &s);
    CHECK_STR(s.text, "\xE2\xA9\xA9"
                      "a");
    CHECK_STR(s.finish, "length");
    samp_seq_free(&s);
    /* the last token never cuts a character: C3 is refused as the only
    ** token, and completed when it comes second to last */
    p.max_new_tokens = 1;
    run_u8(&p, "ab", (int[]){1}, 1, &s);
    CHECK_STR(s.text, "a");
    samp_seq_free(&s);
    p.max_new_tokens = 2;
    run_u8(&p, "ab", (int[]){1, 1}, 2, &s);
    CHECK_STR(s.text, "\xC3\xA9");
    CHECK_STR(s.finish, "length");
    samp_seq_free(&s);
    /* EOS is masked mid-character, allowed after it */
    p.max_new_tokens = 5;
    run_u8(&p, "ab", (int[]){1, 11, 11}, 3, &s);
    CHECK_STR(s.text, "\xC3\xA9");
    CHECK_STR(s.finish, "eos");
    CHECK_EQ_INT(s.n - s.n_prompt, 3);
    samp_seq_free(&s);
    /* a stop string ends the output only at a character boundary */
    const char *stops[] = {"x"};
    p.stop = stops;
    p.n_stop = 1;
    run_u8(&p, "ab", (int[]){9, 0}, 2, &s);
    CHECK_STR(s.text, "x\xC3\xA9");
    CHECK_STR(s.finish, "stop_string");
    samp_seq_free(&s);
    p.n_stop = 0;
    /* a character straddling the prompt/continuation boundary */
    run_u8(&p, "caf\xC3", (int[]){0, 11}, 2, &s);
    CHECK_STR(s.text, "\xA9");
    CHECK_STR(s.finish, "eos");
    samp_seq_free(&s);
    /* FF, NUL and U+FFFD never come */
    run_u8(&p, "ab", (int[]){7, 8, 10, 11}, 4, &s);
    CHECK_STR(s.text, "aaa");
    CHECK(text_valid(&s));
    samp_seq_free(&s);
    /* suppress_tokens masks every completion of C3: the output backs out
    ** of the open character */
    int32_t sup[] = {2, 4};
    p.suppress = sup;
    p.n_suppress = 2;
    run_u8(&p, "ab", (int[]){1, 0}, 2, &s);
    CHECK_STR(s.finish, "all_masked");
    CHECK_STR(s.text, "");
    CHECK_EQ_INT(s.n, s.n_prompt);
    samp_seq_free(&s);
    /* a prompt with invalid bytes is refused */
    char err[ERR_LEN];
    int32_t ids[] = {0};
    p.n_suppress = 0;
    CHECK(samp_seq_init(&s, &p, ids, 1, "bad\xFF", 4, NULL, 1, err) == -1 && strstr(err, "UTF-8"));
    const char *bad_stop[] = {"\xC3"};
    p.stop = bad_stop;
    p.n_stop = 1;
    CHECK(samp_validate(&p, 12, err) == -1 && strstr(err, "stop_strings"));
}

static void test_validate(void) {
    samp_params p;
    char err[ERR_LEN];
    samp_defaults(&p);
    CHECK(samp_validate(&p, 50257, err) == 0);
    CHECK_EQ_INT(samp_max_new(&p, 10), 40);
    p.temperature = 0;
    CHECK(samp_validate(&p, 50257, err) == -1 && strstr(err, "temperature"));
    samp_defaults(&p);
    p.top_p = 1.5f;
    CHECK(samp_validate(&p, 50257, err) == -1 && strstr(err, "top_p"));
    samp_defaults(&p);
    int32_t sup[] = {60000};
    p.suppress = sup;
    p.n_suppress = 1;
    CHECK(samp_validate(&p, 50257, err) == -1 && strstr(err, "60000"));
}

/* Out of memory in a step (growing the text for a token of 2^42 bytes: no
** allocator has that) is SAMP_NOMEM, for the caller to fail on, not an
** output that ends with a finish reason. */
static void test_step_out_of_memory(void) {
    samp_params p;
    samp_seq s;
    samp_vocab v;
    samp_work w;
    char err[ERR_LEN];
    size_t len[12];
    memcpy(len, UL, sizeof len);
    cons_vocab huge = {12, UB, len, 11};
    samp_defaults(&p);
    p.do_sample = 0;
    p.eos_id = 11;
    p.max_new_tokens = 4;
    int32_t ids[] = {0};
    CHECK(samp_vocab_init(&v, &huge, err) == 0);
    CHECK(samp_work_init(&w, 12, err) == 0);
    CHECK(samp_seq_init(&s, &p, ids, 1, "ab", 2, NULL, 7, err) == 0);
    len[0] = (size_t)1 << 42; /* token 0, "a", as the vocabulary sees it now */
    float x[12] = {0};
    x[0] = 10;
    CHECK_EQ_INT(samp_seq_step(&p, NULL, &v, &s, x, &w), SAMP_NOMEM);
    CHECKF(s.finish == NULL, "finish %s", s.finish);
    samp_seq_free(&s);
    samp_work_free(&w);
    samp_vocab_free(&v);
}

/* An impossible allocation returns NULL under ASan too, as it does with
** glibc's malloc (test_step_out_of_memory). */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "allocator_may_return_null=1";
}

int main(void) {
    RUN(test_top_p);
    RUN(test_min_p);
    RUN(test_typical_p);
    RUN(test_top_k_temperature);
    RUN(test_top_k_ban);
    RUN(test_warp_reference);
    RUN(test_typical_empty);
    RUN(test_processors);
    RUN(test_statistics);
    RUN(test_stopping);
    RUN(test_validate);
    RUN(test_utf8_mask);
    RUN(test_utf8_steps);
    RUN(test_utf8_bits);
    RUN(test_step_out_of_memory);
    return TEST_SUMMARY();
}

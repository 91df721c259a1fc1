/*
** transformers' logits processors, warpers, sampling and stopping; see
** sample.h for the order.  Each function follows the named transformers
** class (generation/logits_process.py) to the tie-breaking rule.
*/
#include "sample.h"

#include "err.h"

#include <assert.h>
#include <float.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

void samp_defaults(samp_params *p) {
    memset(p, 0, sizeof *p);
    p->do_sample = 1;
    p->temperature = 1.0f;
    p->top_k = 50;
    p->top_p = 1.0f;
    p->typical_p = 1.0f;
    p->repetition_penalty = 1.0f;
    p->max_new_tokens = -1;
    p->max_length = 50;
    p->eos_id = 50256;
}

static int bad_id(int32_t id, int V) {
    return id < 0 || id >= V;
}

int samp_validate(const samp_params *p, int V, char *err) {
    if (p->do_sample && !(p->temperature > 0))
        return err_set(err, "temperature must be > 0 (got %g); use greedy decoding instead",
                       p->temperature);
    if (p->top_k < 0) return err_set(err, "top_k must be >= 0 (got %d)", p->top_k);
    if (!(p->top_p > 0 && p->top_p <= 1)) return err_set(err, "top_p must be in (0, 1]");
    if (!(p->min_p >= 0 && p->min_p <= 1)) return err_set(err, "min_p must be in [0, 1]");
    if (!(p->typical_p > 0 && p->typical_p <= 1))
        return err_set(err, "typical_p must be in (0, 1]");
    if (!(p->repetition_penalty > 0)) return err_set(err, "repetition_penalty must be > 0");
    if (p->no_repeat_ngram_size < 0 || p->min_new_tokens < 0)
        return err_set(err, "no_repeat_ngram_size and min_new_tokens must be >= 0");
    if (p->max_new_tokens < 0 && p->max_length < 0)
        return err_set(err, "max_new_tokens or max_length must be given");
    if (bad_id(p->eos_id, V)) return err_set(err, "eos id %d outside the vocabulary", p->eos_id);
    for (size_t i = 0; i < p->n_suppress; i++)
        if (bad_id(p->suppress[i], V))
            return err_set(err, "suppress_tokens: id %d outside the vocabulary (%d)",
                           p->suppress[i], V);
    for (size_t i = 0; i < p->n_bad; i++) {
        if (p->bad_off[i + 1] <= p->bad_off[i])
            return err_set(err, "bad_words_ids: sequence %zu is empty", i + 1);
        for (size_t j = p->bad_off[i]; j < p->bad_off[i + 1]; j++)
            if (bad_id(p->bad_ids[j], V))
                return err_set(err, "bad_words_ids: id %d outside the vocabulary (%d)",
                               p->bad_ids[j], V);
    }
    for (size_t i = 0; i < p->n_stop; i++) {
        if (!p->stop[i][0]) return err_set(err, "stop_strings: empty string");
        if (txt_u8_run(TXT_U8_START, (const unsigned char *)p->stop[i], strlen(p->stop[i])))
            return err_set(err, "stop_strings: string %zu is not valid UTF-8", i + 1);
    }
    return 0;
}

int samp_max_new(const samp_params *p, size_t n_prompt) {
    if (p->max_new_tokens >= 0) return p->max_new_tokens;
    long m = (long)p->max_length - (long)n_prompt;
    return m > 0 ? (int)m : 0;
}

int samp_work_init(samp_work *w, int V, char *err) {
    w->V = V;
    w->pairs = malloc((size_t)V * sizeof *w->pairs);
    w->cx = malloc(((size_t)V + 16) * sizeof *w->cx);
    w->cid = malloc(((size_t)V + 16) * sizeof *w->cid);
    w->n_cand = 0;
    w->mark = calloc((size_t)V, 1);
    w->ban = malloc(((size_t)V + 63) / 64 * sizeof *w->ban);
    if (!w->pairs || !w->cx || !w->cid || !w->mark || !w->ban) {
        samp_work_free(w);
        return err_set(err, "sampling: out of memory for %d logits", V);
    }
    return 0;
}

void samp_work_free(samp_work *w) {
    free(w->pairs);
    free(w->cx);
    free(w->cid);
    free(w->mark);
    free(w->ban);
    w->pairs = NULL;
    w->cx = NULL;
    w->cid = NULL;
    w->mark = NULL;
    w->ban = NULL;
}

void samp_vocab_free(samp_vocab *sv) {
    free(sv->next), free(sv->odd), free(sv->cont), free(sv->start_ban);
    sv->next = NULL;
    sv->odd = sv->cont = NULL;
    sv->start_ban = NULL;
}

/* May token t follow text state st with `after` tokens to spare? */
static int utf8_ok(const samp_vocab *sv, unsigned st, int after, int32_t t) {
    unsigned to = sv->next[(size_t)t * TXT_U8_NSTATES + st];
    return to != TXT_U8_BAD && sv->dist[to] <= after;
}

int samp_vocab_init(samp_vocab *sv, const cons_vocab *v, char *err) {
    enum { S = TXT_U8_NSTATES };
    memset(sv, 0, sizeof *sv);
    sv->v = *v;
    sv->next = malloc((size_t)v->n * S);
    sv->odd = malloc((size_t)v->n * sizeof *sv->odd);
    sv->cont = malloc((size_t)v->n * sizeof *sv->cont);
    sv->start_ban = calloc(((size_t)v->n + 63) / 64, sizeof *sv->start_ban);
    if (!sv->next || !sv->odd || !sv->cont || !sv->start_ban) {
        samp_vocab_free(sv);
        return err_set(err, "sampling: out of memory for the UTF-8 tables");
    }
    for (int t = 0; t < v->n; t++) {
        uint8_t *nx = sv->next + (size_t)t * S;
        for (unsigned st = 0; st < S; st++)
            nx[st] = t == v->eos ? (st == TXT_U8_START ? TXT_U8_START : TXT_U8_BAD)
                                 : (uint8_t)txt_u8_run(st, v->bytes[t], v->len[t]);
        if (nx[TXT_U8_START] != TXT_U8_START) sv->odd[sv->n_odd++] = t;
        if (t != v->eos && v->len[t] && (v->bytes[t][0] & 0xC0) == 0x80) sv->cont[sv->n_cont++] = t;
    }
    /* fewest tokens back to a boundary: shortest paths over the states
    ** (only tokens led by a continuation byte move inside a character) */
    memset(sv->dist, 255, sizeof sv->dist);
    sv->dist[TXT_U8_START] = 0;
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < sv->n_cont; i++)
            for (unsigned st = 1; st < S; st++) {
                unsigned to = sv->next[(size_t)sv->cont[i] * S + st];
                if (to != TXT_U8_BAD && sv->dist[to] != 255 && sv->dist[to] + 1 < sv->dist[st]) {
                    sv->dist[st] = (uint8_t)(sv->dist[to] + 1);
                    changed = 1;
                }
            }
    }
    /* at a boundary with the longest way back to one to spare, the mask is
    ** the tokens that cannot start a character or can never complete it */
    for (unsigned st = 0; st < S; st++)
        if (sv->dist[st] != 255 && sv->dist[st] > sv->settle) sv->settle = sv->dist[st];
    for (size_t i = 0; i < sv->n_odd; i++)
        if (!utf8_ok(sv, TXT_U8_START, sv->settle, sv->odd[i]))
            sv->start_ban[sv->odd[i] / 64] |= 1ull << (sv->odd[i] % 64);
    return 0;
}

void samp_utf8_mask(const samp_vocab *sv, unsigned st, int after, float *x, samp_work *w) {
    assert(st < TXT_U8_NSTATES);
    if (st == TXT_U8_START) { /* every whole-character token stays */
        for (size_t i = 0; i < sv->n_odd; i++)
            if (!utf8_ok(sv, st, after, sv->odd[i])) x[sv->odd[i]] = -INFINITY;
        return;
    }
    /* inside a character: only some tokens led by a continuation byte */
    size_t k = 0;
    for (size_t i = 0; i < sv->n_cont; i++)
        if (utf8_ok(sv, st, after, sv->cont[i]))
            w->pairs[k++] = (samp_pair){x[sv->cont[i]], sv->cont[i]};
    for (int i = 0; i < sv->v.n; i++)
        x[i] = -INFINITY;
    for (size_t i = 0; i < k; i++)
        x[w->pairs[i].id] = w->pairs[i].key;
}

/* RepetitionPenaltyLogitsProcessor: once per distinct token of ids, divide a
** positive logit by the penalty, multiply a negative one. */
static void repetition_penalty(float pen, const int32_t *ids, size_t n, float *x, uint8_t *mark) {
    for (size_t i = 0; i < n; i++) {
        int32_t t = ids[i];
        if (mark[t]) continue;
        mark[t] = 1;
        x[t] = x[t] < 0 ? x[t] * pen : x[t] / pen;
    }
    for (size_t i = 0; i < n; i++)
        mark[ids[i]] = 0;
}

/* NoRepeatNGramLogitsProcessor: ban every token that would repeat an n-gram
** already in ids (the prompt included). */
static void no_repeat_ngram(int ng, const int32_t *ids, size_t n, float *x) {
    if (n + 1 < (size_t)ng) return;
    size_t pre = (size_t)ng - 1;
    const int32_t *tail = ids + n - pre;
    for (size_t i = 0; i + pre < n; i++)
        if (memcmp(ids + i, tail, pre * sizeof *ids) == 0) x[ids[i + pre]] = -INFINITY;
}

/* NoBadWordsLogitsProcessor: a single-token sequence is always banned; a
** longer one bans its last token only when ids end with the rest.  A
** sequence equal to [eos] is dropped, as transformers does. */
static void bad_words(const samp_params *p, const int32_t *ids, size_t n, float *x) {
    for (size_t i = 0; i < p->n_bad; i++) {
        const int32_t *b = p->bad_ids + p->bad_off[i];
        size_t len = p->bad_off[i + 1] - p->bad_off[i];
        if (len == 1 && b[0] == p->eos_id) continue;
        if (len - 1 > n) continue;
        if (memcmp(ids + n - (len - 1), b, (len - 1) * sizeof *b) == 0) x[b[len - 1]] = -INFINITY;
    }
}

void samp_process(const samp_params *p, const int32_t *ids, size_t n, size_t n_prompt,
                  float *logits, int V, samp_work *w) {
    (void)V;
    if (p->repetition_penalty != 1.0f)
        repetition_penalty(p->repetition_penalty, ids, n, logits, w->mark);
    if (p->no_repeat_ngram_size > 0) no_repeat_ngram(p->no_repeat_ngram_size, ids, n, logits);
    if (p->n_bad) bad_words(p, ids, n, logits);
    if (p->min_new_tokens > 0 && n - n_prompt < (size_t)p->min_new_tokens)
        logits[p->eos_id] = -INFINITY;
    for (size_t i = 0; i < p->n_suppress; i++)
        logits[p->suppress[i]] = -INFINITY;
}

static int cmp_key_asc(const void *a, const void *b) {
    const samp_pair *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

/* The candidates as (logit, index into w->cx) pairs in w->pairs sorted
** ascending (ties: higher index, so higher id, first: the lower id ranks
** higher as in a stable descending sort). */
static const samp_pair *sorted_cands(samp_work *w) {
    for (int i = 0; i < w->n_cand; i++)
        w->pairs[i] = (samp_pair){w->cx[i], i};
    qsort(w->pairs, (size_t)w->n_cand, sizeof *w->pairs, cmp_key_asc);
    return w->pairs;
}

/* Keep the candidates whose logit is at or above t (NaN never), in id
** order (a warper masks one by setting it to -inf: t = -FLT_MAX drops it). */
static void keep_from(samp_work *w, float t) {
    float *cx = w->cx;
    int32_t *cid = w->cid;
    int n = 0;
    for (int i = 0, m = w->n_cand; i < m; i++) {
        cx[n] = cx[i];
        cid[n] = cid[i];
        n += cx[i] >= t;
    }
    w->n_cand = n;
}

/* Softmax of the candidates: returns the max logit and fills the
** normaliser sum of exp(x - max), summed in id order (as over the finite
** logits of a masked row). */
static double cand_max_sum(const samp_work *w, double *sum) {
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < w->n_cand; i++)
        if (w->cx[i] > mx) mx = w->cx[i];
    for (int i = 0; i < w->n_cand; i++)
        s += exp((double)w->cx[i] - mx);
    *sum = s;
    return mx;
}

/* How many of v[0..n) are at or above f. */
static int count_from(const float *v, int n, float f) {
    int c = 0, i = 0;
#ifdef __AVX512F__
    const __m512 t = _mm512_set1_ps(f);
    const __m512i one = _mm512_set1_epi32(1);
    __m512i acc = _mm512_setzero_si512();
    for (; i + 16 <= n; i += 16)
        acc = _mm512_mask_add_epi32(acc, _mm512_cmp_ps_mask(_mm512_loadu_ps(v + i), t, _CMP_GE_OQ),
                                    acc, one);
    c = _mm512_reduce_add_epi32(acc);
#endif
    for (; i < n; i++)
        c += v[i] >= f;
    return c;
}

/* A float's place in the order of floats (-0 just below +0), and back. */
static uint32_t order_of(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b & 0x80000000u ? ~b : b | 0x80000000u;
}
static float float_of(uint32_t u) {
    uint32_t b = u & 0x80000000u ? u ^ 0x80000000u : ~u;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* A bound b for the n >= k values v, all at or above lo (none NaN): at
** least k of them are at or above b, and at most `enough` (>= k) are, or b
** is their k-th largest.  A bisection over the floats' order up from lo,
** each step a count (a vector compare per 16 values, no branch on the
** data), which stops as soon as few enough are left.  With enough = k,
** those at or above b are those at or above the k-th largest: either k of
** them (so the k-th largest is among them) or b is the k-th largest. */
static float kth_bound(const float *v, int n, int k, int enough, float lo) {
    assert(n >= k && k >= 1 && enough >= k);
    uint32_t a = order_of(lo), z = order_of(INFINITY);
    for (int c = n; a < z && c > enough;) { /* c values at or above a's float */
        uint32_t mid = a + (z - a + 1) / 2;
        int cm = count_from(v, n, float_of(mid));
        if (cm >= k)
            a = mid, c = cm;
        else
            z = mid - 1;
    }
    return float_of(a);
}

/* The scan's bound t rises to a bound of the n >= k candidates taken with
** k to 1.5 k of them at or above it (never above the row's k-th largest),
** keeping those; *cap doubles when ties keep more than half of it. */
static float raise_bound(samp_work *w, int n, int k, float t, int *cap) {
    w->n_cand = n;
    t = kth_bound(w->cx, n, k, k + k / 2, t);
    keep_from(w, t);
    if (w->n_cand > *cap / 2) *cap = 2 * w->n_cand;
    return t;
}

#ifdef __AVX512F__
/* Append the tokens i + j of v (lane j) whose bit j of m is set to the
** candidates cx, cid [n ..): returns the new n.  Compressed in registers (a
** compressing store to memory is slow on Zen 4). */
static inline int take16(float *cx, int32_t *cid, int n, __m512 v, unsigned m, int i) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    _mm512_storeu_ps(cx + n, _mm512_maskz_compress_ps((__mmask16)m, v));
    _mm512_storeu_si512(cid + n, _mm512_maskz_compress_epi32(
                                     (__mmask16)m, _mm512_add_epi32(iota, _mm512_set1_epi32(i))));
    return n + __builtin_popcount(m);
}
#endif

/* The one pass over the logits: the tokens not in ban whose logit is
** finite and at or above a bound t into the candidates, in id order.  With
** k > 0, when the candidates pile up, t rises (raise_bound), never above
** the row's k-th largest: every token at or above that is still taken.  A compare per
** 16 tokens, a test per 64, and a compressed store of the few that pass.
** With div, the logits are x / temp (the temperature, in the same pass).
** Returns the bound (every candidate is at or above it). */
static inline __attribute__((always_inline)) float scan_div(const float *x, int V,
                                                            const uint64_t *ban, int k,
                                                            samp_work *w, const int div,
                                                            float temp) {
    enum { PREFETCH = 4096 };        /* logits ahead (16 KB) */
    float *cx = w->cx, t = -FLT_MAX; /* at first every finite logit */
    int32_t *cid = w->cid;
    int n = 0, i = 0, cap = k == 0 ? V + 1 : k < 64 ? 256 : 4 * k;
#ifdef __AVX512F__
    __m512 tv = _mm512_set1_ps(t);
    const __m512 tt = _mm512_set1_ps(temp);
    for (; i + 64 <= V; i += 64) {
        __m512 v[4];
        uint64_t m = 0;
        if (i + PREFETCH + 64 <= V) /* the row comes from memory: ask early */
#pragma GCC unroll 4
            for (int b = 0; b < 4; b++)
                _mm_prefetch((const char *)(x + i + PREFETCH + 16 * b), _MM_HINT_T0);
#pragma GCC unroll 4
        for (int b = 0; b < 4; b++) {
            v[b] = _mm512_loadu_ps(x + i + 16 * b);
            if (div) v[b] = _mm512_div_ps(v[b], tt);
            m |= (uint64_t)_mm512_cmp_ps_mask(v[b], tv, _CMP_GE_OQ) << 16 * b;
        }
        if (!m) continue; /* most groups, once t is near the threshold */
        if (ban) m &= ~ban[i / 64];
#pragma GCC unroll 4
        for (int b = 0; b < 4; b++)
            if (m >> 16 * b & 0xFFFF)
                n = take16(cx, cid, n, v[b], m >> 16 * b & 0xFFFF, i + 16 * b);
        if (n >= cap) {
            tv = _mm512_set1_ps(t = raise_bound(w, n, k, t, &cap));
            n = w->n_cand;
        }
    }
#endif
    for (; i < V; i++) {
        cx[n] = div ? x[i] / temp : x[i];
        cid[n] = i;
        n += cx[n] >= t && !(ban && ban[i / 64] >> (i % 64) & 1);
        if (n >= cap) {
            t = raise_bound(w, n, k, t, &cap);
            n = w->n_cand;
        }
    }
    w->n_cand = n;
    return t;
}

/* scan_div, the division only with a temperature (not 1). */
static float scan(const float *x, int V, const uint64_t *ban, int k, float temp, samp_work *w) {
    return temp == 1.0f ? scan_div(x, V, ban, k, w, 0, 1.0f) : scan_div(x, V, ban, k, w, 1, temp);
}

/* TopKLogitsWarper: keep the finite logits not below the k-th largest
** (ties at the threshold stay), but the tokens of ban: they count as -inf,
** which never rises above a k-th largest (fewer than k others: nothing
** else goes). */
static void top_k(int k, float temp, const float *x, int V, samp_work *w, const uint64_t *ban) {
    if (k > V) k = V;
    float t = scan(x, V, ban, k, temp, w);
    if (w->n_cand >= k) keep_from(w, kth_bound(w->cx, w->n_cand, k, k, t));
}

/* TopPLogitsWarper: sort ascending, remove the tokens whose cumulative
** probability is <= 1 - top_p, always keeping the most likely one. */
static void top_p(float tp, samp_work *w) {
    const samp_pair *pr = sorted_cands(w);
    double sum, mx = cand_max_sum(w, &sum), cum = 0;
    for (int i = 0; i < w->n_cand - 1; i++) {
        cum += exp((double)pr[i].key - mx) / sum;
        if (cum <= 1.0 - (double)tp)
            w->cx[pr[i].id] = -INFINITY;
        else
            break;
    }
    keep_from(w, -FLT_MAX);
}

/* MinPLogitsWarper: remove tokens whose probability is below min_p times the
** top probability (the top token always stays). */
static void min_p(float mp, samp_work *w) {
    double sum, mx = cand_max_sum(w, &sum);
    (void)sum;
    double thr = log((double)mp); /* p_i < mp * p_max  <=>  x_i - max < log(mp) */
    for (int i = 0; i < w->n_cand; i++)
        if ((double)w->cx[i] - mx < thr) w->cx[i] = -INFINITY;
    keep_from(w, -FLT_MAX);
}

/* TypicalLogitsWarper: keep the tokens whose surprisal is closest to the
** entropy until their mass reaches typical_p. */
static void typical_p(float mass, samp_work *w) {
    const int n = w->n_cand;
    float *x = w->cx;
    samp_pair *pr = w->pairs;
    if (n == 0) return;
    double sum, mx = cand_max_sum(w, &sum), lse = mx + log(sum), ent = 0;
    for (int i = 0; i < n; i++) {
        double lp = (double)x[i] - lse;
        ent -= exp(lp) * lp;
    }
    for (int i = 0; i < n; i++)
        pr[i] = (samp_pair){(float)fabs(-((double)x[i] - lse) - ent), i};
    qsort(pr, (size_t)n, sizeof *pr, cmp_key_asc);
    double cum = 0;
    int last = 0;
    for (int i = 0; i < n; i++) {
        cum += exp((double)x[pr[i].id] - lse);
        if (cum < (double)mass)
            last = i + 1;
        else
            break;
    }
    if (last > n - 1) last = n - 1;
    float thr = pr[last].key;
    for (int i = 1; i < n; i++)
        if (pr[i].key > thr) x[pr[i].id] = -INFINITY;
    keep_from(w, -FLT_MAX);
}

void samp_warp(const samp_params *p, const float *x, int V, samp_work *w, const uint64_t *ban) {
    assert(!ban || p->top_k > 0);
    if (p->top_k > 0)
        top_k(p->top_k, p->temperature, x, V, w, ban);
    else
        scan(x, V, NULL, 0, p->temperature, w); /* every finite logit */
    if (p->top_p < 1.0f) top_p(p->top_p, w);
    if (p->min_p > 0) min_p(p->min_p, w);
    if (p->typical_p < 1.0f) typical_p(p->typical_p, w);
}

int32_t samp_draw(const samp_work *w, rng *r) {
    if (!w->n_cand) return -1;
    double sum, mx = cand_max_sum(w, &sum);
    double u = rng_uniform_double(r) * sum, cum = 0;
    for (int i = 0; i < w->n_cand; i++) {
        cum += exp((double)w->cx[i] - mx);
        if (u < cum) return w->cid[i];
    }
    return w->cid[w->n_cand - 1]; /* rounding: u landed past the final sum */
}

int32_t samp_argmax(const float *x, int V) {
    int32_t best = -1;
    for (int i = 0; i < V; i++)
        if (x[i] != -INFINITY && (best < 0 || x[i] > x[best])) best = i;
    return best;
}

int samp_seq_init(samp_seq *s, const samp_params *p, const int32_t *prompt, size_t n,
                  const char *prompt_text, size_t prompt_len, const cons *c, uint64_t seed,
                  char *err) {
    memset(s, 0, sizeof *s);
    s->max_new = samp_max_new(p, n);
    s->cap = n + (size_t)s->max_new + 1;
    s->ids = malloc(s->cap * sizeof *s->ids);
    s->text_cap = 256;
    s->text = malloc(s->text_cap);
    size_t nh = (size_t)s->max_new + 1;
    if (c) s->hist = malloc(nh * sizeof *s->hist);
    s->hist_u8 = malloc(nh);
    s->hist_len = malloc(nh * sizeof *s->hist_len);
    if (!s->ids || !s->text || (c && !s->hist) || !s->hist_u8 || !s->hist_len) {
        samp_seq_free(s);
        return err_set(err, "generate: out of memory");
    }
    unsigned u8 = txt_u8_run(TXT_U8_START, (const unsigned char *)prompt_text, prompt_len);
    if (u8 == TXT_U8_BAD) {
        samp_seq_free(s);
        return err_set(err, "generate: the prompt is not valid UTF-8 (or holds NUL or U+FFFD)");
    }
    s->u8 = (uint8_t)u8;
    if (n) memcpy(s->ids, prompt, n * sizeof *prompt);
    s->text[0] = 0;
    s->n = s->n_prompt = n;
    s->seed = seed;
    rng_seed(&s->r, seed);
    if (c) cons_start(c, &s->cs, prompt_text, prompt_len);
    if (s->max_new == 0) s->finish = "length";
    return 0;
}

void samp_seq_free(samp_seq *s) {
    free(s->ids);
    free(s->text);
    free(s->hist);
    free(s->hist_u8);
    free(s->hist_len);
    free(s->fhist);
    s->fhist = NULL;
    s->ids = NULL;
    s->text = NULL;
    s->hist = NULL;
    s->hist_u8 = NULL;
    s->hist_len = NULL;
}

int samp_seq_set_form(samp_seq *s, form *f, char *err) {
    s->fhist = malloc(((size_t)s->max_new + 1) * sizeof *s->fhist);
    if (!s->fhist) return err_set(err, "generate: out of memory");
    s->form = f;
    form_start(f, &s->fs);
    return 0;
}

/* May the text end here: a whole character, and the constraints allow it? */
static int may_end(const cons *c, const samp_seq *s) {
    return s->u8 == TXT_U8_START && (!c || cons_end_ok(c, &s->cs)) &&
           (!s->form || form_end_ok(s->form, &s->fs));
}

/* Drop the last generated tokens until the text may end. */
static void back_out(const cons *c, samp_seq *s) {
    while (!may_end(c, s) && s->n > s->n_prompt) {
        size_t g = --s->n - s->n_prompt;
        if (c) s->cs = s->hist[g];
        s->u8 = s->hist_u8[g];
        s->text_len = s->hist_len[g];
    }
    s->text[s->text_len] = 0;
}

/* Does a stop string end inside the bytes appended after text[0..old)? */
static int stop_hit(const samp_params *p, const char *text, size_t len, size_t old) {
    for (size_t i = 0; i < p->n_stop; i++) {
        size_t L = strlen(p->stop[i]);
        size_t from = old + 1 > L ? old + 1 - L : 0;
        if (len - from >= L && memmem(text + from, len - from, p->stop[i], L)) return 1;
    }
    return 0;
}

/* A form's dead end: drop the last token and ban it where it stood. */
static void retry(const samp_params *p, const cons *c, samp_seq *s) {
    size_t g = --s->n - s->n_prompt;
    int k = 0;
    for (int i = 0; i < s->n_ban; i++) /* bans further on no longer apply */
        if (s->ban_pos[i] <= (int)g) {
            s->ban_pos[k] = s->ban_pos[i];
            s->ban_tok[k++] = s->ban_tok[i];
        }
    s->ban_pos[k] = (int)g;
    s->ban_tok[k] = s->ids[s->n];
    s->n_ban = k + 1;
    s->n_backout++;
    if (c) s->cs = s->hist[g];
    s->fs = s->fhist[g];
    s->u8 = s->hist_u8[g];
    s->text_len = s->hist_len[g];
    s->text[s->text_len] = 0;
    s->stop_pending = p->n_stop && stop_hit(p, s->text, s->text_len, 0);
}

/* The masks of a step (UTF-8, the constraints c, the form and its
** back-outs): -inf on the logits, but with top_k sampling the UTF-8 mask at
** a boundary and c's, returned as a bitset that top_k's pass over the
** logits applies (NULL: none) -- no writes of their own, scattered over a
** row that is not in cache yet. */
static const uint64_t *step_masks(const samp_params *p, cons *c, const samp_vocab *sv, samp_seq *s,
                                  int after, float *logits, samp_work *w) {
    const int bits = p->do_sample && p->top_k > 0;
    const uint64_t *ban =
        bits && s->u8 == TXT_U8_START && after >= sv->settle ? sv->start_ban : NULL;
    if (!ban) samp_utf8_mask(sv, s->u8, after, logits, w);
    if (c && bits) {
        cons_ban(c, &s->cs, after == 0, w->ban);
        for (int i = 0; ban && i < (w->V + 63) / 64; i++)
            w->ban[i] |= ban[i];
        ban = w->ban;
    } else if (c) {
        cons_mask(c, &s->cs, after == 0, logits);
    }
    if (s->form) {
        size_t n_gen = s->n - s->n_prompt;
        form_mask(s->form, &s->fs, logits);
        for (int i = 0; i < s->n_ban; i++)
            if (s->ban_pos[i] == (int)n_gen) logits[s->ban_tok[i]] = -INFINITY;
    }
    return ban;
}

int32_t samp_seq_step(const samp_params *p, cons *c, const samp_vocab *sv, samp_seq *s,
                      float *logits, samp_work *w) {
    int V = w->V;
    const cons_vocab *v = &sv->v;
    size_t n_gen = s->n - s->n_prompt;
    int after = s->max_new - (int)n_gen - 1; /* tokens that may follow this one */
    samp_process(p, s->ids, s->n, s->n_prompt, logits, V, w);
    const uint64_t *ban = step_masks(p, c, sv, s, after, logits, w);
    int32_t t;
    if (p->do_sample) {
        samp_warp(p, logits, V, w, ban);
        t = samp_draw(w, &s->r);
    } else {
        t = samp_argmax(logits, V);
    }
    if (t < 0 && s->form) {
        if (n_gen > 0 && s->n_backout < SAMP_MAX_BACKOUT)
            retry(p, c, s);
        else
            s->finish = "dead_end";
        return -1;
    }
    if (t < 0) {
        back_out(c, s);
        s->finish = "all_masked";
        return -1;
    }
    if (c) s->hist[n_gen] = s->cs;
    if (s->form) s->fhist[n_gen] = s->fs;
    s->hist_u8[n_gen] = s->u8;
    s->hist_len[n_gen] = s->text_len;
    s->u8 = sv->next[(size_t)t * TXT_U8_NSTATES + s->u8];
    assert(s->u8 != TXT_U8_BAD);
    s->ids[s->n++] = t;
    int is_eos = t == p->eos_id;
    if (c && !(is_eos && p->ignore_eos)) cons_advance(c, &s->cs, t);
    if (s->form && !(is_eos && p->ignore_eos)) {
        int broke = form_advance(s->form, &s->fs, t);
        assert(!broke);
        (void)broke;
    }
    if (is_eos && !p->ignore_eos) {
        s->finish = s->form && form_lines(s->form) ? "form" : "eos";
        return t;
    }
    if (!is_eos) {
        size_t L = v->len[t], old = s->text_len;
        if (s->text_len + L + 1 > s->text_cap) {
            size_t cap = 2 * (s->text_len + L + 1);
            char *nt = realloc(s->text, cap);
            if (!nt) return SAMP_NOMEM;
            s->text = nt;
            s->text_cap = cap;
        }
        memcpy(s->text + s->text_len, v->bytes[t], L);
        s->text_len += L;
        s->text[s->text_len] = 0;
        if (p->n_stop && stop_hit(p, s->text, s->text_len, old)) s->stop_pending = 1;
    }
    if (s->stop_pending && may_end(c, s)) s->finish = "stop_string";
    if (s->form && form_done(s->form, &s->fs)) s->finish = "form";
    if (!s->finish && s->n - s->n_prompt >= (size_t)s->max_new) s->finish = "length";
    return t;
}

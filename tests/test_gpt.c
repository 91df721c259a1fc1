/*
** GPT-2 model tests against the PyTorch reference (tests/reference/
** gpt2_ref.py, fixtures in tests/fixtures/gpt/, computed in float64).
**
** Tolerances.  quill computes in float32 (unit roundoff u = 6e-8).  A dot
** product of length K has a relative error bounded by about sqrt(K) u with
** random rounding (K u worst case), K <= 4 * n_embd = 256 here, and the
** logits pass through 2-3 blocks of LayerNorm, attention and MLP, each
** adding a few such errors; so we expect errors around 1e-6 of the
** magnitude of the values, and allow 2e-5 (logits, loss), measured as
** max |quill - ref| / max |ref| over the whole tensor.  Gradients are two
** more passes of the same products (backward) plus the softmax: 5e-5.
** After several AdamW steps the trained parameters must agree to lr/100,
** except the key part of c_attn.bias: its true gradient is exactly zero, so
** both sides hold fp32 noise, which Adam turns into sign-like steps of
** about lr; those are only held to the Adam step bound.
*/
#include "adamw.h"
#include "err.h"
#include "gpt.h"
#include "kernels.h"
#include "matmul.h"
#include "safetensors.h"
#include "gpt_fixture.h"
#include "mm_post.h"
#include "slurp.h"
#include "test.h"

#include <jansson.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct fixture {
    gpt_config cfg;
    int B, T;
    json_t *man;
    unsigned char *blob;
    float lr, wd, max_norm;
    int steps;
} fixture;

static int load_fixture(const char *name, fixture *f) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/gpt/%s.json", name);
    json_error_t je;
    memset(f, 0, sizeof *f);
    f->man = json_load_file(path, 0, &je);
    if (!f->man) return -1;
    gpt_fixture_config(f->man, &f->cfg);
    f->B = (int)json_integer_value(json_object_get(f->man, "B"));
    f->T = (int)json_integer_value(json_object_get(f->man, "T"));
    json_t *a = json_object_get(f->man, "adamw");
    f->lr = (float)json_number_value(json_object_get(a, "lr"));
    f->wd = (float)json_number_value(json_object_get(a, "weight_decay"));
    f->max_norm = (float)json_number_value(json_object_get(a, "max_norm"));
    f->steps = (int)json_integer_value(json_object_get(a, "steps"));
    snprintf(path, sizeof path, "tests/fixtures/gpt/%s.bin", name);
    size_t n;
    char err[ERR_LEN];
    return slurp(path, (char **)&f->blob, &n, err);
}

static void free_fixture(fixture *f) {
    json_decref(f->man);
    free(f->blob);
}

/* Pointer to a fixture array and its element count. */
static void *arr(const fixture *f, const char *name, size_t *n) {
    json_t *a = json_object_get(json_object_get(f->man, "arrays"), name);
    size_t cnt = 1, i;
    json_t *d;
    json_array_foreach(json_object_get(a, "shape"), i, d) cnt *= (size_t)json_integer_value(d);
    if (n) *n = cnt;
    return f->blob + json_integer_value(json_object_get(a, "offset"));
}

/* max |a - b| / max |b| */
static double rel_err(const float *a, const float *b, size_t n) {
    double e = 0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        e = d > e || isnan(d) ? d : e; /* a NaN stays: the error is NaN, no check passes */
        m = fabs(b[i]) > m ? fabs(b[i]) : m;
    }
    return e / m;
}

static double abs_err(const float *a, const float *b, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        e = d > e || isnan(d) ? d : e;
    }
    return e;
}

static const char *names[] = {"c36", "c64", "c48_erf"};

static void test_forward_backward(void) {
    char err[ERR_LEN];
    for (int k = 0; k < 3; k++) {
        fixture f;
        CHECKF(load_fixture(names[k], &f) == 0, "fixture %s", names[k]);
        size_t np, nl;
        float *params = arr(&f, "params", &np);
        const int32_t *ids = arr(&f, "ids", NULL), *labels = arr(&f, "labels", NULL);
        const float *logits = arr(&f, "logits", &nl), *grads_ref = arr(&f, "grads", NULL);
        float loss_ref = *(float *)arr(&f, "loss", NULL);
        gpt_model *m;
        gpt_batch *b;
        CHECK(gpt_model_create(&f.cfg, params, &m, err) == 0);
        CHECK_EQ_INT(gpt_model_nparams(m), np);
        CHECK(gpt_batch_create(m, f.B, f.T, &b, err) == 0);
        float loss;
        CHECK(gpt_forward(b, ids, labels, f.B, f.T, NULL, &loss, err) == 0);
        double el = rel_err(gpt_batch_logits(b), logits, nl);
        printf("  %s: logits rel err %.2e, loss %.7f vs %.7f\n", names[k], el, loss, loss_ref);
        CHECKF(el < 2e-5, "%s logits %.3g", names[k], el);
        CHECK_CLOSE(loss, loss_ref, 0, 2e-5);
        float *g = calloc(np, sizeof(float));
        CHECK(gpt_backward(b, g, err) == 0);
        double eg = rel_err(g, grads_ref, np);
        printf("  %s: grads rel err %.2e\n", names[k], eg);
        CHECKF(eg < 5e-5, "%s grads %.3g", names[k], eg);
        /* per tensor too, so a small tensor's error is not hidden */
        gpt_tensor t[64];
        int nt = gpt_layout_count(&f.cfg);
        gpt_layout(&f.cfg, t);
        for (int i = 0; i < nt; i++) {
            double e = rel_err(g + t[i].offset, grads_ref + t[i].offset, t[i].numel);
            CHECKF(e < 2e-4, "%s grad %s rel err %.3g", names[k], t[i].name, e);
        }
        /* backward consumed the logits; a second backward is an error */
        CHECK(gpt_batch_logits(b) == NULL);
        CHECK(gpt_backward(b, g, err) == -1);
        /* the training path (an rng given: softmax made in the forward) with
        ** every dropout at 0 computes the same loss and gradients */
        gpt_config nodrop = f.cfg;
        nodrop.embd_pdrop = nodrop.attn_pdrop = nodrop.resid_pdrop = 0.0f;
        gpt_model *m0;
        gpt_batch *b0;
        rng r;
        rng_seed(&r, 1);
        CHECK(gpt_model_create(&nodrop, params, &m0, err) == 0);
        CHECK(gpt_batch_create(m0, f.B, f.T, &b0, err) == 0);
        CHECK(gpt_forward(b0, ids, labels, f.B, f.T, &r, &loss, err) == 0);
        CHECK(gpt_batch_logits(b0) == NULL);
        CHECK_CLOSE(loss, loss_ref, 0, 2e-5);
        for (size_t i = 0; i < np; i++) /* backward writes every gradient: no zeroing */
            g[i] = NAN;
        CHECK(gpt_backward(b0, g, err) == 0);
        eg = rel_err(g, grads_ref, np);
        CHECKF(eg < 5e-5, "%s training-path grads %.3g", names[k], eg);
        gpt_batch_free(b0);
        gpt_model_free(m0);
        free(g);
        gpt_batch_free(b);
        gpt_model_free(m);
        free_fixture(&f);
    }
}

/* fixture NAME's bf16 counterpart (tests/reference/gpt2_bf16_ref.py):
** only its arrays. */
static int load_bf16_fixture(const char *name, fixture *f) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/gpt/%s_bf16.json", name);
    json_error_t je;
    memset(f, 0, sizeof *f);
    f->man = json_load_file(path, 0, &je);
    if (!f->man) return -1;
    snprintf(path, sizeof path, "tests/fixtures/gpt/%s_bf16.bin", name);
    size_t n;
    char err[ERR_LEN];
    return slurp(path, (char **)&f->blob, &n, err);
}

/* Mixed precision (gpt_model_set_bf16) against two float64 references:
** the same products with bf16-rounded inputs (gpt2_bf16_ref.py) and the
** exact products (gpt2_ref.py).  The one-layer fixture follows the bf16
** reference to fp32 accuracy (1e-4 allowed; measured 1e-7), which pins
** where the rounding happens (every product's inputs, forward and
** backward) and where it does not.  Deeper, an fp32 value and its float64
** counterpart now and then straddle a bf16 rounding boundary and round to
** neighbours one bf16 ulp (2^-8) apart, and the layers amplify that: a
** 1e-7 relative change of these fixtures' parameters moves the bf16
** reference's logits by up to 7e-4 (measured), so there 1e-2.  Against
** the exact products bf16's own error (2^-9 relative per input) allows
** 3e-2 for the logits and loss and 1.5e-1 for the gradients (measured
** 8e-3).  Then the same bits for 1, 2 and 3 threads, and the model's fp32
** results unchanged once bf16 is off. */
static void test_bf16_forward_backward(void) {
    char err[ERR_LEN];
    for (int k = 0; k < 3; k++) {
        fixture f, h;
        CHECKF(load_fixture(names[k], &f) == 0 && load_bf16_fixture(names[k], &h) == 0,
               "fixture %s", names[k]);
        size_t np, nl;
        float *params = arr(&f, "params", &np);
        const int32_t *ids = arr(&f, "ids", NULL), *labels = arr(&f, "labels", NULL);
        const float *exact_logits = arr(&f, "logits", &nl), *exact_grads = arr(&f, "grads", NULL);
        const float *ref_logits = arr(&h, "logits", NULL), *ref_grads = arr(&h, "grads", NULL);
        const float exact_loss = *(float *)arr(&f, "loss", NULL),
                    ref_loss = *(float *)arr(&h, "loss", NULL);
        gpt_model *m;
        gpt_batch *b;
        CHECK(gpt_model_create(&f.cfg, params, &m, err) == 0);
        CHECK(gpt_batch_create(m, f.B, f.T, &b, err) == 0);
        gpt_model_set_bf16(m, 1);
        float *g = calloc(np, sizeof(float)), *g1 = calloc(np, sizeof(float));
        float *lg = malloc(nl * sizeof(float)), loss = 0, loss1 = 0;
        for (int th = 1; th <= 3; th++) {
            omp_set_num_threads(th);
            for (size_t i = 0; i < np; i++) /* the last run's, then garbage: overwritten */
                g[i] = th == 3 ? (float)i : g[i];
            CHECK(gpt_forward(b, ids, labels, f.B, f.T, NULL, &loss, err) == 0);
            memcpy(lg, gpt_batch_logits(b), nl * sizeof(float));
            CHECK(gpt_backward(b, g, err) == 0);
            if (th == 1) {
                memcpy(g1, g, np * sizeof(float));
                loss1 = loss;
                continue;
            }
            CHECKF(memcmp(g, g1, np * sizeof(float)) == 0 && loss == loss1,
                   "%s: bf16 results differ at %d threads", names[k], th);
        }
        omp_set_num_threads(2);
        const double el = rel_err(lg, ref_logits, nl), eg = rel_err(g, ref_grads, np);
        const double xl = rel_err(lg, exact_logits, nl), xg = rel_err(g, exact_grads, np);
        printf("  %s bf16: logits %.2e (exact %.2e), grads %.2e (exact %.2e), loss %.6f vs %.6f "
               "(exact %.6f)\n",
               names[k], el, xl, eg, xg, loss, ref_loss, exact_loss);
        const double tol = f.cfg.n_layer == 1 ? 1e-4 : 1e-2;
        CHECKF(el < tol && eg < tol, "%s vs bf16 reference: logits %.3g grads %.3g", names[k], el,
               eg);
        CHECK_CLOSE(loss, ref_loss, 0, tol);
        CHECKF(xl < 3e-2 && xg < 1.5e-1, "%s vs exact: logits %.3g grads %.3g", names[k], xl, xg);
        CHECK_CLOSE(loss, exact_loss, 0, 3e-2);
        /* off again: fp32, as before */
        gpt_model_set_bf16(m, 0);
        CHECK(gpt_forward(b, ids, labels, f.B, f.T, NULL, &loss, err) == 0);
        CHECKF(rel_err(gpt_batch_logits(b), exact_logits, nl) < 2e-5, "%s: fp32 after bf16",
               names[k]);
        free(g), free(g1), free(lg);
        gpt_batch_free(b);
        gpt_model_free(m);
        free_fixture(&f);
        free_fixture(&h);
    }
}

/* Trainer-style steps: clip, AdamW with decay groups, linear schedule. */
static void test_adamw_steps(void) {
    char err[ERR_LEN];
    for (int k = 0; k < 3; k++) {
        fixture f;
        CHECK(load_fixture(names[k], &f) == 0);
        size_t np;
        float *params0 = arr(&f, "params", &np);
        float *params = malloc(np * sizeof(float)), *g = malloc(np * sizeof(float));
        memcpy(params, params0, np * sizeof(float));
        const int32_t *ids = arr(&f, "ids", NULL), *labels = arr(&f, "labels", NULL);
        const float *norm_ref = arr(&f, "step_norm", NULL), *loss_ref = arr(&f, "step_loss", NULL);
        const float *lr_ref = arr(&f, "step_lr", NULL), *trained = arr(&f, "trained", NULL);
        gpt_model *m;
        gpt_batch *b;
        adamw *opt;
        CHECK(gpt_model_create(&f.cfg, params, &m, err) == 0);
        CHECK(gpt_batch_create(m, f.B, f.T, &b, err) == 0);
        CHECK(adamw_create(&f.cfg, &opt, err) == 0);
        adamw_hparams hp;
        adamw_defaults(&hp);
        hp.weight_decay = f.wd;
        for (int s = 0; s < f.steps; s++) {
            float loss;
            memset(g, 0, np * sizeof(float));
            CHECK(gpt_forward(b, ids, labels, f.B, f.T, NULL, &loss, err) == 0);
            CHECK(gpt_backward(b, g, err) == 0);
            float norm = adamw_clip_grad_norm(g, np, f.max_norm); /* in place */
            CHECK_CLOSE(loss, loss_ref[s], 0, 5e-5);
            CHECK_CLOSE(norm, norm_ref[s], 0, 5e-5);
            hp.lr = f.lr * (float)(f.steps + 2 - s) / (float)(f.steps + 2);
            CHECK_CLOSE(hp.lr, lr_ref[s], 0, 1e-6);
            adamw_step(opt, params, g, &hp);
        }
        /* every parameter follows the reference to lr/100 except the key
        ** biases (below), whose Adam steps are bounded by about lr each */
        size_t off = 0;
        double worst = 0;
        for (size_t i = 0; i < np; i++) {
            double d = fabs((double)params[i] - trained[i]);
            off += d > f.lr / 100;
            worst = d > worst ? d : worst;
        }
        printf("  %s: after %d steps %zu of %zu params differ by > lr/100, max %.2e\n", names[k],
               f.steps, off, np, worst);
        /* per tensor, so a wrong group (decay on a bias...) cannot hide */
        gpt_tensor t[64];
        int nt = gpt_layout_count(&f.cfg);
        gpt_layout(&f.cfg, t);
        for (int i = 0; i < nt; i++) {
            /* the key part of c_attn.bias has an exactly zero true gradient
            ** (softmax ignores a constant added to every score), so fp32 noise
            ** in both quill and the reference: skip it */
            const int kb = strstr(t[i].name, "c_attn.bias") != NULL;
            const size_t C = (size_t)f.cfg.n_embd;
            size_t n_off = 0;
            for (size_t j = 0; j < t[i].numel; j++) {
                if (kb && j >= C && j < 2 * C) continue;
                size_t o = t[i].offset + j;
                n_off += fabs((double)params[o] - trained[o]) > f.lr / 100;
            }
            CHECKF(n_off == 0, "%s %s: %zu of %zu off", names[k], t[i].name, n_off, t[i].numel);
        }
        CHECKF(worst < 2 * f.lr * f.steps, "%s: %.3g", names[k], worst);
        adamw_free(opt);
        gpt_batch_free(b);
        gpt_model_free(m);
        free(params);
        free(g);
        free_fixture(&f);
    }
}

/* Incremental decoding with the KV cache gives the full forward's logits:
** prompts of different lengths prefilled together, then one token each,
** with a slot dropped and reused midway. */
static void test_kv_cache(void) {
    char err[ERR_LEN];
    fixture f;
    CHECK(load_fixture("c64", &f) == 0);
    float *params = arr(&f, "params", NULL);
    const int32_t *ids = arr(&f, "ids", NULL);
    const float *ref = arr(&f, "logits", NULL);
    const int T = f.T, V = f.cfg.vocab_size;
    gpt_model *m;
    gpt_kv *kv;
    CHECK(gpt_model_create(&f.cfg, params, &m, err) == 0);
    CHECK(gpt_kv_create(m, 4, T, &kv, err) == 0);
    float *lg = malloc(sizeof(float) * 3 * V);
    /* sequence b of the fixture lives in slot 3 - b */
    int slots[3] = {3, 2, 1}, ntok[3] = {5, 1, 9}, done[3] = {0, 0, 0};
    int32_t toks[64];
    double worst = 0;
    for (int round = 0; round < T; round++) {
        int ns = 0, nt = 0, sl[3], nk[3], seq[3];
        for (int b = 0; b < 3; b++) {
            int n = round == 0 ? ntok[b] : 1;
            if (done[b] + n > T) continue;
            for (int j = 0; j < n; j++)
                toks[nt++] = ids[b * T + done[b] + j];
            sl[ns] = slots[b];
            nk[ns] = n;
            seq[ns++] = b;
        }
        if (!ns) break;
        CHECK(gpt_kv_step(kv, ns, sl, nk, toks, lg, err) == 0);
        for (int i = 0; i < ns; i++) {
            int b = seq[i];
            done[b] += nk[i];
            CHECK_EQ_INT(gpt_kv_len(kv, sl[i]), done[b]);
            double e = rel_err(lg + (size_t)i * V, ref + ((size_t)b * T + done[b] - 1) * V, V);
            worst = e > worst ? e : worst;
        }
        if (round == 3) { /* drop sequence 1 and start it again in slot 0 */
            gpt_kv_reset(kv, slots[1]);
            slots[1] = 0;
            done[1] = 0;
            int s0 = 0, n0 = 7;
            CHECK(gpt_kv_step(kv, 1, &s0, &n0, ids + T, lg, err) == 0);
            done[1] = 7;
            worst = fmax(worst, rel_err(lg, ref + ((size_t)T + 6) * V, V));
        }
    }
    printf("  kv cache logits rel err %.2e\n", worst);
    CHECKF(worst < 2e-5, "%.3g", worst);
    /* errors leave the cache as it was */
    int s = 2, n = 1, two[2] = {2, 2}, ones[2] = {1, 1};
    int32_t bad = V, good[2] = {1, 2};
    int len = gpt_kv_len(kv, 2);
    CHECK(gpt_kv_step(kv, 1, &s, &n, &bad, lg, err) == -1);
    CHECK(strstr(err, "outside the vocabulary") != NULL);
    CHECK(gpt_kv_step(kv, 2, two, ones, good, lg, err) == -1);
    CHECK(strstr(err, "twice") != NULL);
    s = 1;
    CHECK(gpt_kv_step(kv, 1, &s, &n, good, lg, err) == -1); /* slot 1 is full */
    CHECK(strstr(err, "exceed") != NULL);
    s = 9;
    CHECK(gpt_kv_step(kv, 1, &s, &n, good, lg, err) == -1);
    CHECK_EQ_INT(gpt_kv_len(kv, 2), len);
    gpt_kv *big;
    CHECK(gpt_kv_create(m, 1, f.cfg.n_positions + 1, &big, err) == -1);
    free(lg);
    gpt_kv_free(kv);
    gpt_model_free(m);
    free_fixture(&f);
}

static void test_errors(void) {
    char err[ERR_LEN];
    fixture f;
    CHECK(load_fixture("c36", &f) == 0);
    float *params = arr(&f, "params", NULL);
    gpt_model *m;
    gpt_batch *b;
    CHECK(gpt_model_create(&f.cfg, params, &m, err) == 0);
    CHECK(gpt_batch_create(m, 1, f.cfg.n_positions + 1, &b, err) == -1);
    CHECK(strstr(err, "n_positions") != NULL);
    CHECK(gpt_batch_create(m, 1, 4, &b, err) == 0);
    int32_t ids[4] = {1, 2, -5, 3}, lab[4] = {1, 2, 3, 1000};
    float loss;
    CHECK(gpt_forward(b, ids, NULL, 1, 4, NULL, &loss, err) == -1);
    CHECK(strstr(err, "-5") != NULL);
    ids[2] = 3;
    CHECK(gpt_forward(b, ids, lab, 1, 4, NULL, &loss, err) == -1);
    CHECK(gpt_forward(b, ids, NULL, 1, 5, NULL, &loss, err) == -1);
    /* all labels ignored: loss 0, zero gradient */
    int32_t ign[4] = {-100, -100, -100, -100};
    CHECK(gpt_forward(b, ids, ign, 1, 4, NULL, &loss, err) == 0);
    CHECK(loss == 0.0f);
    gpt_config bad = f.cfg;
    bad.n_head = 5;
    gpt_model *m2;
    CHECK(gpt_model_create(&bad, params, &m2, err) == -1);
    gpt_batch_free(b);
    gpt_model_free(m);
    free_fixture(&f);
}

/* Random parameters for a config, GPT-2-like init with a fixed seed. */
static float *random_params(const gpt_config *cfg, uint64_t seed, size_t *np) {
    gpt_tensor t[256];
    int nt = gpt_layout_count(cfg);
    *np = gpt_layout(cfg, t);
    float *p = malloc(*np * sizeof(float));
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < nt; i++)
        for (size_t j = 0; j < t[i].numel; j++)
            p[t[i].offset + j] = strstr(t[i].name, "ln_") && strstr(t[i].name, "weight")
                                     ? 1.0f + 0.1f * (float)rng_normal(&r)
                                     : (float)(0.05 * rng_normal(&r));
    return p;
}

/* Two training steps with dropout: the bytes of the parameters, the losses
** and the norms; returns the parameters (malloc'd). */
static float *train_two_steps(const gpt_config *cfg, int B, int T, float *loss_out) {
    char err[ERR_LEN];
    size_t np;
    float *params = random_params(cfg, 7, &np), *g = malloc(np * sizeof(float));
    int32_t *ids = malloc(sizeof(int32_t) * B * T);
    rng r;
    rng_seed(&r, 11);
    for (int i = 0; i < B * T; i++)
        ids[i] = (int32_t)rng_below(&r, (uint64_t)cfg->vocab_size);
    gpt_model *m;
    gpt_batch *b;
    adamw *opt;
    CHECK(gpt_model_create(cfg, params, &m, err) == 0);
    CHECK(gpt_batch_create(m, B, T, &b, err) == 0);
    CHECK(adamw_create(cfg, &opt, err) == 0);
    adamw_hparams hp;
    adamw_defaults(&hp);
    hp.lr = 1e-3f;
    hp.weight_decay = 0.01f;
    for (int s = 0; s < 2; s++) {
        memset(g, 0, np * sizeof(float));
        CHECK(gpt_forward(b, ids, ids, B, T, &r, &loss_out[s], err) == 0);
        CHECK(gpt_backward(b, g, err) == 0);
        loss_out[2 + s] = adamw_grad_norm(g, np);
        hp.grad_scale = adamw_clip_coef(loss_out[2 + s], 1.0f); /* clipping, fused */
        adamw_step(opt, params, g, &hp);
    }
    adamw_free(opt);
    gpt_batch_free(b);
    gpt_model_free(m);
    free(g);
    free(ids);
    return params;
}

/* Big enough that every matmul is cut into several tiles and threads. */
static void det_config(gpt_config *cfg) {
    gpt_config_default(cfg);
    cfg->n_layer = 2;
    cfg->n_head = 3;
    cfg->n_embd = 144;
    cfg->n_positions = 80;
    cfg->vocab_size = 600;
}

/* Prefill two prompts (blocked matmul path), then 3 single-token steps
** (few-rows path); all last-position logits, malloc'd.  gen: -1 reads
** params as they are, 0 and 1 prepare the generation weights in fp32 or
** bf16 first. */
static float *kv_run(const gpt_config *cfg, int gen) {
    char err[ERR_LEN];
    size_t np;
    float *params = random_params(cfg, 9, &np);
    const int V = cfg->vocab_size;
    float *out = malloc(sizeof(float) * 8 * V);
    gpt_model *m;
    gpt_kv *kv;
    CHECK(gpt_model_create(cfg, params, &m, err) == 0);
    CHECK_EQ_INT(gpt_model_generation(m), -1);
    if (gen >= 0) CHECK(gpt_model_prepare_generation(m, gen, err) == 0);
    CHECK_EQ_INT(gpt_model_generation(m), gen);
    CHECK(gpt_kv_create(m, 2, 40, &kv, err) == 0);
    int32_t toks[64];
    for (int i = 0; i < 64; i++)
        toks[i] = (int32_t)(i * 37 % V);
    int slots[2] = {0, 1}, n[2] = {30, 17};
    CHECK(gpt_kv_step(kv, 2, slots, n, toks, out, err) == 0);
    n[0] = n[1] = 1;
    for (int s = 0; s < 3; s++)
        CHECK(gpt_kv_step(kv, 2, slots, n, toks + 2 * s, out + (size_t)(2 + 2 * s) * V, err) == 0);
    gpt_kv_free(kv);
    gpt_model_free(m);
    free(params);
    return out;
}

/* AdamW written out element by element, tensor by tensor, from zero
** moments: steps steps of p with gradient g (fixed), into p, m, v. */
static void adamw_reference(const gpt_config *cfg, const adamw_hparams *h, int steps, float *p,
                            const float *g, float *m, float *v) {
    gpt_tensor *t = malloc(sizeof(gpt_tensor) * (size_t)gpt_layout_count(cfg));
    const int nt = gpt_layout_count(cfg);
    gpt_layout(cfg, t);
    for (int s = 1; s <= steps; s++) {
        const float ss = (float)(h->lr / (1.0 - pow(h->beta1, s))),
                    ib = (float)(1.0 / sqrt(1.0 - pow(h->beta2, s)));
        for (int k = 0; k < nt; k++) {
            const float dm = t[k].decay ? (float)(1.0 - (double)h->lr * h->weight_decay) : 1.0f;
            for (size_t i = t[k].offset; i < t[k].offset + t[k].numel; i++) {
                float gi = g[i] * h->grad_scale;
                m[i] = m[i] * h->beta1 + gi * (1.0f - h->beta1);
                v[i] = v[i] * h->beta2 + gi * gi * (1.0f - h->beta2);
                p[i] = p[i] * dm - ss * (m[i] / (sqrtf(v[i]) * ib + h->eps));
            }
        }
    }
    free(t);
}

/* adamw_step's one pass over all parameters (fixed chunks cutting across
** tensors of both decay groups) gives the bytes of the update done tensor
** by tensor, at 1, 2 and 3 threads; adamw_zero_grads zeroes exactly n. */
static void test_adamw_flat(void) {
    char err[ERR_LEN];
    gpt_config cfg;
    det_config(&cfg); /* ~0.6M parameters: many chunks */
    size_t np;
    float *p0 = random_params(&cfg, 3, &np), *g = random_params(&cfg, 4, &np);
    float *pr = malloc(np * sizeof(float)), *mr = calloc(np, sizeof(float)),
          *vr = calloc(np, sizeof(float)), *p = malloc(np * sizeof(float));
    adamw_hparams hp;
    adamw_defaults(&hp);
    hp.lr = 1e-3f, hp.weight_decay = 0.1f, hp.grad_scale = 0.75f;
    memcpy(pr, p0, np * sizeof(float));
    adamw_reference(&cfg, &hp, 2, pr, g, mr, vr);
    for (int th = 1; th <= 3; th++) {
        omp_set_num_threads(th);
        adamw *opt;
        CHECK(adamw_create(&cfg, &opt, err) == 0);
        memcpy(p, p0, np * sizeof(float));
        adamw_step(opt, p, g, &hp);
        adamw_step(opt, p, g, &hp);
        CHECKF(memcmp(p, pr, np * sizeof(float)) == 0, "params, %d threads", th);
        CHECKF(memcmp(opt->m, mr, np * sizeof(float)) == 0, "m, %d threads", th);
        CHECKF(memcmp(opt->v, vr, np * sizeof(float)) == 0, "v, %d threads", th);
        adamw_free(opt);
        memcpy(p, p0, np * sizeof(float));
        adamw_zero_grads(p + 1, np - 2); /* all but the first and the last */
        size_t nz = 0;
        for (size_t i = 1; i + 1 < np; i++)
            nz += p[i] != 0.0f;
        CHECKF(nz == 0 && p[0] == p0[0] && p[np - 1] == p0[np - 1], "zero, %d threads", th);
    }
    omp_set_num_threads(2);
    free(p0), free(g), free(pr), free(mr), free(vr), free(p);
}

static void test_thread_determinism(void) {
    gpt_config cfg;
    det_config(&cfg);
    float l1[4], l2[4];
    size_t np;
    free(random_params(&cfg, 7, &np));
    /* 4 x 70 rows: the embeddings' backward splits across threads (rows
    ** sharing tokens among 600) */
    omp_set_num_threads(1);
    float *p1 = train_two_steps(&cfg, 4, 70, l1);
    omp_set_num_threads(2);
    float *p2 = train_two_steps(&cfg, 4, 70, l2);
    CHECK(memcmp(l1, l2, sizeof l1) == 0);
    CHECK(memcmp(p1, p2, np * sizeof(float)) == 0);
    printf("  1 vs 2 threads: losses %.7f %.7f, norms %.5f %.5f, identical: %d\n", l1[0], l1[1],
           l1[2], l1[3], memcmp(p1, p2, np * sizeof(float)) == 0);
    free(p1);
    free(p2);
    /* generation too; prepared in fp32 it adds the lm_head in another
    ** order (a k-ascending chain rather than 16 lanes then a reduction) */
    float *plain = kv_run(&cfg, -1);
    for (int gen = -1; gen < 2; gen++) {
        omp_set_num_threads(1);
        float *k1 = kv_run(&cfg, gen);
        omp_set_num_threads(2);
        float *k2 = kv_run(&cfg, gen);
        CHECKF(memcmp(k1, k2, sizeof(float) * 8 * cfg.vocab_size) == 0, "gen %d", gen);
        for (int i = 0; gen == 0 && i < 8 * cfg.vocab_size; i++)
            if (fabsf(k1[i] - plain[i]) > 1e-5f * (1 + fabsf(plain[i]))) {
                CHECKF(0, "logit %d: %.9g prepared, %.9g not", i, k1[i], plain[i]);
                break;
            }
        free(k1);
        free(k2);
    }
    free(plain);
}

/* A sequence's logits do not depend on what shares its steps (big prefill
** through the GEMM or alone through the few-rows path, fp32 prepared or
** not, bf16 with its bf16 cache), and a slot copied from another continues with the same bits. */
static void test_kv_batch_invariance_and_copy(void) {
    char err[ERR_LEN];
    gpt_config cfg;
    det_config(&cfg);
    size_t np;
    float *params = random_params(&cfg, 4, &np);
    const int V = cfg.vocab_size, P = 12; /* alone: few rows; together: a GEMM */
    int32_t toks[128];
    for (int i = 0; i < 128; i++)
        toks[i] = (int32_t)((i * 53 + 11) % V);
    const int32_t *prompt = toks, *next = toks + 100; /* 3 more tokens */
    float *alone = malloc(sizeof(float) * 3 * V), *lg = malloc(sizeof(float) * 4 * V);
    for (int gen = -1; gen < 2; gen++) {
        gpt_model *m;
        gpt_kv *a, *b;
        CHECK(gpt_model_create(&cfg, params, &m, err) == 0);
        if (gen >= 0) CHECK(gpt_model_prepare_generation(m, gen, err) == 0);
        CHECK(gpt_kv_create(m, 4, 40, &a, err) == 0);
        CHECK(gpt_kv_create(m, 4, 40, &b, err) == 0);
        int s0 = 0, n = P, one = 1;
        CHECK(gpt_kv_step(a, 1, &s0, &n, prompt, lg, err) == 0);
        for (int i = 0; i < 3; i++)
            CHECK(gpt_kv_step(a, 1, &s0, &one, next + i, alone + (size_t)i * V, err) == 0);
        /* the same prompt in slot 1 among three others: 57 rows at once */
        int32_t mix[128];
        int slots[4] = {0, 1, 2, 3}, lens[4] = {15, P, 18, 12}, nt = 0;
        for (int q = 0; q < 4; q++)
            for (int j = 0; j < lens[q]; j++)
                mix[nt++] = q == 1 ? prompt[j] : toks[30 + q * 20 + j];
        CHECK(gpt_kv_step(b, 4, slots, lens, mix, lg, err) == 0);
        int ones[4] = {1, 1, 1, 1};
        for (int i = 0; i < 3; i++) {
            int32_t four[4] = {5, next[i], 7, 9};
            CHECK(gpt_kv_step(b, 4, slots, ones, four, lg, err) == 0);
            CHECKF(!memcmp(lg + V, alone + (size_t)i * V, sizeof(float) * V), "gen %d step %d", gen,
                   i);
        }
        /* slot 3 takes slot 1's prompt and goes the same way */
        CHECK(gpt_kv_copy(b, 3, 1, P, err) == 0);
        CHECK_EQ_INT(gpt_kv_len(b, 3), P);
        int s3 = 3;
        for (int i = 0; i < 3; i++) {
            CHECK(gpt_kv_step(b, 1, &s3, &one, next + i, lg, err) == 0);
            CHECKF(!memcmp(lg, alone + (size_t)i * V, sizeof(float) * V), "copy, step %d", i);
        }
        CHECK(gpt_kv_copy(b, 2, 1, P + 4, err) == -1); /* slot 1 holds P + 3 */
        CHECK(strstr(err, "holds") != NULL);
        CHECK(gpt_kv_copy(b, 1, 1, 1, err) == -1);
        CHECK(gpt_kv_copy(b, 4, 1, 1, err) == -1);
        CHECK_EQ_INT(gpt_kv_len(b, 2), 18 + 3);
        gpt_kv_free(a);
        gpt_kv_free(b);
        gpt_model_free(m);
    }
    free(alone);
    free(lg);
    free(params);
}

enum { BA_NK = 37, BA_NH = 2, BA_NMAX = 130, BA_LD = BA_NH * BA_NMAX };

/* kern_bscores (op 0) or kern_bwsum (op 1) over two heads of n and 37
** keys: keys/values kf (fp32) and, when kb is given, the same as bf16, on the portable, AVX2 and
*AVX-512 paths, give
** the same bits and agree with a double-precision sum. */
static void battn_case(const float *q, const float *w, const float *kf, const uint16_t *kb, int n,
                       int op) {
    enum { NK = BA_NK, NH = BA_NH, LD = BA_LD };
    float out[6][BA_NH * BA_NMAX];
    for (int v = 0; v < 6; v++) { /* path x (fp32, bf16) */
        if (v % 2 && !kb) continue;
        kern_battn_set_path(KERN_BATTN_PORTABLE + v / 2);
        const void *k = v % 2 ? (const void *)kb : (const void *)kf;
        if (op == 0)
            kern_bscores(out[v], NK, q, k, v % 2, LD, NK, NH, n, 0.5f);
        else
            kern_bwsum(out[v], w, NK, k, v % 2, LD, NK, NH, n);
    }
    const int per = op == 0 ? NK : n; /* results per head */
    float alone[BA_NH * BA_NMAX];     /* generation's heads per task */
    for (int h = 0; h < NH; h++)
        if (op == 0)
            kern_bscores(alone + h * per, NK, q + h * n, kf + h * n, 0, LD, NK, 1, n, 0.5f);
        else
            kern_bwsum(alone + h * per, w + h * NK, NK, kf + h * n, 0, LD, NK, 1, n);
    CHECKF(!memcmp(out[0], alone, sizeof(float) * NH * per), "op %d n %d: heads alone", op, n);
    for (int v = 1; v < 6; v++)
        CHECKF((v % 2 && !kb) || !memcmp(out[0], out[v], sizeof(float) * NH * per),
               "op %d n %d variant %d bf16 %d", op, n, v, kb != NULL);
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < per; i++) {
            double e = 0, mag = 0;
            for (int t = 0; t < (op == 0 ? n : NK); t++) {
                const double x = op == 0 ? 0.5 * q[h * n + t] * kf[i * LD + h * n + t]
                                         : w[h * NK + t] * kf[t * LD + h * n + i];
                e += x;
                mag += fabs(x);
            }
            CHECKF(fabs(out[0][h * per + i] - e) <= 1e-6 * mag + 1e-30, "op %d n %d: %.9g vs %.9g",
                   op, n, out[0][h * per + i], e);
        }
}

/* The attention kernels (battn_case) with bf16 values (bf16 attention) and
** with any fp32 (fp32 attention), head sizes with partial lanes. */
static void test_battn_kernels(void) {
    enum { NK = BA_NK, NH = BA_NH, LD = BA_LD };
    const int sizes[] = {1, 5, 16, 17, 48, 64, 70, 130};
    rng r;
    rng_seed(&r, 3);
    float q[2][LD], w[2][NH * NK], kf[2][NK * LD];
    uint16_t kb[NK * LD];
    for (int i = 0; i < LD; i++) {
        q[1][i] = (float)rng_normal(&r);
        q[0][i] = st_bf16_to_f32(st_f32_to_bf16(q[1][i]));
    }
    for (int i = 0; i < NH * NK; i++) {
        w[1][i] = (float)rng_uniform(&r);
        w[0][i] = st_bf16_to_f32(st_f32_to_bf16(w[1][i]));
    }
    for (int i = 0; i < NK * LD; i++) {
        kf[1][i] = (float)rng_normal(&r);
        kb[i] = st_f32_to_bf16(kf[1][i]);
        kf[0][i] = st_bf16_to_f32(kb[i]);
    }
    for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++)
        for (int op = 0; op < 2; op++)
            for (int any = 0; any < 2; any++)
                battn_case(q[any], w[any], kf[any], any ? NULL : kb, sizes[z], op);
    const int best = kern_battn_set_path(KERN_BATTN_AUTO);
    printf("  bf16 attention kernels: best path %s\n", best == KERN_BATTN_AVX512 ? "avx512"
                                                       : best == KERN_BATTN_AVX2 ? "avx2"
                                                                                 : "portable");
}

/* bf16 generation is autocast's bf16 forward (gpt_model_set_bf16): q, k
** and v rounded after c_attn, the cache in bf16, the weights of the values
** rounded.  A prompt prefilled, then token by token among other
** sequences, gives the bf16 forward's logits at each position to the bit
** (the products add in the same orders), and its cache takes half of
** fp32's bytes. */
static void test_kv_bf16_autocast(void) {
    char err[ERR_LEN];
    gpt_config cfg;
    det_config(&cfg);
    size_t np;
    float *params = random_params(&cfg, 5, &np);
    const int V = cfg.vocab_size, T = 24, P = 9;
    int32_t ids[24], other[24];
    for (int i = 0; i < T; i++) {
        ids[i] = (int32_t)((i * 71 + 3) % V);
        other[i] = (int32_t)((i * 29 + 5) % V);
    }
    gpt_model *m;
    gpt_batch *b;
    gpt_kv *kv, *kv32;
    CHECK(gpt_model_create(&cfg, params, &m, err) == 0);
    CHECK(gpt_model_prepare_generation(m, 0, err) == 0);
    CHECK(gpt_kv_create(m, 2, T, &kv32, err) == 0);
    CHECK(gpt_model_prepare_generation(m, 1, err) == 0);
    CHECK(gpt_kv_create(m, 2, T, &kv, err) == 0);
    CHECK(gpt_kv_bytes(kv) > 0 && 2 * gpt_kv_bytes(kv) == gpt_kv_bytes(kv32));
    int slot = 0, n = P;
    CHECK(gpt_kv_step(kv32, 1, &slot, &n, ids, NULL, err) == -1); /* made for fp32 weights */
    CHECK(strstr(err, "dtype") != NULL);
    gpt_model_set_bf16(m, 1);
    CHECK(gpt_batch_create(m, 1, T, &b, err) == 0);
    float loss;
    CHECK(gpt_forward(b, ids, NULL, 1, T, NULL, &loss, err) == 0);
    const float *ref = gpt_batch_logits(b);
    float *lg = malloc(sizeof(float) * 2 * V);
    int slots[2] = {1, 0}, ntok[2] = {5, P}; /* an unrelated prompt shares the steps */
    int32_t toks[2 * 24];
    memcpy(toks, other, sizeof(int32_t) * 5);
    memcpy(toks + 5, ids, sizeof(int32_t) * P);
    int bad = 0;
    for (int t = P - 1; t < T && !bad; t++) {
        CHECK(gpt_kv_step(kv, 2, slots, ntok, toks, lg, err) == 0);
        bad = memcmp(lg + V, ref + (size_t)t * V, sizeof(float) * V) != 0;
        CHECKF(!bad, "position %d: %.9g vs the bf16 forward's %.9g", t, lg[V], ref[(size_t)t * V]);
        ntok[0] = ntok[1] = 1;
        toks[0] = other[6 + t - P];
        toks[1] = ids[t + 1 < T ? t + 1 : 0];
    }
    free(lg);
    gpt_batch_free(b);
    gpt_kv_free(kv);
    gpt_kv_free(kv32);
    gpt_model_free(m);
    free(params);
}

/* Sequences of rows_run: RS_SEQS of them, each a prompt of rs_plen(q)
** tokens then RS_STEPS - 1 single tokens, token t of sequence q being
** rs_tok(q, t). */
#define RS_SEQS 64
#define RS_STEPS 4
static int rs_plen(int q) {
    return 2 + q * 5 % 9;
}
static int32_t rs_tok(int q, int t, int V) {
    return (int32_t)((q * 131 + t * 17 + 3) % V);
}

/* Run the RS_SEQS sequences in groups of B sharing a cache and its steps,
** sequence j of a group joining at step j % 3 (its prompt is prefilled
** while the others decode, as continuous batching does); out[q][step] gets
** each step's logits row.  gen as in kv_run. */
static void rows_run(gpt_model *m, int B, float *out) {
    char err[ERR_LEN];
    const int V = gpt_model_config(m)->vocab_size;
    int32_t toks[RS_SEQS * 16];
    int slots[RS_SEQS], ntok[RS_SEQS], who[RS_SEQS];
    float *lg = malloc(sizeof(float) * (size_t)B * V);
    for (int g0 = 0; g0 < RS_SEQS; g0 += B) {
        const int n = RS_SEQS - g0 < B ? RS_SEQS - g0 : B;
        gpt_kv *kv;
        CHECK(gpt_kv_create(m, n, 16, &kv, err) == 0);
        for (int s = 0; s < RS_STEPS + 2; s++) {
            int live = 0, nt = 0;
            for (int j = 0; j < n; j++) {
                const int q = g0 + j, k = s - j % 3;
                if (k < 0 || k >= RS_STEPS) continue;
                const int from = k ? rs_plen(q) + k - 1 : 0, len = k ? 1 : rs_plen(q);
                for (int t = 0; t < len; t++)
                    toks[nt++] = rs_tok(q, from + t, V);
                slots[live] = j;
                ntok[live] = len;
                who[live++] = q * RS_STEPS + k;
            }
            if (!live) continue;
            CHECK(gpt_kv_step(kv, live, slots, ntok, toks, lg, err) == 0);
            for (int i = 0; i < live; i++)
                memcpy(out + (size_t)who[i] * V, lg + (size_t)i * V, sizeof(float) * V);
        }
        gpt_kv_free(kv);
    }
    free(lg);
}

/* Continuous batching's premise: a row's logits do not depend on the other
** rows of the step, their number, nor the thread count.  Each sequence
** stepped alone on one thread, then among 7, 33 and 64 (prompts prefilled
** beside other rows' single tokens) on two: the same bits, with the
** weights as they are, prepared in fp32 and in bf16. */
static void test_kv_rows_independent(void) {
    char err[ERR_LEN];
    gpt_config cfg;
    det_config(&cfg);
    size_t np;
    float *params = random_params(&cfg, 5, &np);
    const size_t rows = (size_t)RS_SEQS * RS_STEPS * cfg.vocab_size;
    float *alone = malloc(sizeof(float) * rows), *many = malloc(sizeof(float) * rows);
    for (int gen = -1; gen < 2; gen++) {
        gpt_model *m;
        CHECK(gpt_model_create(&cfg, params, &m, err) == 0);
        if (gen >= 0) CHECK(gpt_model_prepare_generation(m, gen, err) == 0);
        omp_set_num_threads(1);
        rows_run(m, 1, alone);
        omp_set_num_threads(2);
        const int sizes[] = {7, 33, 64};
        for (int b = 0; b < 3; b++) {
            rows_run(m, sizes[b], many);
            int bad = 0;
            for (size_t r = 0; r < rows / cfg.vocab_size; r++)
                bad += memcmp(alone + r * cfg.vocab_size, many + r * cfg.vocab_size,
                              sizeof(float) * cfg.vocab_size) != 0;
            CHECKF(!bad, "gen %d, batch %d: %d of %zu rows differ", gen, sizes[b], bad,
                   rows / cfg.vocab_size);
        }
        gpt_model_free(m);
    }
    free(alone);
    free(many);
    free(params);
}

/* R = (acc ? 0.25 : 0) + op(A) op(B) in double (the reference), and C set
** to what the product starts from (0.25 to accumulate on, or garbage). */
static void ref_product(float *R, float *C, int M, int N, int K, const float *A, int ta,
                        const float *B, int tb, int acc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double v = acc ? 0.25 : 0;
            for (int k = 0; k < K; k++)
                v +=
                    (double)(ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
            R[i * N + j] = (float)v;
            C[i * N + j] = acc ? 0.25f : 99.0f;
        }
}

/* mm_gemv with bf16 B against a double-precision product of the same
** bf16 values (exact widening), every few-rows shape, transposes, acc and
** kernel; the same fp32 tolerance as test_sgemm. */
static void test_gemv_bf16(void) {
    const int shapes[][3] = {{1, 530, 200}, {3, 300, 17}, {8, 530, 144}, {11, 130, 33}};
    rng r;
    rng_seed(&r, 5);
    for (int kind = MM_PORTABLE; kind <= MM_AVX512; kind += MM_AVX512 - MM_PORTABLE) {
        mm_set_kernel(kind);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            float *A = malloc(sizeof(float) * M * K), *C = malloc(sizeof(float) * M * N);
            float *R = malloc(sizeof(float) * M * N);
            uint16_t *B = malloc(sizeof(uint16_t) * K * N);
            float *Bf = malloc(sizeof(float) * K * N); /* the same values, widened */
            for (int i = 0; i < M * K; i++)
                A[i] = rng_uniform(&r) - 0.5f;
            for (int i = 0; i < K * N; i++) {
                B[i] = st_f32_to_bf16(rng_uniform(&r) - 0.5f);
                Bf[i] = st_bf16_to_f32(B[i]);
            }
            for (int tb = 0; tb < 2; tb++)
                for (int acc = 0; acc < 2; acc++) {
                    ref_product(R, C, M, N, K, A, 0, Bf, tb, acc);
                    mm_gemv(M, N, K, A, K, B, tb ? K : N, tb, 1, C, N, acc);
                    double e = abs_err(C, R, (size_t)M * N);
                    CHECKF(e < 1e-5 * sqrt(K) + 1e-6, "%s %dx%dx%d tb %d acc %d: %.3g",
                           mm_kernel_name(), M, N, K, tb, acc, e);
                }
            free(A);
            free(B);
            free(Bf);
            free(C);
            free(R);
        }
    }
    mm_set_kernel(MM_AUTO);
}

/* Generation with bf16 weights against fp32 on the same random model. */
static void test_bf16_logits(void) {
    gpt_config cfg;
    det_config(&cfg);
    const int V = cfg.vocab_size;
    float *k32 = kv_run(&cfg, 0), *k16 = kv_run(&cfg, 1);
    double worst = 0, scale = 0;
    for (int i = 0; i < 8 * V; i++) {
        worst = fmax(worst, fabs((double)k32[i] - k16[i]));
        scale = fmax(scale, fabs((double)k32[i]));
    }
    int checked = 0, same = 0;
    for (int row = 0; row < 8; row++) {
        const float *a = k32 + (size_t)row * V, *b = k16 + (size_t)row * V;
        int i1 = 0, i2 = -1, j1 = 0;
        for (int i = 1; i < V; i++) {
            if (a[i] > a[i1])
                i2 = i1, i1 = i;
            else if (i2 < 0 || a[i] > a[i2])
                i2 = i;
            if (b[i] > b[j1]) j1 = i;
        }
        if (a[i1] - a[i2] > 2 * worst) { /* no error of that size can swap them */
            checked++;
            same += i1 == j1;
        }
    }
    printf("  bf16 vs fp32 logits: max abs err %.3g (max |logit| %.3g); greedy ids checked %d, "
           "equal %d\n",
           worst, scale, checked, same);
    CHECKF(worst < 0.02 * scale, "%.3g", worst);
    CHECK(checked > 0);
    CHECK_EQ_INT(same, checked);
    free(k32);
    free(k16);
}

/* The AVX2 and AVX-512 kernels add in the same order (bit-identical); the
** portable one may round differently (FMA contraction) but agrees to fp32
** accuracy. */
static void test_kernel_paths(void) {
    gpt_config cfg;
    det_config(&cfg);
    size_t np;
    free(random_params(&cfg, 7, &np));
    float l[3][4];
    float *p[3];
    const int kinds[3] = {MM_AVX512, MM_AVX2, MM_PORTABLE};
    for (int k = 0; k < 3; k++) {
        int got = mm_set_kernel(kinds[k]);
        printf("  kernel %s\n", mm_kernel_name());
        (void)got;
        p[k] = train_two_steps(&cfg, 2, 33, l[k]);
    }
    mm_set_kernel(MM_AUTO);
    CHECK(memcmp(p[0], p[1], np * sizeof(float)) == 0);
    size_t off = 0;
    for (size_t i = 0; i < np; i++)
        off += fabsf(p[2][i] - p[0][i]) > 1e-5f;
    printf("  portable vs fast: %zu of %zu params differ by > 1e-5, loss %.7f vs %.7f\n", off, np,
           l[2][1], l[0][1]);
    CHECK(off * 200 < np);
    for (int i = 0; i < 4; i++)
        CHECK_CLOSE(l[2][i], l[0][i], 0, 1e-5);
    for (int k = 0; k < 3; k++)
        free(p[k]);
}

/* mm_sgemm against a naive triple loop for every transpose combination and
** awkward sizes, with every kernel; the last two shapes are tall (threads
** take row tiles), the last cut into column blocks by the pack limit. */
static void test_sgemm(void) {
    const int shapes[][3] = {{1, 1, 1},    {7, 33, 5},     {130, 70, 300},
                             {9, 530, 17}, {300, 40, 140}, {1000, 240, 100}};
    rng r;
    rng_seed(&r, 3);
    for (int pass = 0; pass < 4; pass++) {
        /* the last pass cuts the shared pack into blocks of a few panels */
        int kind = pass == 3 ? MM_AUTO : MM_PORTABLE + pass;
        mm_set_kernel(kind);
        mm_set_pack_limit(pass == 3 ? 20000 : 0);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
            float *C = malloc(sizeof(float) * M * N), *R = malloc(sizeof(float) * M * N);
            for (int i = 0; i < M * K; i++)
                A[i] = rng_uniform(&r) - 0.5f;
            for (int i = 0; i < K * N; i++)
                B[i] = rng_uniform(&r) - 0.5f;
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++)
                    for (int acc = 0; acc < 2; acc++) {
                        ref_product(R, C, M, N, K, A, ta, B, tb, acc);
                        mm_sgemm(M, N, K, A, ta ? M : K, ta, B, tb ? K : N, tb, C, N, acc);
                        double e = abs_err(C, R, (size_t)M * N);
                        CHECKF(e < 1e-5 * sqrt(K) + 1e-6, "%s %dx%dx%d ta %d tb %d acc %d: %.3g",
                               mm_kernel_name(), M, N, K, ta, tb, acc, e);
                    }
            free(A);
            free(B);
            free(C);
            free(R);
        }
    }
    mm_set_kernel(MM_AUTO);
    mm_set_pack_limit(0);
}

/* mm_sgemm_packed_epi with every kernel: a bias gives the bits of C
** filled with copies of it and the product accumulated (whatever acc and
** C held), and post sees every element exactly once, after its sum. */
static void test_sgemm_packed_epilogue(void) {
    const int N = 100, K = 300, Ms[] = {1, 9, 64};
    rng r;
    rng_seed(&r, 11);
    float *A = malloc(sizeof(float) * 64 * K), *B = malloc(sizeof(float) * K * N),
          *bias = malloc(sizeof(float) * N), *C = malloc(sizeof(float) * 64 * N),
          *R = malloc(sizeof(float) * 64 * N);
    unsigned char *hits = malloc((size_t)64 * N);
    for (int i = 0; i < 64 * K; i++)
        A[i] = rng_uniform(&r) - 0.5f;
    for (int i = 0; i < K * N; i++)
        B[i] = rng_uniform(&r) - 0.5f;
    for (int j = 0; j < N; j++)
        bias[j] = rng_uniform(&r) * 4.0f - 2.0f;
    char err[256];
    for (int kind = MM_PORTABLE; kind <= MM_AVX512; kind++) {
        if (mm_set_kernel(kind) != kind) continue;
        mm_packed *p;
        CHECK(mm_pack(N, K, B, N, 0, &p, err) == 0);
        for (size_t m = 0; m < sizeof Ms / sizeof *Ms; m++)
            for (int acc = 0; acc < 2; acc++) {
                const int M = Ms[m];
                for (int i = 0; i < M; i++)
                    memcpy(R + (size_t)i * N, bias, sizeof(float) * N);
                mm_sgemm_packed(M, A, K, p, R, N, 1);
                for (int i = 0; i < M * N; i++) {
                    R[i] = 2.0f * R[i] + 1.0f;
                    C[i] = NAN; /* must not be read */
                }
                memset(hits, 0, (size_t)M * N);
                mm_mark mk = {C, N, hits};
                mm_sgemm_packed_epi(M, A, K, p, C, N, acc, &(mm_epilogue){bias, mm_mark_post, &mk});
                int bad = 0, once = 1;
                for (int i = 0; i < M * N; i++) {
                    bad += memcmp(&C[i], &R[i], sizeof(float)) != 0;
                    once &= hits[i] == 1;
                }
                CHECKF(!bad && once, "%s M %d acc %d: %d differ, posted once: %d", mm_kernel_name(),
                       M, acc, bad, once);
            }
        mm_packed_free(p);
    }
    mm_set_kernel(MM_AUTO);
    free(A), free(B), free(bias), free(C), free(R), free(hits);
}

/* mm_sgemm_packed with enough panels to run several per task (runs of
** consecutive panels, the last one short): every column is computed, to
** the bits of one thread's product, at 1, 2 and 3 threads, on every
** kernel; against a float64 product too. */
static void test_packed_runs(void) {
    const int M = 64, N = 48 * 37 + 5, K = 70;
    rng r;
    rng_seed(&r, 12);
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N),
          *C = malloc(sizeof(float) * M * N), *C1 = malloc(sizeof(float) * M * N);
    for (int i = 0; i < M * K; i++)
        A[i] = rng_uniform(&r) - 0.5f;
    for (int i = 0; i < K * N; i++)
        B[i] = rng_uniform(&r) - 0.5f;
    char err[256];
    for (int kind = MM_PORTABLE; kind <= MM_AVX512; kind++) {
        if (mm_set_kernel(kind) != kind) continue;
        mm_packed *p;
        CHECK(mm_pack(N, K, B, N, 0, &p, err) == 0);
        for (int th = 1; th <= 3; th++) {
            omp_set_num_threads(th);
            for (int i = 0; i < M * N; i++)
                C[i] = NAN;
            mm_sgemm_packed(M, A, K, p, C, N, 0);
            if (th == 1) memcpy(C1, C, sizeof(float) * M * N);
            double worst = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double want = 0;
                    for (int k = 0; k < K; k++)
                        want += (double)A[i * K + k] * B[(size_t)k * N + j];
                    const double e = fabs(C[(size_t)i * N + j] - want);
                    worst = e > worst || e != e ? e : worst;
                }
            CHECKF(worst < 1e-4 && memcmp(C, C1, sizeof(float) * M * N) == 0,
                   "%s at %d threads: off by %g, or not the 1-thread bits", mm_kernel_name(), th,
                   worst);
        }
        mm_packed_free(p);
    }
    omp_set_num_threads(2);
    mm_set_kernel(MM_AUTO);
    free(A), free(B), free(C), free(C1);
}

/* kern_gelu_block, the epilogue's GELU on a strided block in place,
** gives kern_gelu's bits, in both forms. */
static void test_gelu_block(void) {
    const int rows = 5, cols = 37, ld = 50;
    rng r;
    rng_seed(&r, 12);
    float x[5 * 50], y[5 * 50], want[37];
    for (int i = 0; i < rows * ld; i++)
        x[i] = rng_uniform(&r) * 12.0f - 6.0f;
    for (int exact = 0; exact < 2; exact++) {
        memcpy(y, x, sizeof x);
        kern_gelu_block(y + 3, ld, rows, cols, exact);
        for (int i = 0; i < rows; i++) {
            kern_gelu(want, x + i * ld + 3, cols, exact);
            CHECKF(memcmp(y + i * ld + 3, want, sizeof want) == 0, "row %d exact %d", i, exact);
            CHECKF(memcmp(y + i * ld, x + i * ld, 3 * sizeof(float)) == 0 &&
                       memcmp(y + i * ld + 3 + cols, x + i * ld + 3 + cols,
                              (ld - 3 - cols) * sizeof(float)) == 0,
                   "row %d exact %d: outside the block changed", i, exact);
        }
    }
}

/* With dropout, the gradient is the gradient of the dropped-out loss: the
** same rng state gives the same masks, so a central finite difference of
** the loss must match the backward. */
static void test_dropout_gradient(void) {
    char err[ERR_LEN];
    fixture f;
    CHECK(load_fixture("c36", &f) == 0);
    size_t np;
    float *p0 = arr(&f, "params", &np);
    float *params = malloc(np * sizeof(float)), *g = calloc(np, sizeof(float));
    memcpy(params, p0, np * sizeof(float));
    const int32_t *ids = arr(&f, "ids", NULL);
    f.cfg.embd_pdrop = f.cfg.attn_pdrop = f.cfg.resid_pdrop = 0.2f;
    gpt_model *m;
    gpt_batch *b;
    CHECK(gpt_model_create(&f.cfg, params, &m, err) == 0);
    CHECK(gpt_batch_create(m, f.B, f.T, &b, err) == 0);
    rng r0, r;
    rng_seed(&r0, 5);
    r = r0;
    float loss, lp, lm, leval;
    CHECK(gpt_forward(b, ids, ids, f.B, f.T, &r, &loss, err) == 0);
    CHECK(gpt_backward(b, g, err) == 0);
    CHECK(gpt_forward(b, ids, ids, f.B, f.T, NULL, &leval, err) == 0);
    CHECKF(fabsf(loss - leval) > 1e-3f, "dropout changed nothing: %g %g", loss, leval);
    gpt_tensor t[64];
    gpt_layout(&f.cfg, t);
    /* one entry of several tensors: c_attn weight, c_fc bias, wte, ln_1 */
    const size_t probe[] = {t[4].offset + 17, t[11].offset + 5, t[0].offset + 40, t[2].offset + 3,
                            t[1].offset + 7};
    for (size_t i = 0; i < sizeof probe / sizeof *probe; i++) {
        const float h = 1e-2f;
        float keep = params[probe[i]];
        params[probe[i]] = keep + h;
        r = r0;
        CHECK(gpt_forward(b, ids, ids, f.B, f.T, &r, &lp, err) == 0);
        params[probe[i]] = keep - h;
        r = r0;
        CHECK(gpt_forward(b, ids, ids, f.B, f.T, &r, &lm, err) == 0);
        params[probe[i]] = keep;
        double fd = ((double)lp - lm) / (2 * h);
        CHECKF(fabs(fd - g[probe[i]]) < 2e-3 + 2e-2 * fabs(fd), "param %zu: fd %.6g bwd %.6g",
               probe[i], fd, (double)g[probe[i]]);
    }
    gpt_batch_free(b);
    gpt_model_free(m);
    free(params);
    free(g);
    free_fixture(&f);
}

/* Clipping fused into the step (grad_scale) gives the same bytes as
** clip_grad_norm_ in place followed by the step. */
static void test_clip_fused(void) {
    char err[ERR_LEN];
    fixture f;
    CHECK(load_fixture("c36", &f) == 0);
    size_t np;
    const float *p0 = arr(&f, "params", &np), *g0 = arr(&f, "grads", NULL);
    float *p[2], *g = malloc(np * sizeof(float));
    for (int k = 0; k < 2; k++) {
        adamw *opt;
        adamw_hparams hp;
        CHECK(adamw_create(&f.cfg, &opt, err) == 0);
        adamw_defaults(&hp);
        hp.lr = 1e-3f;
        hp.weight_decay = 0.1f;
        p[k] = malloc(np * sizeof(float));
        memcpy(p[k], p0, np * sizeof(float));
        for (int s = 0; s < 3; s++) {
            memcpy(g, g0, np * sizeof(float));
            if (k == 0) {
                CHECK(adamw_clip_grad_norm(g, np, 0.5f) > 0.5f); /* it clips */
            } else {
                hp.grad_scale = adamw_clip_coef(adamw_grad_norm(g, np), 0.5f);
                CHECK(hp.grad_scale < 1.0f);
            }
            adamw_step(opt, p[k], g, &hp);
        }
        CHECK_EQ_INT(opt->step, 3);
        adamw_free(opt);
    }
    CHECK(memcmp(p[0], p[1], np * sizeof(float)) == 0);
    CHECK(adamw_clip_coef(0.25f, 1.0f) == 1.0f);
    CHECK(adamw_clip_coef(3.0f, 0.0f) == 1.0f);
    free(p[0]);
    free(p[1]);
    free(g);
    free_fixture(&f);
}

/* The layout's named indices (gpt_layout.h) name the tensors gpt_layout
** puts there, for every layer. */
static void test_layout_names(void) {
    gpt_config c;
    gpt_config_default(&c);
    c.n_layer = 3;
    gpt_tensor t[2 + 12 * 3 + 2];
    CHECK(gpt_layout_count(&c) == (int)(sizeof t / sizeof t[0]));
    gpt_layout(&c, t);
    CHECK(!strcmp(t[GPT_T_WTE].name, "wte.weight"));
    CHECK(!strcmp(t[GPT_T_WPE].name, "wpe.weight"));
    static const char *const names[GPT_PER_LAYER] = {[GPT_LN1_W] = "ln_1.weight",
                                                     [GPT_LN1_B] = "ln_1.bias",
                                                     [GPT_ATTN_W] = "attn.c_attn.weight",
                                                     [GPT_ATTN_B] = "attn.c_attn.bias",
                                                     [GPT_ATTN_PROJ_W] = "attn.c_proj.weight",
                                                     [GPT_ATTN_PROJ_B] = "attn.c_proj.bias",
                                                     [GPT_LN2_W] = "ln_2.weight",
                                                     [GPT_LN2_B] = "ln_2.bias",
                                                     [GPT_FC_W] = "mlp.c_fc.weight",
                                                     [GPT_FC_B] = "mlp.c_fc.bias",
                                                     [GPT_FC_PROJ_W] = "mlp.c_proj.weight",
                                                     [GPT_FC_PROJ_B] = "mlp.c_proj.bias"};
    for (int l = 0; l < c.n_layer; l++)
        for (int k = 0; k < GPT_PER_LAYER; k++) {
            char want[64];
            snprintf(want, sizeof want, "h.%d.%s", l, names[k]);
            CHECKF(!strcmp(t[GPT_T_LAYER(l, k)].name, want), "%s", want);
        }
    CHECK(!strcmp(t[GPT_T_LNF_W(c.n_layer)].name, "ln_f.weight"));
    CHECK(!strcmp(t[GPT_T_LNF_B(c.n_layer)].name, "ln_f.bias"));
}

/* 1 when fn(arg) dies of an assertion (SIGABRT) in a child process. */
static int aborts(void (*fn)(int), int arg) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        fclose(stderr); /* the assertion's message is expected */
        fn(arg);
        _exit(0);
    }
    int status;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) &&
           WTERMSIG(status) == SIGABRT;
}

/* A product whose stride (which: 0 ldc, 1 lda, 2 ldb) is one short of its
** row's width; M rows >= MM_GEMV_ROWS for mm_sgemm's own path. */
static void short_stride(int which) {
    enum { M = 20, N = 8, K = 8 };
    static float A[M * K], B[K * N], C[M * N];
    mm_sgemm(M, N, K, A, which == 1 ? K - 1 : K, 0, B, which == 2 ? N - 1 : N, 0, C,
             which == 0 ? N - 1 : N, 0);
}

/* mm_gemv with a short stride (as short_stride) and 2 rows. */
static void short_stride_gemv(int which) {
    enum { M = 2, N = 8, K = 8 };
    static float A[M * K], B[K * N], C[M * N];
    mm_gemv(M, N, K, A, which == 1 ? K - 1 : K, B, which == 2 ? N - 1 : N, 0, 0, C,
            which == 0 ? N - 1 : N, 0);
}

/* The products assert that each stride covers its row: a short one would
** read or write the neighbouring rows. */
static void test_matmul_strides(void) {
    for (int which = 0; which < 3; which++) {
        CHECKF(aborts(short_stride, which), "mm_sgemm, stride %d", which);
        CHECKF(aborts(short_stride_gemv, which), "mm_gemv, stride %d", which);
    }
}

int main(void) {
    RUN(test_matmul_strides);
    RUN(test_layout_names);
    RUN(test_sgemm);
    RUN(test_sgemm_packed_epilogue);
    RUN(test_packed_runs);
    RUN(test_gelu_block);
    RUN(test_forward_backward);
    RUN(test_bf16_forward_backward);
    RUN(test_adamw_steps);
    RUN(test_adamw_flat);
    RUN(test_clip_fused);
    RUN(test_kv_cache);
    RUN(test_errors);
    RUN(test_dropout_gradient);
    RUN(test_thread_determinism);
    RUN(test_kernel_paths);
    RUN(test_gemv_bf16);
    RUN(test_kv_batch_invariance_and_copy);
    RUN(test_kv_rows_independent);
    RUN(test_bf16_logits);
    RUN(test_kv_bf16_autocast);
    RUN(test_battn_kernels);
    return TEST_SUMMARY();
}

/*
** GPT-2 forward, backward and KV-cache inference (see gpt.h).
**
** Reading order: parameter access, elementwise kernels (LayerNorm, GELU,
** dropout, matmul with bias), attention, one transformer block's forward
** (shared by training and generation), the training forward and loss, the
** backward, then the KV cache.
**
** Shapes: N rows (tokens), C = n_embd, NH heads of HS = C/NH, V = vocab.
** Matrices are row-major; Conv1D weights are [in, out] as Hugging Face
** stores them, so a linear layer is out[N,OC] = inp[N,IC] @ W[IC,OC] + b.
*/
#include "gpt.h"

#include "err.h"
#include "kernels.h"
#include "matmul.h"
#include "mem.h"
#include "mm_bf16.h"
#include "pool.h"
#include "safetensors.h"

#include <assert.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct gpt_model {
    gpt_config cfg;
    float *params;
    size_t nparams;
    int ntensors;
    gpt_tensor *t;
    int gelu_exact; /* activation "gelu" (erf) instead of the tanh form */
    int bf16;       /* gpt_model_set_bf16: training and scoring's products in bf16 */
    /* weights packed for generation (gpt_model_prepare_generation), or
    ** NULL: each layer's four matrices and the tied lm_head (wte
    ** transposed), matrix i of layer l at gen_pk[GEN_MATS*l + i], the
    ** lm_head at [GEN_MATS*L]; mm_packed (fp32) or mm_bpacked (bf16) */
    void **gen_pk;
    int gen_bf16;
};

/* Matrices per layer in the generation layout (gen_mat). */
#define GEN_MATS 4

/* Pointers to one layer's tensors inside a flat array (params or grads). */
typedef struct layer_w {
    float *ln1w, *ln1b, *qkvw, *qkvb, *projw, *projb, *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
} layer_w;

/* Layer l's tensors inside base (params or grads), in gpt_layer_tensor
** order. */
static layer_w layer_ptrs(const gpt_model *m, float *base, int l) {
    assert(l >= 0 && l < m->cfg.n_layer);
    const gpt_tensor *t = m->t + GPT_T_LAYER(l, 0);
    layer_w w = {base + t[GPT_LN1_W].offset,       base + t[GPT_LN1_B].offset,
                 base + t[GPT_ATTN_W].offset,      base + t[GPT_ATTN_B].offset,
                 base + t[GPT_ATTN_PROJ_W].offset, base + t[GPT_ATTN_PROJ_B].offset,
                 base + t[GPT_LN2_W].offset,       base + t[GPT_LN2_B].offset,
                 base + t[GPT_FC_W].offset,        base + t[GPT_FC_B].offset,
                 base + t[GPT_FC_PROJ_W].offset,   base + t[GPT_FC_PROJ_B].offset};
    return w;
}

/* Tensor idx (GPT_T_WTE, GPT_T_LNF_W(L) ...) inside base. */
static float *tensor_ptr(const gpt_model *m, float *base, int idx) {
    assert(idx >= 0 && idx < m->ntensors);
    return base + m->t[idx].offset;
}

int gpt_model_create(const gpt_config *cfg, float *params, gpt_model **out, char *err) {
    *out = NULL;
    if (gpt_config_check(cfg, err)) return err_prefix(err, "model config");
    gpt_model *m = calloc(1, sizeof *m);
    if (m) m->t = calloc((size_t)gpt_layout_count(cfg), sizeof *m->t);
    if (!m || !m->t) {
        free(m);
        return err_set(err, "model: out of memory");
    }
    m->cfg = *cfg;
    m->params = params;
    m->ntensors = gpt_layout_count(cfg);
    m->nparams = gpt_layout(cfg, m->t);
    m->gelu_exact = strcmp(cfg->activation_function, "gelu") == 0;
    *out = m;
    return 0;
}

/* Drop the generation weights. */
static void gen_drop(gpt_model *m) {
    for (int i = 0; m->gen_pk && i <= GEN_MATS * m->cfg.n_layer; i++)
        if (m->gen_bf16)
            mm_bpacked_free(m->gen_pk[i]);
        else
            mm_packed_free(m->gen_pk[i]);
    free(m->gen_pk);
    m->gen_pk = NULL;
}

void gpt_model_free(gpt_model *m) {
    if (!m) return;
    gen_drop(m);
    free(m->t);
    free(m);
}

/* A layer's matrices in the generation layout, in this order; each [in,
** out]. */
static const gpt_layer_tensor gen_mat[GEN_MATS] = {GPT_ATTN_W, GPT_ATTN_PROJ_W, GPT_FC_W,
                                                   GPT_FC_PROJ_W};

/* Every matrix of every layer, and wte transposed (the lm_head), packed
** for mm_sgemm_packed or, in bf16, mm_bgemm_packed. */
static int gen_pack(gpt_model *m, char *err) {
    const int mats = GEN_MATS * m->cfg.n_layer;
    m->gen_pk = calloc((size_t)mats + 1, sizeof *m->gen_pk);
    if (!m->gen_pk) return err_set(err, "model: out of memory");
    for (int i = 0; i <= mats; i++) {
        const gpt_tensor *g =
            &m->t[i < mats ? GPT_T_LAYER(i / GEN_MATS, gen_mat[i % GEN_MATS]) : GPT_T_WTE];
        const int K = (int)g->shape[i < mats ? 0 : 1], N = (int)g->shape[i < mats ? 1 : 0];
        const int ldb = i < mats ? N : K, tb = i == mats;
        const float *B = m->params + g->offset;
        if (m->gen_bf16 ? mm_bpack(N, K, B, ldb, tb, 0, (mm_bpacked **)&m->gen_pk[i], err)
                        : mm_pack(N, K, B, ldb, tb, (mm_packed **)&m->gen_pk[i], err))
            return err_prefix(err, "model: generation weights");
    }
    return 0;
}

int gpt_model_prepare_generation(gpt_model *m, int bf16, char *err) {
    gen_drop(m);
    m->gen_bf16 = bf16;
    if (gen_pack(m, err)) {
        gen_drop(m);
        return -1;
    }
    return 0;
}

void gpt_model_set_bf16(gpt_model *m, int on) {
    m->bf16 = on != 0;
}

int gpt_model_generation(const gpt_model *m) {
    return m->gen_pk ? m->gen_bf16 : -1;
}

const gpt_config *gpt_model_config(const gpt_model *m) {
    return &m->cfg;
}
size_t gpt_model_nparams(const gpt_model *m) {
    return m->nparams;
}
float *gpt_model_params(const gpt_model *m) {
    return m->params;
}

/* ---------------------------------------------------------------------- */
/* Attention                                                              */

/* Where the keys and values of each query row live.  Row r attends to keys
** s = 0 .. nk[r]-1 stored at element (base[r] + s) * stride of k (v
** likewise): bfloat16 (uint16) when kb is set (a bf16 model's generation
** cache), else fp32.  With kc set, the rows' own keys/values are first
** copied from qkv into the cache (kc/vc, row dst[r]) and read from there. */
typedef struct attn_src {
    const void *k, *v;
    size_t stride;
    const int *base, *nk;
    void *kc, *vc;
    const int *dst;
    int kb;
} attn_src;

/* One attention call's arguments (see attention_forward). */
typedef struct attn_job {
    float *out;
    float *qkv;
    int C, NH, HS, ldp, maxk;
    int hpt; /* generation: heads per pool task */
    float scale, dscale;
    const attn_src *src;
    float *probs;
    const unsigned char *drop;
    int bf16; /* bf16 inputs for both products and bf16 weights of the values (see attend) */
} attn_job;

/* Element i of x (bf16 when xb, else fp32). */
static const void *elem_at(const void *x, int xb, size_t i) {
    return (const char *)x + i * (xb ? sizeof(uint16_t) : sizeof(float));
}

/* Row r, heads [h0, h1): the heads' scores (kern_bscores), their softmax
** in fp32, then the weighted sums of the values (kern_bwsum).  fp32 or,
** with j->bf16, bf16 inputs (q, k and v as autocast's c_attn leaves them)
** and the weights (after dropout) rounded to bf16.  Each head's chain of
** operations is the same whatever h0 and h1.  The scores go to the kept
** probabilities, else to scratch; the weights, when they are not the
** scores themselves (dropout, bf16), to the next (h1 - h0) * maxk floats
** of scratch. */
static void attend(const attn_job *j, int r, int h0, int h1, float *scratch) {
    const attn_src *src = j->src;
    const int C = j->C, NH = j->NH, HS = j->HS, nk = src->nk[r], kb = src->kb, nh = h1 - h0;
    const size_t ps = j->probs ? (size_t)j->ldp : (size_t)j->maxk; /* head to head */
    float *p0 = j->probs ? j->probs + ((size_t)r * NH + h0) * j->ldp : scratch;
    const size_t at = (size_t)src->base[r] * src->stride + (size_t)h0 * HS;
    kern_bscores(p0, ps, j->qkv + (size_t)r * 3 * C + h0 * HS, elem_at(src->k, kb, at), kb,
                 src->stride, nk, nh, HS, j->scale);
    kern_softmax_rows(p0, ps, nh, nk);
    const float *w = p0;
    size_t ws = ps;
    if (j->drop || j->bf16) {
        float *wd = scratch + (size_t)(j->probs ? 0 : nh) * j->maxk;
        const unsigned char *d = j->drop ? j->drop + ((size_t)r * NH + h0) * j->ldp : NULL;
        for (int h = 0; h < nh; h++) {
            float *wh = wd + (size_t)h * j->maxk;
            const float *ph = p0 + h * ps;
            for (int s = 0; s < nk; s++)
                wh[s] = d ? (d[(size_t)h * j->ldp + s] ? ph[s] * j->dscale : 0.0f) : ph[s];
            if (j->bf16) mm_bround_floats(wh, (size_t)nk);
        }
        w = wd;
        ws = (size_t)j->maxk;
    }
    kern_bwsum(j->out + (size_t)r * C + h0 * HS, w, ws, elem_at(src->v, kb, at), kb, src->stride,
               nk, nh, HS);
}

/* Generation: a pool task per row and group of hpt heads (all of them
** unless the rows are too few to share out). */
static void attend_task(void *ctx, int t) {
    const attn_job *j = ctx;
    const int groups = (j->NH + j->hpt - 1) / j->hpt, r = t / groups, h0 = t % groups * j->hpt;
    const int h1 = h0 + j->hpt < j->NH ? h0 + j->hpt : j->NH;
    float scratch[(size_t)2 * j->hpt * j->maxk];
    attend(j, r, h0, h1, scratch);
}

/* Generation: a pool task per row copies the row's own key and value from
** qkv into the cache (src->kc, src->vc at row dst[r]); in bf16 it first
** rounds the row's q, k and v to bf16 (as autocast's c_attn does) and the
** cache keeps the bf16 halves.  All copies end before any row attends,
** since a prompt's rows read each other's keys; spread over the threads,
** so are the page faults of the cache's first touch (fresh huge pages,
** cleared by the kernel: slow on VMs). */
typedef struct kv_put_job {
    float *qkv;
    const attn_src *src;
    int C;
} kv_put_job;

static void kv_put_task(void *ctx, int r) {
    const kv_put_job *j = ctx;
    const size_t C = (size_t)j->C, at = (size_t)j->src->dst[r] * C;
    float *row = j->qkv + (size_t)r * 3 * C;
    if (!j->src->kb) {
        memcpy((float *)j->src->kc + at, row + C, sizeof(float) * C);
        memcpy((float *)j->src->vc + at, row + 2 * C, sizeof(float) * C);
        return;
    }
    mm_bround_floats(row, 3 * C);
    uint16_t *kc = (uint16_t *)j->src->kc + at, *vc = (uint16_t *)j->src->vc + at;
    /* k and v's bits copied out first, so that the loop vectorises: the
    ** cache's cold lines written whole, not 2 bytes at a time */
    uint32_t u[2 * C];
    memcpy(u, row + C, sizeof u);
#pragma omp simd
    for (size_t i = 0; i < C; i++) {
        kc[i] = (uint16_t)(u[i] >> 16); /* exact: the values are bf16 */
        vc[i] = (uint16_t)(u[C + i] >> 16);
    }
}

/* out[N,C] = causal attention of the queries in qkv[N,3C].  probs (may be
** NULL) receives each row's softmax, [N][NH][ldp]; drop (may be NULL) is
** the attention-dropout mask with the same layout, applied after the
** softmax with scale dscale.  With bf16 set, bf16 attention: qkv holds bf16
** values (generation with a bf16 cache, src->kb, rounds them here).
** Generation (src->kc set) runs its many short calls on the thread pool,
** training and scoring on OpenMP. */
static void attention_forward(float *out, float *qkv, int N, int C, int NH, const attn_src *src,
                              float *probs, int ldp, const unsigned char *drop, float dscale,
                              int bf16) {
    assert(!src->kb || (src->kc && bf16));
    if (src->kc) { /* a few hundred KB: no OpenMP team (see ew_job) */
        kv_put_job kj = {qkv, src, C};
        if (N >= 4) /* a decode step of a few rows is a few microseconds */
            pool_for(N, kv_put_task, &kj);
        else
            for (int r = 0; r < N; r++)
                kv_put_task(&kj, r);
    }
    int maxk = 0;
    for (int r = 0; r < N; r++)
        maxk = src->nk[r] > maxk ? src->nk[r] : maxk;
    /* a task per row, or per head when the rows are fewer than 4 a thread */
    const int hpt = N >= 4 * omp_get_max_threads() ? NH : 1;
    const attn_job j = {
        out,    qkv, C,     NH,   C / NH, ldp, maxk, hpt, 1.0f / sqrtf((float)(C / NH)),
        dscale, src, probs, drop, bf16};
    const int par = (size_t)N * maxk * C > KERN_SERIAL_MAX;
    if (src->kc && !probs) {
        const int ntask = N * (NH / hpt);
        if (par)
            pool_for(ntask, attend_task, (void *)&j);
        else
            for (int t = 0; t < ntask; t++)
                attend_task((void *)&j, t);
        return;
    }
#pragma omp parallel if (par)
    {
        float *scratch = malloc(sizeof(float) * 2 * (size_t)maxk);
#pragma omp for schedule(static)
        for (int rh = 0; rh < N * NH; rh++)
            attend(&j, rh / NH, rh % NH, rh % NH + 1, scratch);
        free(scratch);
    }
}

/* ---------------------------------------------------------------------- */
/* One transformer block                                                  */

/* The buffers of one block's forward over N rows.  Training keeps one set
** per layer for the backward; generation reuses one set.  The drop* masks
** are NULL when that dropout is off. */
typedef struct block_act {
    float *ln1, *ln1_mean, *ln1_rstd; /* [N,C], [N], [N] */
    float *qkv;                       /* [N,3C] */
    float *att;                       /* [N,NH,ldp] softmax, or NULL */
    float *atty;                      /* [N,C] attention output before c_proj */
    float *res2;                      /* [N,C] residual after attention */
    float *ln2, *ln2_mean, *ln2_rstd;
    float *fch, *fchg; /* [N,4C] before and after GELU */
    unsigned char *drop_att, *drop_attn_out, *drop_mlp_out;
} block_act;

/* Generation's row-wise kernels run on the thread pool, in chunks of rows
** small enough that each kernel runs serially inside: an OpenMP team keeps
** spinning after its region and takes the core that the pool's next
** product needs (a batch-64 step on 2 cores was 3x slower, unless
** OMP_WAIT_POLICY=passive).  Row r's results do not depend on the chunks. */
enum { EW_LAYERNORM, EW_GELU, EW_RESIDUAL };
typedef struct ew_job {
    int op, N, width; /* N rows of width floats */
    float *out, *mean, *rstd;
    const float *x, *y, *w, *b; /* EW_LAYERNORM: w, b; EW_RESIDUAL: out = x + y */
    float eps;
    int exact;
    int rows; /* per task */
} ew_job;

static void ew_task(void *ctx, int t) {
    const ew_job *j = ctx;
    const int r0 = t * j->rows, n = j->N - r0 < j->rows ? j->N - r0 : j->rows;
    const size_t o = (size_t)r0 * j->width;
    if (j->op == EW_LAYERNORM)
        kern_layernorm(j->out + o, j->mean + r0, j->rstd + r0, j->x + o, j->w, j->b, n, j->width,
                       j->eps);
    else if (j->op == EW_GELU)
        kern_gelu(j->out + o, j->x + o, (size_t)n * j->width, j->exact);
    else
        kern_residual_dropout(j->out + o, j->x + o, j->y + o, NULL, 0.0f, (size_t)n * j->width);
}

/* Run j on the pool when pool is set, else the kernel itself (OpenMP). */
static void ew_run(ew_job j, int pool) {
    if (!pool) {
        j.rows = j.N;
        ew_task(&j, 0);
        return;
    }
    j.rows = KERN_SERIAL_MAX / j.width > 1 ? KERN_SERIAL_MAX / j.width : 1;
    pool_for((j.N + j.rows - 1) / j.rows, ew_task, &j);
}

/* C[M,N] = A[M,K] times generation matrix i (see gpt_model.gen_pk), with
** the epilogue e (NULL: none): the same chain of additions for any M, so
** a row's result does not depend on the rest of the step. */
static void gen_mm(const gpt_model *m, int i, int M, const float *A, int lda, float *C, int ldc,
                   const mm_epilogue *e) {
    if (m->gen_bf16)
        mm_bgemm_packed_epi(M, A, lda, m->gen_pk[i], C, ldc, 0, e);
    else
        mm_sgemm_packed_epi(M, A, lda, m->gen_pk[i], C, ldc, 0, e);
}

/* What a generation product's epilogue (mm_post_fn) applies to the
** blocks of C[., ldc]: GELU (with exact: the erf form), or res (the same
** layout as C) added. */
typedef struct gen_post {
    float *C;
    int ldc;
    const float *res;
    int exact;
} gen_post;

/* c_fc's epilogue: GELU in place, the values of EW_GELU. */
static void post_gelu(void *ctx, int i0, int rows, int j0, int cols) {
    const gen_post *p = ctx;
    kern_gelu_block(p->C + (size_t)i0 * p->ldc + j0, (size_t)p->ldc, rows, cols, p->exact);
}

/* c_proj's epilogue: C = res + C, the residual stream, the sum EW_RESIDUAL
** makes. */
static void post_residual(void *ctx, int i0, int rows, int j0, int cols) {
    const gen_post *p = ctx;
    for (int i = i0; i < i0 + rows; i++) {
        float *c = p->C + (size_t)i * p->ldc + j0;
        const float *r = p->res + (size_t)i * p->ldc + j0;
        for (int j = 0; j < cols; j++)
            c[j] = r[j] + c[j];
    }
}

/* out[N,C] = block l applied to x[N,C] with the generation weights
** (gpt_model_prepare_generation): the values of block_forward, but each
** bias, GELU and residual add runs inside its product's tasks, on the
** block of output they just made, instead of as a pass of its own with a
** barrier. */
static void block_forward_gen(const gpt_model *m, int l, int N, const float *x, float *out,
                              const block_act *a, const attn_src *src) {
    const gpt_config *cfg = &m->cfg;
    const int C = cfg->n_embd, g = GEN_MATS * l; /* matrix g + i: gen_mat[i] */
    const float eps = cfg->layer_norm_epsilon;
    layer_w w = layer_ptrs(m, m->params, l);
    ew_run((ew_job){EW_LAYERNORM, N, C, a->ln1, a->ln1_mean, a->ln1_rstd, x, NULL, w.ln1w, w.ln1b,
                    eps, 0, 0},
           1);
    gen_mm(m, g, N, a->ln1, C, a->qkv, 3 * C, &(mm_epilogue){w.qkvb, NULL, NULL});
    /* bf16 weights: bf16 attention over a bf16 cache (src->kb), q, k and v
    ** rounded as each row's key and value are stored (kv_put_task) */
    attention_forward(a->atty, a->qkv, N, C, cfg->n_head, src, a->att, 0, a->drop_att,
                      1.0f / (1.0f - cfg->attn_pdrop), src->kb);
    gen_post res2 = {a->res2, C, x, 0}, act = {a->fch, 4 * C, NULL, m->gelu_exact},
             res = {out, C, a->res2, 0};
    gen_mm(m, g + 1, N, a->atty, C, a->res2, C, &(mm_epilogue){w.projb, post_residual, &res2});
    ew_run((ew_job){EW_LAYERNORM, N, C, a->ln2, a->ln2_mean, a->ln2_rstd, a->res2, NULL, w.ln2w,
                    w.ln2b, eps, 0, 0},
           1);
    gen_mm(m, g + 2, N, a->ln2, C, a->fch, 4 * C, &(mm_epilogue){w.fcb, post_gelu, &act});
    gen_mm(m, g + 3, N, a->fch, 4 * C, out, C, &(mm_epilogue){w.fcprojb, post_residual, &res});
}

/* out[N,C] = block l applied to x[N,C]; tmp is [N,C] scratch.  gen: use
** the model's generation weights if it has them (block_forward_gen; and
** no bf16 training products: gpt_model_set_bf16 is for gpt_forward). */
static void block_forward(const gpt_model *m, int l, int N, const float *x, float *out,
                          const block_act *a, const attn_src *src, int ldp, float *tmp, int gen) {
    if (gen && m->gen_pk) {
        block_forward_gen(m, l, N, x, out, a, src);
        return;
    }
    const gpt_config *cfg = &m->cfg;
    const int C = cfg->n_embd, NH = cfg->n_head;
    const float eps = cfg->layer_norm_epsilon, rp = cfg->resid_pdrop;
    layer_w w = layer_ptrs(m, m->params, l);
    const int pool = src->kc != NULL;
    ew_run((ew_job){EW_LAYERNORM, N, C, a->ln1, a->ln1_mean, a->ln1_rstd, x, NULL, w.ln1w, w.ln1b,
                    eps, 0, 0},
           pool);
    kern_linear(a->qkv, a->ln1, w.qkvw, w.qkvb, N, C, 3 * C, m->bf16);
    const int bf16 = m->bf16 && !gen;
    /* q, k and v as autocast's c_attn leaves them: the inputs of both
    ** attention products (and of their backward) */
    if (bf16) kern_round_bf16(a->qkv, (size_t)N * 3 * C);
    attention_forward(a->atty, a->qkv, N, C, NH, src, a->att, ldp, a->drop_att,
                      1.0f / (1.0f - cfg->attn_pdrop), bf16);
    kern_linear(tmp, a->atty, w.projw, w.projb, N, C, C, m->bf16);
    if (a->drop_attn_out)
        kern_residual_dropout(a->res2, x, tmp, a->drop_attn_out, rp, (size_t)N * C);
    else
        ew_run((ew_job){EW_RESIDUAL, N, C, a->res2, NULL, NULL, x, tmp, NULL, NULL, 0, 0, 0}, pool);
    ew_run((ew_job){EW_LAYERNORM, N, C, a->ln2, a->ln2_mean, a->ln2_rstd, a->res2, NULL, w.ln2w,
                    w.ln2b, eps, 0, 0},
           pool);
    kern_linear(a->fch, a->ln2, w.fcw, w.fcb, N, C, 4 * C, m->bf16);
    ew_run((ew_job){EW_GELU, N, 4 * C, a->fchg, NULL, NULL, a->fch, NULL, NULL, NULL, 0,
                    m->gelu_exact, 0},
           pool);
    kern_linear(tmp, a->fchg, w.fcprojw, w.fcprojb, N, 4 * C, C, m->bf16);
    if (a->drop_mlp_out)
        kern_residual_dropout(out, a->res2, tmp, a->drop_mlp_out, rp, (size_t)N * C);
    else
        ew_run((ew_job){EW_RESIDUAL, N, C, out, NULL, NULL, a->res2, tmp, NULL, NULL, 0, 0, 0},
               pool);
}

/* x[r] = wte[ids[r]] + wpe[pos[r]]; par: on OpenMP if big (training, not
** generation: see ew_job) */
static void embed(const gpt_model *m, float *x, const int32_t *ids, const int *pos, int N,
                  int par) {
    const int C = m->cfg.n_embd;
    const float *wte = tensor_ptr(m, m->params, GPT_T_WTE),
                *wpe = tensor_ptr(m, m->params, GPT_T_WPE);
#pragma omp parallel for schedule(static) if (par && (size_t)N * C > KERN_SERIAL_MAX)
    for (int r = 0; r < N; r++)
        for (int i = 0; i < C; i++)
            x[(size_t)r * C + i] = wte[(size_t)ids[r] * C + i] + wpe[(size_t)pos[r] * C + i];
}

static int check_ids(const gpt_model *m, const int32_t *ids, size_t n, char *err) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
            return err_set(err, "token id %d at position %zu is outside the vocabulary (%d)",
                           (int)ids[i], i, m->cfg.vocab_size);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Training / scoring batch                                               */

struct gpt_batch {
    gpt_model *m;
    int Bmax, Tmax, B, T;
    block_act *layer; /* n_layer */
    float **res;      /* n_layer+1 residual streams [N,C]; res[0] = embeddings */
    unsigned char *drop_embd;
    float *lnf, *lnf_mean, *lnf_rstd, *logits, *lse;
    int32_t *ids, *targets; /* targets[r]: label scored at row r, or -1 */
    int *pos, *row_base, *row_nk;
    int have_loss, dropout_on, nscored;
    int probs;        /* logits were turned into probabilities (training) */
    int logits_valid; /* gpt_batch_logits has something to show */
    float *tmp;
    /* backward scratch */
    float *dres, *dtmp, *dln, *datty, *dfch, *dqkv;
    void **allocs; /* every buffer, for free: BATCH_BUFS(n_layer) slots */
    int nalloc;
    int cap;
};

/* Buffers gpt_batch_create allocates: at most 16 per layer (a residual
** stream and block_act's 15) and 19 more (the last residual stream and the
** batch's own); a few slots spare. */
#define BATCH_BUFS(L) ((size_t)(L)*16 + 24)

/* An aligned buffer of bytes (mem_big_alloc: the big ones, the logits
** and the MLP's activations, on huge pages; NULL for 0), remembered for
** gpt_batch_free; sets *fail when out of memory. */
static void *balloc(gpt_batch *b, size_t bytes, int *fail) {
    assert(b->nalloc < b->cap);
    void *p = mem_big_alloc(bytes);
    if (bytes && !p) *fail = 1;
    b->allocs[b->nalloc++] = p;
    return p;
}

int gpt_batch_create(gpt_model *m, int B, int T, gpt_batch **out, char *err) {
    *out = NULL;
    const gpt_config *cfg = &m->cfg;
    if (B < 1 || T < 1) return err_set(err, "batch %d x %d: sizes must be positive", B, T);
    if (T > cfg->n_positions)
        return err_set(err, "sequence length %d exceeds n_positions %d", T, cfg->n_positions);
    gpt_batch *b = calloc(1, sizeof *b);
    if (!b) return err_set(err, "batch: out of memory");
    const int L = cfg->n_layer, C = cfg->n_embd, NH = cfg->n_head, V = cfg->vocab_size;
    const size_t N = (size_t)B * T, F = sizeof(float);
    b->m = m;
    b->Bmax = B;
    b->Tmax = T;
    b->cap = (int)BATCH_BUFS(L);
    b->allocs = calloc(BATCH_BUFS(L), sizeof(void *));
    b->layer = calloc((size_t)L, sizeof *b->layer);
    b->res = calloc((size_t)L + 1, sizeof *b->res);
    int fail = !b->allocs || !b->layer || !b->res;
    if (fail) {
        free(b->allocs);
        free(b->layer);
        free(b->res);
        free(b);
        return err_set(err, "batch: out of memory");
    }
    const int drop = cfg->embd_pdrop > 0 || cfg->attn_pdrop > 0 || cfg->resid_pdrop > 0;
    for (int l = 0; l <= L; l++)
        b->res[l] = balloc(b, N * C * F, &fail);
    for (int l = 0; l < L; l++) {
        block_act *a = &b->layer[l];
        a->ln1 = balloc(b, N * C * F, &fail);
        a->ln1_mean = balloc(b, N * F, &fail);
        a->ln1_rstd = balloc(b, N * F, &fail);
        a->qkv = balloc(b, N * 3 * C * F, &fail);
        a->att = balloc(b, N * NH * T * F, &fail);
        a->atty = balloc(b, N * C * F, &fail);
        a->res2 = balloc(b, N * C * F, &fail);
        a->ln2 = balloc(b, N * C * F, &fail);
        a->ln2_mean = balloc(b, N * F, &fail);
        a->ln2_rstd = balloc(b, N * F, &fail);
        a->fch = balloc(b, N * 4 * C * F, &fail);
        a->fchg = balloc(b, N * 4 * C * F, &fail);
        if (drop) {
            a->drop_att = balloc(b, N * NH * T, &fail);
            a->drop_attn_out = balloc(b, N * C, &fail);
            a->drop_mlp_out = balloc(b, N * C, &fail);
        }
    }
    if (drop) b->drop_embd = balloc(b, N * C, &fail);
    b->lnf = balloc(b, N * C * F, &fail);
    b->lnf_mean = balloc(b, N * F, &fail);
    b->lnf_rstd = balloc(b, N * F, &fail);
    b->logits = balloc(b, N * V * F, &fail);
    b->lse = balloc(b, N * F, &fail);
    b->ids = balloc(b, N * sizeof(int32_t), &fail);
    b->targets = balloc(b, N * sizeof(int32_t), &fail);
    b->pos = balloc(b, N * sizeof(int), &fail);
    b->row_base = balloc(b, N * sizeof(int), &fail);
    b->row_nk = balloc(b, N * sizeof(int), &fail);
    b->tmp = balloc(b, N * C * F, &fail);
    b->dres = balloc(b, N * C * F, &fail);
    b->dtmp = balloc(b, N * C * F, &fail);
    b->dln = balloc(b, N * C * F, &fail);
    b->datty = balloc(b, N * C * F, &fail);
    b->dfch = balloc(b, N * 4 * C * F, &fail);
    b->dqkv = balloc(b, N * 3 * C * F, &fail);
    if (fail) {
        gpt_batch_free(b);
        return err_set(err, "batch %d x %d: out of memory", B, T);
    }
    *out = b;
    return 0;
}

void gpt_batch_free(gpt_batch *b) {
    if (!b) return;
    for (int i = 0; i < b->nalloc; i++)
        free(b->allocs[i]);
    free(b->allocs);
    free(b->layer);
    free(b->res);
    free(b);
}

const float *gpt_batch_logits(const gpt_batch *b) {
    return b->logits_valid ? b->logits : NULL;
}

int gpt_batch_draws(const gpt_batch *b) {
    return b->layer[0].drop_att != NULL;
}

/* Fill rows x len keep-masks for dropout with probability p: 1 keeps, 0
** drops (torch's bernoulli(1-p)).  Row r draws from its own stream
** rng_derive(seed, r), so the masks do not depend on the thread count. */
static void draw_mask(unsigned char *mask, int rows, size_t len, float p, uint64_t seed) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        rng g;
        rng_seed(&g, rng_derive(seed, (uint64_t)r));
        rng_keep_mask(&g, mask + (size_t)r * len, len, p);
    }
}

/* Draw every dropout mask of a training forward over N rows and apply the
** embedding's. */
static void draw_masks(gpt_batch *b, rng *dropout, int N) {
    const gpt_config *cfg = &b->m->cfg;
    const int L = cfg->n_layer, C = cfg->n_embd, NH = cfg->n_head, T = b->T;
    /* one draw from the caller's rng per forward; every mask derives
    ** its own stream from it */
    const uint64_t seed = rng_u64(dropout);
    draw_mask(b->drop_embd, N, (size_t)C, cfg->embd_pdrop, rng_derive(seed, 0));
    kern_residual_dropout(b->res[0], NULL, b->res[0], b->drop_embd, cfg->embd_pdrop, (size_t)N * C);
    for (int l = 0; l < L; l++) {
        block_act *a = &b->layer[l];
        const uint64_t k = 1 + 3 * (uint64_t)l;
        /* attention mask over the full T x T square (upper part unused) */
        draw_mask(a->drop_att, N, (size_t)NH * T, cfg->attn_pdrop, rng_derive(seed, k));
        draw_mask(a->drop_attn_out, N, (size_t)C, cfg->resid_pdrop, rng_derive(seed, k + 1));
        draw_mask(a->drop_mlp_out, N, (size_t)C, cfg->resid_pdrop, rng_derive(seed, k + 2));
    }
}

int gpt_forward(gpt_batch *b, const int32_t *ids, const int32_t *labels, int B, int T, rng *dropout,
                float *loss, char *err) {
    gpt_model *m = b->m;
    const gpt_config *cfg = &m->cfg;
    const int L = cfg->n_layer, C = cfg->n_embd, V = cfg->vocab_size;
    if (B < 1 || T < 1 || B > b->Bmax || T > b->Tmax)
        return err_set(err, "batch %d x %d does not fit the %d x %d allocated", B, T, b->Bmax,
                       b->Tmax);
    const int N = B * T;
    if (check_ids(m, ids, (size_t)N, err)) return -1;
    if (labels)
        for (int i = 0; i < N; i++)
            if (labels[i] != GPT_IGNORE_INDEX && (labels[i] < 0 || labels[i] >= V))
                return err_set(err, "label %d at position %d is outside the vocabulary (%d)",
                               (int)labels[i], i, V);
    b->B = B;
    b->T = T;
    b->have_loss = labels != NULL;
    b->probs = 0;
    b->logits_valid = 1;
    b->dropout_on = dropout != NULL && b->layer[0].drop_att != NULL;
    memcpy(b->ids, ids, sizeof(int32_t) * N);
    b->nscored = 0;
    for (int r = 0; r < N; r++) {
        int t = r % T;
        b->pos[r] = t;
        b->row_base[r] = r - t;
        b->row_nk[r] = t + 1;
        int32_t lab = labels && t + 1 < T ? labels[r + 1] : GPT_IGNORE_INDEX;
        b->targets[r] = lab == GPT_IGNORE_INDEX ? -1 : lab;
        b->nscored += lab != GPT_IGNORE_INDEX;
    }
    embed(m, b->res[0], ids, b->pos, N, 1);
    if (b->dropout_on) draw_masks(b, dropout, N);
    for (int l = 0; l < L; l++) {
        block_act a = b->layer[l];
        if (!b->dropout_on) a.drop_att = a.drop_attn_out = a.drop_mlp_out = NULL;
        const float *qkv = a.qkv;
        attn_src src = {
            qkv + C, qkv + 2 * C, (size_t)3 * C, b->row_base, b->row_nk, NULL, NULL, NULL, 0};
        block_forward(m, l, N, b->res[l], b->res[l + 1], &a, &src, T, b->tmp, 0);
    }
    kern_layernorm(b->lnf, b->lnf_mean, b->lnf_rstd, b->res[L],
                   tensor_ptr(m, m->params, GPT_T_LNF_W(L)),
                   tensor_ptr(m, m->params, GPT_T_LNF_B(L)), N, C, cfg->layer_norm_epsilon);
    /* lm_head tied to wte: logits = lnf @ wte^T */
    kern_matmul(m->bf16, N, V, C, b->lnf, C, 0, tensor_ptr(m, m->params, GPT_T_WTE), C, 1,
                b->logits, V, 0);
    if (!labels) {
        if (loss) *loss = 0.0f;
        return 0;
    }
    double total = 0; /* summed in a fixed order */
    if (dropout) {
        /* training: the backward wants probabilities, make them now */
        kern_softmax_nll(b->logits, b->lse, b->targets, N, V);
        b->probs = 1;
        b->logits_valid = 0;
        for (int r = 0; r < N; r++)
            total += b->lse[r];
    } else {
        kern_logsumexp(b->lse, b->logits, N, V);
        for (int r = 0; r < N; r++)
            if (b->targets[r] >= 0) total += b->lse[r] - b->logits[(size_t)r * V + b->targets[r]];
    }
    if (loss) *loss = b->nscored ? (float)(total / b->nscored) : 0.0f;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Backward                                                               */

/* Attention backward for the training layout (row r = b*T + t attends to
** rows b*T .. r).  dqkv is overwritten.  One (sequence, head) per task;
** inside, queries run in order so each dk/dv accumulates in a fixed
** order.  With bf16 set, datty and qkv hold bf16 values and the other
** factors of the products (the weights of v, the scores' gradient) are
** rounded to bf16, as the forward's. */
static void attention_backward(float *dqkv, const float *datty, const float *qkv, const float *att,
                               const unsigned char *drop, float dscale, int B, int T, int C, int NH,
                               int bf16) {
    const int HS = C / NH;
    const float scale = 1.0f / sqrtf((float)HS);
    memset(dqkv, 0, sizeof(float) * (size_t)B * T * 3 * C);
#pragma omp parallel
    {
        float *dp = malloc(sizeof(float) * (size_t)T);
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * NH; bh++) {
            int bb = bh / NH, h = bh % NH;
            for (int t = 0; t < T; t++) {
                size_t r = (size_t)bb * T + t;
                const float *p = att + (r * NH + h) * T;
                const unsigned char *d = drop ? drop + (r * NH + h) * T : NULL;
                const float *dy = datty + r * C + h * HS;
                /* through out = sum_s drop(p)[s] v[s] */
                for (int s = 0; s <= t; s++) {
                    size_t rs = (size_t)bb * T + s;
                    const float *v = qkv + rs * 3 * C + 2 * C + h * HS;
                    float *dv = dqkv + rs * 3 * C + 2 * C + h * HS;
                    float keep = d ? (d[s] ? dscale : 0.0f) : 1.0f;
                    dp[s] = kern_dot(dy, v, HS) * keep;
                    kern_axpy(dv, bf16 ? kern_bf16(p[s] * keep) : p[s] * keep, dy, HS);
                }
                /* through the softmax */
                float sum = 0.0f;
                for (int s = 0; s <= t; s++)
                    sum += p[s] * dp[s];
                const float *q = qkv + r * 3 * C + h * HS;
                float *dq = dqkv + r * 3 * C + h * HS;
                for (int s = 0; s <= t; s++) {
                    size_t rs = (size_t)bb * T + s;
                    float ds = p[s] * (dp[s] - sum) * scale;
                    ds = bf16 ? kern_bf16(ds) : ds;
                    kern_axpy(dq, ds, qkv + rs * 3 * C + C + h * HS, HS);
                    kern_axpy(dqkv + rs * 3 * C + C + h * HS, ds, q, HS);
                }
            }
        }
        free(dp);
    }
}

/* The embeddings' gradients: dwte[ids[r]] += d[r] and dwpe[pos[r]] +=
** d[r] for rows r = 0 .. N-1 in order.  Rows may share a token, so the
** threads split the channels, not the rows: each element is summed by one
** thread in row order, the same bytes whatever the thread count. */
static void embed_backward(float *dwte, float *dwpe, const float *d, const int32_t *ids,
                           const int *pos, int N, int C) {
    enum { CH = 64 }; /* channels per task: a cache line's 16 floats, 4 times */
#pragma omp parallel for schedule(static) if ((size_t)N * C > KERN_SERIAL_MAX)
    for (int c0 = 0; c0 < C; c0 += CH) {
        const int c1 = c0 + CH < C ? c0 + CH : C;
        for (int r = 0; r < N; r++) {
            const float *dr = d + (size_t)r * C;
            float *gt = dwte + (size_t)ids[r] * C, *gp = dwpe + (size_t)pos[r] * C;
            for (int i = c0; i < c1; i++) {
                gt[i] += dr[i];
                gp[i] += dr[i];
            }
        }
    }
}

/* Zero the gradients that gpt_backward adds into (the embeddings' scatter,
** biases, LayerNorm); the matrices' are written whole by their products
** (wte's first, then the embedding adds to it). */
static void zero_added_grads(const gpt_model *m, float *grads) {
    const int n = gpt_layout_count(&m->cfg);
    for (int i = 0; i < n; i++) {
        const int k = (i - GPT_T_LAYERS) % GPT_PER_LAYER;
        const int product =
            i == GPT_T_WTE ||
            (i >= GPT_T_LAYERS && i < GPT_T_LAYER(m->cfg.n_layer, 0) &&
             (k == GPT_ATTN_W || k == GPT_ATTN_PROJ_W || k == GPT_FC_W || k == GPT_FC_PROJ_W));
        if (!product) memset(grads + m->t[i].offset, 0, sizeof(float) * m->t[i].numel);
    }
}

int gpt_backward(gpt_batch *b, float *grads, char *err) {
    gpt_model *m = b->m;
    if (!b->have_loss) return err_set(err, "backward needs a forward with labels");
    const gpt_config *cfg = &m->cfg;
    const int L = cfg->n_layer, C = cfg->n_embd, NH = cfg->n_head, V = cfg->vocab_size;
    const int B = b->B, T = b->T, N = B * T;
    const float rp = cfg->resid_pdrop;
    const int bf = m->bf16;
    float *dwte = tensor_ptr(m, grads, GPT_T_WTE), *dwpe = tensor_ptr(m, grads, GPT_T_WPE);
    const float *wte = tensor_ptr(m, m->params, GPT_T_WTE);

    /* d loss / d logits = (softmax - onehot) / nscored, in place */
    const float scale = b->nscored ? 1.0f / b->nscored : 0.0f;
    if (b->probs)
        kern_softmax_backward(b->logits, b->targets, N, V, scale);
    else
        kern_xent_backward(b->logits, b->lse, b->targets, N, V, scale);
    kern_matmul(m->bf16, N, C, V, b->logits, V, 0, wte, C, 0, b->dln, C, 0);
    zero_added_grads(m, grads);
    kern_matmul(m->bf16, V, C, N, b->logits, V, 1, b->lnf, C, 0, dwte, C, 0);
    memset(b->dres, 0, sizeof(float) * (size_t)N * C);
    kern_layernorm_backward(
        b->dres, tensor_ptr(m, grads, GPT_T_LNF_W(L)), tensor_ptr(m, grads, GPT_T_LNF_B(L)), b->dln,
        b->res[L], tensor_ptr(m, m->params, GPT_T_LNF_W(L)), b->lnf_mean, b->lnf_rstd, N, C);

    for (int l = L - 1; l >= 0; l--) {
        const block_act *a = &b->layer[l];
        layer_w w = layer_ptrs(m, m->params, l), g = layer_ptrs(m, grads, l);
        const unsigned char *dm = b->dropout_on ? a->drop_mlp_out : NULL;
        const unsigned char *da = b->dropout_on ? a->drop_attn_out : NULL;
        const unsigned char *dat = b->dropout_on ? a->drop_att : NULL;
        /* MLP: out = res2 + drop(fchg @ fcprojw + b) */
        kern_dropout_backward(b->dtmp, b->dres, dm, rp, (size_t)N * C);
        kern_linear_backward(b->dfch, g.fcprojw, g.fcprojb, b->dtmp, a->fchg, w.fcprojw, N, 4 * C,
                             C, bf);
        kern_gelu_backward(b->dfch, a->fch, (size_t)N * 4 * C, m->gelu_exact);
        kern_linear_backward(b->dln, g.fcw, g.fcb, b->dfch, a->ln2, w.fcw, N, C, 4 * C, bf);
        kern_layernorm_backward(b->dres, g.ln2w, g.ln2b, b->dln, a->res2, w.ln2w, a->ln2_mean,
                                a->ln2_rstd, N, C);
        /* attention: res2 = x + drop(atty @ projw + b) */
        kern_dropout_backward(b->dtmp, b->dres, da, rp, (size_t)N * C);
        kern_linear_backward(b->datty, g.projw, g.projb, b->dtmp, a->atty, w.projw, N, C, C, bf);
        if (bf) kern_round_bf16(b->datty, (size_t)N * C); /* an input of bf16 products only */
        attention_backward(b->dqkv, b->datty, a->qkv, a->att, dat, 1.0f / (1.0f - cfg->attn_pdrop),
                           B, T, C, NH, bf);
        kern_linear_backward(b->dln, g.qkvw, g.qkvb, b->dqkv, a->ln1, w.qkvw, N, C, 3 * C, bf);
        kern_layernorm_backward(b->dres, g.ln1w, g.ln1b, b->dln, b->res[l], w.ln1w, a->ln1_mean,
                                a->ln1_rstd, N, C);
    }
    /* embeddings: res[0] = drop(wte[ids] + wpe[pos]) */
    kern_dropout_backward(b->dtmp, b->dres, b->dropout_on ? b->drop_embd : NULL, cfg->embd_pdrop,
                          (size_t)N * C);
    embed_backward(dwte, dwpe, b->dtmp, b->ids, b->pos, N, C);
    b->have_loss = b->probs = b->logits_valid = 0; /* the logits are gone */
    return 0;
}

/* ---------------------------------------------------------------------- */
/* KV cache                                                               */

struct gpt_kv {
    gpt_model *m;
    int max_seqs, max_len;
    int *len;
    /* [n_layer][max_seqs][max_len][C]: bf16 (uint16) for a model whose
    ** generation weights are bf16 (autocast's attention inputs), else fp32 */
    void *k, *v;
    int bf16;
    /* per-step buffers, grown to the number of rows, carved from step */
    int cap;
    void *step;
    float *x, *y, *tmp, *lnf;
    block_act a;
    int *pos, *base, *nk, *dst, *last;
};

/* Bytes per cached element. */
static size_t kv_esize(const gpt_kv *kv) {
    return kv->bf16 ? sizeof(uint16_t) : sizeof(float);
}

int gpt_kv_create(gpt_model *m, int max_seqs, int max_len, gpt_kv **out, char *err) {
    *out = NULL;
    const gpt_config *cfg = &m->cfg;
    if (max_seqs < 1 || max_len < 1)
        return err_set(err, "kv cache %d x %d: sizes must be positive", max_seqs, max_len);
    if (max_len > cfg->n_positions)
        return err_set(err, "kv cache length %d exceeds n_positions %d", max_len, cfg->n_positions);
    gpt_kv *kv = calloc(1, sizeof *kv);
    if (!kv) return err_set(err, "kv cache: out of memory");
    kv->m = m;
    kv->max_seqs = max_seqs;
    kv->max_len = max_len;
    kv->bf16 = gpt_model_generation(m) == 1;
    const size_t n = gpt_kv_bytes(kv) / 2; /* of keys, as of values */
    kv->len = calloc((size_t)max_seqs, sizeof(int));
    kv->k = mem_huge_alloc(n);
    kv->v = mem_huge_alloc(n);
    if (!kv->len || !kv->k || !kv->v) {
        gpt_kv_free(kv);
        return err_set(err, "kv cache %d x %d: out of memory (%zu MB)", max_seqs, max_len,
                       2 * n >> 20);
    }
    *out = kv;
    return 0;
}

/* Drop the per-step buffers (one arena: see kv_reserve). */
static void kv_free_step(gpt_kv *kv) {
    free(kv->step);
    kv->step = NULL;
    kv->cap = 0;
    kv->x = kv->y = kv->tmp = kv->lnf = NULL;
    kv->pos = kv->base = kv->nk = kv->dst = kv->last = NULL;
    memset(&kv->a, 0, sizeof kv->a);
}

void gpt_kv_free(gpt_kv *kv) {
    if (!kv) return;
    kv_free_step(kv);
    free(kv->len);
    free(kv->k);
    free(kv->v);
    free(kv);
}

size_t gpt_kv_bytes(const gpt_kv *kv) {
    const gpt_config *cfg = &kv->m->cfg;
    return 2 * (size_t)cfg->n_layer * kv->max_seqs * kv->max_len * cfg->n_embd * kv_esize(kv);
}

void gpt_kv_reset(gpt_kv *kv, int slot) {
    if (slot >= 0 && slot < kv->max_seqs) kv->len[slot] = 0;
}

void gpt_kv_truncate(gpt_kv *kv, int slot, int n) {
    assert(slot >= 0 && slot < kv->max_seqs && n >= 0 && n <= kv->len[slot]);
    kv->len[slot] = n;
}

int gpt_kv_len(const gpt_kv *kv, int slot) {
    return slot >= 0 && slot < kv->max_seqs ? kv->len[slot] : 0;
}

int gpt_kv_copy(gpt_kv *kv, int dst, int src, int n, char *err) {
    if (dst < 0 || dst >= kv->max_seqs || src < 0 || src >= kv->max_seqs || dst == src)
        return err_set(err, "kv copy: slots %d -> %d (cache holds %d)", src, dst, kv->max_seqs);
    if (n < 0 || n > kv->len[src])
        return err_set(err, "kv copy: %d tokens, slot %d holds %d", n, src, kv->len[src]);
    const gpt_config *cfg = &kv->m->cfg;
    const size_t C = (size_t)cfg->n_embd, lstride = (size_t)kv->max_seqs * kv->max_len * C,
                 es = kv_esize(kv);
    for (int l = 0; l < cfg->n_layer; l++) {
        const size_t from = (l * lstride + (size_t)src * kv->max_len * C) * es,
                     to = (l * lstride + (size_t)dst * kv->max_len * C) * es;
        memcpy((char *)kv->k + to, (char *)kv->k + from, es * C * n);
        memcpy((char *)kv->v + to, (char *)kv->v + from, es * C * n);
    }
    kv->len[dst] = n;
    return 0;
}

/* Make the per-step buffers hold n rows: one arena on huge pages, since
** a prompt's step writes tens of MB of fresh memory and a 4 KB page's first
** touch costs as much as ~100 KB of copying (on VMs: 0.37 GB/s against 9
** GB/s with huge pages); a prompt step of 64 prompts spent ~0.1 s there. */
static int kv_reserve(gpt_kv *kv, int n) {
    if (n <= kv->cap) return 0;
    kv_free_step(kv);
    const size_t C = (size_t)kv->m->cfg.n_embd, N = (size_t)n;
    block_act *a = &kv->a;
    float **rows[] = {&kv->x,   &kv->y,  &kv->tmp, &kv->lnf, &a->ln1, &a->atty,
                      &a->res2, &a->ln2, &a->qkv,  &a->fch,  &a->fchg};
    const size_t width[] = {C, C, C, C, C, C, C, C, 3 * C, 4 * C, 4 * C};
    float **stats[] = {&a->ln1_mean, &a->ln1_rstd, &a->ln2_mean, &a->ln2_rstd};
    int **ints[] = {&kv->pos, &kv->base, &kv->nk, &kv->dst, &kv->last};
    const size_t nrows = sizeof rows / sizeof *rows, nstats = sizeof stats / sizeof *stats,
                 nints = sizeof ints / sizeof *ints;
    size_t bytes = 0;
    for (size_t i = 0; i < nrows; i++)
        bytes += mem_round64(N * width[i] * sizeof(float));
    bytes += nstats * mem_round64(N * sizeof(float)) + nints * mem_round64(N * sizeof(int));
    char *p = kv->step = mem_huge_alloc(bytes);
    if (!p) return -1;
    for (size_t i = 0; i < nrows; i++) {
        *rows[i] = (float *)p;
        p += mem_round64(N * width[i] * sizeof(float));
    }
    for (size_t i = 0; i < nstats; i++) {
        *stats[i] = (float *)p;
        p += mem_round64(N * sizeof(float));
    }
    for (size_t i = 0; i < nints; i++) {
        *ints[i] = (int *)p;
        p += mem_round64(N * sizeof(int));
    }
    assert(p == (char *)kv->step + bytes);
    kv->cap = n;
    return 0;
}

int gpt_kv_step(gpt_kv *kv, int nseq, const int *slots, const int *ntok, const int32_t *tokens,
                float *logits, char *err) {
    gpt_model *m = kv->m;
    const gpt_config *cfg = &m->cfg;
    const int L = cfg->n_layer, C = cfg->n_embd, V = cfg->vocab_size;
    if (nseq < 1 || nseq > kv->max_seqs)
        return err_set(err, "kv step: %d sequences (cache holds %d)", nseq, kv->max_seqs);
    int N = 0;
    for (int i = 0; i < nseq; i++) {
        int s = slots[i];
        if (s < 0 || s >= kv->max_seqs)
            return err_set(err, "kv step: slot %d out of range [0, %d)", s, kv->max_seqs);
        for (int j = 0; j < i; j++)
            if (slots[j] == s) return err_set(err, "kv step: slot %d given twice", s);
        if (ntok[i] < 1 || ntok[i] > kv->max_len - kv->len[s])
            return err_set(err, "kv step: slot %d holds %d tokens, %d more exceed the length %d", s,
                           kv->len[s], ntok[i], kv->max_len);
        N += ntok[i];
    }
    if (check_ids(m, tokens, (size_t)N, err)) return err_prefix(err, "kv step");
    if (kv->bf16 != (gpt_model_generation(m) == 1))
        return err_set(err, "kv step: the model's generation weights changed dtype since the "
                            "cache was made");
    if (kv_reserve(kv, N)) return err_set(err, "kv step: out of memory for %d tokens", N);
    for (int i = 0, r = 0; i < nseq; i++) {
        int s = slots[i];
        for (int j = 0; j < ntok[i]; j++, r++) {
            kv->pos[r] = kv->len[s] + j;
            kv->base[r] = s * kv->max_len;
            kv->nk[r] = kv->pos[r] + 1;
            kv->dst[r] = kv->base[r] + kv->pos[r];
        }
        kv->last[i] = r - 1;
    }
    embed(m, kv->x, tokens, kv->pos, N, 0);
    const size_t lstride = (size_t)kv->max_seqs * kv->max_len * C * kv_esize(kv);
    for (int l = 0; l < L; l++) {
        char *k = (char *)kv->k + l * lstride, *v = (char *)kv->v + l * lstride;
        attn_src src = {k, v, (size_t)C, kv->base, kv->nk, k, v, kv->dst, kv->bf16};
        block_forward(m, l, N, kv->x, kv->y, &kv->a, &src, 0, kv->tmp, 1);
        float *t = kv->x;
        kv->x = kv->y;
        kv->y = t;
    }
    /* final LayerNorm and lm_head for the last row of each sequence only */
    for (int i = 0; i < nseq; i++)
        memcpy(kv->y + (size_t)i * C, kv->x + (size_t)kv->last[i] * C, sizeof(float) * C);
    ew_run((ew_job){EW_LAYERNORM, nseq, C, kv->lnf, kv->a.ln1_mean, kv->a.ln1_rstd, kv->y, NULL,
                    tensor_ptr(m, m->params, GPT_T_LNF_W(L)),
                    tensor_ptr(m, m->params, GPT_T_LNF_B(L)), cfg->layer_norm_epsilon, 0, 0},
           1);
    /* not mm_sgemm, whose path depends on nseq: a row's logits must not
    ** depend on how many sequences share the step */
    if (m->gen_pk)
        gen_mm(m, GEN_MATS * L, nseq, kv->lnf, C, logits, V, NULL);
    else
        mm_gemv(nseq, V, C, kv->lnf, C, tensor_ptr(m, m->params, GPT_T_WTE), C, 1, 0, logits, V, 0);
    for (int i = 0; i < nseq; i++)
        kv->len[slots[i]] += ntok[i];
    return 0;
}

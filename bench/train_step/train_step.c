/*
** bench/train_step: tokens/s of one training step (forward with dropout,
** backward, gradient clipping, AdamW) of a GPT-2 model.
**
** Usage: train_step [--bf16] THREADS [STEPS [B T [n_layer n_head n_embd vocab]]]
** --bf16: mixed precision (gpt_model_set_bf16, quill train --bf16).
** Defaults: distilgpt2's shape (6 layers, 12 heads, 768 wide, vocabulary
** 50257, 1024 positions) at batch 8 x 64, 5 timed steps after one warm-up.
** Prints one line: "quill threads=N tokens_per_s=X step_s=Y best_s=.. cpu_s=..
** gflops=Z kernel=K precision=P loss=..." (cpu_s: process CPU seconds per
** step).
*/
#include "adamw.h"
#include "err.h"
#include "gpt.h"
#include "matmul.h"
#include "mem.h"
#include "mm_bf16.h"

#include <omp.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CPU time of the process (all threads), which other jobs on the machine
** do not inflate as much as the wall clock. */
static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    char err[ERR_LEN];
    const int bf16 = argc > 1 && !strcmp(argv[1], "--bf16");
    argc -= bf16, argv += bf16;
    int threads = argc > 1 ? atoi(argv[1]) : 1, steps = argc > 2 ? atoi(argv[2]) : 5;
    int B = argc > 4 ? atoi(argv[3]) : 8, T = argc > 4 ? atoi(argv[4]) : 64;
    gpt_config cfg;
    gpt_config_default(&cfg);
    cfg.n_layer = 6;
    if (argc > 8) {
        cfg.n_layer = atoi(argv[5]);
        cfg.n_head = atoi(argv[6]);
        cfg.n_embd = atoi(argv[7]);
        cfg.vocab_size = atoi(argv[8]);
    }
    omp_set_num_threads(threads);
    gpt_tensor *t = malloc(sizeof(gpt_tensor) * (size_t)gpt_layout_count(&cfg));
    size_t n = gpt_layout(&cfg, t);
    float *params = mem_huge_alloc(n * sizeof(float)), *grads = mem_huge_alloc(n * sizeof(float));
    rng r;
    rng_seed(&r, 1);
    for (size_t i = 0; i < n; i++)
        params[i] = 0.04f * (rng_uniform(&r) - 0.5f); /* init cost is not timed */
    int32_t *ids = malloc(sizeof(int32_t) * B * T);
    for (int i = 0; i < B * T; i++)
        ids[i] = (int32_t)rng_below(&r, (uint64_t)cfg.vocab_size);
    gpt_model *m;
    gpt_batch *b;
    adamw *opt;
    if (gpt_model_create(&cfg, params, &m, err) || gpt_batch_create(m, B, T, &b, err) ||
        adamw_create(&cfg, &opt, err)) {
        fprintf(stderr, "train_step: %s\n", err);
        return 1;
    }
    gpt_model_set_bf16(m, bf16);
    adamw_hparams hp;
    adamw_defaults(&hp);
    double best = 1e30, total = 0, cpu_total = 0;
    float loss = 0;
    for (int s = 0; s <= steps; s++) {
        double t0 = omp_get_wtime(), c0 = cpu_seconds();
        if (gpt_forward(b, ids, ids, B, T, &r, &loss, err) || gpt_backward(b, grads, err)) {
            fprintf(stderr, "train_step: %s\n", err);
            return 1;
        }
        hp.grad_scale = adamw_clip_coef(adamw_grad_norm(grads, n), 1.0f); /* clip, fused */
        adamw_step(opt, params, grads, &hp);
        double dt = omp_get_wtime() - t0, dc = cpu_seconds() - c0;
        if (s == 0) continue; /* warm-up */
        total += dt;
        cpu_total += dc;
        best = dt < best ? dt : best;
    }
    double mean = total / steps;
    /* matmul flops: 6 per parameter per token (tied lm_head counted once
    ** more for the output projection) + attention */
    size_t nmat = n - (size_t)cfg.n_positions * cfg.n_embd;
    double flops = 6.0 * (double)nmat * B * T + 12.0 * cfg.n_layer * (double)B * T * T *
                                                    cfg.n_embd; /* QK^T and AV, causal ~1/2 */
    printf("quill threads=%d tokens_per_s=%.1f step_s=%.4f best_s=%.4f cpu_s=%.4f gflops=%.1f "
           "kernel=%s precision=%s loss=%.4f\n",
           threads, B * T / mean, mean, best, cpu_total / steps, flops / mean / 1e9,
           bf16 ? mm_bkernel_name() : mm_kernel_name(), bf16 ? "bf16" : "fp32", loss);
    adamw_free(opt);
    gpt_batch_free(b);
    gpt_model_free(m);
    free(params);
    free(grads);
    free(ids);
    free(t);
    return 0;
}

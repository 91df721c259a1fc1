/*
** bench/decode_step/step: the decode step alone (gpt_kv_step, no
** tokenizer, no sampling), distilgpt2 shape with random weights prepared
** for generation, a batch of sequences after a 7-token prefill.
** Usage: step BATCH BF16 STEPS ROUNDS; prints
** "step batch=B dtype=D cpu_ms=X wall_ms=Y gflops=Z": the best round's
** process CPU and wall time per step, and the matmuls' GFLOP/s by wall.
*/
#include "../random_model.h"
#include "gpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* seconds on the given clock */
static double seconds(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: step BATCH BF16 STEPS ROUNDS\n");
        return 2;
    }
    const int B = atoi(argv[1]), bf16 = atoi(argv[2]), steps = atoi(argv[3]),
              rounds = atoi(argv[4]), P = 7;
    gpt_config cfg;
    gpt_config_default(&cfg);
    cfg.n_layer = 6;
    char err[512];
    gpt_model *m = random_model(&cfg, bf16);
    gpt_kv *kv;
    if (!m || gpt_kv_create(m, B, P + steps * rounds, &kv, err)) return 1;
    int *slots = malloc(sizeof(int) * B), *ntok = malloc(sizeof(int) * B);
    int32_t *tok = malloc(sizeof(int32_t) * B * P);
    float *logits = malloc(sizeof(float) * B * cfg.vocab_size);
    for (int i = 0; i < B; i++)
        slots[i] = i, ntok[i] = P;
    for (int i = 0; i < B * P; i++)
        tok[i] = rand() % cfg.vocab_size;
    if (gpt_kv_step(kv, B, slots, ntok, tok, logits, err)) return fprintf(stderr, "%s\n", err), 1;
    double best_cpu = 1e9, best_wall = 1e9;
    for (int r = 0; r < rounds; r++) {
        const double c0 = seconds(CLOCK_PROCESS_CPUTIME_ID), w0 = seconds(CLOCK_MONOTONIC);
        for (int s = 0; s < steps; s++) {
            for (int i = 0; i < B; i++)
                ntok[i] = 1, tok[i] = rand() % cfg.vocab_size;
            if (gpt_kv_step(kv, B, slots, ntok, tok, logits, err))
                return fprintf(stderr, "%s\n", err), 1;
        }
        const double c = (seconds(CLOCK_PROCESS_CPUTIME_ID) - c0) / steps,
                     w = (seconds(CLOCK_MONOTONIC) - w0) / steps;
        best_cpu = c < best_cpu ? c : best_cpu;
        best_wall = w < best_wall ? w : best_wall;
    }
    const double C = cfg.n_embd,
                 flops = 2.0 * B * (cfg.n_layer * 12.0 * C * C + (double)cfg.vocab_size * C);
    printf("step batch=%d dtype=%s cpu_ms=%.2f wall_ms=%.2f gflops=%.1f\n", B,
           bf16 ? "bf16" : "fp32", 1e3 * best_cpu, 1e3 * best_wall, flops / best_wall * 1e-9);
    return 0;
}

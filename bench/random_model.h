/*
** The benchmarks' model: cfg's shape with small random weights (rand(),
** so the same on every run), prepared for generation in fp32 or bf16; NULL
** after printing why.  Included by one bench program each (static).
*/
#ifndef QUILL_BENCH_RANDOM_MODEL_H
#define QUILL_BENCH_RANDOM_MODEL_H

#include "gpt.h"

#include <stdio.h>
#include <stdlib.h>

static gpt_model *random_model(const gpt_config *cfg, int bf16) {
    char err[512];
    gpt_tensor *t = malloc(sizeof *t * (size_t)gpt_layout_count(cfg));
    const size_t n = gpt_layout(cfg, t);
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = ((float)rand() / RAND_MAX - 0.5f) * 0.04f;
    free(t);
    gpt_model *m;
    if (gpt_model_create(cfg, p, &m, err) || gpt_model_prepare_generation(m, bf16, err)) {
        fprintf(stderr, "bench: %s\n", err);
        return NULL;
    }
    return m;
}

#endif

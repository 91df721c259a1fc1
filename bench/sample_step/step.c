/*
** bench/sample_step/step: one generation step's sampling alone, as
** core/gen.c runs it (samp_seq_step on each row, the rows on the thread
** pool), after each decode step of a distilgpt2-shape model with random
** weights (so the logits come from the forward, as in generation).  The
** bundled GPT-2 tokenizer's bytes (the UTF-8 masks); sampling top_k 50;
** optionally a lipogram ("e") and banned words.
** Usage: step BATCH STEPS ROUNDS CONS; prints "sample batch=B cons=C
** cpu_ms=X wall_ms=Y": the best round's process CPU and wall time per step
** of the sampling only.
*/
#include "../random_model.h"
#include "gpt.h"
#include "pool.h"
#include "sample.h"
#include "tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct job {
    const samp_params *p;
    cons *c;
    const samp_vocab *sv;
    samp_seq *seqs;
    samp_work *works;
    float *logits;
    int V;
} job;

static void task(void *ctx, int i) {
    const job *j = ctx;
    samp_seq_step(j->p, j->c, j->sv, &j->seqs[i], j->logits + (size_t)i * j->V, &j->works[i]);
}

static double seconds(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 5) return fprintf(stderr, "usage: step BATCH STEPS ROUNDS CONS\n"), 2;
    const int B = atoi(argv[1]), steps = atoi(argv[2]), rounds = atoi(argv[3]),
              with_cons = atoi(argv[4]);
    char err[512];
    gpt_config cfg;
    gpt_config_default(&cfg);
    cfg.n_layer = 6;
    const int V = cfg.vocab_size;
    tok *t;
    gpt_model *m = random_model(&cfg, 0);
    gpt_kv *kv;
    if (!m || tok_load("models/gpt2", &t, err) || gpt_kv_create(m, B, 2 + steps * rounds, &kv, err))
        return fprintf(stderr, "step: %s\n", err), 1;
    const unsigned char **tb = malloc(sizeof *tb * (size_t)V);
    size_t *tl = malloc(sizeof *tl * (size_t)V);
    for (int i = 0; i < V; i++)
        tb[i] = tok_token_bytes(t, i, &tl[i]);
    cons_vocab cv = {V, tb, tl, 50256};
    const char *words[] = {"the", "and", "of", "to", "in", "that", "was", "he", "it", "his"};
    cons_opts co = {words, 10, 0, 0, "e", 0};
    samp_vocab sv;
    cons *c = NULL;
    samp_params p;
    samp_defaults(&p);
    p.max_new_tokens = steps * rounds + 1;
    p.ignore_eos = 1;
    samp_seq *seqs = calloc((size_t)B, sizeof *seqs);
    samp_work *works = calloc((size_t)B, sizeof *works);
    if (samp_vocab_init(&sv, &cv, err) || (with_cons && cons_new(&sv.v, &co, &c, err)))
        return fprintf(stderr, "step: %s\n", err), 1;
    int *slots = malloc(sizeof(int) * B), *ntok = malloc(sizeof(int) * B);
    int32_t *tok_in = malloc(sizeof(int32_t) * B);
    float *logits = malloc(sizeof(float) * B * (size_t)V);
    for (int i = 0; i < B; i++) {
        int32_t prompt = 464 + i; /* a one-token prompt each */
        slots[i] = i, ntok[i] = 1, tok_in[i] = prompt;
        if (samp_work_init(&works[i], V, err) ||
            samp_seq_init(&seqs[i], &p, &prompt, 1, "", 0, c, (uint64_t)i, err))
            return fprintf(stderr, "step: %s\n", err), 1;
    }
    job j = {&p, c, &sv, seqs, works, logits, V};
    double best_cpu = 1e9, best_wall = 1e9;
    for (int r = 0; r < rounds; r++) {
        double cpu = 0, wall = 0;
        for (int s = 0; s < steps; s++) {
            if (gpt_kv_step(kv, B, slots, ntok, tok_in, logits, err))
                return fprintf(stderr, "step: %s\n", err), 1;
            const double c0 = seconds(CLOCK_PROCESS_CPUTIME_ID), w0 = seconds(CLOCK_MONOTONIC);
            pool_for(B, task, &j);
            cpu += seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
            wall += seconds(CLOCK_MONOTONIC) - w0;
            for (int i = 0; i < B; i++)
                tok_in[i] = seqs[i].ids[seqs[i].n - 1];
        }
        best_cpu = cpu / steps < best_cpu ? cpu / steps : best_cpu;
        best_wall = wall / steps < best_wall ? wall / steps : best_wall;
    }
    printf("sample batch=%d cons=%d cpu_ms=%.3f wall_ms=%.3f\n", B, with_cons, 1e3 * best_cpu,
           1e3 * best_wall);
    return 0;
}

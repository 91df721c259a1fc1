/*
** bench/kvattn: the attention products of one batch-64 decode step at
** distilgpt2's shape (6 layers, 12 heads of 64, 64 sequences of 57 cached
** tokens, every cached token attended), over a cache far bigger than the
** caches: fp32 generation's kern_bscores and kern_bwsum over an fp32 cache,
** the per-key loops it used before (kern_dot per key and head, kern_axpy
** per value and head: e4258e5's attend), and bf16 generation's kernels
** over a bf16 cache (each path the CPU has).
** One thread, process CPU time per step.  Prints "name|ms_per_step" lines.
*/
#include "kernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROWS = 64, NH = 12, HS = 64, C = NH * HS, NK = 57, L = 6 };

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* One step's products over the cache: fp32 (kf, vf) by the kernels, or
** by the per-key loops with loops set; else bf16 (kb, vb). */
static float step(const float *kf, const float *vf, const uint16_t *kb, const uint16_t *vb,
                  int loops) {
    float q[C], o[C], p[NH * NK], sink = 0;
    for (int i = 0; i < C; i++)
        q[i] = 0.01f * (float)(i % 13);
    for (int l = 0; l < L; l++)
        for (int r = 0; r < ROWS; r++) {
            const size_t at = ((size_t)l * ROWS + r) * NK * C;
            if (loops) {
                for (int s = 0; s < NK; s++)
                    for (int h = 0; h < NH; h++)
                        p[h * NK + s] = kern_dot(q + h * HS, kf + at + (size_t)s * C + h * HS, HS);
                memset(o, 0, sizeof o);
                for (int s = 0; s < NK; s++)
                    for (int h = 0; h < NH; h++)
                        kern_axpy(o + h * HS, p[h * NK + s] * 1e-3f,
                                  vf + at + (size_t)s * C + h * HS, HS);
            } else {
                const int b = kf == NULL;
                kern_bscores(p, NK, q, b ? (const void *)(kb + at) : kf + at, b, C, NK, NH, HS,
                             1e-3f);
                kern_bwsum(o, p, NK, b ? (const void *)(vb + at) : vf + at, b, C, NK, NH, HS);
            }
            sink += o[r] + p[r];
        }
    return sink;
}

/* Variant v's step (see main's names). */
static float run(int v, const float *kf, const float *vf, const uint16_t *kb, const uint16_t *vb) {
    return v < 2 ? step(kf, vf, NULL, NULL, v) : step(NULL, NULL, kb, vb, 0);
}

int main(int argc, char **argv) {
    const double secs = argc > 1 ? atof(argv[1]) : 1.0;
    const size_t n = (size_t)L * ROWS * NK * C;
    float *kf = malloc(n * 4), *vf = malloc(n * 4);
    uint16_t *kb = malloc(n * 2), *vb = malloc(n * 2);
    if (!kf || !vf || !kb || !vb) return 1;
    for (size_t i = 0; i < n; i++) {
        kf[i] = vf[i] = 0.01f * (float)(i % 7);
        kb[i] = vb[i] = (uint16_t)(0x3c00 + i % 64);
    }
    float sink = 0;
    /* fp32 on the best path; bf16 on each */
    const int path[] = {KERN_BATTN_AUTO, KERN_BATTN_AUTO, KERN_BATTN_AVX512, KERN_BATTN_AVX2,
                        KERN_BATTN_PORTABLE};
    const char *name[] = {"fp32", "fp32 per-key loops (e4258e5)", "bf16 avx512", "bf16 avx2",
                          "bf16 portable"};
    for (int v = 0; v < 5; v++) {
        if (kern_battn_set_path(path[v]) != path[v] && path[v]) continue; /* the CPU lacks it */
        sink += run(v, kf, vf, kb, vb);                                   /* warm */
        int it = 0;
        const double t0 = cpu_now();
        double t;
        do {
            sink += run(v, kf, vf, kb, vb);
            it++;
        } while ((t = cpu_now() - t0) < secs);
        printf("%s|%.3f\n", name[v], 1e3 * t / it);
    }
    fprintf(stderr, "(%g)\n", sink);
    return 0;
}

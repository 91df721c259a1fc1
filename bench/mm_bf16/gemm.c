/*
** bench/mm_bf16/gemm: GFLOP/s of mm_bgemm on each path (and of mm_sgemm
** for comparison) for the training step's products (distilgpt2 at batch
** 8 x 64: 512 rows, 768 wide, MLP 3072; the lm_head's three products,
** vocabulary 50257, on the best path only) and a decode step at batch 64
** with prepacked weights, by process CPU time over repeated calls.
** Usage: gemm [SECONDS_PER_CASE]; one line per case and path:
** "gemm case=NAME path=P gflops=X".
*/
#include "matmul.h"
#include "mm_bf16.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct shape {
    const char *name;
    int M, N, K, ta, tb;
    int best_only; /* the best bf16 path only (the lm_head's: seconds per call elsewhere) */
} shape;

static float *rand_floats(size_t n) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)rand() / RAND_MAX - 0.5f;
    return x;
}

/* path 0: mm_sgemm; -1: mm_bgemm_packed on the best path; else mm_bgemm */
static double run(const shape *s, int path, double secs) {
    float *A = rand_floats((size_t)s->M * s->K), *B = rand_floats((size_t)s->K * s->N),
          *C = rand_floats((size_t)s->M * s->N);
    mm_bpacked *p = NULL;
    char err[512];
    if (path < 0 && mm_bpack(s->N, s->K, B, s->tb ? s->K : s->N, s->tb, 0, &p, err)) return 0;
    const int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    long n = 0;
    const double t0 = cpu_seconds();
    double t;
    do {
        if (path == 0)
            mm_sgemm(s->M, s->N, s->K, A, lda, s->ta, B, ldb, s->tb, C, s->N, 0);
        else if (path < 0)
            mm_bgemm_packed(s->M, A, s->K, p, C, s->N, 0);
        else
            mm_bgemm(s->M, s->N, s->K, A, lda, s->ta, B, ldb, s->tb, C, s->N, 0);
        n++;
    } while ((t = cpu_seconds() - t0) < secs);
    mm_bpacked_free(p);
    free(A), free(B), free(C);
    return 2.0 * s->M * s->N * s->K * n / t * 1e-9;
}

int main(int argc, char **argv) {
    const double secs = argc > 1 ? atof(argv[1]) : 1.0;
    static const shape shapes[] = {
        {"qkv_fwd_512x2304x768", 512, 2304, 768, 0, 0, 0},
        {"mlp_down_512x768x3072", 512, 768, 3072, 0, 0, 0},
        {"dW_768x3072x512_ta", 768, 3072, 512, 1, 0, 0},
        {"dX_512x768x3072_tb", 512, 768, 3072, 0, 1, 0},
        {"decode64_64x3072x768", 64, 3072, 768, 0, 0, 0},
        {"lm_fwd_512x50257x768_tb", 512, 50257, 768, 0, 1, 1},
        {"lm_dX_512x768x50257", 512, 768, 50257, 0, 0, 1},
        {"lm_dW_50257x768x512_ta", 50257, 768, 512, 1, 0, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        printf("gemm case=%s path=sgemm-%s gflops=%.1f\n", s->name, mm_kernel_name(),
               run(s, 0, secs));
        for (int path = MB_BF16; path >= MB_PORTABLE; path--) {
            if (mm_bset_kernel(path) != path || (s->best_only && path != MB_BF16)) continue;
            printf("gemm case=%s path=%s gflops=%.1f\n", s->name, mm_bkernel_name(),
                   run(s, path, secs));
        }
        mm_bset_kernel(MB_AUTO);
        if (!s->best_only)
            printf("gemm case=%s path=packed-%s gflops=%.1f\n", s->name, mm_bkernel_name(),
                   run(s, -1, secs));
        fflush(stdout);
    }
    return 0;
}

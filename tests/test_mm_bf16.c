/*
** core/mm_bf16.h: rounding to bf16, every path (vdpbf16ps, AVX-512F,
** AVX2, portable) giving the bits of the documented chain (a scalar
** reference here, under MXCSR DAZ|FTZ) on random and adversarial inputs
** (odd K, K = 1, ragged edges, transposes, acc, denormals, overflow, inf
** and NaN), results that do not depend on M, the other rows or the thread
** count (op(B) packed whole or tile by tile), the packed operand matching
** the unpacked one, and the error
** against a float64 product staying within the fp32 accumulation bound.
*/
#include "mm_bf16.h"
#include "mm_post.h"
#include "test.h"

#include <float.h>
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t rng_s = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    rng_s ^= rng_s << 13, rng_s ^= rng_s >> 7, rng_s ^= rng_s << 17;
    return rng_s;
}
static float uni(void) { /* [-1, 1) */
    return (float)((double)(rnd() >> 11) / 4503599627370496.0 - 1.0);
}
static float f_of(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}
static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}
static float bf(float x) {
    return f_of((uint32_t)mm_bround(x) << 16);
}

/* An adversarial value: denormals, tiny and huge magnitudes whose products
** underflow or overflow, zeros of both signs, inf, NaN, ordinary values. */
static float nasty(int with_special) {
    switch (rnd() % (with_special ? 10 : 8)) {
    case 0:
        return f_of((uint32_t)(rnd() & 0x807fffffu)); /* denormal or zero */
    case 1:
        return uni() * 1e-20f; /* products underflow */
    case 2:
        return uni() * 1.1e-19f; /* products near FLT_MIN */
    case 3:
        return uni() * 1e19f; /* products overflow */
    case 4:
        return (rnd() & 1) ? -0.0f : 0.0f;
    case 5:
        return uni() * 3.4e38f;
    case 8:
        return (rnd() & 1) ? INFINITY : -INFINITY;
    case 9:
        return NAN;
    default:
        return uni();
    }
}

/* The documented chain for one element, computed plainly. */
static float ref_elem(int K, const float *A, int lda, int ta, const float *B, int ldb, int tb,
                      float c0, int acc, int i, int j) {
    float c = acc ? c0 : 0.0f;
    for (int p = 0; p < (K + 1) / 2; p++)
        for (int h = 1; h >= 0; h--) {
            const int k = 2 * p + h;
            const float a = k < K ? bf(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) : 0;
            const float b = k < K ? bf(tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]) : 0;
            c = fmaf(a, b, c);
        }
    return c;
}

static void ref_gemm(int M, int N, int K, const float *A, int lda, int ta, const float *B, int ldb,
                     int tb, float *C, int ldc, int acc) {
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* DAZ | FTZ: the instruction's denormal handling */
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[(size_t)i * ldc + j] =
                ref_elem(K, A, lda, ta, B, ldb, tb, C[(size_t)i * ldc + j], acc, i, j);
    _mm_setcsr(csr);
}

/* Same bits, or both NaN (a NaN's payload and sign may differ). */
static int same(float x, float y) {
    return bits(x) == bits(y) || (isnan(x) && isnan(y));
}

static int count_diff(int M, int N, const float *X, const float *Y, int ld) {
    int d = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            d += !same(X[(size_t)i * ld + j], Y[(size_t)i * ld + j]);
    return d;
}

static float *fill(size_t n, int mode) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = mode ? nasty(mode == 2) : uni();
    return x;
}

/* One shape on every supported path against the reference. */
static void check_shape(int M, int N, int K, int ta, int tb, int acc, int mode) {
    const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
    float *A = fill((size_t)(ta ? K : M) * lda, mode), *B = fill((size_t)(tb ? N : K) * ldb, mode);
    float *C0 = fill((size_t)M * ldc, mode), *R = malloc((size_t)M * ldc * sizeof *R),
          *C = malloc((size_t)M * ldc * sizeof *C);
    memcpy(R, C0, (size_t)M * ldc * sizeof *R);
    ref_gemm(M, N, K, A, lda, ta, B, ldb, tb, R, ldc, acc);
    for (int path = MB_PORTABLE; path <= MB_BF16; path++) {
        if (mm_bset_kernel(path) != path) continue;
        memcpy(C, C0, (size_t)M * ldc * sizeof *C);
        mm_bgemm(M, N, K, A, lda, ta, B, ldb, tb, C, ldc, acc);
        CHECKF(count_diff(M, N, C, R, ldc) == 0, "%s M%d N%d K%d ta%d tb%d acc%d mode%d: %d differ",
               mm_bkernel_name(), M, N, K, ta, tb, acc, mode, count_diff(M, N, C, R, ldc));
        /* the padding columns of C are never written */
        int pad_ok = 1;
        for (int i = 0; i < M; i++)
            for (int j = N; j < ldc; j++)
                pad_ok &= same(C[(size_t)i * ldc + j], C0[(size_t)i * ldc + j]);
        CHECK(pad_ok);
    }
    mm_bset_kernel(MB_AUTO);
    free(A), free(B), free(C0), free(R), free(C);
}

static void test_round(void) {
    CHECK_EQ_INT(mm_bround(1.0f), 0x3f80);
    CHECK_EQ_INT(mm_bround(f_of(0x3f808000u)), 0x3f80); /* tie: to even */
    CHECK_EQ_INT(mm_bround(f_of(0x3f818000u)), 0x3f82); /* tie: to even (up) */
    CHECK_EQ_INT(mm_bround(f_of(0x3f808001u)), 0x3f81);
    CHECK_EQ_INT(mm_bround(-2.0f), 0xc000);
    CHECK_EQ_INT(mm_bround(f_of(0x00000001u)), 0x0000); /* denormal: zero */
    CHECK_EQ_INT(mm_bround(f_of(0x807fffffu)), 0x8000);
    CHECK_EQ_INT(mm_bround(FLT_MAX), 0x7f80); /* rounds up to inf */
    CHECK_EQ_INT(mm_bround(-INFINITY), 0xff80);
    CHECK_EQ_INT(mm_bround(f_of(0x7f800001u)) & 0x7fc0, 0x7fc0); /* NaN stays NaN, quiet */
    /* the vector loop rounds as mm_bround, specials and a tail included */
    const uint32_t bits[] = {0x3f800000u, 0x3f808000u, 0x3f818000u, 0x3f808001u, 0xc0000000u,
                             0x00000001u, 0x807fffffu, 0x7f7fffffu, 0xff800000u, 0x7f800001u,
                             0xffc12345u, 0x00800000u, 0x3eaaaaabu, 0x80000000u, 0x4049fdb0u,
                             0x7f7f8000u, 0x33333333u, 0xbf7fffffu, 0x00000000u};
    enum { NB = sizeof bits / sizeof *bits };
    float x[NB];
    for (int i = 0; i < NB; i++)
        x[i] = f_of(bits[i]);
    mm_bround_floats(x, NB);
    int same = 1;
    for (int i = 0; i < NB; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        same &= u == (uint32_t)mm_bround(f_of(bits[i])) << 16;
    }
    CHECK(same);
}

/* Every path agrees with the reference bit for bit on ordinary values
** (70 x 600: op(A) in two pack tasks, the second a ragged one of one
** panel, each through three slices). */
static void test_paths_random(void) {
    static const int shapes[][3] = {{1, 1, 1},     {1, 17, 1},   {3, 5, 2},     {8, 48, 256},
                                    {9, 49, 257},  {17, 33, 3},  {31, 97, 300}, {64, 64, 64},
                                    {5, 130, 513}, {70, 20, 77}, {2, 200, 9},   {70, 20, 600}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int v = 0; v < 8; v++)
            check_shape(shapes[s][0], shapes[s][1], shapes[s][2], v & 1, (v >> 1) & 1, v >> 2, 0);
}

/* Denormals, underflow, overflow (mode 1), then inf and NaN (mode 2). */
static void test_paths_adversarial(void) {
    for (int mode = 1; mode <= 2; mode++)
        for (int v = 0; v < 8; v++) {
            check_shape(13, 37, 41, v & 1, (v >> 1) & 1, v >> 2, mode);
            check_shape(9, 50, 1, v & 1, (v >> 1) & 1, v >> 2, mode);
        }
    /* a denormal C counts as zero; a result below FLT_MIN is flushed */
    for (int path = MB_PORTABLE; path <= MB_BF16; path++) {
        if (mm_bset_kernel(path) != path) continue;
        float a = 1e-20f, b = 1e-20f, c = f_of(5);
        mm_bgemm(1, 1, 1, &a, 1, 0, &b, 1, 0, &c, 1, 1);
        CHECKF(bits(c) == 0, "%s: %a", mm_bkernel_name(), c);
        a = 1.0f, b = 0.0f, c = f_of(0x80000005u);
        mm_bgemm(1, 1, 1, &a, 1, 0, &b, 1, 0, &c, 1, 1);
        CHECKF(bits(c) == 0, "%s: %a", mm_bkernel_name(), c); /* -0 + +0 = +0 */
    }
    mm_bset_kernel(MB_AUTO);
}

/* A row's result does not depend on M, the other rows or the threads. */
static void test_row_independent(void) {
    const int N = 150, K = 333, Mmax = 300;
    float *A = fill((size_t)Mmax * K, 0), *B = fill((size_t)K * N, 0);
    float *ref = malloc(sizeof(float) * N), *C = malloc(sizeof(float) * Mmax * N);
    mm_bgemm(1, N, K, A + (size_t)7 * K, K, 0, B, N, 0, ref, N, 0);
    static const int Ms[] = {8, 9, 64, 65, 300};
    for (int t = 1; t <= 3; t++) {
        omp_set_num_threads(t);
        for (size_t m = 0; m < sizeof Ms / sizeof Ms[0]; m++) {
            mm_bgemm(Ms[m], N, K, A, K, 0, B, N, 0, C, N, 0);
            CHECKF(count_diff(1, N, C + (size_t)7 * N, ref, N) == 0, "M %d threads %d", Ms[m], t);
        }
    }
    omp_set_num_threads(2);
    free(A), free(B), free(ref), free(C);
}

/* Products of up to 768 rows pack op(B) tile by tile (each tile's own
** columns, slice by slice, on its thread) instead of whole beforehand:
** the same bits as a 769-row product (op(B) packed whole) in its rows,
** with several tiles of ragged width (N not a multiple of 16), several
** slices (K > 256, odd), both layouts of each operand, acc, 1 to 3
** threads, on the vector packers' path and a portable packer's. */
static void test_tile_packing(void) {
    const int N = 400, K = 301, Mbig = 769, ldc = N + 3;
    float *A = fill((size_t)Mbig * K, 0), *B = fill((size_t)K * N, 0);
    float *C0 = fill((size_t)Mbig * ldc, 0), *R = malloc(sizeof(float) * Mbig * ldc),
          *C = malloc(sizeof(float) * Mbig * ldc);
    static const int Ms[] = {768, 40, 1};
    static const int paths[] = {MB_AVX2, MB_AUTO};
    for (int pi = 0; pi < 2; pi++) {
        const int path = mm_bset_kernel(paths[pi]);
        if (pi == 0 && path != MB_AVX2) continue;
        for (int v = 0; v < 8; v++) {
            const int ta = v & 1, tb = (v >> 1) & 1, acc = v >> 2;
            const int lda = ta ? Mbig : K, ldb = tb ? K : N;
            memcpy(R, C0, sizeof(float) * Mbig * ldc);
            mm_bgemm(Mbig, N, K, A, lda, ta, B, ldb, tb, R, ldc, acc);
            for (int t = 1; t <= 3; t++) {
                omp_set_num_threads(t);
                for (size_t m = 0; m < sizeof Ms / sizeof Ms[0]; m++) {
                    memcpy(C, C0, sizeof(float) * Mbig * ldc);
                    mm_bgemm(Ms[m], N, K, A, lda, ta, B, ldb, tb, C, ldc, acc);
                    CHECKF(count_diff(Ms[m], N, C, R, ldc) == 0, "%s M%d ta%d tb%d acc%d t%d",
                           mm_bkernel_name(), Ms[m], ta, tb, acc, t);
                }
            }
        }
    }
    omp_set_num_threads(2);
    mm_bset_kernel(MB_AUTO);
    free(A), free(B), free(C0), free(R), free(C);
}

/* C (M x N, row stride N) equals the product computed 40 rows at a time
** (op(B) packed per tile there), for every layout of the operands. */
static void check_by_rows(int M, int N, int K, int path) {
    float *A = fill((size_t)M * K, 0), *B = fill((size_t)K * N, 0);
    float *C = malloc(sizeof(float) * M * N), *R = malloc(sizeof(float) * M * N);
    mm_bset_kernel(path);
    for (int v = 0; v < 4; v++) {
        const int ta = v & 1, tb = v >> 1, lda = ta ? M : K, ldb = tb ? K : N;
        mm_bgemm(M, N, K, A, lda, ta, B, ldb, tb, C, N, 0);
        for (int i = 0; i < M; i += 40)
            mm_bgemm(M - i < 40 ? M - i : 40, N, K, ta ? A + i : A + (size_t)i * K, lda, ta, B, ldb,
                     tb, R + (size_t)i * N, N, 0);
        CHECKF(count_diff(M, N, C, R, N) == 0, "%s M%d N%d ta%d tb%d", mm_bkernel_name(), M, N, ta,
               tb);
    }
    mm_bset_kernel(MB_AUTO);
    free(A), free(B), free(C), free(R);
}

/* Operands of 2048 rows or columns and more are packed by wider tasks
** (256 columns each): the same words, so the same results, for op(A) on a
** vector packer's path and a portable packer's, and for op(B) packed whole
** (over 768 rows). */
static void test_wide_pack_tasks(void) {
    check_by_rows(2100, 40, 35, MB_AVX2);
    check_by_rows(2100, 40, 35, MB_AUTO);
    check_by_rows(800, 2100, 35, MB_AUTO);
}

/* A product whose packed op(A) is past 16 MB (K = 16400: the lm_head's
** input gradient, K = vocabulary) is cut into one tile per thread (of 240
** columns on one thread, 96 on three) instead of four: the same results. */
static void test_big_a_tiles(void) {
    omp_set_num_threads(1);
    check_by_rows(512, 200, 16400, MB_AUTO);
    omp_set_num_threads(3);
    check_by_rows(512, 200, 16400, MB_AUTO);
    omp_set_num_threads(2);
}

/* mm_bgemm_packed on an fp32 or bf16 operand, either layout, equals
** mm_bgemm on every path. */
static void test_packed(void) {
    const int M = 37, N = 70, K = 301;
    float *A = fill((size_t)M * K, 0), *B = fill((size_t)K * N, 0),
          *Bt = malloc(sizeof(float) * K * N);
    uint16_t *Bh = malloc(sizeof(uint16_t) * K * N), *Bht = malloc(sizeof(uint16_t) * K * N);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++) {
            Bt[(size_t)j * K + k] = B[(size_t)k * N + j];
            Bh[(size_t)k * N + j] = Bht[(size_t)j * K + k] = mm_bround(B[(size_t)k * N + j]);
        }
    float *R = malloc(sizeof(float) * M * N), *R2 = malloc(sizeof(float) * M * N),
          *C = malloc(sizeof(float) * M * N);
    char err[512];
    mm_bgemm(M, N, K, A, K, 0, B, N, 0, R, N, 0);
    memcpy(R2, R, sizeof(float) * M * N);
    mm_bgemm(M, N, K, A, K, 0, B, N, 0, R2, N, 1);
    const void *src[4] = {B, Bt, Bh, Bht};
    for (int path = MB_PORTABLE; path <= MB_BF16; path++) {
        if (mm_bset_kernel(path) != path) continue;
        for (int v = 0; v < 4; v++) {
            mm_bpacked *p;
            CHECK(mm_bpack(N, K, src[v], (v & 1) ? K : N, v & 1, v >> 1, &p, err) == 0);
            memcpy(C, R, sizeof(float) * M * N);
            mm_bgemm_packed(M, A, K, p, C, N, 1);
            CHECKF(count_diff(M, N, C, R2, N) == 0, "%s source %d acc", mm_bkernel_name(), v);
            mm_bgemm_packed(M, A, K, p, C, N, 0);
            CHECKF(count_diff(M, N, C, R, N) == 0, "%s source %d", mm_bkernel_name(), v);
            mm_bpacked_free(p);
        }
    }
    mm_bset_kernel(MB_AUTO);
    mm_bpacked *p = (mm_bpacked *)1;
    CHECK(mm_bpack(0, K, B, N, 0, 0, &p, err) == -1 && !p && strstr(err, "N=0"));
    free(A), free(B), free(Bt), free(Bh), free(Bht), free(R), free(R2), free(C);
}

/* mm_bgemm_packed_epi on every path, row tiles included (M above MC): a
** bias gives the bits of C holding copies of it with the product
** accumulated, whatever acc and C held; post sees each element once, after
** its sum. */
static void test_packed_epilogue(void) {
    const int M = 300, N = 70, K = 301;
    float *A = fill((size_t)M * K, 0), *B = fill((size_t)K * N, 0), *bias = fill((size_t)N, 0);
    float *R = malloc(sizeof(float) * M * N), *C = malloc(sizeof(float) * M * N);
    unsigned char *seen = malloc((size_t)M * N);
    char err[512];
    for (int path = MB_PORTABLE; path <= MB_BF16; path++) {
        if (mm_bset_kernel(path) != path) continue;
        mm_bpacked *p;
        CHECK(mm_bpack(N, K, B, N, 0, 0, &p, err) == 0);
        for (int i = 0; i < M; i++)
            memcpy(R + (size_t)i * N, bias, sizeof(float) * N);
        mm_bgemm_packed(M, A, K, p, R, N, 1);
        for (int i = 0; i < M * N; i++)
            R[i] = 2.0f * R[i] + 1.0f;
        for (int acc = 0; acc < 2; acc++) {
            for (int i = 0; i < M * N; i++)
                C[i] = (float)i; /* overwritten by the bias */
            memset(seen, 0, (size_t)M * N);
            mm_mark g = {C, N, seen};
            mm_bgemm_packed_epi(M, A, K, p, C, N, acc, &(mm_epilogue){bias, mm_mark_post, &g});
            int once = 1;
            for (int i = 0; i < M * N; i++)
                once &= seen[i] == 1;
            CHECKF(count_diff(M, N, C, R, N) == 0 && once, "%s acc %d: posted once %d",
                   mm_bkernel_name(), acc, once);
        }
        mm_bpacked_free(p);
    }
    mm_bset_kernel(MB_AUTO);
    free(A), free(B), free(bias), free(R), free(C), free(seen);
}

/* Against float64 on the rounded inputs: within the fp32 accumulation
** bound, K * 2^-24 * sum |a||b| (the bf16 rounding of the inputs, 2^-9
** relative each, is the caller's tolerance, not the kernel's). */
static void test_accuracy(void) {
    const int M = 20, N = 30, K = 777;
    float *A = fill((size_t)M * K, 0), *B = fill((size_t)K * N, 0),
          *C = malloc(sizeof(float) * M * N);
    mm_bgemm(M, N, K, A, K, 0, B, N, 0, C, N, 0);
    int ok = 1;
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0, sa = 0;
            for (int k = 0; k < K; k++) {
                const double p = (double)bf(A[i * K + k]) * bf(B[k * N + j]);
                s += p, sa += fabs(p);
            }
            const double e = fabs(C[i * N + j] - s) / (sa * K * 0x1p-24);
            worst = e > worst ? e : worst;
            ok &= e <= 1.0;
        }
    CHECKF(ok, "error %.3g of the bound", worst);
    free(A), free(B), free(C);
}

int main(void) {
    printf("best path: %s\n", mm_bkernel_name());
    RUN(test_round);
    RUN(test_paths_random);
    RUN(test_paths_adversarial);
    RUN(test_row_independent);
    RUN(test_tile_packing);
    RUN(test_wide_pack_tasks);
    RUN(test_big_a_tiles);
    RUN(test_packed);
    RUN(test_packed_epilogue);
    RUN(test_accuracy);
    return TEST_SUMMARY();
}

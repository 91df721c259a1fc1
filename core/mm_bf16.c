/*
** bf16 GEMM with fp32 accumulation (see mm_bf16.h).
**
** Both operands are packed whole (in parallel) into pair words: a uint32
** holding the bf16 of op(X)[2p][j] in its low half and op(X)[2p+1][j] in
** its high half, which is the operand format of vdpbf16ps.  op(A) goes
** into panels of MR rows, op(B) into panels of 16 columns (whatever the
** path, so a prepacked B serves every path), both cut into slices of KCP
** pairs: slice s of a packed operand with np padded rows/columns starts at
** s*KCP*np words, and its panel j (first row/column j) at + j*kps.  Tasks
** then take MC x NC tiles of C; for each slice, each NR-column micro-panel
** of B stays in L1 while the tile's MR-row micro-panels of A stream past
** it.  In products of up to FUSE_M rows, op(B) is not packed whole: tiles
** span all rows and each packs its own columns, one slice at a time, into
** its thread's buffer (from packer to kernel in cache, not through
** memory).  Partial sums wait in C between slices, so each element is one
** chain in pair order whatever the tiling.
*/
#include "mm_bf16.h"

#include "err.h"
#include "mem.h"
#include "pool.h"

#include <assert.h>
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define KCP 128          /* pairs per slice: a 48-column B micro-panel is 24 KB (L1) */
#define MC 256           /* rows per task tile (a multiple of every MR) */
#define NC 384           /* columns per task tile (a multiple of every NR) */
#define MAXMR 8          /* largest MR of any kernel */
#define MAXNR 48         /* largest NR of any kernel */
#define MB_PAR_FLOPS 2e5 /* smaller products run on the calling thread */
#define A_BIG (16 << 20) /* packed op(A) that no cache holds (run_tiles) */
#define FUSE_M 768       /* up to this M, tiles span all rows and pack their own op(B): */
                         /* the A slice of every row (M x KCP words) stays in L2 */

/* kp pairs of an MR x (16*nq) block: c = (load ? c : 0) + the products of
** the A micro-panel a (MR words per pair) and nq B panels (16 words per
** pair), panel q at b + q*bs. */
typedef void (*mb_kernel_fn)(int kp, const uint32_t *a, const uint32_t *b, size_t bs, int nq,
                             float *c, int ldc, int load);

typedef struct mb_kernel {
    const char *name;
    int mr, nr;
    int mxcsr; /* runs under DAZ|FTZ (fp32 fused multiply-adds) */
    mb_kernel_fn fn;
} mb_kernel;

static float bits_f(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* fp32 bits -> bf16 bits (see mm_bround), without branches so that loops
** of it vectorise. */
static inline uint16_t round_bits(uint32_t u) {
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    r = (u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : r; /* quiet NaN */
    r = (u & 0x7f800000u) ? r : (u >> 16) & 0x8000u;             /* DAZ */
    return (uint16_t)r;
}

uint16_t mm_bround(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return round_bits(u);
}

void mm_bround_floats(float *x, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        u = (uint32_t)round_bits(u) << 16;
        memcpy(x + i, &u, sizeof u);
    }
}

/* A bf16 as it enters a product: denormals count as zero. */
static inline uint16_t bf16_daz(uint16_t h) {
    return (h & 0x7f80u) ? h : (uint16_t)(h & 0x8000u);
}

/* A result as vdpbf16ps leaves it: below FLT_MIN becomes a signed zero
** (x86 already flushed it under MXCSR FTZ; elsewhere this is the flush). */
static float ftz(float x) {
    return fabsf(x) < FLT_MIN ? copysignf(0.0f, x) : x;
}

/* ---------------------------------------------------------------------- */
/* Kernels                                                                 */

/* Portable: 4 x 16, two fmaf per pair, flushing as the instruction does. */
static void kb_portable(int kp, const uint32_t *a, const uint32_t *b, size_t bs, int nq, float *c,
                        int ldc, int load) {
    (void)bs, (void)nq;
    float acc[4][16];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 16; j++)
            acc[i][j] = load ? ftz(c[i * ldc + j]) : 0.0f;
    for (int p = 0; p < kp; p++)
        for (int i = 0; i < 4; i++) {
            const uint32_t aw = a[p * 4 + i];
            const float ao = bits_f(aw & 0xffff0000u), ae = bits_f(aw << 16);
            for (int j = 0; j < 16; j++) {
                const uint32_t bw = b[p * 16 + j];
                float t = ftz(fmaf(ao, bits_f(bw & 0xffff0000u), acc[i][j]));
                acc[i][j] = ftz(fmaf(ae, bits_f(bw << 16), t));
            }
        }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 16; j++)
            c[i * ldc + j] = acc[i][j];
}

/* AVX2 + FMA: 4 x 16, the pair words widened (low half: shift, high half:
** mask) into two fused multiply-adds. */
__attribute__((target("avx2,fma"))) static void kb_avx2(int kp, const uint32_t *a,
                                                        const uint32_t *b, size_t bs, int nq,
                                                        float *c, int ldc, int load) {
    (void)bs, (void)nq;
    const __m256i hi = _mm256_set1_epi32((int)0xffff0000u);
    __m256 acc[4][2];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++)
            acc[i][j] = load ? _mm256_loadu_ps(c + i * ldc + 8 * j) : _mm256_setzero_ps();
    for (int p = 0; p < kp; p++) {
        __m256 bo[2], be[2];
        for (int j = 0; j < 2; j++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(b + p * 16 + 8 * j));
            bo[j] = _mm256_castsi256_ps(_mm256_and_si256(w, hi));
            be[j] = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
        }
        for (int i = 0; i < 4; i++) {
            const uint32_t aw = a[p * 4 + i];
            const __m256 ao = _mm256_set1_ps(bits_f(aw & 0xffff0000u)),
                         ae = _mm256_set1_ps(bits_f(aw << 16));
            for (int j = 0; j < 2; j++)
                acc[i][j] = _mm256_fmadd_ps(ae, be[j], _mm256_fmadd_ps(ao, bo[j], acc[i][j]));
        }
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++)
            _mm256_storeu_ps(c + i * ldc + 8 * j, acc[i][j]);
}

/* AVX-512F: 8 x 32 (NQ panels of 16, NQ a constant once inlined). */
__attribute__((target("avx512f"))) static inline void kb_avx512_n(int kp, const uint32_t *a,
                                                                  const uint32_t *b, size_t bs,
                                                                  float *c, int ldc, int load,
                                                                  const int NQ) {
    const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
    __m512 acc[8][2];
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++)
        _Pragma("GCC unroll 2") for (int q = 0; q < 2; q++) acc[i][q] =
            load && q < NQ ? _mm512_loadu_ps(c + i * ldc + 16 * q) : _mm512_setzero_ps();
    for (int p = 0; p < kp; p++) {
        __m512 bo[2], be[2];
        _Pragma("GCC unroll 2") for (int q = 0; q < NQ; q++) {
            __m512i w = _mm512_loadu_si512(b + q * bs + p * 16);
            bo[q] = _mm512_castsi512_ps(_mm512_and_si512(w, hi));
            be[q] = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
        }
        _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) {
            const __m512i w = _mm512_set1_epi32((int)a[p * 8 + i]);
            const __m512 ao = _mm512_castsi512_ps(_mm512_and_si512(w, hi)),
                         ae = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
            _Pragma("GCC unroll 2") for (int q = 0; q < NQ; q++) acc[i][q] =
                _mm512_fmadd_ps(ae, be[q], _mm512_fmadd_ps(ao, bo[q], acc[i][q]));
        }
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++)
        _Pragma("GCC unroll 2") for (int q = 0; q < NQ; q++)
            _mm512_storeu_ps(c + i * ldc + 16 * q, acc[i][q]);
}

__attribute__((target("avx512f"))) static void kb_avx512(int kp, const uint32_t *a,
                                                         const uint32_t *b, size_t bs, int nq,
                                                         float *c, int ldc, int load) {
    if (nq == 2)
        kb_avx512_n(kp, a, b, bs, c, ldc, load, 2);
    else
        kb_avx512_n(kp, a, b, bs, c, ldc, load, 1);
}

/* AVX-512 BF16: 8 x 48, one vdpbf16ps per pair, row and 16 columns; 24
** accumulators keep both FMA pipes busy past the instruction's latency.
** Each row's pair word is broadcast once into a register and used for the
** three column panels: a broadcast from memory inside every vdpbf16ps made
** the loop load-bound (27 loads per 24 products, 15% slower).  In asm, so
** the compiler cannot fold the broadcast back into each instruction. */
#define KB_BF16 __attribute__((target("avx512f,avx512bf16")))
#define KB_BCAST(v, w) __asm__("vbroadcastss %[wp], %[av]" : [av] "=v"(v) : [wp] "m"(w))
#define KB_DP(c, b, av)                                                                            \
    __asm__("vdpbf16ps %[va], %[bv], %[cv]" : [cv] "+v"(c) : [bv] "v"(b), [va] "v"(av))
/* The first MB rows (MB <= 8, a constant once inlined) of the 8-row
** panel: fewer rows (token-by-token steps) do only their own work.  One
** line of [pf, pf_end) is prefetched per pair (none when both are NULL):
** requests for B still in memory spread over the kernel, where a burst of
** them before it stalled the loop. */
KB_BF16 static inline void kb_bf16_n(int kp, const uint32_t *a, const uint32_t *b, size_t bs,
                                     float *c, int ldc, int load, const int NQ, const int MB,
                                     const char *pf, const char *pf_end) {
    __m512 acc[8][3]; /* all set, the unused ones too (dead once inlined) */
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++)
        _Pragma("GCC unroll 3") for (int q = 0; q < 3; q++) acc[i][q] =
            load && i < MB && q < NQ ? _mm512_loadu_ps(c + i * ldc + 16 * q) : _mm512_setzero_ps();
    for (int p = 0; p < kp; p++, a += 8) {
        if (pf < pf_end) {
            _mm_prefetch(pf, _MM_HINT_T0);
            pf += 64;
        }
        __m512i bw[3];
        _Pragma("GCC unroll 3") for (int q = 0; q < 3; q++) bw[q] =
            q < NQ ? _mm512_loadu_si512(b + q * bs + p * 16) : _mm512_setzero_si512();
        _Pragma("GCC unroll 8") for (int i = 0; i < MB; i++) {
            __m512 av;
            KB_BCAST(av, a[i]);
            _Pragma("GCC unroll 3") for (int q = 0; q < NQ; q++) KB_DP(acc[i][q], bw[q], av);
        }
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < MB; i++)
        _Pragma("GCC unroll 3") for (int q = 0; q < NQ; q++)
            _mm512_storeu_ps(c + i * ldc + 16 * q, acc[i][q]);
}

/* Rows 1 .. 7 of a full-width (nq panels) tile, in place. */
KB_BF16 static void kb_bf16_rows(int kp, const uint32_t *a, const uint32_t *b, size_t bs, int nq,
                                 float *c, int ldc, int load, int rows) {
#define KB_ROWS(m)                                                                                 \
    case m:                                                                                        \
        if (nq == 3)                                                                               \
            kb_bf16_n(kp, a, b, bs, c, ldc, load, 3, m, NULL, NULL);                               \
        else if (nq == 2)                                                                          \
            kb_bf16_n(kp, a, b, bs, c, ldc, load, 2, m, NULL, NULL);                               \
        else                                                                                       \
            kb_bf16_n(kp, a, b, bs, c, ldc, load, 1, m, NULL, NULL);                               \
        break
    switch (rows) {
        KB_ROWS(1);
        KB_ROWS(2);
        KB_ROWS(3);
        KB_ROWS(4);
        KB_ROWS(5);
        KB_ROWS(6);
        KB_ROWS(7);
    }
#undef KB_ROWS
}

/* kb_bf16 prefetching [pf, pf_end) on the way (see kb_bf16_n). */
KB_BF16 static void kb_bf16_ahead(int kp, const uint32_t *a, const uint32_t *b, size_t bs, int nq,
                                  float *c, int ldc, int load, const char *pf, const char *pf_end) {
    if (nq == 3)
        kb_bf16_n(kp, a, b, bs, c, ldc, load, 3, 8, pf, pf_end);
    else if (nq == 2)
        kb_bf16_n(kp, a, b, bs, c, ldc, load, 2, 8, pf, pf_end);
    else
        kb_bf16_n(kp, a, b, bs, c, ldc, load, 1, 8, pf, pf_end);
}

KB_BF16 static void kb_bf16(int kp, const uint32_t *a, const uint32_t *b, size_t bs, int nq,
                            float *c, int ldc, int load) {
    kb_bf16_ahead(kp, a, b, bs, nq, c, ldc, load, NULL, NULL);
}

static const mb_kernel kernels[] = {
    [MB_PORTABLE] = {"portable", 4, 16, 1, kb_portable},
    [MB_AVX2] = {"avx2", 4, 16, 1, kb_avx2},
    [MB_AVX512] = {"avx512", 8, 32, 1, kb_avx512},
    [MB_BF16] = {"avx512bf16", 8, 48, 0, kb_bf16},
};
static int active; /* 0 until first use */

static int best_supported(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        /* cpuid leaf 7 subleaf 1, EAX bit 5: AVX512_BF16 */
        unsigned eax, ebx, ecx, edx;
        __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(1));
        return (eax >> 5) & 1 ? MB_BF16 : MB_AVX512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return MB_AVX2;
    return MB_PORTABLE;
}

int mm_bset_kernel(int which) {
    int best = best_supported();
    active = (which == MB_AUTO || which > best) ? best : which;
    return active;
}

const char *mm_bkernel_name(void) {
    if (!active) mm_bset_kernel(MB_AUTO);
    return kernels[active].name;
}

/* ---------------------------------------------------------------------- */
/* Packing                                                                 */

/* The operand to pack: element (k, j) of op(X) is X[k*ldx + j] when
** kmajor, else X[j*ldx + k]; fp32, or bf16 with bf16 set. */
typedef struct mb_src {
    const void *X;
    size_t ldx;
    int kmajor, bf16;
    int K, n; /* op(X) is K x n */
} mb_src;

/* out[i] = bf16 of the n contiguous elements of X from element at, then
** zeros up to total. */
static void round_run(const mb_src *s, size_t at, int n, int total, uint16_t *out) {
    if (s->bf16) {
        const uint16_t *x = (const uint16_t *)s->X + at;
#pragma omp simd
        for (int i = 0; i < n; i++)
            out[i] = bf16_daz(x[i]);
    } else {
        const uint32_t *x = (const uint32_t *)s->X + at; /* fp32 bits */
#pragma omp simd
        for (int i = 0; i < n; i++)
            out[i] = round_bits(x[i]);
    }
    for (int i = n; i < total; i++)
        out[i] = 0;
}

/* round_bits on 16 lanes: the bf16 in the low half of each. */
__attribute__((target("avx512f"))) static inline __m512i round16(__m512i u) {
    const __m512i top = _mm512_srli_epi32(u, 16);
    const __m512i bias =
        _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(top, _mm512_set1_epi32(1)));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, bias), 16);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(
        _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_or_epi32(r, nan, top, _mm512_set1_epi32(0x40));
    const __mmask16 den = _mm512_testn_epi32_mask(u, _mm512_set1_epi32(0x7f800000));
    return _mm512_mask_and_epi32(r, den, top, _mm512_set1_epi32(0x8000));
}

/* The first n (< 16 or more) lanes. */
static __mmask16 lanes(int n) {
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* Pairs of rows that pack512_kmajor fetches ahead. */
#define PACK_AHEAD 4

/* One slice (pairs [p0, p0+kps)) of npan fp32 panels from column j0 with
** AVX-512, the rounding of round_bits, into d (panel q at d + q*w*kps):
** rows of op(X) contiguous (kmajor), two rows per pair word, all the
** panels' part of a row at once (a short piece of each of thousands of
** rows would cost a TLB miss each). */
__attribute__((target("avx512f"))) static void
pack512_kmajor(const mb_src *s, int j0, int w, int npan, int p0, int kps, uint32_t *d) {
    const float *X = s->X;
    const __mmask16 out = lanes(w);
    for (int p = 0; p < kps; p++) {
        const int k = 2 * (p0 + p);
        const float *r0 = X + (size_t)k * s->ldx, *r1 = r0 + s->ldx;
        /* rows far apart (a strip of each of thousands of rows): fetch
        ** the strips of a few pairs ahead, which no hardware prefetcher
        ** guesses */
        if (k + 2 * PACK_AHEAD + 1 < s->K) {
            const float *f0 = r0 + (size_t)(2 * PACK_AHEAD) * s->ldx, *f1 = f0 + s->ldx;
            for (int q = 0; q < npan; q++) {
                _mm_prefetch((const char *)(f0 + j0 + q * w), _MM_HINT_T0);
                _mm_prefetch((const char *)(f1 + j0 + q * w), _MM_HINT_T0);
            }
        }
        for (int q = 0; q < npan; q++) {
            const int j = j0 + q * w;
            const __mmask16 in = lanes(s->n - j < w ? s->n - j : w);
            const __m512i lo = round16(_mm512_maskz_loadu_epi32(in, r0 + j));
            const __m512i hi = k + 1 < s->K ? round16(_mm512_maskz_loadu_epi32(in, r1 + j))
                                            : _mm512_setzero_si512();
            _mm512_mask_storeu_epi32(d + (size_t)q * w * kps + p * w, out,
                                     _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
        }
    }
}

/* dst[c*ldd + r] = src[r*lds + c] for an 8 x 8 block of words: pairs of
** rows interleaved, then pairs of pairs, then the 128-bit halves. */
__attribute__((target("avx2"))) static void transpose8x8(const uint32_t *src, int lds,
                                                         uint32_t *dst, int ldd) {
    __m256i r[8], t[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_si256((const __m256i *)(src + i * lds));
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_si256((__m256i *)(dst + i * ldd),
                            _mm256_permute2x128_si256(r[i], r[i + 4], 0x20));
        _mm256_storeu_si256((__m256i *)(dst + (i + 4) * ldd),
                            _mm256_permute2x128_si256(r[i], r[i + 4], 0x31));
    }
}

/* The same with columns of op(X) contiguous: a run of bf16 along a row is
** a run of pair words (vpmovdw), turned into the panel's order through
** tmp. */
__attribute__((target("avx512f"))) static void
pack512_rows(const mb_src *s, int j0, int w, int cols, int p0, int kps, uint32_t *d) {
    uint32_t tmp[MAXNR * KCP];
    const int k0 = 2 * p0, nk = s->K - k0 < 2 * kps ? s->K - k0 : 2 * kps;
    for (int j = 0; j < w; j++) {
        const float *x = (const float *)s->X + (size_t)(j0 + j) * s->ldx + k0;
        /* this piece of the next panel's row: short runs of far-apart
        ** rows, which the hardware prefetchers pick up late */
        const int ahead = j0 + w + j < s->n;
        for (int c = 0; c < 2 * kps; c += 16) {
            if (ahead && c < nk)
                _mm_prefetch((const char *)(x + (size_t)w * s->ldx + c), _MM_HINT_T0);
            const __mmask16 m = j < cols ? lanes(nk - c) : 0;
            const __m256i h = _mm512_cvtepi32_epi16(round16(_mm512_maskz_loadu_epi32(m, x + c)));
            _mm256_storeu_si256((__m256i *)(tmp + j * KCP + c / 2), h);
        }
    }
    int p = 0;
    for (; p + 8 <= kps; p += 8)
        for (int j = 0; j < w; j += 8)
            transpose8x8(tmp + j * KCP + p, KCP, d + p * w + j, w);
    for (; p < kps; p++)
        for (int j = 0; j < w; j++)
            d[p * w + j] = tmp[j * KCP + p];
}

/* Panel of columns [j0, j0+w) of op(X) (zero past K and n), slice of
** pairs [p0, p0+kps), into d (kps x w words, its place in a packed
** operand: see the top): fp32 rows through the vector packer on the
** AVX-512 paths, the rest (and so the other paths, tested against them)
** through round_run. */
static void pack_panel(const mb_src *s, int j0, int w, int p0, int kps, uint32_t *d) {
    const int cols = s->n - j0 < w ? s->n - j0 : w;
    uint16_t lo[MAXNR], hi[MAXNR], run[2 * KCP];
    if (!s->bf16 && active >= MB_AVX512 && w <= 16 && !s->kmajor) {
        pack512_rows(s, j0, w, cols, p0, kps, d);
    } else if (s->kmajor) { /* rows of op(X) are contiguous: two per pair */
        for (int p = 0; p < kps; p++) {
            const int k = 2 * (p0 + p);
            round_run(s, (size_t)k * s->ldx + j0, cols, w, lo);
            round_run(s, (size_t)(k + 1) * s->ldx + j0, k + 1 < s->K ? cols : 0, w, hi);
            for (int j = 0; j < w; j++)
                d[p * w + j] = (uint32_t)lo[j] | (uint32_t)hi[j] << 16;
        }
    } else { /* columns of op(X) are contiguous: a run of bf16 is a run of words */
        const int k0 = 2 * p0, nk = s->K - k0 < 2 * kps ? s->K - k0 : 2 * kps;
        for (int j = 0; j < w; j++) {
            round_run(s, (size_t)(j0 + j) * s->ldx + k0, j < cols ? nk : 0, 2 * kps, run);
            for (int p = 0; p < kps; p++)
                d[p * w + j] = (uint32_t)run[2 * p] | (uint32_t)run[2 * p + 1] << 16;
        }
    }
}

typedef struct mb_pack_job {
    const mb_src *src;
    int w, g; /* panel width, panels per task */
    size_t np;
    uint32_t *dst;
} mb_pack_job;

/* Panels per pack task: 64 columns (256 bytes of each fp32 row), or 256
** when that still makes 8 tasks or more: longer runs of each row (the
** lm_head's gradient packs 14% faster) without starving a thread. */
#define PACK_COLS 64
#define PACK_WIDE 256

/* npan panels w wide from column j0 of op(X), slice of pairs [p0,
** p0+kps), into d (panel q at d + q*w*kps). */
static void pack_slice(const mb_src *s, int j0, int w, int npan, int p0, int kps, uint32_t *d) {
    if (!s->bf16 && active >= MB_AVX512 && w <= 16 && s->kmajor)
        pack512_kmajor(s, j0, w, npan, p0, kps, d);
    else
        for (int q = 0; q < npan; q++)
            pack_panel(s, j0 + q * w, w, p0, kps, d + (size_t)q * w * kps);
}

/* Task t: panels [t*g, t*g+g) of every slice.  Rows of op(X) contiguous
** (kmajor): slice by slice, all the panels' part of each row at once (see
** pack512_kmajor); else panel by panel through every slice, so each panel
** reads its w runs of X from start to end, w streams the hardware
** prefetchers follow (the lm_head's input gradient, K = vocabulary: its
** op(A) packs 20% faster than slice by slice). */
static void pack_task(void *ctx, int t) {
    const mb_pack_job *j = ctx;
    const mb_src *s = j->src;
    const int g = j->g, j0 = t * g * j->w, kp = (s->K + 1) / 2;
    const int npan =
        (int)((j->np - (size_t)j0) / j->w) < g ? (int)((j->np - (size_t)j0) / j->w) : g;
    const int per = s->kmajor ? npan : 1; /* panels per pack_slice */
    for (int q = 0; q < npan; q += per) {
        const int jq = j0 + q * j->w;
        for (int p0 = 0; p0 < kp; p0 += KCP) {
            const int kps = kp - p0 < KCP ? kp - p0 : KCP;
            pack_slice(s, jq, j->w, per, p0, kps, j->dst + (size_t)p0 * j->np + (size_t)jq * kps);
        }
    }
}

/* Where a product's tasks run: on the calling thread (small products), on
** core/pool.h (generation, whose other kernels run there too), or on
** OpenMP (training and scoring, mm_bgemm: between the OpenMP loops of the
** other kernels, whose idle team would otherwise spin against the pool's
** workers for the cores).  A task's results do not depend on the runner. */
enum { RUN_SERIAL, RUN_POOL, RUN_OMP };

/* Tasks 0 .. ntask-1 of fn on runner run. */
static void run_par(int run, int ntask, pool_fn fn, void *ctx) {
    if (run == RUN_POOL) {
        pool_for(ntask, fn, ctx);
    } else if (run == RUN_OMP) {
#pragma omp parallel for schedule(dynamic, 1)
        for (int t = 0; t < ntask; t++)
            fn(ctx, t);
    } else { /* not even a team of one: generation's small products */
        for (int t = 0; t < ntask; t++)
            fn(ctx, t);
    }
}

/* The runner of a product of flops multiply-adds: serial when small. */
static int runner(double flops, int run) {
    return flops > MB_PAR_FLOPS ? run : RUN_SERIAL;
}

/* Pack all of op(X) in panels w wide (np = n rounded up to w). */
static void pack_all(const mb_src *s, int w, size_t np, uint32_t *dst, int run) {
    const int g = (np >= 8 * PACK_WIDE ? PACK_WIDE : PACK_COLS) / w;
    const int ntask = (int)((np / w + g - 1) / g);
    mb_pack_job j = {s, w, g, np, dst};
    run_par(run, ntask, pack_task, &j);
}

/* A growing buffer owned by the calling thread, kept between calls. */
static uint32_t *grow(uint32_t **buf, size_t *cap, size_t n) {
    if (n > *cap) {
        free(*buf);
        *buf = mem_big_alloc(n * sizeof(uint32_t)); /* the lm_head's operands: huge pages */
        *cap = *buf ? n : 0;
    }
    return *buf;
}

struct mm_bpacked {
    int N, K;
    size_t np; /* N rounded up to 16 */
    uint32_t *w;
};

/* ---------------------------------------------------------------------- */
/* The product                                                             */

typedef struct mb_job {
    const mb_kernel *kern;
    int M, N, K, acc;
    const uint32_t *pa, *pb; /* packed op(A) (mp rows), op(B) (np columns) */
    const mb_src *sb;        /* or NULL: op(B) packed by each tile (pb unused) */
    uint32_t *own;           /* with sb: tw x KCP words per thread of the team */
    int nown, omp;           /* threads with one; tiles run on OpenMP */
    size_t mp, np;
    float *C;
    int ldc;
    int th, tw, ntw;      /* tile height, width, tiles across */
    const mm_epilogue *e; /* NULL: none */
} mb_job;

/* One micro-tile of C (rows x cols of it, at most MR x NR); an edge tile
** goes through a scratch tile so the kernel does the same work in the same
** order. */
static void micro_tile(const mb_job *g, int kps, const uint32_t *a, const uint32_t *b, float *c,
                       int rows, int cols, int load, const char *pf, const char *pf_end) {
    const mb_kernel *k = g->kern;
    const int nq = (cols + 15) / 16;
    const size_t bs = (size_t)16 * kps;
    if (rows == k->mr && cols == 16 * nq && k->fn == kb_bf16) {
        kb_bf16_ahead(kps, a, b, bs, nq, c, g->ldc, load, pf, pf_end);
        return;
    }
    for (; pf < pf_end; pf += 64) /* the other kernels: all at once */
        _mm_prefetch(pf, _MM_HINT_T0);
    if (rows == k->mr && cols == 16 * nq) {
        k->fn(kps, a, b, bs, nq, c, g->ldc, load);
        return;
    }
    if (k->fn == kb_bf16 && cols == 16 * nq) { /* few rows: the same bits, less work */
        kb_bf16_rows(kps, a, b, bs, nq, c, g->ldc, load, rows);
        return;
    }
    float edge[MAXMR * MAXNR];
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            edge[i * k->nr + j] = load ? c[(size_t)i * g->ldc + j] : 0.0f;
    k->fn(kps, a, b, bs, nq, edge, k->nr, load);
    for (int i = 0; i < rows; i++)
        memcpy(c + (size_t)i * g->ldc, edge + i * k->nr, sizeof(float) * cols);
}

/* Part `part` of `parts` of the micro-panel of packed B that follows
** micro-panel j of slice p0 in a tile's order (columns [j0, j1)): the
** next one across, else the tile's first of the next slice, as [*pf,
** *pf_end) to ask for while the kernels run; empty at the end and when the
** tile packs op(B) itself (already in cache). */
static void next_panel_part(const mb_job *g, int p0, int j, int j0, int j1, int part, int parts,
                            const char **pf, const char **pf_end) {
    const int nr = g->kern->nr, kp = (g->K + 1) / 2;
    int jn = j + nr, pn = p0;
    *pf = *pf_end = NULL;
    if (jn >= j1) jn = j0, pn += KCP;
    if (g->sb || pn >= kp) return;
    const int kps = kp - pn < KCP ? kp - pn : KCP;
    mem_ahead_part(g->pb + (size_t)pn * g->np + (size_t)jn * kps,
                   sizeof(uint32_t) * kps * (j1 - jn < nr ? j1 - jn : nr), part, parts, pf, pf_end);
}

/* One task: a th x tw tile of C, slice by slice.  With g->sb, the task
** first packs the slice of its own columns of op(B) into its thread's
** part of g->own (each column belongs to one tile: tiles then span all
** rows), so the panels go from the packer to the kernel in cache instead
** of through memory; the words are the same, so are the results. */
static void tile_task(void *ctx, int t) {
    const mb_job *g = ctx;
    const int mr = g->kern->mr, nr = g->kern->nr;
    const int i0 = t / g->ntw * g->th, j0 = t % g->ntw * g->tw;
    const int i1 = i0 + g->th < g->M ? i0 + g->th : g->M;
    const int j1 = j0 + g->tw < g->N ? j0 + g->tw : g->N;
    const int kp = (g->K + 1) / 2, jb = g->sb ? j0 : 0; /* column of pb's first panel */
    const int slot = g->omp ? omp_get_thread_num() : 0;
    assert(!g->sb || slot < g->nown);
    uint32_t *own = g->sb ? g->own + (size_t)slot * g->tw * KCP : NULL;
    if (g->e && g->e->bias)
        for (int i = i0; i < i1; i++)
            memcpy(g->C + (size_t)i * g->ldc + j0, g->e->bias + j0, sizeof(float) * (j1 - j0));
    const unsigned csr = _mm_getcsr();
    if (g->kern->mxcsr) _mm_setcsr(csr | 0x8040); /* FTZ | DAZ, as vdpbf16ps */
    for (int p0 = 0; p0 < kp; p0 += KCP) {
        const int kps = kp - p0 < KCP ? kp - p0 : KCP;
        const uint32_t *pa = g->pa + (size_t)p0 * g->mp, *pb = own;
        if (g->sb)
            pack_slice(g->sb, j0, 16, (j1 - j0 + 15) / 16, p0, kps, own);
        else
            pb = g->pb + (size_t)p0 * g->np;
        const int load = g->acc || (g->e && g->e->bias) || p0 > 0;
        for (int j = j0; j < j1; j += nr)
            for (int i = i0; i < i1; i += mr) {
                const char *pf, *pf_end;
                next_panel_part(g, p0, j, j0, j1, (i - i0) / mr, (i1 - i0 + mr - 1) / mr, &pf,
                                &pf_end);
                micro_tile(g, kps, pa + (size_t)i * kps, pb + (size_t)(j - jb) * kps,
                           g->C + (size_t)i * g->ldc + j, i1 - i < mr ? i1 - i : mr,
                           j1 - j < nr ? j1 - j : nr, load, pf, pf_end);
            }
    }
    if (g->kern->mxcsr) _mm_setcsr(csr);
    if (g->e && g->e->post) g->e->post(g->e->ctx, i0, i1 - i0, j0, j1 - j0);
}

/* Tile sizes: at most MC (with g->sb: all) rows x NC columns, narrower
** until there are a few tiles per thread to balance (which thread
** computes a tile never changes it): 4, or 1 when packed op(A) is past
** A_BIG bytes (the lm_head's input gradient, K = vocabulary: each column
** of tiles reads it again from memory, and a narrower tile packs shorter
** runs of op(B)'s rows; on one thread, 192 columns instead of 384 made its
** tiles ~12% slower). */
static void run_tiles(mb_job *g, int run) {
    const int nth = run != RUN_SERIAL ? omp_get_max_threads() : 1, nr = g->kern->nr;
    const int few = g->mp * (size_t)(g->K + 1) / 2 * sizeof(uint32_t) > A_BIG ? 1 : 4;
    g->th = g->M < MC || g->sb ? g->M : MC;
    const int ntm = (g->M + g->th - 1) / g->th;
    int ntn = (g->N + NC - 1) / NC;
    if (ntm * ntn < few * nth) ntn = (few * nth + ntm - 1) / ntm;
    g->tw = ((g->N + ntn - 1) / ntn + nr - 1) / nr * nr;
    g->ntw = (g->N + g->tw - 1) / g->tw;
    static _Thread_local uint32_t *own_buf; /* the calling thread's, as the packed operands */
    static _Thread_local size_t own_cap;
    g->nown = nth, g->omp = run == RUN_OMP;
    g->own = g->sb ? grow(&own_buf, &own_cap, (size_t)nth * g->tw * KCP) : NULL;
    if (g->sb && !g->own) abort(); /* out of memory in the hot path */
    run_par(run, ntm * g->ntw, tile_task, g);
}

/* C = or += packed op(A) rounded from A, times the packed pb (np padded
** columns) or, with sb, op(B) packed tile by tile; run: RUN_POOL or
** RUN_OMP for a big product. */
static void bgemm_run(int M, int N, int K, const float *A, int lda, int ta, const mb_src *sb,
                      const uint32_t *pb, size_t np, float *C, int ldc, int acc, int run,
                      const mm_epilogue *e) {
    const mb_kernel *kern = &kernels[active];
    run = runner((double)M * N * K, run);
    const size_t mp = (size_t)(M + kern->mr - 1) / kern->mr * kern->mr;
    const size_t kp = (size_t)(K + 1) / 2;
    static _Thread_local uint32_t *pa_buf;
    static _Thread_local size_t pa_cap;
    uint32_t *pa = grow(&pa_buf, &pa_cap, mp * kp);
    if (!pa) abort(); /* out of memory in the hot path: nothing sane to return */
    const mb_src sa = {A, (size_t)lda, ta, 0, K, M};
    pack_all(&sa, kern->mr, mp, pa, run);
    mb_job g = {kern, M, N, K, acc, pa, pb, sb, NULL, 0, 0, mp, np, C, ldc, 0, 0, 0, e};
    run_tiles(&g, run);
}

/* C = 0 (unless acc) when there is nothing to multiply. */
static void zero_product(int M, int N, float *C, int ldc, int acc) {
    if (!acc)
        for (int i = 0; i < M; i++)
            memset(C + (size_t)i * ldc, 0, sizeof(float) * N);
}

void mm_bgemm(int M, int N, int K, const float *A, int lda, int ta, const float *B, int ldb, int tb,
              float *C, int ldc, int acc) {
    if (M <= 0 || N <= 0) return;
    assert(ldc >= N && lda >= (ta ? M : K) && ldb >= (tb ? K : N));
    if (!active) mm_bset_kernel(MB_AUTO);
    if (K <= 0) {
        zero_product(M, N, C, ldc, acc);
        return;
    }
    const mb_src sb = {B, (size_t)ldb, !tb, 0, K, N};
    if (M <= FUSE_M) { /* op(B) packed by the tiles, which then span all M rows */
        bgemm_run(M, N, K, A, lda, ta, &sb, NULL, 0, C, ldc, acc, RUN_OMP, NULL);
        return;
    }
    const size_t np = (size_t)(N + 15) / 16 * 16, kp = (size_t)(K + 1) / 2;
    static _Thread_local uint32_t *pb_buf;
    static _Thread_local size_t pb_cap;
    uint32_t *pb = grow(&pb_buf, &pb_cap, np * kp);
    if (!pb) abort();
    pack_all(&sb, 16, np, pb, runner((double)M * N * K, RUN_OMP));
    bgemm_run(M, N, K, A, lda, ta, NULL, pb, np, C, ldc, acc, RUN_OMP, NULL);
}

int mm_bpack(int N, int K, const void *B, int ldb, int tb, int src_bf16, mm_bpacked **out,
             char *err) {
    *out = NULL;
    if (N <= 0 || K <= 0 || ldb < (tb ? K : N)) {
        err_set(err, "mm_bpack: bad sizes N=%d K=%d ldb=%d", N, K, ldb);
        return -1;
    }
    mm_bpacked *p = calloc(1, sizeof *p);
    const size_t np = (size_t)(N + 15) / 16 * 16, kp = (size_t)(K + 1) / 2;
    if (p) p->w = mem_huge_alloc(np * kp * sizeof(uint32_t)); /* streamed whole: huge pages */
    if (!p || !p->w) {
        free(p);
        err_set(err, "mm_bpack: out of memory for %d x %d", K, N);
        return -1;
    }
    p->N = N, p->K = K, p->np = np;
    const mb_src sb = {B, (size_t)ldb, !tb, src_bf16, K, N};
    pack_all(&sb, 16, np, p->w, runner((double)N * K, RUN_POOL));
    *out = p;
    return 0;
}

void mm_bpacked_free(mm_bpacked *p) {
    if (!p) return;
    free(p->w);
    free(p);
}

void mm_bgemm_packed_epi(int M, const float *A, int lda, const mm_bpacked *B, float *C, int ldc,
                         int acc, const mm_epilogue *e) {
    if (M <= 0) return;
    assert(ldc >= B->N && lda >= B->K);
    if (!active) mm_bset_kernel(MB_AUTO);
    bgemm_run(M, B->N, B->K, A, lda, 0, NULL, B->w, B->np, C, ldc, acc, RUN_POOL, e);
}

void mm_bgemm_packed(int M, const float *A, int lda, const mm_bpacked *B, float *C, int ldc,
                     int acc) {
    mm_bgemm_packed_epi(M, A, lda, B, C, ldc, acc, NULL);
}

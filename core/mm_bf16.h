/*
** bfloat16 matrix multiply with fp32 accumulation (mixed-precision training
** and bf16 generation).
**
**   C[M,N] (+)= bf16(op(A))[M,K] * bf16(op(B))[K,N]
**
** Operands are rounded to bfloat16 (round to nearest even, after flushing
** fp32 denormals to zero; NaN stays a quiet NaN) as they are packed, and
** every element of C is accumulated in fp32 in the order of the AVX-512 BF16
** instruction vdpbf16ps: K is padded with a zero to an even count and, for
** each pair p in ascending order,
**
**     c = c + a[2p+1]*b[2p+1];   c = c + a[2p]*b[2p];
**
** each step one rounding (round to nearest even) of the exact sum (the
** product of two bf16 is exact in fp32: a fused multiply-add), with the
** instruction's denormal handling: denormal inputs, including a starting
** value of C (acc), count as zero (DAZ) and a result below FLT_MIN in
** magnitude becomes a zero of its sign (FTZ, tininess after rounding).
** The chain starts from C (acc) or +0.
**
** Paths, chosen at run time: vdpbf16ps where the CPU has avx512_bf16;
** AVX-512F and AVX2 kernels that widen bf16 to fp32 and run two fused
** multiply-adds per pair under MXCSR DAZ|FTZ; portable C (fmaf, flushing
** explicitly).  All give the same bits for the same input (tested), with
** two documented exceptions: a NaN result's payload and sign may differ
** between paths (NaN-ness does not), and on a non-x86 CPU the portable
** path detects tininess before rounding, so a result within half an ulp
** below FLT_MIN may keep FLT_MIN where x86 flushes it.
**
** Each element is computed by one task in an order that depends only on K,
** so results do not depend on M, on the other rows or columns, on the
** thread count or on the path.  Parallel loops run on OpenMP in mm_bgemm
** (training and scoring, among other OpenMP loops) and on core/pool.h in
** mm_bpack and mm_bgemm_packed (generation).
*/
#ifndef QUILL_MM_BF16_H
#define QUILL_MM_BF16_H

#include "matmul.h"

#include <stddef.h>
#include <stdint.h>

/* C[M,N] (+= with acc, else =) bf16(op(A)) * bf16(op(B)), the contract of
** mm_sgemm (core/matmul.h) with the rounding and order above: op(A) = A
** [M,K] or, with ta, the transpose of A [K,M]; op(B) = B [K,N] or, with tb,
** the transpose of B [N,K]; row strides at least the stored widths
** (asserted). */
void mm_bgemm(int M, int N, int K, const float *A, int lda, int ta, const float *B, int ldb, int tb,
              float *C, int ldc, int acc);

/* A right-hand operand packed once into bf16 panels (model weights reused
** for every call, half the bytes of fp32). */
typedef struct mm_bpacked mm_bpacked;

/* Pack op(B) (K x N; B [K,N], or with tb B [N,K], row stride ldb) into
** *out: B is fp32 (rounded as above) or, with src_bf16, already bf16
** (uint16_t, the top half of an fp32; denormals flushed).  Returns 0, or
** -1 with err filled (bad sizes, out of memory); free with
** mm_bpacked_free.  The packed form does not depend on the path. */
int mm_bpack(int N, int K, const void *B, int ldb, int tb, int src_bf16, mm_bpacked **out,
             char *err);

/* Free a packed operand (NULL is fine). */
void mm_bpacked_free(mm_bpacked *p);

/* C[M,N] (+= with acc, else =) bf16(A)[M,K] * B with A row-major (lda >=
** K) and B packed by mm_bpack: the same bits as mm_bgemm on the unpacked
** operand. */
void mm_bgemm_packed(int M, const float *A, int lda, const mm_bpacked *B, float *C, int ldc,
                     int acc);
/* mm_bgemm_packed with an epilogue e (core/matmul.h; NULL: none; with
** e->bias the product accumulates onto the bias whatever acc is). */
void mm_bgemm_packed_epi(int M, const float *A, int lda, const mm_bpacked *B, float *C, int ldc,
                         int acc, const mm_epilogue *e);

/* Paths: MB_AUTO picks the best the CPU supports (the default). */
enum { MB_AUTO = 0, MB_PORTABLE = 1, MB_AVX2 = 2, MB_AVX512 = 3, MB_BF16 = 4 };

/* Force a path (tests, benchmarks); returns the path now in use, the best
** supported one at or below the one asked for.  Not to be called while
** another thread multiplies. */
int mm_bset_kernel(int which);

/* Name of the path in use ("avx512bf16", "avx512", "avx2", "portable"). */
const char *mm_bkernel_name(void);

/* fp32 -> bf16 as the packing rounds (denormals to zero, nearest even,
** NaN quiet): the top 16 bits of an fp32. */
uint16_t mm_bround(float x);

/* x[i] = mm_bround(x[i]) widened back to fp32, for i < n: in place, a
** vector loop. */
void mm_bround_floats(float *x, size_t n);

#endif

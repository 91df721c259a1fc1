/*
** Single-precision matrix multiply, the hot path of the model.
**
**   C[M,N] (+)= op(A)[M,K] * op(B)[K,N]
**
** op(A) is A (row-major, lda >= K) or, with ta set, the transpose of a
** row-major K x M matrix (lda >= M); likewise op(B) with tb.  With acc set
** the product is added to C, otherwise it overwrites C.
**
** Cache blocking (BLIS-style packing of A and B blocks into micro-panels),
** an AVX-512 or AVX2 micro-kernel chosen at run time with a portable C
** fallback, and OpenMP over output tiles.  Every element of C is one chain
** of fused multiply-adds in ascending k, starting from C (acc) or zero,
** computed by one thread, whatever the thread count, the kernel, or the
** other rows of the product: bit-identical results for any OMP_NUM_THREADS
** (the portable kernel calls fmaf, slow where the CPU has no FMA).
*/
#ifndef QUILL_MATMUL_H
#define QUILL_MATMUL_H

#include <stddef.h>

/* C[M,N] (+= with acc, else =) op(A) * op(B): op(A) = A [M,K] or, with ta,
** the transpose of A [K,M]; op(B) likewise [K,N] or, with tb, [N,K].  lda,
** ldb and ldc are the row strides as stored, at least the stored widths
** (asserted). */
void mm_sgemm(int M, int N, int K, const float *A, int lda, int ta, const float *B, int ldb, int tb,
              float *C, int ldc, int acc);

/* Few rows (M <= MM_GEMV_ROWS go here from mm_sgemm unless ta): C[M,N]
** (+)= A[M,K] * op(B), op(B) = B [K,N] or, with tb, the transpose of B
** [N,K]; B is fp32, or bf16 (uint16_t, the top half of an fp32) when bf16
** is set, widened to fp32 as it is read.  Streams B once for all rows
** (memory-bound token-by-token generation): an AVX-512 kernel, else
** portable C that the compiler vectorises (MM_AVX2 selects it too).
** Bit-identical for any thread count.  With op(B) = B each element is the
** same chain as in mm_sgemm, so a row's result does not depend on M or on
** the path; with tb the AVX-512 path sums 16 lanes and then reduces them,
** which rounds differently from the portable path (and from mm_sgemm).
** Parallel loops run on core/pool.h. */
#define MM_GEMV_ROWS 16
void mm_gemv(int M, int N, int K, const float *A, int lda, const void *B, int ldb, int tb, int bf16,
             float *C, int ldc, int acc);

/* A right-hand operand op(B) [K,N] packed once into the micro-kernel's
** column panels, for products that reuse it many times (generation's
** weights): mm_sgemm_packed then packs only the rows of A.  Panels are
** laid out for the kernel in use when packing (mm_set_kernel after that
** still runs this one). */
typedef struct mm_packed mm_packed;

/* Pack op(B) = B [K,N] (row stride ldb) or, with tb, the transpose of B
** [N,K]: 0, or -1 with err set (out of memory).  Free with
** mm_packed_free. */
int mm_pack(int N, int K, const float *B, int ldb, int tb, mm_packed **out, char *err);
void mm_packed_free(mm_packed *p);

/* C[M,N] (+= with acc, else =) A[M,K] * op(B) with op(B) packed.  Each
** element is the one chain of fused multiply-adds in ascending k of
** mm_sgemm (and of mm_gemv with op(B) = B), computed by one thread: a
** row's result depends neither on the other rows, nor on M, nor on the
** thread count.  Parallel loops run on core/pool.h. */
void mm_sgemm_packed(int M, const float *A, int lda, const mm_packed *p, float *C, int ldc,
                     int acc);

/* What a packed product (mm_sgemm_packed_epi, mm_bgemm_packed_epi) does
** besides the sum, inside its tasks while the block of C is in cache
** (instead of a pass over all of C before or after, each on the thread
** pool with a barrier: a decode step runs dozens).  bias (NULL, or N
** floats): every row of C starts from it, as if C held copies of it and
** the product accumulated (the same bits).  post (NULL, or called once
** per block): rows [i0, i0+rows) x columns [j0, j0+cols) of C are final,
** to be changed in place (GELU, a residual added), each element by a
** function of itself and data the product does not write; blocks do not
** overlap and cover C, so the result does not depend on the blocks. */
typedef void (*mm_post_fn)(void *ctx, int i0, int rows, int j0, int cols);
typedef struct mm_epilogue {
    const float *bias;
    mm_post_fn post;
    void *ctx;
} mm_epilogue;

/* mm_sgemm_packed with an epilogue e (NULL: none; with e->bias the
** product accumulates onto the bias whatever acc is). */
void mm_sgemm_packed_epi(int M, const float *A, int lda, const mm_packed *p, float *C, int ldc,
                         int acc, const mm_epilogue *e);

/* Kernel selection: MM_AUTO picks the best the CPU supports (the default). */
enum { MM_AUTO = 0, MM_PORTABLE = 1, MM_AVX2 = 2, MM_AVX512 = 3 };

/* Force a kernel (for tests and benchmarks); returns the kernel now in use,
** which is the best supported one at or below the one asked for. */
int mm_set_kernel(int which);

/* Pack at most this many floats of A at once (0: the default, 32M); for
** tests, to exercise the row blocks that huge products are cut into. */
void mm_set_pack_limit(size_t floats);

/* Name of the kernel in use ("avx512", "avx2", "portable"). */
const char *mm_kernel_name(void);

#endif

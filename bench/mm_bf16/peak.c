/*
** bench/mm_bf16/peak: the machine's dot-product peak of one core, measured
** by thread CPU time: a loop of 30 independent vdpbf16ps (2 bf16
** multiply-adds per fp32 lane: 64 flops per zmm instruction) and, for
** comparison, of fp32 vfmadd231ps (32 flops per zmm), enough accumulators
** that latency never limits, on ordinary numbers (1.0).  Prints
** "peak bf16_gflops=X fp32_gflops=Y".
*/
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define ITERS 20000000L
#define X10(F, a) F(a##0) F(a##1) F(a##2) F(a##3) F(a##4) F(a##5) F(a##6) F(a##7) F(a##8) F(a##9)
#define X30(F) X10(F, ) X10(F, 1) X10(F, 2)
#define DP(i) "vdpbf16ps %%zmm30, %%zmm31, %%zmm" #i "\n"
#define FMA(i) "vfmadd231ps %%zmm30, %%zmm31, %%zmm" #i "\n"
#define CLOB(i) "xmm" #i,
/* ITERS rounds of the 30 instructions OP(0..29) on zmm30 and zmm31 = x */
#define LOOP(OP, x)                                                                                \
    __asm__ volatile("vpbroadcastd %1, %%zmm30\n"                                                  \
                     "vpbroadcastd %1, %%zmm31\n"                                                  \
                     "1:\n" X30(OP) "dec %0\n"                                                     \
                                    "jnz 1b\n"                                                     \
                     : "+r"(n)                                                                     \
                     : "m"(x)                                                                      \
                     : X30(CLOB) "xmm30", "xmm31", "cc")

/* GFLOP/s of 30 * ITERS instructions of flops each since t0. */
static double rate(double flops, double t0) {
    return flops * 30 * ITERS / (cpu_seconds() - t0) * 1e-9;
}

__attribute__((target("avx512f,avx512bf16"))) static double bf16_peak(void) {
    long n = ITERS;
    const uint32_t ones = 0x3f803f80u; /* two bf16 1.0 */
    const double t0 = cpu_seconds();
    LOOP(DP, ones);
    return rate(64, t0);
}

__attribute__((target("avx512f"))) static double fp32_peak(void) {
    long n = ITERS;
    const float one = 1.0f;
    const double t0 = cpu_seconds();
    LOOP(FMA, one);
    return rate(32, t0);
}

int main(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) {
        printf("peak bf16_gflops=n/a fp32_gflops=n/a\n");
        return 0;
    }
    unsigned eax, ebx, ecx, edx;
    __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(1));
    const double f = fp32_peak();
    if ((eax >> 5) & 1) /* AVX512_BF16 */
        printf("peak bf16_gflops=%.1f fp32_gflops=%.1f\n", bf16_peak(), f);
    else
        printf("peak bf16_gflops=n/a fp32_gflops=%.1f\n", f);
    return 0;
}

/*
** bench/mm_bf16/peak: the machine's dot-product peak of one core, measured
** by thread CPU time: a loop of 30 independent vdpbf16ps (2 bf16
** multiply-adds per fp32 lane: 64 flops per zmm instruction) and, for
** comparison, of fp32 vfmadd231ps (32 flops per zmm), enough accumulators
** that latency never limits.  Prints "peak bf16_gflops=X fp32_gflops=Y".
*/
#include <stdio.h>
#include <time.h>

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define ITERS 20000000L

/* GFLOP/s of 30 * ITERS instructions of flops each. */
static double rate(double flops, double t0) {
    return flops * 30 * ITERS / (cpu_seconds() - t0) * 1e-9;
}

__attribute__((target("avx512f,avx512bf16"))) static double bf16_peak(void) {
    long n = ITERS;
    const double t0 = cpu_seconds();
    __asm__ volatile("vpxord %%zmm30, %%zmm30, %%zmm30\n"
                     "vpxord %%zmm31, %%zmm31, %%zmm31\n"
                     "1:\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm0\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm1\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm2\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm3\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm4\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm5\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm6\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm7\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm8\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm9\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm10\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm11\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm12\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm13\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm14\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm15\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm16\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm17\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm18\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm19\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm20\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm21\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm22\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm23\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm24\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm25\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm26\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm27\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm28\n"
                     "vdpbf16ps %%zmm30, %%zmm31, %%zmm29\n"
                     "dec %0\n"
                     "jnz 1b\n"
                     : "+r"(n)
                     :
                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16",
                       "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24",
                       "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "cc");
    return rate(64, t0);
}

__attribute__((target("avx512f"))) static double fp32_peak(void) {
    long n = ITERS;
    const double t0 = cpu_seconds();
    __asm__ volatile("vpxord %%zmm30, %%zmm30, %%zmm30\n"
                     "vpxord %%zmm31, %%zmm31, %%zmm31\n"
                     "1:\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm0\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm1\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm2\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm3\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm4\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm5\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm6\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm7\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm8\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm9\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm10\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm11\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm12\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm13\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm14\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm15\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm16\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm17\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm18\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm19\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm20\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm21\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm22\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm23\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm24\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm25\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm26\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm27\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm28\n"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm29\n"
                     "dec %0\n"
                     "jnz 1b\n"
                     : "+r"(n)
                     :
                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16",
                       "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24",
                       "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "cc");
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

/*
** mem: huge-page allocations are 2 MB aligned, usable to the last byte,
** zeroed when asked, and refuse sizes that overflow.
*/
#include "mem.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_alignment_and_use(void) {
    const size_t sizes[] = {0, 1, 4096, ((size_t)2 << 20) - 4, ((size_t)5 << 20) + 12};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        unsigned char *p = mem_huge_alloc(sizes[i]);
        CHECK(p != NULL);
        CHECK(((uintptr_t)p & (((uintptr_t)2 << 20) - 1)) == 0);
        if (sizes[i]) {
            memset(p, 0xab, sizes[i]); /* ASan flags any byte short */
            CHECK(p[sizes[i] - 1] == 0xab);
        }
        free(p);
    }
}

static void test_calloc_zeroes(void) {
    const size_t n = ((size_t)3 << 20) + 7;
    unsigned char *p = mem_huge_calloc(n);
    CHECK(p != NULL);
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++)
        nonzero += p[i] != 0;
    CHECK(nonzero == 0);
    free(p);
}

static void test_overflow_refused(void) {
    CHECK(mem_huge_alloc(SIZE_MAX - 5) == NULL);
    CHECK(mem_huge_calloc(SIZE_MAX) == NULL);
}

/* mem_push grows an array of rows, each zeroed, keeping what it held. */
static void test_push_grows(void) {
    struct row {
        int a;
        double b;
    } *v = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < 1000; i++) {
        struct row *r = mem_push(&v, &n, &cap, sizeof *r);
        CHECK(r != NULL && r->a == 0 && r->b == 0);
        r->a = i;
    }
    CHECK(n == 1000 && cap >= 1000);
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= v[i].a == (int)i;
    CHECK(ok);
    free(v);
}

int main(void) {
    RUN(test_alignment_and_use);
    RUN(test_calloc_zeroes);
    RUN(test_overflow_refused);
    RUN(test_push_grows);
    return TEST_SUMMARY();
}

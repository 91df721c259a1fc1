/*
** core/pool.h: every task runs exactly once, whatever the thread count and
** the number of tasks (jobs with fewer workers than the last one, then
** more), from a nested OpenMP region too.
*/
#include "pool.h"
#include "test.h"

#include <omp.h>
#include <stdatomic.h>
#include <string.h>

typedef struct count {
    atomic_int hits[64];
} count;

static void hit(void *ctx, int t) {
    count *c = ctx;
    atomic_fetch_add(&c->hits[t], 1);
}

static void test_each_task_once(void) {
    int bad = 0, runs = 0;
    for (int rep = 0; rep < 300; rep++) {
        omp_set_num_threads(1 + rep % 4);
        int ntask = 1 + (rep * 7) % 64;
        count c;
        memset(&c, 0, sizeof c);
        pool_for(ntask, hit, &c);
        for (int t = 0; t < 64; t++)
            bad += atomic_load(&c.hits[t]) != (t < ntask);
        runs++;
    }
    CHECKF(bad == 0, "%d wrong counts in %d jobs", bad, runs);
    /* inside an OpenMP region the loop runs on the calling thread */
    omp_set_num_threads(2);
    count c;
    memset(&c, 0, sizeof c);
#pragma omp parallel num_threads(2)
    {
#pragma omp single
        pool_for(10, hit, &c);
    }
    for (int t = 0; t < 10; t++)
        CHECK_EQ_INT(atomic_load(&c.hits[t]), 1);
}

int main(void) {
    RUN(test_each_task_once);
    return TEST_SUMMARY();
}

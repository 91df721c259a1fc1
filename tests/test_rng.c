/*
** RNG: reproducible streams, ranges, and rough moments.
*/
#include "rng.h"
#include "test.h"

static void test_same_seed_same_stream(void) {
    rng a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        CHECK(rng_u64(&a) == rng_u64(&b));
    rng_seed(&b, 43);
    rng_seed(&a, 42);
    CHECK(rng_u64(&a) != rng_u64(&b));
    CHECK(rng_derive(42, 1) != rng_derive(42, 2));
    CHECK(rng_derive(42, 1) == rng_derive(42, 1));
}

static void test_uniform_and_normal_moments(void) {
    rng r;
    rng_seed(&r, 7);
    double sum = 0, sq = 0;
    int n = 200000, counts[10] = {0};
    for (int i = 0; i < n; i++) {
        float u = rng_uniform(&r);
        CHECK(u >= 0.0f && u < 1.0f);
        counts[rng_below(&r, 10)]++;
        double z = rng_normal(&r);
        sum += z;
        sq += z * z;
    }
    /* 200k draws: the mean's standard error is 0.0022, the variance's 0.0032. */
    CHECK_CLOSE(sum / n, 0.0, 0.01, 0);
    CHECK_CLOSE(sq / n, 1.0, 0.015, 0);
    for (int k = 0; k < 10; k++)
        CHECK_CLOSE(counts[k], n / 10, 600, 0); /* sd ~134 */
}

/* The dropout masks' fast path draws what rng_uniform draws, element by
** element, and leaves the stream where n calls would. */
static void test_keep_mask_is_uniform_stream(void) {
    enum { N = 1000 };
    unsigned char mask[N];
    const float ps[] = {0.0f, 0.1f, 0.5f, 1.0f};
    for (int k = 0; k < 4; k++) {
        rng a, b;
        rng_seed(&a, 99 + k);
        rng_seed(&b, 99 + k);
        rng_keep_mask(&a, mask, N, ps[k]);
        int same = 1, kept = 0;
        for (int i = 0; i < N; i++) {
            same &= mask[i] == (rng_uniform(&b) >= ps[k]);
            kept += mask[i];
        }
        CHECK(same);
        CHECK(rng_u64(&a) == rng_u64(&b));
        if (ps[k] == 0.0f) CHECK(kept == N);
        if (ps[k] == 1.0f) CHECK(kept == 0);
    }
}

int main(void) {
    RUN(test_same_seed_same_stream);
    RUN(test_uniform_and_normal_moments);
    RUN(test_keep_mask_is_uniform_stream);
    return TEST_SUMMARY();
}

/*
** Replays the committed libFuzzer corpora of ingest (tests/fuzz/corpus_ingest)
** and recipe parsing (tests/fuzz/corpus_recipe) through the fuzz targets'
** own checks, under ASan/UBSan, without clang: every crash the fuzzers found
** stays fixed.  Each recipe input must also parse in linear time (the
** corpus holds deeply nested recipes).
*/
#define FUZZ_REPLAY
#include "fuzz/fuzz_ingest.c"
#include "fuzz/fuzz_recipe.c"
#include "slurp.h"
#include "test.h"

#include <dirent.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Run every file of dir through one; the count of files. */
static int replay(const char *dir, int (*one)(const uint8_t *, size_t, char *)) {
    DIR *d = opendir(dir);
    CHECKF(d != NULL, "cannot open %s", dir);
    if (!d) return 0;
    struct dirent *e;
    int files = 0;
    char path[1024], why[ERR_LEN];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n;
        char *data = NULL, err[ERR_LEN];
        CHECKF(slurp(path, &data, &n, err) == 0, "%s", err);
        if (!data) continue;
        files++;
        double t0 = now();
        int rc = one((const uint8_t *)data, n, why);
        CHECKF(rc == 0, "%s: %s", path, why);
        /* Generous: each input takes milliseconds, a quadratic one seconds. */
        CHECKF(now() - t0 < 2.0, "%s took %.1f s", path, now() - t0);
        free(data);
    }
    closedir(d);
    return files;
}

static void test_ingest_corpus(void) {
    CHECK(replay("tests/fuzz/corpus_ingest", fuzz_ingest_one) >= 10);
    const char *left[] = {"d/fifo", "d/dangling", "d/loop", "d", "link"};
    char p[600];
    for (size_t i = 0; i < sizeof left / sizeof *left; i++) {
        snprintf(p, sizeof p, "%s/%s", fuzz_dir, left[i]);
        remove(p);
    }
    rmdir(fuzz_dir);
    store_close(fuzz_st);
}

static void test_recipe_corpus(void) {
    CHECK(replay("tests/fuzz/corpus_recipe", fuzz_recipe_one) >= 10);
}

int main(void) {
    RUN(test_ingest_corpus);
    RUN(test_recipe_corpus);
    return TEST_SUMMARY();
}

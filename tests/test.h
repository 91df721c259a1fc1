/*
** A minimal unit-test harness shared by every tests/test_*.c file.
**
** Each test is a function registered with RUN(); a CHECK that fails marks the
** current test failed and reports file:line.  main() ends with
** TEST_SUMMARY(), which prints "# tests: P passed, F failed" (parsed by
** tests/run.sh) and returns non-zero when anything failed.
*/
#ifndef QUILL_TEST_H
#define QUILL_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_passed_, test_failed_, test_cur_failed_;
static const char *test_cur_name_;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                      \
            test_cur_failed_ = 1;                                                                  \
        }                                                                                          \
    } while (0)

/* Like CHECK, with a printf-style explanation printed on failure. */
#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("  %s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);                      \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            test_cur_failed_ = 1;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    CHECKF((long long)(a) == (long long)(b), "%lld != %lld", (long long)(a), (long long)(b))

#define CHECK_STR(a, b) CHECKF(strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a), (b))

/* Absolute-or-relative closeness for floats: |a-b| <= atol + rtol*|b|. */
#define CHECK_CLOSE(a, b, atol, rtol)                                                              \
    CHECKF(fabs((double)(a) - (double)(b)) <= (atol) + (rtol)*fabs((double)(b)), "%.9g vs %.9g",   \
           (double)(a), (double)(b))

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        test_cur_name_ = #fn;                                                                      \
        test_cur_failed_ = 0;                                                                      \
        fn();                                                                                      \
        if (test_cur_failed_) {                                                                    \
            test_failed_++;                                                                        \
            printf("FAIL %s\n", test_cur_name_);                                                   \
        } else {                                                                                   \
            test_passed_++;                                                                        \
            printf("PASS %s\n", test_cur_name_);                                                   \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

#define TEST_SUMMARY()                                                                             \
    (printf("# tests: %d passed, %d failed\n", test_passed_, test_failed_), test_failed_ != 0)

#endif

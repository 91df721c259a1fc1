/*
** A minimal unit-test harness shared by every tests/test_*.c file.
**
** Each test is a function registered with RUN(); a CHECK that fails marks the
** current test failed and reports file:line; a test that ran no CHECK at
** all fails too (it asserted nothing).  main() ends with
** TEST_SUMMARY(), which prints "# tests: P passed, F failed" (parsed by
** tests/run.sh) and returns non-zero when anything failed.
*/
#ifndef QUILL_TEST_H
#define QUILL_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_passed_, test_failed_, test_cur_failed_, test_cur_checks_;
static const char *test_cur_name_;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        test_cur_checks_++;                                                                        \
        if (!(cond)) {                                                                             \
            printf("  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                      \
            test_cur_failed_ = 1;                                                                  \
        }                                                                                          \
    } while (0)

/* Like CHECK, with a printf-style explanation printed on failure. */
#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        test_cur_checks_++;                                                                        \
        if (!(cond)) {                                                                             \
            printf("  %s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);                      \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            test_cur_failed_ = 1;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    CHECKF((long long)(a) == (long long)(b), "%lld != %lld", (long long)(a), (long long)(b))

/* NULL-safe: a NULL string fails the check instead of crashing the test. */
#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *test_a_ = (a), *test_b_ = (b);                                                 \
        CHECKF(test_a_ &&test_b_ &&strcmp(test_a_, test_b_) == 0, "\"%s\" != \"%s\"",              \
               test_a_ ? test_a_ : "(null)", test_b_ ? test_b_ : "(null)");                        \
    } while (0)

/* Absolute-or-relative closeness for floats: |a-b| <= atol + rtol*|b|. */
#define CHECK_CLOSE(a, b, atol, rtol)                                                              \
    CHECKF(fabs((double)(a) - (double)(b)) <= (atol) + (rtol)*fabs((double)(b)), "%.9g vs %.9g",   \
           (double)(a), (double)(b))

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        test_cur_name_ = #fn;                                                                      \
        test_cur_failed_ = 0;                                                                      \
        test_cur_checks_ = 0;                                                                      \
        fn();                                                                                      \
        if (!test_cur_checks_) {                                                                   \
            printf("  %s ran no CHECK: it asserts nothing\n", test_cur_name_);                     \
            test_cur_failed_ = 1;                                                                  \
        }                                                                                          \
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

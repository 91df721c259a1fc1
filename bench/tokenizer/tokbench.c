/*
** Times quill's tokenizer on a corpus: encode on 1 thread, on 2 threads,
** decode; checks that both encodings are equal and that decode gives the
** corpus back; reports the peak memory beyond the text and the ids.
** Times are the best of 7 runs.  Prints one JSON line.  Usage: tokbench CORPUS
*/
#include "err.h"
#include "tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds used by all threads of the process. */
static double cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Peak resident memory so far, in bytes. */
static double peak_rss(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss * 1024.0;
}

/* Current resident memory, in bytes (from /proc/self/statm). */
static double cur_rss(void) {
    long pages = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
    if (f) fclose(f);
    return res * 4096.0;
}

#define RUNS 7 /* the machine is shared: the 2-thread time varies by a third */

/* Encode on `threads` threads, timing it (wall and CPU seconds). */
static int timed_encode(const tok *t, const char *text, size_t n, int threads, int32_t **ids,
                        size_t *n_ids, double *wall, double *cpu_s) {
    char err[ERR_LEN];
    double t0 = now(), c0 = cpu();
    if (tok_encode_ex(t, text, n, 0, threads, 0, ids, n_ids, err)) {
        fprintf(stderr, "tokbench: %s\n", err);
        return -1;
    }
    *wall = now() - t0;
    *cpu_s = cpu() - c0;
    return 0;
}

int main(int argc, char **argv) {
    char err[ERR_LEN];
    if (argc != 2) {
        fprintf(stderr, "usage: tokbench CORPUS\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        fprintf(stderr, "tokbench: cannot open %s\n", argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc(n + 1);
    if (fread(text, 1, n, f) != n) return 1;
    fclose(f);
    double base = cur_rss(); /* the text is resident: it was just read */
    tok *t;
    if (tok_load(NULL, &t, err)) {
        fprintf(stderr, "tokbench: %s\n", err);
        return 1;
    }
    int32_t *ids, *ids2;
    size_t n_ids, n_ids2, len;
    double enc1, cpu1, enc2, cpu2, dec;
    /* first runs: the memory each takes */
    if (timed_encode(t, text, n, 1, &ids, &n_ids, &enc1, &cpu1)) return 1;
    double mem = peak_rss() - base - (double)n_ids * sizeof *ids;
    if (timed_encode(t, text, n, 2, &ids2, &n_ids2, &enc2, &cpu2)) return 1;
    /* both id arrays are alive at this peak */
    double mem2 = peak_rss() - base - (double)(n_ids + n_ids2) * sizeof *ids;
    int same = n_ids == n_ids2 && !memcmp(ids, ids2, n_ids * sizeof *ids);
    free(ids2);
    char *back = NULL;
    dec = 1e30;
    for (int rep = 0; rep < RUNS; rep++) { /* the best of RUNS of each */
        double w, c;
        int32_t *again;
        size_t n_again;
        if (rep > 0) {
            if (timed_encode(t, text, n, 1, &again, &n_again, &w, &c)) return 1;
            free(again);
            if (w < enc1) enc1 = w, cpu1 = c;
            if (timed_encode(t, text, n, 2, &again, &n_again, &w, &c)) return 1;
            same &= n_again == n_ids && !memcmp(ids, again, n_ids * sizeof *ids);
            free(again);
            if (w < enc2) enc2 = w, cpu2 = c;
        }
        free(back);
        double t0 = now();
        if (tok_decode(t, ids, n_ids, &back, &len, err)) return 1;
        if (now() - t0 < dec) dec = now() - t0;
    }
    int round = len == n && !memcmp(back, text, n);
    printf("{\"tokens\": %zu, \"bytes\": %zu, \"encode1_s\": %.4f, \"encode2_s\": %.4f, "
           "\"encode1_cpu_s\": %.4f, \"encode2_cpu_s\": %.4f, \"decode_s\": %.4f, "
           "\"parallel_equal\": %s, \"round_trip\": %s, "
           "\"mem_beyond_mb\": %.1f, \"mem_beyond_2_mb\": %.1f}\n",
           n_ids, n, enc1, enc2, cpu1, cpu2, dec, same ? "true" : "false", round ? "true" : "false",
           mem / 1e6, mem2 / 1e6);
    free(back);
    free(ids);
    free(text);
    tok_free(t);
    return same && round ? 0 : 1;
}

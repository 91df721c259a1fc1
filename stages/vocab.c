/*
** `quill vocab`: what a tokenizer's vocabulary holds.
*/
#include "cli.h"
#include "err.h"
#include "rng.h"
#include "tok.h"
#include "tok_io.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* Print n distinct ids drawn uniformly with seed (a partial Fisher-Yates
** shuffle, so the same seed gives the same sample). */
static int print_sample(const tok *t, long n, unsigned long long seed) {
    int v = tok_vocab_size(t);
    if (n > v) n = v;
    int32_t *perm = malloc((size_t)v * sizeof *perm);
    if (!perm) return cli_error("vocab: out of memory");
    for (int i = 0; i < v; i++)
        perm[i] = i;
    rng r;
    rng_seed(&r, seed);
    for (long i = 0; i < n; i++) {
        long j = i + (long)rng_below(&r, (uint64_t)(v - i));
        int32_t x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
        size_t len;
        const unsigned char *b = tok_token_bytes(t, perm[i], &len);
        if (b) tokio_print_piece(stdout, perm[i], b, len);
    }
    free(perm);
    return 0;
}

int cmd_vocab(cli *c, int argc, char **argv) {
    const char *usage =
        "usage: quill vocab [--model DIR] [--size] [--sample N [--seed S]]\n"
        "Describe a tokenizer (default: bundled gpt2): its source, size, identity\n"
        "and special token; --size prints only the number of ids; --sample N\n"
        "prints N distinct random tokens (ID → 'piece'), the same for the same seed.\n";
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},  {"size", no_argument, 0, 'z'},
        {"sample", required_argument, 0, 'n'}, {"seed", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *model = NULL;
    int size = 0, o, bad;
    long long sample = -1, seed = 0;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (o) {
        case 'm':
            model = optarg;
            break;
        case 'z':
            size = 1;
            break;
        case 'n':
            if ((bad = cli_int_opt("vocab", "--sample", optarg, 0, INT32_MAX, &sample))) return bad;
            break;
        case 's':
            if ((bad = cli_int_opt("vocab", "--seed", optarg, 0, INT64_MAX, &seed))) return bad;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return cli_bad_option("vocab", o, argv);
        }
    }
    if (optind < argc) return cli_usage_error("vocab", "unexpected argument '%s'", argv[optind]);
    if (size && sample >= 0) return cli_usage_error("vocab", "--size or --sample, not both");
    char err[ERR_LEN];
    tok *t;
    if (tok_load(model, &t, err)) return cli_error("vocab: %s", err);
    int rc = 0;
    if (size) {
        printf("%d\n", tok_vocab_size(t));
    } else if (sample >= 0) {
        rc = print_sample(t, sample, seed);
    } else {
        printf("source     %s\nsize       %d\nidentity   %s\n", tok_source(t), tok_vocab_size(t),
               tok_identity(t));
        if (tok_special_id(t) >= 0) printf("special    <|endoftext|> %d\n", tok_special_id(t));
    }
    tok_free(t);
    return rc;
}

/*
** `quill detokenize`: GPT-2 token ids back to the exact text bytes.
*/
#include "cli.h"
#include "err.h"
#include "tok.h"
#include "tok_io.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* Parse whitespace-separated decimal ids; a word that is not one is an
** error naming it (and its position). */
static int parse_ids(char *s, int32_t **ids, size_t *n, char *err) {
    size_t cap = 1024, k = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return err_set(err, "out of memory");
    char *p = s;
    for (;;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (!*p) break;
        char *word = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        char save = *p;
        *p = 0;
        char *end;
        errno = 0;
        long long x = strtoll(word, &end, 10);
        if (*end || end == word || errno || x < INT32_MIN || x > INT32_MAX) {
            err_set(err, "'%.40s' (word %zu) is not a token id", word, k + 1);
            free(v);
            return -1;
        }
        *p = save;
        if (k == cap) {
            int32_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                return err_set(err, "out of memory");
            }
            v = nv;
        }
        v[k++] = (int32_t)x;
    }
    *ids = v;
    *n = k;
    return 0;
}

int cmd_detokenize(cli *c, int argc, char **argv) {
    const char *usage =
        "usage: quill detokenize [--model DIR] [FILE]\n"
        "Decode whitespace-separated GPT-2 token ids (FILE or stdin) to the\n"
        "exact text bytes on stdout.\n"
        "  --model DIR   vocab.json + merges.txt, or tokenizer.json (default: bundled gpt2)\n";
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = NULL;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (o == 'm')
            model = optarg;
        else if (o == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            return cli_bad_option("detokenize", o, argv);
        }
    }
    if (argc - optind > 1)
        return cli_usage_error("detokenize", "one FILE at a time (the ids are read from FILE or "
                                             "stdin)");
    char err[ERR_LEN], *data, *text = NULL;
    size_t n, n_ids = 0, len;
    int32_t *ids = NULL;
    tok *t;
    if (tok_load(model, &t, err)) return cli_error("detokenize: %s", err);
    int rc = 0;
    if (tokio_read_input("detokenize", optind < argc ? argv[optind] : NULL, &data, &n)) {
        rc = 1;
    } else {
        if (parse_ids(data, &ids, &n_ids, err) || tok_decode(t, ids, n_ids, &text, &len, err))
            rc = cli_error("detokenize: %s", err);
        else
            fwrite(text, 1, len, stdout);
        free(data);
    }
    free(ids);
    free(text);
    tok_free(t);
    if (fflush(stdout) || ferror(stdout)) return cli_error("detokenize: cannot write the output");
    return rc;
}

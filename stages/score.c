/*
** `quill score`: how well a model predicts a text (see score.h).
*/
#include "score.h"

#include "cli.h"
#include "err.h"
#include "lm.h"
#include "slurp.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int score_ids(gpt_model *m, const int32_t *ids, size_t n, double *loss, size_t *n_predicted,
              char *err) {
    if (n < 2)
        return err_set(err, "the text has %zu token%s; scoring needs at least 2", n,
                       n == 1 ? "" : "s");
    const int P = gpt_model_config(m)->n_positions;
    if (P < 2) return err_set(err, "n_positions %d leaves no room to predict a token", P);
    const size_t step = (size_t)P - 1;
    const int T = n < (size_t)P ? (int)n : P;
    gpt_batch *b;
    if (gpt_batch_create(m, 1, T, &b, err)) return -1;
    double sum = 0;
    int rc = 0;
    /* Window k starts at k*(P-1): its first token is the previous window's
    ** last, so it predicts tokens start+1 .. start+len-1. */
    for (size_t start = 0; start + 1 < n && !rc; start += step) {
        int len = (int)(n - start < (size_t)P ? n - start : (size_t)P);
        float window_loss;
        rc = gpt_forward(b, ids + start, ids + start, 1, len, NULL, &window_loss, err);
        sum += (double)window_loss * (len - 1);
    }
    gpt_batch_free(b);
    if (rc) return -1;
    *loss = sum / (double)(n - 1);
    *n_predicted = n - 1;
    return 0;
}

static const char score_usage[] =
    "usage: quill score (--model DIR | --checkpoint ID) [--json] [FILE]\n"
    "The mean next-token cross-entropy (nats) and perplexity of the text in FILE\n"
    "(default: standard input) under the model.  Texts longer than the model's\n"
    "n_positions are scored in windows that overlap by one token, so every\n"
    "token after the first is predicted once.\n\n"
    "  --model DIR        a Hugging Face GPT-2 directory\n"
    "  --checkpoint ID    a checkpoint in the store (an id, or latest)\n"
    "  --json             print {\"tokens\": N, \"loss\": x, \"perplexity\": y}\n";

int cmd_score(cli *c, int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"checkpoint", required_argument, 0, 'c'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *checkpoint = NULL;
    int json = 0, ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            model = optarg;
            break;
        case 'c':
            checkpoint = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            fputs(score_usage, stdout);
            return 0;
        default:
            return cli_bad_option("score", ch, argv);
        }
    }
    if (!model == !checkpoint)
        return cli_usage_error("score", "give exactly one of --model DIR and --checkpoint ID");
    if (argc - optind > 1) return cli_usage_error("score", "at most one FILE");
    const char *file = optind < argc ? argv[optind] : NULL;
    char err[ERR_LEN];
    char *text;
    size_t text_n;
    if (slurp(file, &text, &text_n, err)) return cli_error("score: %s", err);
    store *st = checkpoint ? cli_store(c, STORE_READ) : NULL;
    lm_model l;
    if ((checkpoint && !st) || lm_load(st, model, checkpoint, &l, err)) {
        free(text);
        return checkpoint && !st ? 1 : cli_error("score: %s", err);
    }
    int32_t *ids = NULL;
    size_t n = 0, predicted = 0;
    double loss = 0;
    int rc = tok_encode(l.t, text, text_n, 1, &ids, &n, err);
    if (!rc) rc = score_ids(l.m, ids, n, &loss, &predicted, err);
    free(ids);
    free(text);
    lm_free(&l);
    if (rc) return cli_error("score: %s: %s", file ? file : "stdin", err);
    if (json)
        printf("{\"tokens\": %zu, \"loss\": %.6f, \"perplexity\": %.6f}\n", n, loss, exp(loss));
    else
        printf("tokens %zu  loss %.4f  perplexity %.4f\n", n, loss, exp(loss));
    return 0;
}

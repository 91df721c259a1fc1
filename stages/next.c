/*
** `quill next`: the model's next-token distribution after a prompt, the
** most likely tokens and the ones asked for, with their logit,
** probability and rank.
*/
#include "gen_opts.h"
#include "lm.h"

#include "cli.h"
#include "err.h"
#include "gen.h"
#include "jw.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEXT_TOP 10 /* rows `quill next` shows unless --top says */
#define SPELL_(x) #x
#define SPELL(x) SPELL_(x) /* a macro's value as a string literal */
static const char *NEXT_USAGE =
    "usage: quill next (--model DIR | --checkpoint ID|latest) --prompt TEXT [--top N]\n"
    "                  [--token PIECE ...] [--temperature T] [--dtype float32|bf16] [--json]\n\n"
    "Show the model's next-token distribution after the prompt: the N most likely\n"
    "tokens (default " SPELL(
        NEXT_TOP) ") with their logit and probability after temperature, and\n"
                  "the logit, probability and rank of each --token (e.g. --token ' the').\n"
                  "A lower temperature sharpens the distribution, a higher one flattens it;\n"
                  "top-k sampling keeps only the first K rows.\n";

enum { O_MODEL = 256, O_CKPT, O_PROMPT, O_TOP, O_TOKEN, O_TEMP, O_DTYPE, O_JSON, O_HELP };

/* next's options. */
typedef struct next_cli {
    const char *model, *checkpoint, *prompt;
    const char **tokens;
    size_t n_tokens;
    float temperature;
    int bf16, json, top;
} next_cli;

/* One option of next into g: 0, or the exit status of an error (printed). */
static int next_option(next_cli *g, int o, const char *arg, char **argv) {
    long long iv;
    int rc;
    switch (o) {
    case O_MODEL:
        g->model = arg;
        return 0;
    case O_CKPT:
        g->checkpoint = arg;
        return 0;
    case O_PROMPT:
        if (g->prompt) return cli_usage_error("next", "give one --prompt");
        g->prompt = arg;
        return 0;
    case O_TOKEN:
        return gen_opts_push(&g->tokens, &g->n_tokens, arg) ? cli_error("out of memory") : 0;
    case O_TOP:
        if ((rc = cli_int_opt("next", "--top", arg, 0, 1 << 24, &iv))) return rc;
        g->top = (int)iv;
        return 0;
    case O_TEMP:
        return gen_opts_temperature("next", arg, &g->temperature);
    case O_DTYPE:
        return gen_opts_dtype("next", arg, &g->bf16);
    case O_JSON:
        g->json = 1;
        return 0;
    }
    return cli_bad_option("next", o, argv);
}

/* Parse next's argv into g; returns 0 to go on, -1 when --help was
** printed, else the exit status of a usage error (printed). */
static int parse_next_cli(int argc, char **argv, next_cli *g) {
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},   {"checkpoint", required_argument, 0, O_CKPT},
        {"prompt", required_argument, 0, O_PROMPT}, {"top", required_argument, 0, O_TOP},
        {"token", required_argument, 0, O_TOKEN},   {"temperature", required_argument, 0, O_TEMP},
        {"dtype", required_argument, 0, O_DTYPE},   {"json", no_argument, 0, O_JSON},
        {"help", no_argument, 0, O_HELP},           {0, 0, 0, 0}};
    samp_params d;
    samp_defaults(&d);
    memset(g, 0, sizeof *g);
    g->temperature = d.temperature;
    g->top = NEXT_TOP;
    int o, rc;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (o == O_HELP) {
            fputs(NEXT_USAGE, stdout);
            return -1;
        }
        if ((rc = next_option(g, o, optarg, argv))) return rc;
    }
    if (optind < argc) return cli_usage_error("next", "unexpected argument '%s'", argv[optind]);
    if ((rc = gen_opts_source("next", g->model, g->checkpoint, g->prompt != NULL))) return rc;
    char err[ERR_LEN];
    if (gen_check_prompt(g->prompt, strlen(g->prompt), err))
        return cli_usage_error("next", "--prompt: %s", err);
    return 0;
}

/* Report that --token PIECE is not one token: say what may be meant (the
** piece with a leading space, when that is a token) or what it is (the
** tokens it encodes to). */
static void bad_token(const tok *t, const char *piece) {
    char err[ERR_LEN], list[256] = "";
    size_t pl = strlen(piece), n = 0, used = 0;
    char *spaced = malloc(pl + 2);
    int32_t *ids = NULL;
    if (spaced) snprintf(spaced, pl + 2, " %s", piece);
    if (spaced && piece[0] != ' ' && tok_piece_id(t, spaced) >= 0) {
        cli_error("next: --token '%s' is not one token of the vocabulary, but '%s' is (a word "
                  "after a space starts with one)",
                  piece, spaced);
    } else if (!tok_encode(t, piece, pl, 0, &ids, &n, err) && n > 1) {
        for (size_t i = 0; i < n && used < sizeof list; i++) {
            size_t bl;
            const unsigned char *b = tok_token_bytes(t, ids[i], &bl);
            used += (size_t)snprintf(list + used, sizeof list - used, "%s'%.*s'", i ? " " : "",
                                     (int)bl, (const char *)b);
        }
        cli_error("next: --token '%s' is %zu tokens, %s: give each as its own --token", piece, n,
                  list);
    } else {
        cli_error("next: --token '%s' is not one token of the vocabulary", piece);
    }
    free(spaced);
    free(ids);
}

/* Print bytes as a quoted, escaped piece: ' the', '\n'. */
static void print_piece(FILE *f, const unsigned char *b, size_t n, int width) {
    int w = 2;
    fputc('\'', f);
    for (size_t i = 0; i < n; i++) {
        if (b[i] == '\n')
            fputs("\\n", f), w += 2;
        else if (b[i] == '\t')
            fputs("\\t", f), w += 2;
        else if (b[i] == '\'' || b[i] == '\\')
            fprintf(f, "\\%c", b[i]), w += 2;
        else if (b[i] < 32 || b[i] == 127)
            fprintf(f, "\\x%02x", b[i]), w += 4;
        else {
            fputc(b[i], f);
            if ((b[i] & 0xC0) != 0x80) w++;
        }
    }
    fputc('\'', f);
    for (; w < width; w++)
        fputc(' ', f);
}

typedef struct rank_row {
    float logit;
    int32_t id;
} rank_row;

static int cmp_rank(const void *a, const void *b) {
    const rank_row *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The distribution after the prompt. */
typedef struct next_dist {
    int V;
    float T;        /* temperature */
    float *x;       /* logits */
    rank_row *rows; /* highest logit first */
    int *rank;      /* of each id, from 1 */
    double mx, z;   /* softmax(x / T)[id] = exp(x[id] / T - mx) / z */
    int32_t *want;  /* the --token ids */
    size_t n_prompt;
} next_dist;

static double prob(const next_dist *d, int32_t id) {
    return exp(d->x[id] / d->T - d->mx) / d->z;
}

/* Each --token's id into d->want; prints what is wrong with one that is
** not a token and returns 1. */
static int want_tokens(const tok *t, const next_cli *g, next_dist *d) {
    for (size_t i = 0; i < g->n_tokens; i++) {
        d->want[i] = tok_piece_id(t, g->tokens[i]);
        if (d->want[i] < 0) {
            bad_token(t, g->tokens[i]);
            return 1;
        }
    }
    return 0;
}

/* The logits after the prompt into d->x (d->n_prompt its tokens). */
static int logits_after(const lm_model *l, const char *prompt, next_dist *d, char *err) {
    int32_t *ids = NULL;
    gpt_kv *kv = NULL;
    int rc = gen_encode_prompt(l->t, prompt, tok_special_id(l->t), &ids, &d->n_prompt, err);
    if (!rc && (int)d->n_prompt > l->cfg.n_positions)
        rc = err_set(err, "the prompt has %zu tokens, the model %d positions", d->n_prompt,
                     l->cfg.n_positions);
    int slot = 0, nt = (int)d->n_prompt;
    if (!rc)
        rc = gpt_kv_create(l->m, 1, nt, &kv, err) || gpt_kv_step(kv, 1, &slot, &nt, ids, d->x, err);
    gpt_kv_free(kv);
    free(ids);
    return rc ? -1 : 0;
}

/* Sort the vocabulary by logit and rank it; the softmax's terms. */
static void rank_tokens(next_dist *d) {
    d->mx = -INFINITY;
    d->z = 0;
    for (int i = 0; i < d->V; i++) {
        d->rows[i] = (rank_row){d->x[i], i};
        if (d->x[i] / d->T > d->mx) d->mx = d->x[i] / d->T;
    }
    for (int i = 0; i < d->V; i++)
        d->z += exp(d->x[i] / d->T - d->mx);
    qsort(d->rows, (size_t)d->V, sizeof *d->rows, cmp_rank);
    for (int i = 0; i < d->V; i++)
        d->rank[d->rows[i].id] = i + 1;
}

/* --json: one object, the top rows and the asked-for tokens. */
static int print_json(const tok *t, const next_cli *g, const next_dist *d, int top, char *err) {
    json_t *arr = json_array(), *tk = json_array();
    int bad = 0;
    for (int i = 0; i < top + (int)g->n_tokens && !bad; i++) {
        int32_t id = i < top ? d->rows[i].id : d->want[i - top];
        size_t bl;
        const unsigned char *b = tok_token_bytes(t, id, &bl);
        /* A token may be part of a character: its bytes are repaired
        ** here, its id says exactly which it is. */
        json_t *e = jw_object(err, "id", json_integer(id), "token",
                              cli_json_strn((const char *)b, bl), "logit", json_real(d->x[id]),
                              "prob", json_real(prob(d, id)), "rank", json_integer(d->rank[id]));
        bad = jw_append(i < top ? arr : tk, e, "a token", err);
    }
    json_t *j =
        bad ? NULL
            : jw_object(err, "prompt", cli_json_str(g->prompt), "temperature", json_real(d->T),
                        "top", json_incref(arr), "tokens", json_incref(tk));
    json_decref(arr);
    json_decref(tk);
    return j ? jw_print(stdout, j, JSON_COMPACT | JSON_ENSURE_ASCII, "the distribution", err) : -1;
}

/* The table: the top rows with the cumulative probability, then the
** asked-for tokens. */
static void print_table(const tok *t, const next_cli *g, const next_dist *d, int top) {
    printf("Next token after \"%s\" (%zu prompt tokens), temperature %g:\n\n", g->prompt,
           d->n_prompt, d->T);
    printf("  rank  token                   id     logit     prob  cumulative\n");
    double cum = 0;
    for (int i = 0; i < top + (int)g->n_tokens; i++) {
        if (i == top) printf("\n  asked for:\n");
        int32_t id = i < top ? d->rows[i].id : d->want[i - top];
        size_t bl;
        const unsigned char *b = tok_token_bytes(t, id, &bl);
        double p = prob(d, id);
        printf("  %5d  ", d->rank[id]);
        print_piece(stdout, b, bl, 22);
        printf("  %5d  %8.3f  %s", id, d->x[id], p >= 1e-4 ? "" : "  ");
        printf(p >= 1e-4 ? "%6.2f%%" : "%.0e", p >= 1e-4 ? 100 * p : p);
        if (i < top) printf("  %9.2f%%", 100 * (cum += p));
        printf("\n");
    }
    printf("\nprob: softmax(logit / temperature).  top_k K samples among the first K rows;\n"
           "top_p P among the first rows whose cumulative probability reaches P.\n");
}

/* The distribution of model l after g's prompt into d (its arrays
** allocated, d->want set), printed; 0, or 1 after printing the error. */
static int print_next(const lm_model *l, const next_cli *g, next_dist *d) {
    char err[ERR_LEN];
    if (logits_after(l, g->prompt, d, err)) return cli_error("next: %s", err);
    rank_tokens(d);
    int top = g->top < d->V ? g->top : d->V;
    if (!g->json)
        print_table(l->t, g, d, top);
    else if (print_json(l->t, g, d, top, err))
        return cli_error("next: %s", err);
    return 0;
}

/* `quill next` with model l: 0, or 1 after printing the error. */
static int show_next(const lm_model *l, const next_cli *g) {
    next_dist d = {.V = l->cfg.vocab_size, .T = g->temperature};
    d.want = calloc(g->n_tokens + 1, sizeof *d.want);
    d.x = malloc((size_t)d.V * sizeof *d.x);
    d.rows = malloc((size_t)d.V * sizeof *d.rows);
    d.rank = malloc((size_t)d.V * sizeof *d.rank);
    int rc = 1;
    if (!d.want || !d.x || !d.rows || !d.rank)
        cli_error("next: out of memory");
    else if (!want_tokens(l->t, g, &d))
        rc = print_next(l, g, &d);
    free(d.want), free(d.x), free(d.rows), free(d.rank);
    return rc;
}

int cmd_next(cli *c, int argc, char **argv) {
    next_cli g;
    int rc = parse_next_cli(argc, argv, &g);
    store *st = !rc && g.checkpoint ? cli_store(c, STORE_READ) : NULL;
    if (rc || (g.checkpoint && !st)) {
        free(g.tokens);
        return rc < 0 ? 0 : rc ? rc : 1;
    }
    char err[ERR_LEN];
    lm_model l;
    if (lm_load(st, g.model, g.checkpoint, &l, err)) {
        free(g.tokens);
        return cli_error("next: %s", err);
    }
    if (gpt_model_prepare_generation(l.m, g.bf16, err))
        rc = cli_error("next: %s", err);
    else
        rc = show_next(&l, &g);
    lm_free(&l);
    free(g.tokens);
    return rc;
}

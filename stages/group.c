/*
** The group stage (see group.h) and `quill group`.
*/
#include "group.h"

#include "blocks.h"
#include "cli.h"
#include "err.h"
#include "jw.h"
#include "hash.h"
#include "rng.h"
#include "tok.h"
#include "tokenize.h"
#include "tokens.h"

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void group_defaults(group_params *p) {
    memset(p, 0, sizeof *p);
    p->block_size = 64;
    p->mode = GROUP_DOCUMENT;
    p->eval_fraction = 0.0;
    p->seed = 42;
    p->batch_examples = 1000;
}

size_t group_blocks(const int32_t *ids, const size_t *off, size_t n_examples, int block_size,
                    int batch_examples, int32_t **blocks) {
    size_t bs = (size_t)block_size, n = 0,
           step = batch_examples > 0 ? (size_t)batch_examples : n_examples;
    *blocks = malloc((off[n_examples] / bs + 1) * bs * sizeof **blocks);
    for (size_t k = 0; k < n_examples; k += step) {
        size_t end = k + step < n_examples ? k + step : n_examples;
        /* The batch's examples are contiguous: concatenating them is the
        ** range itself; keep whole blocks, drop the remainder. */
        size_t nb = (off[end] - off[k]) / bs;
        memcpy(*blocks + n * bs, ids + off[k], nb * bs * sizeof **blocks);
        n += nb;
    }
    return n;
}

/* A growing list of examples: ids and example offsets. */
typedef struct examples {
    int32_t *ids;
    size_t n, cap;
    size_t *off; /* n_ex + 1 entries */
    size_t n_ex, cap_ex;
} examples;

/* Append an example of n ids to e (after <|endoftext|> when eos_first),
** recording where it starts. */
static void ex_push(examples *e, const int32_t *ids, size_t n, int eos_first) {
    size_t need = e->n + n + 1;
    if (need > e->cap) {
        e->cap = need * 2;
        e->ids = realloc(e->ids, e->cap * sizeof *e->ids);
    }
    if (eos_first) e->ids[e->n++] = GROUP_EOS;
    if (n) memcpy(e->ids + e->n, ids, n * sizeof *ids);
    e->n += n;
    if (e->n_ex + 2 > e->cap_ex) {
        e->cap_ex = (e->n_ex + 2) * 2;
        e->off = realloc(e->off, e->cap_ex * sizeof *e->off);
    }
    e->off[0] = 0;
    e->off[++e->n_ex] = e->n;
}

/* Split text into lines as Python's universal newlines + readlines() do,
** encoding each as one example. */
static int add_lines(examples *e, const char *text, size_t n, group_encode_fn encode, void *ctx,
                     char *err) {
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && text[j] != '\n' && text[j] != '\r')
            j++;
        int32_t *ids = NULL;
        size_t n_ids = 0;
        if (j > i && encode(ctx, text + i, j - i, &ids, &n_ids, err)) return -1;
        ex_push(e, ids, n_ids, 0);
        free(ids);
        if (j < n && text[j] == '\r' && j + 1 < n && text[j + 1] == '\n') j++;
        i = j + 1;
    }
    return 0;
}

/* What collect() carries from one document to the next. */
typedef struct collecting {
    store *st;
    const group_params *p;
    group_encode_fn encode;
    void *ctx;
    examples *e;
    json_t *docs;
    hash_state *h;
    int first;
} collecting;

/* tokens_each_doc's visitor: hash the document and add its examples. */
static int collect_doc(void *ctx, const tokens_doc *d, char *err) {
    collecting *c = ctx;
    int first = c->first;
    c->first = 0;
    hash_update(c->h, d->hash, strlen(d->hash) + 1);
    if (jw_append(c->docs, json_integer(d->id), "the document ids", err)) return -1;
    if (c->p->mode == GROUP_DOCUMENT) {
        if (!d->has_ids)
            return err_set(err,
                           "document %lld has no token ids under this tokenizer; run "
                           "`quill tokenize --docs` first",
                           (long long)d->id);
        ex_push(c->e, d->ids, d->n_ids, !first);
        return 0;
    }
    void *text;
    size_t n;
    if (store_get_blob(c->st, d->text_blob, &text, &n, err)) return -1;
    int rc = add_lines(c->e, text, n, c->encode, c->ctx, err);
    free(text);
    return rc ? err_prefix(err, "document %lld", (long long)d->id) : 0;
}

/* Read every document's examples, and hash the inputs into identity. */
static int collect(store *st, int64_t tok_id, const group_params *p, group_encode_fn encode,
                   void *ctx, examples *e, json_t *docs, char identity[HASH_HEX_LEN], char *err) {
    char tok_hash[HASH_HEX_LEN];
    if (tokens_tokenizer_hash(st, tok_id, tok_hash, err)) return -1;
    collecting c = {st, p, encode, ctx, e, docs, hash_begin(), 1};
    char params[256];
    snprintf(params, sizeof params, "group v1|%s|%s|%d|%.17g|%llu|%d", tok_hash,
             p->mode == GROUP_LINES ? "lines" : "document", p->block_size, p->eval_fraction,
             (unsigned long long)p->seed, p->batch_examples);
    hash_update(c.h, params, strlen(params) + 1);
    int rc = tokens_each_doc(st, tok_id, p->doc_ids, p->n_doc_ids, p->mode == GROUP_DOCUMENT,
                             collect_doc, &c, err);
    hash_end(c.h, identity);
    if (!rc && c.first) rc = err_set(err, "the store has no documents (run `quill ingest` first)");
    return rc;
}

/* Split blocks into train and eval (see group.h) and store the row. */
static int store_sets(store *st, int64_t tok_id, const group_params *p, const int32_t *blocks,
                      size_t nb, json_t *info, const char *identity, int64_t *id, char *err) {
    size_t bs = (size_t)p->block_size, n_eval = 0;
    char *is_eval = calloc(nb + 1, 1);
    if (p->eval_fraction > 0) {
        n_eval = (size_t)ceil(p->eval_fraction * (double)nb);
        if (n_eval >= nb) {
            free(is_eval);
            return err_set(err, "eval_fraction %g of %zu blocks leaves no training block",
                           p->eval_fraction, nb);
        }
        size_t *perm = malloc((nb + 1) * sizeof *perm);
        for (size_t i = 0; i < nb; i++)
            perm[i] = i;
        rng r;
        rng_seed(&r, p->seed);
        for (size_t i = nb - 1; i > 0; i--) { /* Fisher-Yates */
            size_t j = (size_t)rng_below(&r, i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (size_t i = 0; i < n_eval; i++)
            is_eval[perm[i]] = 1;
        free(perm);
    }
    int32_t *tr = malloc((nb - n_eval + 1) * bs * sizeof *tr),
            *ev = malloc((n_eval + 1) * bs * sizeof *ev);
    size_t a = 0, b = 0;
    for (size_t i = 0; i < nb; i++) {
        int32_t *dst = is_eval[i] ? ev + bs * b++ : tr + bs * a++;
        memcpy(dst, blocks + bs * i, bs * sizeof *dst);
    }
    free(is_eval);
    char *pj =
        jw_dumps(json_incref(info), JSON_COMPACT | JSON_PRESERVE_ORDER, "the parameters", err);
    blocks_set set = {.identity = identity,
                      .tokenizer_id = tok_id,
                      .block_size = p->block_size,
                      .mode = p->mode == GROUP_LINES ? "lines" : "document",
                      .params_json = pj,
                      .train = tr,
                      .eval = ev,
                      .n_train = a,
                      .n_eval = b};
    int rc = pj ? blocks_insert(st, &set, id, err) : -1;
    free(pj);
    free(tr);
    free(ev);
    return rc ? err_prefix(err, "group") : 0;
}

int group_check(const group_params *p, char *err) {
    if (p->block_size < 1 || p->block_size > GROUP_MAX_BLOCK)
        return err_set(err, "group: block_size %d out of range [1, %d]", p->block_size,
                       GROUP_MAX_BLOCK);
    if (!(p->eval_fraction >= 0 && p->eval_fraction < 1))
        return err_set(err, "group: eval_fraction %g must be in [0, 1)", p->eval_fraction);
    if (p->batch_examples < 0)
        return err_set(err, "group: batch_examples %d must be >= 0", p->batch_examples);
    return 0;
}

int stage_group(store *st, int64_t tokenizer_id, const group_params *p, group_encode_fn encode,
                void *encode_ctx, int64_t *block_set_id, int *created, char *err) {
    *created = 0;
    if (group_check(p, err)) return -1;
    if (p->mode == GROUP_LINES && !encode)
        return err_set(err, "group: lines mode needs a tokenizer");
    if (store_begin(st, err)) return -1;
    examples e = {0};
    json_t *docs = json_array();
    char identity[HASH_HEX_LEN];
    int32_t *blocks = NULL;
    int rc = collect(st, tokenizer_id, p, encode, encode_ctx, &e, docs, identity, err);
    if (!rc) rc = blocks_find(st, identity, block_set_id, err);
    if (!rc && !*block_set_id) {
        size_t nb = group_blocks(e.ids, e.off, e.n_ex, p->block_size, p->batch_examples, &blocks);
        json_t *info = jw_object(
            err, "block_size", json_integer(p->block_size), "mode",
            json_string(p->mode == GROUP_LINES ? "lines" : "document"), "eval_fraction",
            json_real(p->eval_fraction), "seed", json_integer((json_int_t)p->seed),
            "batch_examples", json_integer(p->batch_examples), "documents", json_incref(docs),
            "examples", json_integer((json_int_t)e.n_ex), "tokens", json_integer((json_int_t)e.n),
            "dropped", json_integer((json_int_t)(e.n - nb * (size_t)p->block_size)));
        if (!info)
            rc = err_prefix(err, "group");
        else if (nb == 0)
            rc = err_set(err, "group: %zu tokens make no block of %d", e.n, p->block_size);
        else
            rc = store_sets(st, tokenizer_id, p, blocks, nb, info, identity, block_set_id, err);
        json_decref(info);
        *created = !rc;
    }
    free(blocks);
    free(e.ids);
    free(e.off);
    json_decref(docs);
    if (rc || store_commit(st, err)) {
        store_rollback(st);
        *created = 0;
        return -1;
    }
    return 0;
}

int group_get(store *st, int64_t id, int *block_size, int32_t **train, size_t *n_train,
              int32_t **eval, size_t *n_eval, char *err) {
    blocks_set b;
    if (blocks_get(st, id, 1, &b, err)) return -1;
    *block_size = b.block_size;
    *train = b.train;
    *eval = b.eval;
    *n_train = b.n_train;
    *n_eval = b.n_eval;
    b.train = b.eval = NULL; /* now the caller's */
    blocks_free(&b);
    return 0;
}

/* ---- `quill group` ---- */

static int encode_line(void *ctx, const char *text, size_t n, int32_t **ids, size_t *n_ids,
                       char *err) {
    return tok_encode(ctx, text, n, 1, ids, n_ids, err);
}

int stage_group_run(store *st, const char *tok_dir, const group_params *p, int64_t *block_set_id,
                    int *created, char *err) {
    int n_done;
    int64_t tok_id;
    tok *t = NULL;
    *created = 0;
    /* check first: tokenizing commits before the grouping starts */
    if (group_check(p, err)) return -1;
    if (stage_tokenize(st, tok_dir, &n_done, &tok_id, err)) return err_prefix(err, "group");
    if (p->mode == GROUP_LINES && tok_load(tok_dir, &t, err)) return err_prefix(err, "group");
    int rc = stage_group(st, tok_id, p, encode_line, t, block_set_id, created, err);
    tok_free(t);
    return rc;
}

/* Print the block set's counts. */
static int group_report(store *st, int64_t id, int created) {
    char err[ERR_LEN];
    blocks_set b;
    if (blocks_get(st, id, 0, &b, err)) return cli_error("group: %s", err);
    printf("block set %lld (%s): %zu train and %zu eval blocks of %d tokens, %s mode; %s\n",
           (long long)id, created ? "new" : "already in the store", b.n_train, b.n_eval,
           b.block_size, b.mode, b.params_json);
    blocks_free(&b);
    return 0;
}

/* `quill group [options]`: runs stage_group_run() and prints the set. */
int cmd_group(cli *c, int argc, char **argv) {
    const char *usage =
        "usage: quill group [--block-size N] [--mode document|lines] [--eval-fraction F]\n"
        "                   [--seed S] [--batch-examples N] [--tokenizer DIR]\n\n"
        "Cut the store's documents into training blocks of N tokens (default 64), as\n"
        "run_clm's group_texts: concatenate, drop the remainder, labels = inputs.\n"
        "  --mode document     each document whole, <|endoftext|> between documents\n"
        "                      (default; documents are tokenized first if needed)\n"
        "  --mode lines        one example per line, as datasets.load_dataset('text')\n"
        "  --eval-fraction F   hold out a seeded fraction of the blocks (default 0)\n"
        "  --seed S            seed of the held-out split (default 42)\n"
        "  --batch-examples N  group per batch of N examples as Dataset.map does\n"
        "                      (default 1000; 0: the whole corpus at once)\n"
        "  --tokenizer DIR     tokenizer directory (default the bundled GPT-2)\n"
        "The same documents and parameters give the same block set (nothing is redone).\n";
    static const struct option opts[] = {{"block-size", required_argument, 0, 'b'},
                                         {"mode", required_argument, 0, 'm'},
                                         {"eval-fraction", required_argument, 0, 'e'},
                                         {"seed", required_argument, 0, 's'},
                                         {"batch-examples", required_argument, 0, 'n'},
                                         {"tokenizer", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    group_params p;
    group_defaults(&p);
    const char *tok_dir = NULL;
    int o, bad;
    long long v;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (o) {
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'b':
            if ((bad = cli_int_opt("group", "--block-size", optarg, 1, GROUP_MAX_BLOCK, &v)))
                return bad;
            p.block_size = (int)v;
            break;
        case 'e':
            if ((bad = cli_recipe_opt("group", "group", "eval-fraction", optarg, &v,
                                      &p.eval_fraction)))
                return bad;
            break;
        case 's':
            if ((bad = cli_int_opt("group", "--seed", optarg, 0, INT64_MAX, &v))) return bad;
            p.seed = (uint64_t)v;
            break;
        case 'n':
            if ((bad = cli_int_opt("group", "--batch-examples", optarg, 0, INT_MAX, &v)))
                return bad;
            p.batch_examples = (int)v;
            break;
        case 't':
            tok_dir = optarg;
            break;
        case 'm':
            if (!strcmp(optarg, "document"))
                p.mode = GROUP_DOCUMENT;
            else if (!strcmp(optarg, "lines"))
                p.mode = GROUP_LINES;
            else
                return cli_usage_error("group", "--mode must be document or lines, not '%s'",
                                       optarg);
            break;
        default:
            return cli_bad_option("group", o, argv);
        }
    }
    if (optind != argc) return cli_usage_error("group", "unexpected argument '%s'", argv[optind]);
    store *st = cli_store(c, STORE_WRITE);
    if (!st) return 1;
    char err[ERR_LEN];
    int created;
    int64_t id;
    if (stage_group_run(st, tok_dir, &p, &id, &created, err)) return cli_error("%s", err);
    return group_report(st, id, created);
}

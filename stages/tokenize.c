/*
** `quill tokenize`: text to GPT-2 token ids (one text, --pieces, --jsonl),
** and with --docs the tokenize stage over the store's documents.
*/
#include "tokenize.h"

#include "cli.h"
#include "err.h"
#include "progress.h"
#include "tok.h"
#include "tok_io.h"
#include "tokens.h"

#include <getopt.h>
#include <jansson.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- the stage ---- */

/* One document of a batch: its text in, its ids out. */
typedef struct doc_job {
    int64_t doc_id;
    char *text;
    size_t n;
    int32_t *ids;
    size_t n_ids;
    int failed;
    char err[ERR_LEN];
} doc_job;

#define BATCH_DOCS 256
#define BATCH_BYTES (64u << 20)

/* Encode a batch: in parallel across documents, or within the one document
** when the batch has a single (large) one. */
static void encode_batch(const tok *t, doc_job *jobs, int n) {
    if (n == 1) {
        jobs[0].failed =
            tok_encode(t, jobs[0].text, jobs[0].n, 1, &jobs[0].ids, &jobs[0].n_ids, jobs[0].err);
        return;
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++)
        jobs[i].failed = tok_encode_ex(t, jobs[i].text, jobs[i].n, 1, 1, 0, &jobs[i].ids,
                                       &jobs[i].n_ids, jobs[i].err);
}

static void free_batch(doc_job *jobs, int n) {
    for (int i = 0; i < n; i++) {
        free(jobs[i].text);
        free(jobs[i].ids);
        jobs[i].text = NULL;
        jobs[i].ids = NULL;
    }
}

/* A batch being read: the documents' texts, up to BATCH_DOCS of them or
** about BATCH_BYTES. */
typedef struct batch {
    store *st;
    doc_job *jobs;
    int n;
    size_t bytes;
} batch;

/* tokens_each_pending's visitor: read one document's text into the batch;
** 1 (stop) once the batch holds BATCH_BYTES. */
static int read_doc(void *ctx, int64_t doc_id, int64_t text_blob, char *err) {
    batch *b = ctx;
    doc_job *j = &b->jobs[b->n];
    memset(j, 0, sizeof *j);
    j->doc_id = doc_id;
    void *text;
    if (store_get_blob(b->st, text_blob, &text, &j->n, err))
        return err_prefix(err, "document %lld", (long long)doc_id);
    j->text = text;
    b->bytes += j->n;
    b->n++;
    return b->bytes >= BATCH_BYTES;
}

/* Tokenize every pending document under tokenizer row tok_id, a batch at a
** time: read, encode in parallel, store. */
static int tokenize_pending(store *st, const tok *t, int64_t tok_id, int *n_done, char *err) {
    batch b = {.st = st, .jobs = calloc(BATCH_DOCS, sizeof *b.jobs)};
    int rc = 0, wide = tok_vocab_size(t) > 65536;
    int64_t after = 0;
    if (!b.jobs) return err_set(err, "tokenize: out of memory");
    progress pg;
    progress_begin(&pg, "tokenize", "doc", 0);
    do {
        b.n = 0;
        b.bytes = 0;
        rc = tokens_each_pending(st, tok_id, after, BATCH_DOCS, read_doc, &b, err) < 0 ? -1 : 0;
        if (!rc) encode_batch(t, b.jobs, b.n);
        for (int i = 0; !rc && i < b.n; i++) {
            doc_job *j = &b.jobs[i];
            if (j->failed)
                rc = err_set(err, "document %lld: %s", (long long)j->doc_id, j->err);
            else
                rc = tokens_put_ids(st, j->doc_id, tok_id, j->ids, j->n_ids, wide, err);
        }
        if (b.n) after = b.jobs[b.n - 1].doc_id;
        *n_done += b.n;
        progress_add(&pg, b.n);
        free_batch(b.jobs, b.n);
    } while (!rc && b.n);
    if (!rc) progress_end(&pg);
    free(b.jobs);
    return rc;
}

int stage_tokenize(store *st, const char *model_dir, int *n_done, int64_t *tokenizer_id,
                   char *err) {
    tok *t;
    *n_done = 0;
    if (tok_load(model_dir, &t, err)) return -1;
    int64_t tok_id = 0;
    if (store_begin(st, err)) {
        tok_free(t);
        return -1;
    }
    if (tokens_tokenizer_put(st, tok_identity(t), tok_source(t), tok_vocab_size(t), &tok_id, err) ||
        tokenize_pending(st, t, tok_id, n_done, err) || store_commit(st, err)) {
        store_rollback(st);
        tok_free(t);
        *n_done = 0;
        return err_prefix(err, "tokenize");
    }
    if (tokenizer_id) *tokenizer_id = tok_id;
    tok_free(t);
    return 0;
}

/* ---- the command ---- */

static int print_ids(const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++)
        printf(i ? " %d" : "%d", ids[i]);
    putchar('\n');
    return 0;
}

/* --jsonl: one {"text": ...} per line in, one {"ids": [...]} per line out. */
static int tokenize_jsonl(const tok *t, char *data, size_t n, int special, const char *name) {
    char err[ERR_LEN];
    size_t line = 0;
    for (char *p = data, *end = data + n; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        line++;
        size_t len = (size_t)(eol - p);
        if (len && p[len - 1] == '\r') len--;
        if (len == 0) { /* a blank line (e.g. at the end) is skipped */
            p = eol + 1;
            continue;
        }
        json_error_t je;
        json_t *o = json_loadb(p, len, JSON_ALLOW_NUL, &je);
        json_t *text = json_object_get(o, "text");
        if (!o || !json_is_string(text)) {
            json_decref(o);
            return cli_error("tokenize: %s: line %zu: %s", name, line,
                             o ? "no \"text\" string" : je.text);
        }
        int32_t *ids;
        size_t n_ids;
        if (tok_encode(t, json_string_value(text), json_string_length(text), special, &ids, &n_ids,
                       err)) {
            json_decref(o);
            return cli_error("tokenize: %s: line %zu: %s", name, line, err);
        }
        json_decref(o);
        fputs("{\"ids\": [", stdout);
        for (size_t i = 0; i < n_ids; i++)
            printf(i ? ", %d" : "%d", ids[i]);
        fputs("]}\n", stdout);
        free(ids);
        p = eol + 1;
    }
    return 0;
}

static const char *usage =
    "usage: quill tokenize [--model DIR] [--no-special] [--pieces | --jsonl] [FILE]\n"
    "       quill tokenize --docs [--model DIR]\n"
    "Encode text with GPT-2's tokenizer (Hugging Face's ids).  The whole of FILE\n"
    "(or stdin) is one text; its ids are printed space-separated on one line.\n"
    "  --model DIR   vocab.json + merges.txt, or tokenizer.json (default: bundled gpt2)\n"
    "  --no-special  <|endoftext|> is plain text, not id 50256\n"
    "  --pieces      one line per token: ID → 'piece'\n"
    "  --jsonl       each line {\"text\": \"...\"} becomes a line {\"ids\": [...]}\n"
    "                (blank lines are skipped; a bad line is an error naming it)\n"
    "  --docs        the tokenize stage: tokenize every document in the store that\n"
    "                has no tokens for this tokenizer yet\n";

/* `quill tokenize --docs`: the tokenize stage over the store; returns the
** exit status. */
static int tokenize_docs(cli *c, const char *model) {
    char err[ERR_LEN];
    store *st = cli_store(c, STORE_WRITE);
    if (!st) return 1;
    int n_done;
    int64_t tid;
    if (stage_tokenize(st, model, &n_done, &tid, err)) return cli_error("%s", err);
    printf("tokenized %d document%s (tokenizer %lld)\n", n_done, n_done == 1 ? "" : "s",
           (long long)tid);
    return 0;
}

/* Encode the n bytes of data as one text and print its ids on one line, or
** with pieces one line per token; returns the exit status. */
static int tokenize_text(const tok *t, const char *data, size_t n, int special, int pieces) {
    char err[ERR_LEN];
    int32_t *ids;
    size_t n_ids;
    if (tok_encode(t, data, n, special, &ids, &n_ids, err)) return cli_error("tokenize: %s", err);
    if (pieces) {
        for (size_t i = 0; i < n_ids; i++) {
            size_t len;
            const unsigned char *b = tok_token_bytes(t, ids[i], &len);
            tokio_print_piece(stdout, ids[i], b, len);
        }
    } else {
        print_ids(ids, n_ids);
    }
    free(ids);
    return 0;
}

/* `quill tokenize`: see usage. */
int cmd_tokenize(cli *c, int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"no-special", no_argument, 0, 's'},
                                         {"pieces", no_argument, 0, 'p'},
                                         {"jsonl", no_argument, 0, 'j'},
                                         {"docs", no_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL;
    int special = 1, pieces = 0, jsonl = 0, docs = 0, o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (o) {
        case 'm':
            model = optarg;
            break;
        case 's':
            special = 0;
            break;
        case 'p':
            pieces = 1;
            break;
        case 'j':
            jsonl = 1;
            break;
        case 'd':
            docs = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return cli_bad_option("tokenize", o, argv);
        }
    }
    if (argc - optind > 1)
        return cli_usage_error("tokenize", "one FILE at a time (the text is read from FILE or "
                                           "stdin)");
    if (pieces && jsonl) return cli_usage_error("tokenize", "--pieces or --jsonl, not both");
    if (docs && (pieces || jsonl || optind < argc))
        return cli_usage_error("tokenize", "--docs takes no FILE, --pieces or --jsonl");
    char err[ERR_LEN];
    if (docs) return tokenize_docs(c, model);
    const char *file = optind < argc ? argv[optind] : NULL;
    tok *t;
    if (tok_load(model, &t, err)) return cli_error("tokenize: %s", err);
    char *data;
    size_t n;
    if (tokio_read_input("tokenize", file, &data, &n)) {
        tok_free(t);
        return 1;
    }
    int rc;
    if (jsonl) {
        rc = tokenize_jsonl(t, data, n, special, file ? file : "stdin");
    } else {
        rc = tokenize_text(t, data, n, special, pieces);
    }
    free(data);
    tok_free(t);
    if (fflush(stdout) || ferror(stdout)) return cli_error("tokenize: cannot write the output");
    return rc;
}

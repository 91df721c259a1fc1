/*
** `quill tokenize`: text to GPT-2 token ids (one text, --pieces, --jsonl),
** and with --docs the tokenize stage over the store's documents.
*/
#include "tokenize.h"

#include "cli.h"
#include "err.h"
#include "progress.h"
#include "slurp.h"
#include "tok.h"
#include "tok_io.h"

#include <getopt.h>
#include <jansson.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- the stage ---- */

/* The tokenizers row for t, inserted if new. */
static int tokenizer_row(store *st, const tok *t, int64_t *id, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "INSERT INTO tokenizers(hash, source, vocab_size) VALUES (?, ?, ?) "
                      "ON CONFLICT(hash) DO UPDATE SET source = source RETURNING id",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, tok_identity(t), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, tok_source(t), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, tok_vocab_size(t));
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : err_set(err, "tokenizers: %s", sqlite3_errmsg(store_db(st)));
}

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

/* Store the ids of one document as a little-endian u16/u32 blob. */
static int store_ids(store *st, sqlite3_stmt *ins, int64_t tok_id, int wide, doc_job *j,
                     char *err) {
    size_t w = wide ? 4 : 2;
    unsigned char *buf = malloc(j->n_ids * w + 1);
    if (!buf) return err_set(err, "document %lld: out of memory", (long long)j->doc_id);
    for (size_t i = 0; i < j->n_ids; i++) {
        uint32_t v = (uint32_t)j->ids[i];
        for (size_t b = 0; b < w; b++)
            buf[i * w + b] = (unsigned char)(v >> (8 * b));
    }
    int64_t blob;
    int rc = store_put_blob(st, buf, j->n_ids * w, &blob, err);
    free(buf);
    if (rc) return err_prefix(err, "document %lld", (long long)j->doc_id);
    sqlite3_reset(ins);
    sqlite3_bind_int64(ins, 1, j->doc_id);
    sqlite3_bind_int64(ins, 2, tok_id);
    sqlite3_bind_int64(ins, 3, (sqlite3_int64)j->n_ids);
    sqlite3_bind_text(ins, 4, wide ? "u32" : "u16", -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 5, blob);
    if (sqlite3_step(ins) != SQLITE_DONE)
        return err_set(err, "doc_tokens: %s", sqlite3_errmsg(store_db(st)));
    return 0;
}

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

/* Tokenize every pending document under tokenizer row tok_id. */
static int tokenize_pending(store *st, const tok *t, int64_t tok_id, int *n_done, char *err) {
    sqlite3_stmt *sel = NULL, *ins = NULL;
    doc_job *jobs = calloc(BATCH_DOCS, sizeof *jobs);
    int n = 0, rc = -1, more = 1, wide = tok_vocab_size(t) > 65536;
    if (!jobs) return err_set(err, "tokenize: out of memory");
    if (store_prepare(st,
                      "SELECT d.id, d.text_blob FROM documents d WHERE NOT EXISTS "
                      "(SELECT 1 FROM doc_tokens k WHERE k.doc_id = d.id AND k.tokenizer_id = ?1) "
                      "ORDER BY d.id",
                      &sel, err) ||
        store_prepare(st,
                      "INSERT INTO doc_tokens(doc_id, tokenizer_id, n_tokens, dtype, ids_blob) "
                      "VALUES (?, ?, ?, ?, ?)",
                      &ins, err))
        goto done;
    sqlite3_bind_int64(sel, 1, tok_id);
    progress pg;
    progress_begin(&pg, "tokenize", "doc", 0);
    /* Read a batch (reading while inserting is fine: the selection excludes
    ** what was inserted), encode it, store it; repeat. */
    while (more) {
        size_t bytes = 0;
        n = 0;
        while (n < BATCH_DOCS && bytes < BATCH_BYTES) {
            int step = sqlite3_step(sel);
            if (step == SQLITE_DONE) {
                more = 0;
                break;
            }
            if (step != SQLITE_ROW) {
                err_set(err, "documents: %s", sqlite3_errmsg(store_db(st)));
                goto done;
            }
            doc_job *j = &jobs[n];
            memset(j, 0, sizeof *j);
            j->doc_id = sqlite3_column_int64(sel, 0);
            void *text;
            if (store_get_blob(st, sqlite3_column_int64(sel, 1), &text, &j->n, err)) {
                err_prefix(err, "document %lld", (long long)j->doc_id);
                goto done;
            }
            j->text = text;
            bytes += j->n;
            n++;
        }
        encode_batch(t, jobs, n);
        for (int i = 0; i < n; i++) {
            if (jobs[i].failed) {
                err_set(err, "document %lld: %s", (long long)jobs[i].doc_id, jobs[i].err);
                goto done;
            }
            if (store_ids(st, ins, tok_id, wide, &jobs[i], err)) goto done;
        }
        *n_done += n;
        progress_add(&pg, n);
        free_batch(jobs, n);
        n = 0;
    }
    rc = 0;
    progress_end(&pg);
done:
    free_batch(jobs, n);
    free(jobs);
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
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
    if (tokenizer_row(st, t, &tok_id, err) || tokenize_pending(st, t, tok_id, n_done, err) ||
        store_commit(st, err)) {
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

int cmd_tokenize(cli *c, int argc, char **argv) {
    const char *usage =
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
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
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
            fputs(usage, stderr);
            return 2;
        }
    }
    if (argc - optind > 1 || (pieces && jsonl) || (docs && (pieces || jsonl || optind < argc))) {
        fputs(usage, stderr);
        return 2;
    }
    char err[ERR_LEN];
    if (docs) {
        store *st = cli_store(c);
        if (!st) return 1;
        int n_done;
        int64_t tid;
        if (stage_tokenize(st, model, &n_done, &tid, err)) return cli_error("%s", err);
        printf("tokenized %d document%s (tokenizer %lld)\n", n_done, n_done == 1 ? "" : "s",
               (long long)tid);
        return 0;
    }
    const char *file = optind < argc ? argv[optind] : NULL;
    tok *t;
    if (tok_load(model, &t, err)) return cli_error("tokenize: %s", err);
    char *data;
    size_t n;
    if (slurp(file, &data, &n, err)) {
        tok_free(t);
        return cli_error("tokenize: %s", err);
    }
    int rc;
    if (jsonl) {
        rc = tokenize_jsonl(t, data, n, special, file ? file : "stdin");
    } else {
        int32_t *ids;
        size_t n_ids;
        rc = tok_encode(t, data, n, special, &ids, &n_ids, err);
        if (rc) {
            rc = cli_error("tokenize: %s", err);
        } else if (pieces) {
            for (size_t i = 0; i < n_ids; i++) {
                size_t len;
                const unsigned char *b = tok_token_bytes(t, ids[i], &len);
                tokio_print_piece(stdout, ids[i], b, len);
            }
        } else {
            print_ids(ids, n_ids);
        }
        free(ids);
    }
    free(data);
    tok_free(t);
    if (fflush(stdout) || ferror(stdout)) return cli_error("tokenize: cannot write the output");
    return rc;
}

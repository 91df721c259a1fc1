/*
** `quill docs list [--json]` and `quill docs show ID`: what the store holds.
*/
#include "cli.h"

#include "documents.h"
#include "err.h"
#include "jw.h"
#include "text.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* documents_fn for docs_list: one line, or one JSON object, per document. */
typedef struct list_ctx {
    int json;
    char err[ERR_LEN];
} list_ctx;

static int list_one(void *ctx, const documents_row *d) {
    list_ctx *lc = ctx;
    if (lc->json) {
        json_t *o =
            jw_object(lc->err, "id", json_integer(d->id), "source", cli_json_str(d->source), "hash",
                      cli_json_str(d->hash), "bytes", json_integer(d->bytes), "chars",
                      json_integer(d->chars), "ingested_at", cli_json_str(d->ingested_at));
        if (!o || jw_print(stdout, o, JSON_COMPACT | JSON_ENSURE_ASCII, "the document", lc->err))
            return cli_error("docs: document %lld: %s", (long long)d->id, lc->err);
        return 0;
    }
    /* a file or archive member name: control characters shown, not obeyed */
    char *name = txt_escape_controls(d->source);
    printf("%6lld  %10lld  %10lld  %-32s  %s\n", (long long)d->id, (long long)d->bytes,
           (long long)d->chars, d->hash, name ? name : "?");
    free(name);
    return 0;
}

/* Print one line (or, with json, one JSON object) per document; returns
** the exit status. */
static int docs_list(store *st, int json) {
    list_ctx lc = {.json = json};
    if (!json) printf("%6s  %10s  %10s  %-32s  %s\n", "id", "bytes", "chars", "hash", "source");
    int rc = documents_each(st, list_one, &lc, lc.err);
    if (rc < 0) return cli_error("docs: %s", lc.err);
    return rc;
}

/* Print the text of document arg (an id) to stdout; returns the exit
** status, after a message when arg is not a document. */
static int docs_show(store *st, const char *arg) {
    char err[ERR_LEN];
    long long id;
    if (cli_int(arg, 1, INT64_MAX, &id))
        return cli_error("docs show: '%s' is not a document id", arg);
    void *text;
    size_t n;
    int found;
    if (documents_text(st, id, &text, &n, &found, err)) return cli_error("docs: %s", err);
    if (!found) return cli_error("docs show: no document with id %lld", id);
    fwrite(text, 1, n, stdout);
    free(text);
    return 0;
}

/* `quill docs list [--json]` and `quill docs show ID`. */
int cmd_docs(cli *c, int argc, char **argv) {
    const char *usage = "usage: quill docs list [--json]\n"
                        "       quill docs show ID\n";
    if (argc >= 2 && !strcmp(argv[1], "--help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "list") &&
        (argc == 2 || (argc == 3 && !strcmp(argv[2], "--json")))) {
        store *st = cli_store(c, STORE_READ);
        return st ? docs_list(st, argc == 3) : 1;
    }
    if (argc == 3 && !strcmp(argv[1], "show")) {
        store *st = cli_store(c, STORE_READ);
        return st ? docs_show(st, argv[2]) : 1;
    }
    if (argc < 2) return cli_usage_error("docs", "list or show?");
    if (strcmp(argv[1], "list") && strcmp(argv[1], "show"))
        return cli_usage_error("docs", "unknown subcommand '%s'", argv[1]);
    return cli_usage_error("docs", "%s: wrong arguments", argv[1]);
}

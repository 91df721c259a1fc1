/*
** `quill docs list [--json]` and `quill docs show ID`: what the store holds.
*/
#include "cli.h"

#include "err.h"
#include "jw.h"
#include "text.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Print one line (or, with json, one JSON object) per document; returns
** the exit status. */
static int docs_list(store *st, int json) {
    char err[ERR_LEN];
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT id, source, hash, bytes, chars, ingested_at FROM documents "
                      "ORDER BY id",
                      &s, err))
        return cli_error("docs: %s", err);
    if (!json) printf("%6s  %10s  %10s  %-32s  %s\n", "id", "bytes", "chars", "hash", "source");
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *source = (const char *)sqlite3_column_text(s, 1);
        const char *hash = (const char *)sqlite3_column_text(s, 2);
        if (json) {
            int64_t id = sqlite3_column_int64(s, 0);
            json_t *o =
                jw_object(err, "id", json_integer(id), "source", cli_json_str(source), "hash",
                          cli_json_str(hash), "bytes", json_integer(sqlite3_column_int64(s, 3)),
                          "chars", json_integer(sqlite3_column_int64(s, 4)), "ingested_at",
                          cli_json_str((const char *)sqlite3_column_text(s, 5)));
            if (!o || jw_print(stdout, o, JSON_COMPACT | JSON_ENSURE_ASCII, "the document", err)) {
                sqlite3_finalize(s);
                return cli_error("docs: document %lld: %s", (long long)id, err);
            }
        } else {
            /* a file or archive member name: control characters shown, not obeyed */
            char *name = txt_escape_controls(source);
            printf("%6lld  %10lld  %10lld  %-32s  %s\n", (long long)sqlite3_column_int64(s, 0),
                   (long long)sqlite3_column_int64(s, 3), (long long)sqlite3_column_int64(s, 4),
                   hash, name ? name : "?");
            free(name);
        }
    }
    sqlite3_finalize(s);
    return 0;
}

/* Print the text of document arg (an id) to stdout; returns the exit
** status, after a message when arg is not a document. */
static int docs_show(store *st, const char *arg) {
    char err[ERR_LEN];
    long long id;
    if (cli_int(arg, 1, INT64_MAX, &id))
        return cli_error("docs show: '%s' is not a document id", arg);
    sqlite3_stmt *s;
    if (store_prepare(st, "SELECT text_blob FROM documents WHERE id = ?", &s, err))
        return cli_error("docs: %s", err);
    sqlite3_bind_int64(s, 1, id);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        return cli_error("docs show: no document with id %lld", id);
    }
    int64_t blob = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    void *text;
    size_t n;
    if (store_get_blob(st, blob, &text, &n, err)) return cli_error("docs show: %s", err);
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

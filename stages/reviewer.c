/*
** `quill reviewer add NAME [--admin] | list [--json] | remove NAME`: who may
** log in to the review desk (quill serve).  `add` prints the login token on
** stdout alone, once; the store keeps only its SHA-256 (db/reviewers.h).
*/
#include "cli.h"
#include "err.h"
#include "reviewers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage = "usage: quill reviewer add NAME [--admin]   prints NAME's login token\n"
                           "       quill reviewer list [--json]\n"
                           "       quill reviewer remove NAME         revokes the token and every "
                           "session\n"
                           "Reviewers log in to `quill serve` with their token.  Names are\n"
                           "case-folded and trimmed: \"Ann\" and \"ann \" are one reviewer.\n";

/* Print the reviewers as a table or JSON lines; returns the exit status. */
static int list(store *st, int json) {
    char err[ERR_LEN];
    reviewers_row *v;
    size_t n;
    if (reviewers_list(st, &v, &n, err)) return cli_error("reviewer list: %s", err);
    if (!json) printf("%-24s  %-5s  %-8s  %s\n", "name", "admin", "sessions", "added");
    for (size_t i = 0; i < n; i++) {
        if (json) {
            json_t *o =
                json_pack("{s:o,s:b,s:I,s:s}", "name", cli_json_str(v[i].name), "admin", v[i].admin,
                          "sessions", (json_int_t)v[i].sessions, "created_at", v[i].created_at);
            char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
            if (line) puts(line);
            free(line);
            json_decref(o);
        } else {
            printf("%-24s  %-5s  %-8lld  %s\n", v[i].name, v[i].admin ? "yes" : "no",
                   (long long)v[i].sessions, v[i].created_at);
        }
    }
    reviewers_rows_free(v, n);
    return 0;
}

/* `quill reviewer`: add, list, remove; returns the exit status. */
int cmd_reviewer(cli *c, int argc, char **argv) {
    int admin = 0, json = 0, npos = 0;
    const char *pos[3] = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--admin")) {
            admin = 1;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("reviewer", "unknown option '%s'", argv[i]);
        } else if (npos < 3) {
            pos[npos++] = argv[i];
        } else {
            return cli_usage_error("reviewer", "too many arguments");
        }
    }
    const char *sub = pos[0];
    if (!sub) return cli_usage_error("reviewer", "add, list or remove?");
    int is_add = !strcmp(sub, "add"), is_list = !strcmp(sub, "list"),
        is_remove = !strcmp(sub, "remove");
    if (!is_add && !is_list && !is_remove)
        return cli_usage_error("reviewer", "unknown subcommand '%s'", sub);
    if (npos != (is_list ? 1 : 2))
        return cli_usage_error("reviewer", "%s: %s", sub,
                               is_list ? "takes no NAME" : "needs exactly one NAME");
    if ((admin && !is_add) || (json && !is_list))
        return cli_usage_error("reviewer", "%s: %s is not an option of %s", sub,
                               admin ? "--admin" : "--json", sub);
    store *st = cli_store(c, is_list ? STORE_READ : STORE_WRITE);
    if (!st) return 1;
    if (is_list) return list(st, json);
    char err[ERR_LEN];
    if (is_remove) {
        int64_t live = 0;
        if (reviewers_remove(st, pos[1], &live, err)) return cli_error("reviewer remove: %s", err);
        fprintf(stderr, "quill: reviewer removed; %lld live session%s ended\n", (long long)live,
                live == 1 ? "" : "s");
        return 0;
    }
    char token[REVIEWERS_SECRET_LEN], *key;
    if (reviewers_add(st, pos[1], admin, token, &key, err))
        return cli_error("reviewer add: %s", err);
    /* the token alone on stdout, so a script can take it; the rest on stderr */
    fprintf(stderr, "quill: reviewer %s added%s; their login token (shown only now):\n", key,
            admin ? " (admin)" : "");
    printf("%s\n", token);
    free(key);
    return 0;
}

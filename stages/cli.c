/*
** Helpers shared by the commands (see cli.h).
*/
#include "cli.h"

#include "err.h"

#include <stdarg.h>
#include <stdio.h>

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("quill: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

store *cli_store(cli *c) {
    if (c->st) return c->st;
    char err[ERR_LEN];
    if (store_open(c->db_path, &c->st, err)) {
        cli_error("store: %s", err);
        c->st = NULL;
    }
    return c->st;
}

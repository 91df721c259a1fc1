/*
** Helpers shared by the commands (see cli.h).
*/
#include "cli.h"

#include "err.h"
#include "text.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("quill: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

store *cli_store(cli *c, store_mode mode) {
    if (c->st && c->open_mode <= mode) return c->st;
    store_close(c->st);
    c->st = NULL;
    c->open_mode = mode;
    char err[ERR_LEN];
    struct stat sb;
    if (mode != STORE_CREATE && stat(c->db_path, &sb) != 0 && errno == ENOENT) {
        cli_error("no store at %s (create one with quill ingest or quill run)", c->db_path);
        return NULL;
    }
    if (store_open_mode(c->db_path, mode, &c->st, err)) {
        cli_error("store: %s", err);
        c->st = NULL;
    }
    return c->st;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "quill: %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see quill %s --help)\n", cmd);
    va_end(ap);
    return 2;
}

int cli_bad_option(const char *cmd, int ret, char **argv) {
    const char *opt = argv[optind - 1];
    char s[3] = {'-', (char)optopt, 0};
    /* a short option's word may hold several options: name just the one */
    if (optopt && strncmp(opt, "--", 2)) opt = s;
    if (ret == ':') return cli_usage_error(cmd, "option '%s' needs a value", opt);
    return cli_usage_error(cmd, "unknown option '%s'", opt);
}

int cli_int(const char *s, long long min, long long max, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max) return -1;
    *out = v;
    return 0;
}

json_t *cli_json_str(const char *s) {
    if (!s) return json_null();
    size_t n = strlen(s), bad, rn;
    if (txt_utf8_valid((const unsigned char *)s, n, &bad)) return json_stringn(s, n);
    char *r = txt_utf8_repair((const unsigned char *)s, n, &rn);
    json_t *j = r ? json_stringn(r, rn) : NULL;
    free(r);
    return j;
}

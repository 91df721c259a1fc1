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
    return s ? cli_json_strn(s, strlen(s)) : json_null();
}

json_t *cli_json_strn(const char *s, size_t n) {
    size_t bad, rn;
    if (txt_utf8_valid((const unsigned char *)s, n, &bad)) return json_stringn(s, n);
    char *r = txt_utf8_repair((const unsigned char *)s, n, &rn);
    json_t *j = r ? json_stringn(r, rn) : NULL;
    free(r);
    return j;
}

/*
** Helpers shared by the commands (see cli.h).
*/
#include "cli.h"

#include "err.h"
#include "recipe.h"
#include "text.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <signal.h>
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

int cli_float(const char *s, double min, double max, int open_min, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* strtod takes "inf", "nan" and hex; ERANGE flags 1e309 (and underflow) */
    if (!*s || *end || errno || !isfinite(v) || v < min || v > max || (open_min && v == min))
        return -1;
    *out = v;
    return 0;
}

int cli_int_opt(const char *cmd, const char *opt, const char *s, long long min, long long max,
                long long *out) {
    if (!cli_int(s, min, max, out)) return 0;
    return cli_usage_error(cmd, "%s '%s' is not a whole number in [%lld, %lld]", opt, s, min, max);
}

int cli_float_opt(const char *cmd, const char *opt, const char *s, double min, double max,
                  int open_min, double *out) {
    if (!cli_float(s, min, max, open_min, out)) return 0;
    if (max >= CLI_UNBOUNDED)
        return cli_usage_error(cmd, "%s '%s' is not a finite number %s %g", opt, s,
                               open_min ? ">" : ">=", min);
    return cli_usage_error(cmd, "%s '%s' is not a number in %c%g, %g]", opt, s,
                           open_min ? '(' : '[', min, max);
}

const char *cli_option_name(const struct option *opts, int val) {
    for (; opts->name; opts++)
        if (opts->val == val) return opts->name;
    assert(0); /* getopt_long returned a value of the table */
    return NULL;
}

int cli_recipe_opt(const char *cmd, const char *section, const char *name, const char *arg,
                   long long *iv, double *v) {
    char key[64], opt[64];
    snprintf(opt, sizeof opt, "--%s", name);
    snprintf(key, sizeof key, "%s", name);
    for (char *q = key; *q; q++)
        if (*q == '-') *q = '_';
    rcp_range r;
    int found = rcp_key_range(section, key, &r);
    assert(found == 0); /* the callers pass only options that are recipe keys */
    (void)found;
    if (r.is_int) return cli_int_opt(cmd, opt, arg, (long long)r.min, (long long)r.max, iv);
    return cli_float_opt(cmd, opt, arg, r.min, r.max, r.open_min, v);
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

void cli_put_clean(FILE *f, const char *s) {
    txt_put_clean(f, s, TXT_CLEAN_TEXT);
}

void cli_fault(const char *point) {
    const char *f = getenv("QUILL_FAULT");
    if (f && !strcmp(f, point)) raise(SIGKILL);
}

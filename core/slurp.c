/*
** Whole-file reads (see slurp.h).
*/
#include "slurp.h"

#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int slurp(const char *path, char **data, size_t *n, char *err) {
    int use_stdin = !path || !strcmp(path, "-");
    const char *name = use_stdin ? "stdin" : path;
    FILE *f = use_stdin ? stdin : fopen(path, "rb");
    if (!f) return err_set(err, "%s: cannot open: %s", name, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    while (buf) { /* grow by doubling until a read comes up short */
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap) break;
        char *nb = realloc(buf, 2 * cap + 1);
        if (!nb) free(buf);
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    if (!use_stdin) fclose(f);
    if (!buf) return err_set(err, "%s: out of memory", name);
    if (bad) {
        free(buf);
        return err_set(err, "%s: read error", name);
    }
    buf[len] = 0;
    *data = buf;
    *n = len;
    return 0;
}

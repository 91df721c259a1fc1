/*
** Error message helpers (see err.h for the convention).
*/
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(char *err, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, ERR_LEN, fmt, ap);
    va_end(ap);
    return -1;
}

int err_prefix(char *err, const char *fmt, ...) {
    if (!err) return -1;
    char prefix[ERR_LEN], old[ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err, ERR_LEN);
    old[ERR_LEN - 1] = 0;
    size_t n = strlen(prefix);
    if (n > ERR_LEN / 2) n = ERR_LEN / 2;
    memcpy(err, prefix, n);
    snprintf(err + n, ERR_LEN - n, ": %s", old);
    return -1;
}

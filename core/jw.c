/*
** Checked JSON writing (see jw.h).
*/
#include "jw.h"

#include "err.h"

#include <stdarg.h>
#include <stdlib.h>

/* The one message for a value jansson could not make or accept. */
static int jw_fail(char *err, const char *what) {
    return err_set(err,
                   "cannot write %s as JSON (invalid UTF-8, a number that is not finite, or "
                   "out of memory)",
                   what);
}

json_t *jw_object_(char *err, const char *key, ...) {
    json_t *o = json_object();
    int bad = 0;
    va_list ap;
    va_start(ap, key);
    /* Walk every pair even after a failure: each value is owned here. */
    for (; key; key = va_arg(ap, const char *)) {
        json_t *v = va_arg(ap, json_t *);
        if (bad)
            json_decref(v);
        else
            bad = jw_set(o, key, v, err);
    }
    va_end(ap);
    if (!o && !bad) bad = jw_fail(err, "an object");
    if (!bad) return o;
    json_decref(o);
    return NULL;
}

/* (jansson releases v itself whenever it refuses it.) */
int jw_set(json_t *obj, const char *key, json_t *v, char *err) {
    char what[128];
    if (v && json_object_set_new(obj, key, v) == 0) return 0;
    snprintf(what, sizeof what, "field '%s'", key);
    return jw_fail(err, what);
}

int jw_append(json_t *arr, json_t *v, const char *what, char *err) {
    if (v && json_array_append_new(arr, v) == 0) return 0;
    return jw_fail(err, what);
}

int jw_push(json_t **arr, json_t *v, const char *what, char *err) {
    if (jw_append(*arr, v, what, err) == 0) return 0;
    json_decref(*arr);
    *arr = NULL;
    return -1;
}

char *jw_dumps(json_t *v, size_t flags, const char *what, char *err) {
    char *s = v ? json_dumps(v, flags) : NULL;
    json_decref(v);
    if (!s) jw_fail(err, what);
    return s;
}

int jw_print(FILE *f, json_t *v, size_t flags, const char *what, char *err) {
    char *s = jw_dumps(v, flags, what, err);
    if (!s) return -1;
    int rc = fprintf(f, "%s\n", s) < 0 ? err_set(err, "%s: cannot write: output error", what) : 0;
    free(s);
    return rc;
}

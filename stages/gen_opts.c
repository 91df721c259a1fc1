/*
** Option parsing shared by generate and next; see gen_opts.h.
*/
#include "gen_opts.h"

#include "cli.h"
#include "err.h"
#include "form.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int gen_opts_push(const char ***v, size_t *n, const char *s) {
    const char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) return -1;
    nv[(*n)++] = s;
    *v = nv;
    return 0;
}

int gen_opts_dtype(const char *cmd, const char *arg, int *bf16) {
    if (strcmp(arg, "float32") && strcmp(arg, "fp32") && strcmp(arg, "bf16") &&
        strcmp(arg, "bfloat16"))
        return cli_usage_error(cmd, "--dtype must be float32 or bf16, not '%s'", arg);
    *bf16 = !strncmp(arg, "bf", 2);
    return 0;
}

int gen_opts_temperature(const char *cmd, const char *arg, float *t) {
    double v;
    long long unused;
    if (!cli_float(arg, 0, 0, 0, &v))
        return cli_usage_error(cmd,
                               "--temperature 0 is not a temperature (it must be > 0); for "
                               "greedy decoding use --greedy%s",
                               strcmp(cmd, "next") ? "" : " with quill generate");
    int rc = cli_recipe_opt(cmd, "generate", "temperature", arg, &unused, &v);
    if (!rc) *t = (float)v;
    return rc;
}

int gen_opts_source(const char *cmd, const char *model, const char *checkpoint, size_t n_prompts) {
    if (!model == !checkpoint) return cli_usage_error(cmd, "give --model DIR or --checkpoint ID");
    if (!n_prompts) return cli_usage_error(cmd, "give a --prompt");
    return 0;
}

char **gen_opts_words(const char *s, size_t *n) {
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **v = calloc(cap, sizeof *v);
    *n = 0;
    for (const char *p = s; v;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        while (l && p[0] == ' ')
            p++, l--;
        if (l && !(v[(*n)++] = strndup(p, l))) {
            form_words_free(v, *n);
            *n = 0;
            return NULL;
        }
        if (!e) break;
        p = e + 1;
    }
    return v;
}

int gen_opts_id_lists(const char *s, int nested, int32_t **ids, size_t **off, size_t *n,
                      char *err) {
    json_error_t je;
    json_t *a = json_loads(s, 0, &je), *x, *y;
    if (!a || !json_is_array(a)) {
        json_decref(a);
        return err_set(err, "'%s' is not a JSON array", s);
    }
    size_t total = 0, i, j, k = 0;
    json_array_foreach(a, i, x) total += nested ? json_array_size(x) : 1;
    *ids = malloc((total + 1) * sizeof **ids);
    *off = malloc((json_array_size(a) + 1) * sizeof **off);
    *n = 0;
    if (!*ids || !*off) {
        json_decref(a);
        return GEN_OPTS_NOMEM;
    }
    int rc = 0;
    json_array_foreach(a, i, x) {
        (*off)[(*n)++] = k;
        if (!nested) {
            if (!json_is_integer(x))
                rc = -1;
            else
                (*ids)[k++] = (int32_t)json_integer_value(x);
            continue;
        }
        if (!json_is_array(x) || json_array_size(x) == 0) rc = -1;
        json_array_foreach(x, j, y) {
            if (!json_is_integer(y))
                rc = -1;
            else
                (*ids)[k++] = (int32_t)json_integer_value(y);
        }
    }
    (*off)[*n] = k;
    json_decref(a);
    if (rc)
        return err_set(err, "'%s': expected %s", s,
                       nested ? "a list of non-empty lists of ids" : "a list of ids");
    return 0;
}

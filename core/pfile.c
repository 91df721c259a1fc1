/*
** Prompts files; see pfile.h.
*/
#include "pfile.h"

#include "err.h"
#include "recipe.h"
#include "slurp.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a pfile's prompts and rows point into. */
typedef struct pfile_own {
    char *data;        /* the file (a .txt file's prompts, NUL-terminated in place) */
    json_t *objs;      /* the rows' objects (their strings) */
    const char ***ban; /* per row: its banned words, or NULL */
    char **meta;       /* per row: its meta as JSON text, or NULL */
    size_t cap;
} pfile_own;

/* A row's number keys: where they go in gen_row. */
typedef struct num_key {
    const char *name;
    size_t off;
    int is_float; /* a float field; else an int (seed: uint64_t) */
} num_key;

static const num_key NUM_KEYS[] = {
    {"num_return_sequences", offsetof(gen_row, num_return_sequences), 0},
    {"max_new_tokens", offsetof(gen_row, max_new_tokens), 0},
    {"temperature", offsetof(gen_row, temperature), 1},
    {"top_k", offsetof(gen_row, top_k), 0},
    {"top_p", offsetof(gen_row, top_p), 1},
    {"seed", offsetof(gen_row, seed), 0},
};
#define N_NUM (sizeof NUM_KEYS / sizeof *NUM_KEYS)
static const char *const OTHER_KEYS[] = {"prompt", "banned_words", "forbid_chars", "meta"};

void pfile_free(pfile *f) {
    pfile_own *o = f->own;
    for (size_t i = 0; o && i < f->n; i++)
        free(o->ban[i]), free(o->meta[i]);
    if (o) {
        free(o->data), free(o->ban), free(o->meta);
        json_decref(o->objs);
        free(o);
    }
    for (size_t i = 0; i < f->n_errors; i++)
        free(f->errors[i]);
    free(f->errors), free(f->prompts), free(f->rows);
    memset(f, 0, sizeof *f);
}

/* Note line `line` of path as bad, with the problem msg; -1 when out of
** memory. */
static int bad_line(pfile *f, const char *path, size_t line, const char *msg) {
    f->n_bad++;
    if (f->n_errors == PFILE_MAX_ERRORS) return 0;
    char **e = realloc(f->errors, (f->n_errors + 1) * sizeof *e);
    if (!e) return -1;
    f->errors = e;
    if (asprintf(&e[f->n_errors], "%s:%zu: %s", path, line, msg) < 0) return -1;
    f->n_errors++;
    return 0;
}

/* Room for one more prompt: 0, or -1 when out of memory. */
static int grow(pfile *f) {
    pfile_own *o = f->own;
    if (f->n < o->cap) return 0;
    size_t cap = o->cap ? 2 * o->cap : 64;
    const char **p = realloc(f->prompts, cap * sizeof *p);
    if (p) f->prompts = p;
    gen_row *r = p ? realloc(f->rows, cap * sizeof *r) : NULL;
    if (r) f->rows = r;
    const char ***b = r ? realloc(o->ban, cap * sizeof *b) : NULL;
    if (b) o->ban = b;
    char **m = b ? realloc(o->meta, cap * sizeof *m) : NULL;
    if (m) o->meta = m;
    if (!m) return -1;
    o->cap = cap;
    return 0;
}

/* A number key's value v into row w (msg: the problem, 0 when good). */
static void number_key(const num_key *k, const json_t *v, gen_row *w, char *msg, size_t n) {
    rcp_range rg;
    int found = rcp_key_range("generate", k->name, &rg);
    assert(found == 0);
    (void)found;
    if (k->is_float ? !json_is_number(v) : !json_is_integer(v)) {
        snprintf(msg, n, "%s must be %s", k->name, k->is_float ? "a number" : "a whole number");
        return;
    }
    double x = json_number_value(v);
    if (!isfinite(x) || x < rg.min || (rg.open_min && x <= rg.min) || x > rg.max) {
        snprintf(msg, n, "%s %.15g is out of range (%s %.15g to %.15g)", k->name, x,
                 rg.open_min ? "above" : "from", rg.min, rg.max);
        return;
    }
    char *field = (char *)w + k->off;
    if (k->is_float)
        *(float *)field = (float)x;
    else if (!strcmp(k->name, "seed"))
        w->seed = (uint64_t)json_integer_value(v), w->has_seed = 1;
    else
        *(int *)field = (int)json_integer_value(v);
}

/* A list of banned words: its strings (pointers into v) in *out. */
static void banned_key(const json_t *v, gen_row *w, const char ***out, char *msg, size_t n) {
    size_t i, m = json_is_array(v) ? json_array_size(v) : 0;
    json_t *x;
    if (!json_is_array(v)) {
        snprintf(msg, n, "banned_words must be a list of words");
        return;
    }
    json_array_foreach(v, i, x) if (!json_is_string(x) || !json_string_length(x)) {
        snprintf(msg, n, "banned_words[%zu] must be a non-empty string", i);
        return;
    }
    *out = malloc((m + 1) * sizeof **out);
    if (!*out) {
        snprintf(msg, n, "out of memory");
        return;
    }
    json_array_foreach(v, i, x)(*out)[i] = json_string_value(x);
    w->banned = *out;
    w->n_banned = m;
    w->has_banned = 1;
}

/* The key `key` (value v) of a row into w; msg says what is wrong. */
static void row_key(const char *key, const json_t *v, gen_row *w, const char **prompt, pfile_own *o,
                    size_t i, char *msg, size_t n) {
    for (size_t k = 0; k < N_NUM; k++)
        if (!strcmp(key, NUM_KEYS[k].name)) return number_key(&NUM_KEYS[k], v, w, msg, n);
    if (!strcmp(key, "banned_words")) return banned_key(v, w, &o->ban[i], msg, n);
    if (!strcmp(key, "prompt") || !strcmp(key, "forbid_chars")) {
        if (!json_is_string(v)) {
            snprintf(msg, n, "%s must be a string", key);
            return;
        }
        *(key[0] == 'p' ? prompt : &w->forbid_chars) = json_string_value(v);
        return;
    }
    if (!strcmp(key, "meta")) {
        o->meta[i] = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        w->meta = o->meta[i];
        if (!w->meta) snprintf(msg, n, "out of memory");
        return;
    }
    const char *best = NULL;
    size_t bd = 3; /* suggest a key at most 2 edits away */
    for (size_t k = 0; k < N_NUM + 4; k++) {
        const char *c = k < N_NUM ? NUM_KEYS[k].name : OTHER_KEYS[k - N_NUM];
        size_t d = rcp_edit_distance(key, c);
        if (d < bd) bd = d, best = c;
    }
    snprintf(msg, n, "unknown key \"%s\"%s%s%s", key, best ? " (did you mean \"" : "",
             best ? best : "", best ? "\"?)" : "");
}

/* Parse row i from one JSON line; msg says what is wrong. */
static void json_row(pfile *f, const char *s, size_t len, char *msg, size_t n) {
    pfile_own *o = f->own;
    const size_t i = f->n;
    gen_row *w = &f->rows[i];
    *w = (gen_row){.max_new_tokens = -1, .top_k = -1};
    o->ban[i] = NULL, o->meta[i] = NULL;
    json_error_t je;
    json_t *row = json_loadb(s, len, JSON_REJECT_DUPLICATES, &je), *v;
    if (!row) {
        snprintf(msg, n, "not JSON: %s (column %d)", je.text, je.column);
        return;
    }
    if (!json_is_object(row) || json_array_append_new(o->objs, row)) {
        if (!json_is_object(row)) snprintf(msg, n, "a row must be a JSON object");
        json_decref(row);
        return;
    }
    const char *key, *prompt = NULL;
    json_object_foreach(row, key, v) {
        row_key(key, v, w, &prompt, o, i, msg, n);
        if (*msg) return;
    }
    if (!prompt) {
        snprintf(msg, n, "no \"prompt\"");
        return;
    }
    char e[ERR_LEN];
    if (gen_check_prompt(prompt, strlen(prompt), e)) snprintf(msg, n, "prompt: %s", e);
    f->prompts[i] = prompt;
}

/* One line (len bytes at s, its "\r" gone) as the next prompt. */
static int one_line(pfile *f, int jsonl, const char *path, size_t line, char *s, size_t len) {
    char msg[ERR_LEN] = "";
    if (grow(f)) return -1;
    pfile_own *o = f->own;
    if (jsonl) {
        json_row(f, s, len, msg, sizeof msg);
        if (*msg) free(o->ban[f->n]), free(o->meta[f->n]);
    } else {
        char e[ERR_LEN];
        f->rows[f->n] = (gen_row){.max_new_tokens = -1, .top_k = -1};
        o->ban[f->n] = NULL, o->meta[f->n] = NULL;
        if (gen_check_prompt(s, len, e)) snprintf(msg, sizeof msg, "prompt: %s", e);
        s[len] = 0;
        f->prompts[f->n] = s;
    }
    if (!strcmp(msg, "out of memory")) return -1;
    if (*msg) return bad_line(f, path, line, msg);
    f->n++;
    return 0;
}

/* Whether path names a JSON-lines file. */
static int is_jsonl(const char *path) {
    size_t l = strlen(path);
    return l >= 6 && !strcmp(path + l - 6, ".jsonl");
}

int pfile_load(const char *path, pfile *f, char *err) {
    char *data;
    size_t n;
    memset(f, 0, sizeof *f);
    if (slurp(path, &data, &n, err)) return -1;
    return pfile_parse(path, data, n, f, err);
}

int pfile_parse(const char *path, char *data, size_t n, pfile *f, char *err) {
    memset(f, 0, sizeof *f);
    pfile_own *o = f->own = calloc(1, sizeof *o);
    if (!o) free(data);
    if (!o) return err_set(err, "%s: out of memory", path);
    o->data = data;
    if (!(o->objs = json_array())) return err_set(err, "%s: out of memory", path);
    const int jsonl = is_jsonl(path);
    size_t line = 0;
    for (char *p = o->data, *end = o->data + n; p < end; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char *next = nl ? nl + 1 : end;
        if (len && p[len - 1] == '\r') len--;
        if (strspn(p, " \t") < len && one_line(f, jsonl, path, line + 1, p, len))
            return err_set(err, "%s: out of memory", path);
        p = next;
    }
    if (f->n_bad)
        return err_set(err, "%s: %zu bad line%s (nothing generated)", path, f->n_bad,
                       f->n_bad == 1 ? "" : "s");
    if (!f->n) return err_set(err, "%s: no prompt (every line is blank)", path);
    return 0;
}

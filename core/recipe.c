/*
** Recipe parsing and validation (see recipe.h).
**
** One table per section describes every key: its type, where it lives in
** the struct, its default (as JSON text) and its range.  Parsing walks the
** YAML node tree, turns each value into a checked JSON value, and sets both
** the struct field and the section's JSON object from it, so the struct,
** the defaults and the canonical parameter JSON cannot drift apart.
*/
#include "recipe.h"

#include "err.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

const char *const rcp_stage_names[RCP_N_STAGES] = {"ingest", "tokenize", "group", "train",
                                                   "generate"};

int rcp_stage_index(const char *name) {
    for (int i = 0; i < RCP_N_STAGES; i++)
        if (!strcmp(name, rcp_stage_names[i])) return i;
    return -1;
}

typedef enum {
    F_INT,
    F_FLOAT,
    F_BOOL,
    F_STR,
    F_PATH,
    F_ENUM,
    F_STRV,
    F_PATHV,
    F_INTV,
    F_INTVV,
    F_SECTION, /* a nested mapping described by sub */
    F_JOBS,    /* the generate list */
} ftype;

typedef struct section section;

typedef struct field {
    const char *key;
    ftype type;
    size_t off;
    const char *def;     /* JSON text of the default; "null": unset */
    double min, max;     /* inclusive, for numbers and list lengths */
    int excl_min;        /* min is exclusive */
    const char *choices; /* F_ENUM: "a|b|c" */
    const section *sub;  /* F_SECTION, F_JOBS */
    int required;
} field;

struct section {
    const char *name;
    const field *fields;
    size_t n;
    size_t size; /* of the struct (F_JOBS elements) */
    /* Cross-field checks after the mapping is parsed: fills msg, returns -1. */
    int (*check)(const void *base, char *msg, size_t n);
};

#define NOLIM -1e300, 1e300, 0
#define POS 1, 1e18, 0
#define NONNEG 0, 1e18, 0
#define NF(a) (sizeof(a) / sizeof((a)[0]))

#define O(T, f) offsetof(T, f)

static const field init_fields[] = {
    {"n_layer", F_INT, O(rcp_init, n_layer), "12", 1, 1000, 0, NULL, NULL, 0},
    {"n_head", F_INT, O(rcp_init, n_head), "12", 1, 1000, 0, NULL, NULL, 0},
    {"n_embd", F_INT, O(rcp_init, n_embd), "768", 1, 1 << 16, 0, NULL, NULL, 0},
    {"n_positions", F_INT, O(rcp_init, n_positions), "1024", 1, 1 << 20, 0, NULL, NULL, 0},
    {"vocab_size", F_INT, O(rcp_init, vocab_size), "50257", 1, 1 << 24, 0, NULL, NULL, 0},
};

/* Cross-field check of model.init: n_embd must divide by n_head.  Fills
** msg (n bytes) and returns -1 when not. */
static int check_init(const void *base, char *msg, size_t n) {
    const rcp_init *i = base;
    if (i->n_embd % i->n_head) {
        snprintf(msg, n, "n_embd (%lld) must be a multiple of n_head (%lld)", (long long)i->n_embd,
                 (long long)i->n_head);
        return -1;
    }
    return 0;
}

static const section init_section = {"init", init_fields, NF(init_fields), sizeof(rcp_init),
                                     check_init};

static const field model_fields[] = {
    {"from", F_PATH, O(rcp_model, from), "null", NOLIM, NULL, NULL, 0},
    {"init", F_SECTION, O(rcp_model, init), "null", NOLIM, NULL, &init_section, 0},
};

/* Cross-field check of model: exactly one of 'from' and 'init'.  Fills
** msg (n bytes) and returns -1 when not. */
static int check_model(const void *base, char *msg, size_t n) {
    const rcp_model *m = base;
    if (!!m->from == !!m->init.present) {
        snprintf(msg, n,
                 "needs exactly one of 'from' (a model directory) or 'init' (a new "
                 "model's shape)");
        return -1;
    }
    return 0;
}

static const section model_section = {"model", model_fields, NF(model_fields), sizeof(rcp_model),
                                      check_model};

static const field ingest_fields[] = {
    {"paths", F_PATHV, O(rcp_ingest, paths), "[]", 1, 1e9, 0, NULL, NULL, 1},
    {"max_chars", F_INT, O(rcp_ingest, max_chars), "0", NONNEG, NULL, NULL, 0},
    {"strip_gutenberg", F_BOOL, O(rcp_ingest, strip_gutenberg), "false", NOLIM, NULL, NULL, 0},
    {"normalize_newlines", F_BOOL, O(rcp_ingest, normalize_newlines), "false", NOLIM, NULL, NULL,
     0},
    {"on_invalid_utf8", F_ENUM, O(rcp_ingest, on_invalid_utf8), "\"reject\"", NOLIM,
     "reject|replace", NULL, 0},
};

static const field tokenize_fields[] = {
    {"model", F_PATH, O(rcp_tokenize, model), "null", NOLIM, NULL, NULL, 0},
};

static const field group_fields[] = {
    {"block_size", F_INT, O(rcp_group, block_size), "64", 2, 1 << 20, 0, NULL, NULL, 0},
    {"mode", F_ENUM, O(rcp_group, mode), "\"document\"", NOLIM, "document|lines", NULL, 0},
    {"eval_fraction", F_FLOAT, O(rcp_group, eval_fraction), "0.0", 0, 0.9, 0, NULL, NULL, 0},
};

static const field train_fields[] = {
    {"epochs", F_FLOAT, O(rcp_train, epochs), "3.0", 0, 1e6, 1, NULL, NULL, 0},
    {"max_steps", F_INT, O(rcp_train, max_steps), "-1", -1, 1e12, 0, NULL, NULL, 0},
    {"batch_size", F_INT, O(rcp_train, batch_size), "8", 1, 1 << 20, 0, NULL, NULL, 0},
    {"gradient_accumulation_steps", F_INT, O(rcp_train, gradient_accumulation_steps), "1", 1,
     1 << 20, 0, NULL, NULL, 0},
    {"learning_rate", F_FLOAT, O(rcp_train, learning_rate), "5e-05", 0, 10, 1, NULL, NULL, 0},
    {"lr_scheduler", F_ENUM, O(rcp_train, lr_scheduler), "\"linear\"", NOLIM,
     "linear|constant|cosine", NULL, 0},
    {"warmup_steps", F_INT, O(rcp_train, warmup_steps), "0", NONNEG, NULL, NULL, 0},
    {"weight_decay", F_FLOAT, O(rcp_train, weight_decay), "0.0", 0, 10, 0, NULL, NULL, 0},
    {"adam_beta1", F_FLOAT, O(rcp_train, adam_beta1), "0.9", 0, 1, 0, NULL, NULL, 0},
    {"adam_beta2", F_FLOAT, O(rcp_train, adam_beta2), "0.999", 0, 1, 0, NULL, NULL, 0},
    {"adam_epsilon", F_FLOAT, O(rcp_train, adam_epsilon), "1e-08", 0, 1, 1, NULL, NULL, 0},
    {"max_grad_norm", F_FLOAT, O(rcp_train, max_grad_norm), "1.0", 0, 1e9, 0, NULL, NULL, 0},
    {"seed", F_INT, O(rcp_train, seed), "null", 0, 4294967295.0, 0, NULL, NULL, 0},
    {"shuffle", F_BOOL, O(rcp_train, shuffle), "true", NOLIM, NULL, NULL, 0},
    {"dropout", F_FLOAT, O(rcp_train, dropout), "null", 0, 0.99, 0, NULL, NULL, 0},
    {"bf16", F_BOOL, O(rcp_train, bf16), "false", NOLIM, NULL, NULL, 0},
    {"logging_steps", F_INT, O(rcp_train, logging_steps), "500", POS, NULL, NULL, 0},
    {"save_steps", F_INT, O(rcp_train, save_steps), "500", NONNEG, NULL, NULL, 0},
    {"save_total_limit", F_INT, O(rcp_train, save_total_limit), "0", 0, INT32_MAX, 0, NULL, NULL,
     0},
    {"export", F_PATH, O(rcp_train, export), "null", NOLIM, NULL, NULL, 0},
};

static const field gen_fields[] = {
    {"prompts", F_STRV, O(rcp_gen, prompts), "[]", 0, 1e9, 0, NULL, NULL, 0},
    {"prompts_file", F_PATH, O(rcp_gen, prompts_file), "null", NOLIM, NULL, NULL, 0},
    {"num_return_sequences", F_INT, O(rcp_gen, num_return_sequences), "1", 1, 100000, 0, NULL, NULL,
     0},
    {"max_new_tokens", F_INT, O(rcp_gen, max_new_tokens), "null", 1, 1 << 20, 0, NULL, NULL, 0},
    {"max_length", F_INT, O(rcp_gen, max_length), "null", 1, 1 << 20, 0, NULL, NULL, 0},
    {"min_new_tokens", F_INT, O(rcp_gen, min_new_tokens), "0", 0, 1 << 20, 0, NULL, NULL, 0},
    {"do_sample", F_BOOL, O(rcp_gen, do_sample), "true", NOLIM, NULL, NULL, 0},
    {"temperature", F_FLOAT, O(rcp_gen, temperature), "1.0", 0, 100, 1, NULL, NULL, 0},
    {"top_k", F_INT, O(rcp_gen, top_k), "50", 0, 1 << 24, 0, NULL, NULL, 0},
    {"top_p", F_FLOAT, O(rcp_gen, top_p), "1.0", 0, 1, 1, NULL, NULL, 0},
    {"min_p", F_FLOAT, O(rcp_gen, min_p), "0.0", 0, 1, 0, NULL, NULL, 0},
    {"typical_p", F_FLOAT, O(rcp_gen, typical_p), "1.0", 0, 1, 1, NULL, NULL, 0},
    {"repetition_penalty", F_FLOAT, O(rcp_gen, repetition_penalty), "1.0", 0, 100, 1, NULL, NULL,
     0},
    {"no_repeat_ngram_size", F_INT, O(rcp_gen, no_repeat_ngram_size), "0", 0, 1 << 20, 0, NULL,
     NULL, 0},
    {"stop_strings", F_STRV, O(rcp_gen, stop_strings), "[]", 0, 1e9, 0, NULL, NULL, 0},
    {"ignore_eos", F_BOOL, O(rcp_gen, ignore_eos), "false", NOLIM, NULL, NULL, 0},
    {"seed", F_INT, O(rcp_gen, seed), "null", 0, 4294967295.0, 0, NULL, NULL, 0},
    {"banned_words", F_STRV, O(rcp_gen, banned_words), "[]", 0, 1e9, 0, NULL, NULL, 0},
    {"match", F_ENUM, O(rcp_gen, match), "\"word\"", NOLIM, "word|substring", NULL, 0},
    {"case_sensitive", F_BOOL, O(rcp_gen, case_sensitive), "false", NOLIM, NULL, NULL, 0},
    {"forbid_chars", F_STR, O(rcp_gen, forbid_chars), "\"\"", NOLIM, NULL, NULL, 0},
    {"bad_words_ids", F_INTVV, O(rcp_gen, bad_words_ids), "[]", 0, 1 << 24, 0, NULL, NULL, 0},
    {"suppress_tokens", F_INTV, O(rcp_gen, suppress_tokens), "[]", 0, 1 << 24, 0, NULL, NULL, 0},
    {"dtype", F_ENUM, O(rcp_gen, dtype), "\"float32\"", NOLIM, "float32|bfloat16|bf16", NULL, 0},
    {"syllables", F_INTV, O(rcp_gen, syllables), "[]", 1, 31, 0, NULL, NULL, 0},
    {"form", F_ENUM, O(rcp_gen, form), "\"\"", NOLIM, "|haiku", NULL, 0},
    {"rhyme", F_STR, O(rcp_gen, rhyme), "\"\"", NOLIM, NULL, NULL, 0},
    {"acrostic", F_STR, O(rcp_gen, acrostic), "\"\"", NOLIM, NULL, NULL, 0},
    {"vocabulary", F_PATH, O(rcp_gen, vocabulary), "null", NOLIM, NULL, NULL, 0},
    {"lines", F_INT, O(rcp_gen, lines), "0", 0, 32, 0, NULL, NULL, 0},
};

/* Cross-field check of one generate entry: the token limits agree
** (min_new_tokens below max_length / max_new_tokens).  Fills msg (n bytes)
** and returns -1 when not. */
static int check_gen(const void *base, char *msg, size_t n) {
    const rcp_gen *g = base;
    if (!g->prompts.n == !g->prompts_file) {
        snprintf(msg, n, "%s",
                 g->prompts_file ? "give prompts or prompts_file, not both"
                                 : "give prompts (a list) or prompts_file");
        return -1;
    }
    if (!g->max_new_tokens && g->max_length && g->min_new_tokens >= g->max_length) {
        snprintf(msg, n, "min_new_tokens (%lld) must be below max_length (%lld)",
                 (long long)g->min_new_tokens, (long long)g->max_length);
        return -1;
    }
    if (g->max_new_tokens && g->min_new_tokens > g->max_new_tokens) {
        snprintf(msg, n, "min_new_tokens (%lld) exceeds max_new_tokens (%lld)",
                 (long long)g->min_new_tokens, (long long)g->max_new_tokens);
        return -1;
    }
    for (size_t i = 0; i < g->prompts.n; i++) {
        if (!*g->prompts.v[i]) {
            snprintf(msg, n, "prompts[%zu] is empty", i);
            return -1;
        }
        if (strstr(g->prompts.v[i], "\xEF\xBF\xBD")) { /* generated text never holds it */
            snprintf(msg, n, "prompts[%zu] holds U+FFFD, the mark of broken text", i);
            return -1;
        }
    }
    return 0;
}

static const field review_fields[] = {
    {"min_approvals", F_INT, O(rcp_review, min_approvals), "1", 1, 1000, 0, NULL, NULL, 0},
};

static const field publish_fields[] = {
    {"out", F_PATH, O(rcp_publish, out), "null", NOLIM, NULL, NULL, 1},
    {"format", F_ENUM, O(rcp_publish, format), "null", NOLIM, "txt|md|jsonl", NULL, 0},
};

static const section ingest_section = {"ingest", ingest_fields, NF(ingest_fields),
                                       sizeof(rcp_ingest), NULL};
static const section tokenize_section = {"tokenize", tokenize_fields, NF(tokenize_fields),
                                         sizeof(rcp_tokenize), NULL};
static const section group_section = {"group", group_fields, NF(group_fields), sizeof(rcp_group),
                                      NULL};
static const section train_section = {"train", train_fields, NF(train_fields), sizeof(rcp_train),
                                      NULL};
static const section gen_section = {"generate", gen_fields, NF(gen_fields), sizeof(rcp_gen),
                                    check_gen};
static const section review_section = {"review", review_fields, NF(review_fields),
                                       sizeof(rcp_review), NULL};
static const section publish_section = {"publish", publish_fields, NF(publish_fields),
                                        sizeof(rcp_publish), NULL};

static const field top_fields[] = {
    {"name", F_STR, O(rcp_recipe, name), "null", NOLIM, NULL, NULL, 1},
    {"seed", F_INT, O(rcp_recipe, seed), "42", 0, 4294967295.0, 0, NULL, NULL, 0},
    {"store", F_PATH, O(rcp_recipe, store), "null", NOLIM, NULL, NULL, 0},
    {"model", F_SECTION, O(rcp_recipe, model), "null", NOLIM, NULL, &model_section, 1},
    {"ingest", F_SECTION, O(rcp_recipe, ingest), "null", NOLIM, NULL, &ingest_section, 0},
    {"tokenize", F_SECTION, O(rcp_recipe, tokenize), "null", NOLIM, NULL, &tokenize_section, 0},
    {"group", F_SECTION, O(rcp_recipe, group), "null", NOLIM, NULL, &group_section, 0},
    {"train", F_SECTION, O(rcp_recipe, train), "null", NOLIM, NULL, &train_section, 0},
    {"generate", F_JOBS, O(rcp_recipe, generate), "[]", NOLIM, NULL, &gen_section, 0},
    {"review", F_SECTION, O(rcp_recipe, review), "null", NOLIM, NULL, &review_section, 0},
    {"publish", F_SECTION, O(rcp_recipe, publish), "null", NOLIM, NULL, &publish_section, 0},
};

static const section top_section = {"", top_fields, NF(top_fields), sizeof(rcp_recipe), NULL};

/* The section named name among s's nested sections (s itself included),
** or NULL. */
static const section *find_section(const section *s, const char *name) {
    if (!strcmp(s->name, name)) return s;
    for (size_t i = 0; i < s->n; i++) {
        const section *sub = s->fields[i].sub ? find_section(s->fields[i].sub, name) : NULL;
        if (sub) return sub;
    }
    return NULL;
}

int rcp_key_range(const char *name, const char *key, rcp_range *r) {
    const section *s = find_section(&top_section, name);
    for (size_t i = 0; s && i < s->n; i++) {
        const field *f = &s->fields[i];
        if (strcmp(f->key, key) || (f->type != F_INT && f->type != F_FLOAT)) continue;
        *r = (rcp_range){f->type == F_INT, f->min, f->max, f->excl_min};
        return 0;
    }
    return -1;
}

/* ---- parsing state ---- */

typedef struct pctx {
    yaml_document_t *doc;
    const char *path;
    const char *dir;
    char *err;
} pctx;

/* Report a mistake at a node: p's error becomes "path:LINE:COL: where:
** message"; returns -1. */
static int perr(pctx *p, const yaml_node_t *node, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int perr(pctx *p, const yaml_node_t *node, const char *where, const char *fmt, ...) {
    char msg[ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(p->err, "%s:%zu:%zu: %s%s%s", p->path, node->start_mark.line + 1,
                   node->start_mark.column + 1, where, *where ? ": " : "", msg);
}

size_t rcp_edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    size_t *row = malloc((nb + 1) * sizeof *row);
    if (!row) return (size_t)-1;
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    size_t d = row[nb];
    free(row);
    return d;
}

/* The nearest of n candidates to word when close enough, else NULL. */
static const char *nearest(const char *word, const char *const *cands, size_t n) {
    const char *best = NULL;
    size_t bd = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        size_t d = rcp_edit_distance(word, cands[i]);
        if (d < bd) bd = d, best = cands[i];
    }
    size_t len = strlen(word);
    return best && (bd <= 2 || bd <= len / 3) ? best : NULL;
}

/* "a list", "a mapping" or "a scalar", for messages. */
static const char *node_kind(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "a scalar";
    }
}

/* The text of a scalar node (NUL-terminated by libyaml). */
static const char *scalar(const yaml_node_t *n) {
    return (const char *)n->data.scalar.value;
}

/* 1 when n is an unquoted scalar (quoted "8" is a string, not a number). */
static int is_plain(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* Integer scalar -> json, checking the range. */
static json_t *to_int(pctx *p, const yaml_node_t *n, const field *f, const char *where) {
    const char *s = n->type == YAML_SCALAR_NODE ? scalar(n) : "";
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!is_plain(n) || !*s || *end || errno || isspace((unsigned char)*s)) {
        if (n->type != YAML_SCALAR_NODE)
            perr(p, n, where, "expected an integer, got %s", node_kind(n));
        else
            perr(p, n, where, "expected an integer, got '%s'", s);
        return NULL;
    }
    if ((double)v < f->min || (double)v > f->max) {
        if (f->max >= 1e17)
            perr(p, n, where, "expected an integer >= %.0f, got %lld", f->min, v);
        else
            perr(p, n, where, "expected an integer in %.0f..%.0f, got %lld", f->min, f->max, v);
        return NULL;
    }
    return json_integer(v);
}

/* Number scalar -> json real, checking f's range; NULL after perr(). */
static json_t *to_float(pctx *p, const yaml_node_t *n, const field *f, const char *where) {
    const char *s = n->type == YAML_SCALAR_NODE ? scalar(n) : "";
    char *end;
    double v = strtod(s, &end);
    if (!is_plain(n) || !*s || *end || !isfinite(v) || isspace((unsigned char)*s)) {
        if (n->type != YAML_SCALAR_NODE)
            perr(p, n, where, "expected a number, got %s", node_kind(n));
        else
            perr(p, n, where, "expected a number, got '%s'", s);
        return NULL;
    }
    if (v < f->min || v > f->max || (f->excl_min && v == f->min)) {
        char lo[64], hi[64];
        snprintf(lo, sizeof lo, "%s %g", f->excl_min ? ">" : ">=", f->min);
        snprintf(hi, sizeof hi, " and <= %g", f->max);
        perr(p, n, where, "expected a number %s%s, got %s", lo, f->max >= 1e17 ? "" : hi, s);
        return NULL;
    }
    return json_real(v);
}

/* YAML 1.1 boolean scalar (true/yes/on, false/no/off) -> json; NULL
** after perr() for anything else. */
static json_t *to_bool(pctx *p, const yaml_node_t *n, const char *where) {
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", "Off"};
    if (is_plain(n)) {
        for (size_t i = 0; i < NF(yes); i++) {
            if (!strcmp(scalar(n), yes[i])) return json_true();
            if (!strcmp(scalar(n), no[i])) return json_false();
        }
    }
    if (n->type != YAML_SCALAR_NODE)
        perr(p, n, where, "expected true or false, got %s", node_kind(n));
    else
        perr(p, n, where, "expected true or false, got '%s'", scalar(n));
    return NULL;
}

/* Scalar -> json string; NULL after perr() for a list, a mapping, text
** that is not UTF-8 or holds NUL (a "\0" escape: the C strings the recipe
** becomes would silently end there). */
static json_t *to_str(pctx *p, const yaml_node_t *n, const char *where) {
    if (n->type != YAML_SCALAR_NODE) {
        perr(p, n, where, "expected a string, got %s", node_kind(n));
        return NULL;
    }
    const char *nul = memchr(scalar(n), 0, n->data.scalar.length);
    if (nul) {
        perr(p, n, where, "holds NUL (\\0) at byte %zu (quill cannot store it)",
             (size_t)(nul - scalar(n)));
        return NULL;
    }
    json_t *s = json_stringn(scalar(n), n->data.scalar.length);
    if (!s) perr(p, n, where, "not valid UTF-8 (or contains NUL)");
    return s;
}

/* Scalar that is one of f->choices ('|'-separated) -> json string; NULL
** after perr() listing the choices. */
static json_t *to_enum(pctx *p, const yaml_node_t *n, const field *f, const char *where) {
    if (n->type == YAML_SCALAR_NODE) {
        const char *c = f->choices, *s = scalar(n);
        size_t len = strlen(s);
        while (*c) {
            size_t k = strcspn(c, "|");
            if (k == len && !strncmp(c, s, k)) return json_string(s);
            c += k + (c[k] == '|');
        }
    }
    char list[256];
    size_t j = 0;
    for (const char *c = f->choices; *c && j + 3 < sizeof list; c++) {
        if (*c == '|')
            list[j++] = ',', list[j++] = ' ';
        else
            list[j++] = *c;
    }
    list[j] = 0;
    perr(p, n, where, "expected one of %s, got %s%s%s", list,
         n->type == YAML_SCALAR_NODE ? "'" : "",
         n->type == YAML_SCALAR_NODE ? scalar(n) : node_kind(n),
         n->type == YAML_SCALAR_NODE ? "'" : "");
    return NULL;
}

static const field int_item = {"", F_INT, 0, NULL, 0, 1 << 24, 0, NULL, NULL, 0};

/* A list whose items are converted as `item` (F_INT, F_INTV or F_STR); a
** single string counts as a list of one. */
static json_t *to_list(pctx *p, const yaml_node_t *n, const field *f, const char *where,
                       ftype item) {
    json_t *arr = json_array();
    yaml_node_item_t *it = NULL, *end = NULL;
    if (n->type == YAML_SEQUENCE_NODE) {
        it = n->data.sequence.items.start;
        end = n->data.sequence.items.top;
    } else if (n->type == YAML_SCALAR_NODE && item == F_STR) {
        json_t *s = to_str(p, n, where);
        if (!s) {
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, s);
    } else {
        perr(p, n, where, "expected a list, got %s", node_kind(n));
        json_decref(arr);
        return NULL;
    }
    for (size_t i = 0; it && it < end; it++, i++) {
        yaml_node_t *e = yaml_document_get_node(p->doc, *it);
        char w[256];
        snprintf(w, sizeof w, "%s[%zu]", where, i);
        json_t *v = item == F_INT    ? to_int(p, e, &int_item, w)
                    : item == F_INTV ? to_list(p, e, &int_item, w, F_INT)
                                     : to_str(p, e, w);
        if (!v) {
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, v);
    }
    if ((double)json_array_size(arr) < f->min) {
        perr(p, n, where, "expected at least %.0f item%s", f->min, f->min == 1 ? "" : "s");
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* A path from the recipe, relative to the recipe's folder unless absolute;
** malloc'd, NULL when out of memory. */
static char *resolve(pctx *p, const char *raw) {
    size_t nd = strlen(p->dir), nr = strlen(raw);
    if (raw[0] == '/' || !strcmp(p->dir, ".")) return strdup(raw);
    char *s = malloc(nd + nr + 2);
    if (s) snprintf(s, nd + nr + 2, "%s/%s", p->dir, raw);
    return s;
}

static void free_field(const field *f, char *base);

/* Set the struct field from its (checked) JSON value. */
static int set_field(pctx *p, const field *f, char *base, json_t *v) {
    void *dst = base + f->off;
    free_field(f, base);
    if (json_is_null(v)) return 0;
    switch (f->type) {
    case F_INT:
        *(int64_t *)dst = json_integer_value(v);
        break;
    case F_FLOAT:
        *(double *)dst = json_number_value(v);
        break;
    case F_BOOL:
        *(int *)dst = json_is_true(v);
        break;
    case F_STR:
    case F_ENUM:
        *(char **)dst = strdup(json_string_value(v));
        break;
    case F_PATH:
        *(char **)dst = resolve(p, json_string_value(v));
        break;
    case F_STRV:
    case F_PATHV: {
        rcp_strv *sv = dst;
        sv->n = json_array_size(v);
        sv->v = calloc(sv->n + 1, sizeof *sv->v);
        for (size_t i = 0; i < sv->n; i++) {
            const char *s = json_string_value(json_array_get(v, i));
            sv->v[i] = f->type == F_PATHV ? resolve(p, s) : strdup(s);
        }
        break;
    }
    case F_INTV:
    case F_INTVV: {
        size_t n = json_array_size(v);
        rcp_intv *iv = f->type == F_INTV ? dst : calloc(n + 1, sizeof *iv);
        if (f->type == F_INTVV) ((rcp_intvv *)dst)->v = iv, ((rcp_intvv *)dst)->n = n;
        for (size_t k = 0; k < (f->type == F_INTV ? 1 : n); k++) {
            json_t *a = f->type == F_INTV ? v : json_array_get(v, k);
            iv[k].n = json_array_size(a);
            iv[k].v = calloc(iv[k].n + 1, sizeof *iv[k].v);
            for (size_t i = 0; i < iv[k].n; i++)
                iv[k].v[i] = json_integer_value(json_array_get(a, i));
        }
        break;
    }
    case F_SECTION:
    case F_JOBS:
        break; /* handled by the callers */
    }
    return 0;
}

static void free_section(const section *s, char *base);

/* Free what field f owns in the struct at base (strings, lists, nested
** sections) and clear it. */
static void free_field(const field *f, char *base) {
    void *dst = base + f->off;
    switch (f->type) {
    case F_STR:
    case F_ENUM:
    case F_PATH:
        free(*(char **)dst);
        *(char **)dst = NULL;
        break;
    case F_STRV:
    case F_PATHV: {
        rcp_strv *sv = dst;
        for (size_t i = 0; i < sv->n; i++)
            free(sv->v[i]);
        free(sv->v);
        sv->v = NULL, sv->n = 0;
        break;
    }
    case F_INTV:
        free(((rcp_intv *)dst)->v);
        ((rcp_intv *)dst)->v = NULL, ((rcp_intv *)dst)->n = 0;
        break;
    case F_INTVV: {
        rcp_intvv *vv = dst;
        for (size_t i = 0; i < vv->n; i++)
            free(vv->v[i].v);
        free(vv->v);
        vv->v = NULL, vv->n = 0;
        break;
    }
    case F_SECTION:
        free_section(f->sub, dst);
        break;
    case F_JOBS: {
        char **jobs = dst;
        size_t *n = (size_t *)(base + O(rcp_recipe, n_generate));
        for (size_t i = 0; i < *n; i++)
            free_section(f->sub, *jobs + i * f->sub->size);
        free(*jobs);
        *jobs = NULL, *n = 0;
        break;
    }
    default:
        break;
    }
}

/* Free every field of section s in the struct at base. */
static void free_section(const section *s, char *base) {
    for (size_t i = 0; i < s->n; i++)
        free_field(&s->fields[i], base);
}

static int parse_section(pctx *p, const section *s, const yaml_node_t *map, char *base, json_t *obj,
                         const char *where);

/* Fill a section's struct and JSON object with its defaults. */
static void set_defaults(pctx *p, const section *s, char *base, json_t *obj) {
    for (size_t i = 0; i < s->n; i++) {
        const field *f = &s->fields[i];
        if (f->type == F_SECTION) {
            json_t *sub = json_object();
            set_defaults(p, f->sub, base + f->off, sub);
            json_object_set_new(obj, f->key, sub);
            continue;
        }
        json_t *v = json_loads(f->def, JSON_DECODE_ANY, NULL);
        assert(v); /* the table's defaults are valid JSON */
        set_field(p, f, base, v);
        json_object_set_new(obj, f->key, v);
    }
}

/* Convert and set one field from its YAML value. */
static int parse_field(pctx *p, const field *f, const yaml_node_t *v, char *base, json_t *obj,
                       const char *where) {
    json_t *j = NULL;
    switch (f->type) {
    case F_INT:
        j = to_int(p, v, f, where);
        break;
    case F_FLOAT:
        j = to_float(p, v, f, where);
        break;
    case F_BOOL:
        j = to_bool(p, v, where);
        break;
    case F_STR:
    case F_PATH:
        j = to_str(p, v, where);
        if (j && f->type == F_PATH && !*json_string_value(j)) {
            json_decref(j);
            return perr(p, v, where, "expected a path, got an empty string");
        }
        break;
    case F_ENUM:
        j = to_enum(p, v, f, where);
        break;
    case F_STRV:
    case F_PATHV:
        j = to_list(p, v, f, where, F_STR);
        break;
    case F_INTV:
        j = to_list(p, v, f, where, F_INT);
        break;
    case F_INTVV:
        j = to_list(p, v, f, where, F_INTV);
        break;
    case F_SECTION: {
        json_t *sub = json_object_get(obj, f->key);
        *(int *)(base + f->off) = 1;
        return parse_section(p, f->sub, v, base + f->off, sub, where);
    }
    case F_JOBS: {
        const yaml_node_t *seq = v;
        size_t n = v->type == YAML_SEQUENCE_NODE
                       ? (size_t)(v->data.sequence.items.top - v->data.sequence.items.start)
                       : 1;
        if (v->type != YAML_SEQUENCE_NODE && v->type != YAML_MAPPING_NODE)
            return perr(p, v, where, "expected a list of generation jobs, got %s", node_kind(v));
        if (!n) return perr(p, v, where, "expected at least one generation job");
        free_field(f, base);
        char *jobs = calloc(n, f->sub->size);
        *(char **)(base + f->off) = jobs;
        *(size_t *)(base + O(rcp_recipe, n_generate)) = n;
        json_t *arr = json_array();
        json_object_set_new(obj, f->key, arr);
        for (size_t i = 0; i < n; i++) {
            const yaml_node_t *job =
                seq->type == YAML_SEQUENCE_NODE
                    ? yaml_document_get_node(p->doc, seq->data.sequence.items.start[i])
                    : seq;
            char w[64];
            snprintf(w, sizeof w, "generate[%zu]", i);
            json_t *o = json_object();
            json_array_append_new(arr, o);
            char *jb = jobs + i * f->sub->size;
            set_defaults(p, f->sub, jb, o);
            *(int *)jb = 1;
            if (parse_section(p, f->sub, job, jb, o, w)) return -1;
        }
        return 0;
    }
    }
    if (!j) return -1;
    set_field(p, f, base, j);
    json_object_set_new(obj, f->key, j);
    return 0;
}

/* Parse mapping node map into section s: the struct at base and the JSON
** object obj (the stage's canonical parameters).  Every key is checked;
** an unknown key names the nearest known one.  Returns 0, or -1 after
** perr(). */
static int parse_section(pctx *p, const section *s, const yaml_node_t *map, char *base, json_t *obj,
                         const char *where) {
    if (map->type != YAML_MAPPING_NODE)
        return perr(p, map, where, "expected a mapping of keys, got %s", node_kind(map));
    unsigned char seen[64] = {0};
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(p->doc, pr->value);
        if (k->type != YAML_SCALAR_NODE)
            return perr(p, k, where, "expected a key name, got %s", node_kind(k));
        const char *key = scalar(k);
        size_t fi = 0;
        while (fi < s->n && strcmp(s->fields[fi].key, key))
            fi++;
        char w[256];
        snprintf(w, sizeof w, "%s%s%s", where, *where ? "." : "", key);
        if (fi == s->n) {
            const char *names[64];
            char known[1024] = "";
            for (size_t i = 0; i < s->n; i++) {
                names[i] = s->fields[i].key;
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                         names[i]);
            }
            const char *near = nearest(key, names, s->n);
            if (near)
                return perr(p, k, "", "unknown key '%s'%s%s (did you mean '%s'?)", key,
                            *where ? " in " : "", where, near);
            return perr(p, k, "", "unknown key '%s'%s%s (known keys: %s)", key,
                        *where ? " in " : "", where, known);
        }
        if (seen[fi]) return perr(p, k, w, "duplicate key");
        seen[fi] = 1;
        if (parse_field(p, &s->fields[fi], v, base, obj, w)) return -1;
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->fields[i].required && !seen[i])
            return perr(p, map, where, "missing required key '%s'", s->fields[i].key);
    char msg[ERR_LEN];
    if (s->check && s->check(base, msg, sizeof msg)) return perr(p, map, where, "%s", msg);
    return 0;
}

/* v as canonical JSON (compact, sorted keys, reals with 17 digits): the
** text stage identities are hashed from.  malloc'd. */
static char *canonical(json_t *v) {
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
}

/* The recipe's default seed (the table's, which unset stage seeds take). */
static int64_t default_seed(void) {
    for (size_t i = 0; i < top_section.n; i++)
        if (!strcmp(top_fields[i].key, "seed")) return strtoll(top_fields[i].def, NULL, 10);
    assert(0); /* the table has a seed */
    return 0;
}

void rcp_train_defaults(rcp_train *t) {
    memset(t, 0, sizeof *t);
    pctx p = {NULL, "", ".", NULL};
    json_t *o = json_object();
    set_defaults(&p, &train_section, (char *)t, o);
    json_decref(o);
    t->dropout = -1; /* as resolve_defaults leaves an unset one */
    t->seed = default_seed();
}

void rcp_train_free(rcp_train *t) {
    free_section(&train_section, (char *)t);
}

/* Seeds left unset take the recipe's; publish's format its out's extension. */
static void resolve_defaults(rcp_recipe *r, json_t *root) {
    json_t *tr = json_object_get(root, "train");
    if (json_is_null(json_object_get(tr, "dropout"))) r->train.dropout = -1;
    /* bf16 came after stores were made: left out when off, a recipe's
    ** train identity stays what it was */
    if (!r->train.bf16) json_object_del(tr, "bf16");
    if (json_is_null(json_object_get(tr, "seed"))) {
        r->train.seed = r->seed; /* rcp_train_defaults() mirrors these two */
        json_object_set_new(tr, "seed", json_integer(r->seed));
    }
    json_t *jobs = json_object_get(root, "generate");
    for (size_t i = 0; i < r->n_generate; i++) {
        json_t *o = json_array_get(jobs, i);
        if (json_is_null(json_object_get(o, "seed"))) {
            r->generate[i].seed = r->seed;
            json_object_set_new(o, "seed", json_integer(r->seed));
        }
    }
    if (r->publish.present && !r->publish.format) {
        const char *dot = strrchr(r->publish.out, '.');
        const char *fmt = dot && !strcmp(dot, ".jsonl") ? "jsonl"
                          : dot && !strcmp(dot, ".md")  ? "md"
                                                        : "txt";
        r->publish.format = strdup(fmt);
    }
    if (!r->model.init.present)
        json_object_set_new(json_object_get(root, "model"), "init", json_null());
}

/* Each stage's parameter JSON: its section, plus the model for the stages
** that use it and the recipe seed for group's split. */
static void stage_params(rcp_recipe *r, json_t *root) {
    for (int i = 0; i < RCP_N_STAGES; i++) {
        json_t *o = json_object();
        json_object_set(o, rcp_stage_names[i], json_object_get(root, rcp_stage_names[i]));
        if (i == RCP_TOKENIZE || i >= RCP_TRAIN)
            json_object_set(o, "model", json_object_get(root, "model"));
        if (i == RCP_GROUP) json_object_set(o, "seed", json_object_get(root, "seed"));
        r->params_json[i] = canonical(o);
        hash_hex(r->params_json[i], strlen(r->params_json[i]), r->params_hash[i]);
        json_decref(o);
    }
    r->enabled[RCP_INGEST] = r->ingest.present;
    r->enabled[RCP_TOKENIZE] = r->tokenize.present || r->train.present;
    r->enabled[RCP_GROUP] = r->group.present || r->train.present;
    r->enabled[RCP_TRAIN] = r->train.present;
    r->enabled[RCP_GENERATE] = r->n_generate > 0;
}

/* Deeper nesting is refused before libyaml builds the document: its
** scanner and loader take time quadratic in the depth (100k levels: 24 s),
** and a recipe needs five levels at most. */
#define RCP_MAX_DEPTH 64

/* Stream text's YAML events: returns -1 with "path:LINE:COL: nesting deeper
** than RCP_MAX_DEPTH" at the first list or mapping that opens deeper than
** that, 0 otherwise (syntax errors are left to the loader to report). */
static int check_depth(const char *text, size_t n, const char *path, char *err) {
    yaml_parser_t parser;
    yaml_event_t ev;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, n);
    int depth = 0, rc = 0, done = 0;
    while (!done && !rc && yaml_parser_parse(&parser, &ev)) {
        switch (ev.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > RCP_MAX_DEPTH)
                rc = err_set(err, "%s:%zu:%zu: nesting deeper than %d", path,
                             ev.start_mark.line + 1, ev.start_mark.column + 1, RCP_MAX_DEPTH);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

int rcp_parse(const char *text, size_t n, const char *path, rcp_recipe **out, char *err) {
    *out = NULL;
    rcp_recipe *r = calloc(1, sizeof *r);
    if (!r) return err_set(err, "%s: out of memory", path);
    r->path = strdup(path);
    const char *slash = strrchr(path, '/');
    r->dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    hash_hex(text, n, r->file_hash);
    if (check_depth(text, n, path, err)) {
        rcp_free(r);
        return -1;
    }
    pctx p = {NULL, path, r->dir, err};
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, n);
    int rc = -1;
    json_t *root = json_object();
    if (!yaml_parser_load(&parser, &doc)) {
        err_set(err, "%s:%zu:%zu: YAML syntax error: %s%s%s", path, parser.problem_mark.line + 1,
                parser.problem_mark.column + 1, parser.problem ? parser.problem : "invalid",
                parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        json_decref(root);
        rcp_free(r);
        return -1;
    }
    p.doc = &doc;
    yaml_node_t *top = yaml_document_get_root_node(&doc);
    set_defaults(&p, &top_section, (char *)r, root);
    if (!top) {
        err_set(err, "%s:1:1: the recipe is empty", path);
        goto done;
    }
    if (parse_section(&p, &top_section, top, (char *)r, root, "")) goto done;
    yaml_document_t next;
    if (yaml_parser_load(&parser, &next)) {
        int more = yaml_document_get_root_node(&next) != NULL;
        size_t line = more ? yaml_document_get_root_node(&next)->start_mark.line + 1 : 0;
        yaml_document_delete(&next);
        if (more) {
            err_set(err, "%s:%zu:1: a recipe is one YAML document; found another", path, line);
            goto done;
        }
    }
    resolve_defaults(r, root);
    stage_params(r, root);
    rc = 0;
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    json_decref(root);
    if (rc) {
        rcp_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

int rcp_load(const char *path, rcp_recipe **out, char *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            if (cap > (64u << 20)) {
                free(buf);
                fclose(f);
                return err_set(err, "%s: larger than 64 MiB, not a recipe", path);
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return err_set(err, "%s: out of memory", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (!got) break;
    }
    int bad = ferror(f) ? errno : 0;
    fclose(f);
    if (bad) {
        free(buf);
        return err_set(err, "%s: cannot read: %s", path, strerror(bad));
    }
    int rc = rcp_parse(buf, n, path, out, err);
    free(buf);
    return rc;
}

/* Free a recipe from rcp_load()/rcp_parse(); NULL is a no-op. */
void rcp_free(rcp_recipe *r) {
    if (!r) return;
    free_section(&top_section, (char *)r);
    for (int i = 0; i < RCP_N_STAGES; i++)
        free(r->params_json[i]);
    free(r->path);
    free(r->dir);
    free(r);
}

/*
** Stage results and their JSON (see run_result.h).
*/
#include "run_result.h"

#include "err.h"
#include "jw.h"
#include "recipe.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* How a key is held: int64_t, int (a JSON boolean), double, double that
** may be absent (NAN), char[HASH_HEX_LEN]. */
typedef enum { F_INT, F_BOOL, F_REAL, F_REAL_OPT, F_HASH } ftype;

typedef struct field {
    const char *key;
    ftype type;
    size_t off; /* in run_result */
} field;

#define F(stage, m, key, t)                                                                        \
    { key, t, offsetof(run_result, stage.m) }
static const field ingest_f[] = {
    F(ingest, added, "added", F_INT), F(ingest, duplicates, "duplicates", F_INT),
    F(ingest, skipped, "skipped", F_INT), F(ingest, content_hash, "content_hash", F_HASH)};
static const field tokenize_f[] = {F(tokenize, tokenizer_id, "tokenizer_id", F_INT),
                                   F(tokenize, n_done, "n_done", F_INT)};
static const field group_f[] = {
    F(group, block_set_id, "block_set_id", F_INT), F(group, created, "created", F_BOOL),
    F(group, n_train, "n_train", F_INT), F(group, n_eval, "n_eval", F_INT)};
static const field train_f[] = {F(train, checkpoint_id, "checkpoint_id", F_INT),
                                F(train, run_id, "run_id", F_INT), F(train, steps, "steps", F_INT),
                                F(train, final_loss, "final_loss", F_REAL),
                                F(train, eval_loss, "eval_loss", F_REAL_OPT)};
static const field generate_f[] = {F(generate, n_outputs, "n_outputs", F_INT)};
#undef F

/* Each stage's fields, indexed by RCP_*. */
static const struct {
    const field *f;
    size_t n;
} fields[RCP_N_STAGES] = {
    [RCP_INGEST] = {ingest_f, sizeof ingest_f / sizeof *ingest_f},
    [RCP_TOKENIZE] = {tokenize_f, sizeof tokenize_f / sizeof *tokenize_f},
    [RCP_GROUP] = {group_f, sizeof group_f / sizeof *group_f},
    [RCP_TRAIN] = {train_f, sizeof train_f / sizeof *train_f},
    [RCP_GENERATE] = {generate_f, sizeof generate_f / sizeof *generate_f},
};

void run_result_init(run_result *r, int stage) {
    assert(stage >= 0 && stage < RCP_N_STAGES);
    memset(r, 0, sizeof *r);
    r->stage = stage;
    if (stage == RCP_TRAIN) r->train.eval_loss = NAN;
}

void run_result_free(run_result *r) {
    if (r->stage == RCP_INGEST) {
        free(r->ingest.doc_ids);
        r->ingest.doc_ids = NULL;
        r->ingest.n_doc_ids = 0;
        r->ingest.has_doc_ids = 0;
    }
}

/* The JSON value of field f of r; NULL for an absent optional one. */
static json_t *field_value(const run_result *r, const field *f) {
    const char *p = (const char *)r + f->off;
    switch (f->type) {
    case F_INT:
        return json_integer(*(const int64_t *)p);
    case F_BOOL:
        return json_boolean(*(const int *)p);
    case F_REAL:
        return json_real(*(const double *)p);
    case F_REAL_OPT:
        return isfinite(*(const double *)p) ? json_real(*(const double *)p) : NULL;
    case F_HASH:
        return json_string(p);
    }
    return NULL;
}

/* Set ingest's doc_ids array on o. */
static int put_doc_ids(const run_ingest_out *in, json_t *o, char *err) {
    json_t *ids = json_array();
    for (size_t i = 0; i < in->n_doc_ids && ids; i++)
        if (jw_push(&ids, json_integer(in->doc_ids[i]), "doc_ids", err)) return -1;
    return jw_set(o, "doc_ids", ids, err);
}

int run_result_json(const run_result *r, char **json, char *err) {
    assert(r->stage >= 0 && r->stage < RCP_N_STAGES);
    json_t *o = json_object();
    int bad = !o;
    for (size_t i = 0; i < fields[r->stage].n && !bad; i++) {
        const field *f = &fields[r->stage].f[i];
        json_t *v = field_value(r, f);
        if (v || f->type != F_REAL_OPT) bad = jw_set(o, f->key, v, err);
    }
    if (!bad && r->stage == RCP_INGEST && r->ingest.has_doc_ids)
        bad = put_doc_ids(&r->ingest, o, err);
    if (bad) {
        json_decref(o);
        if (!o) err_set(err, "the stage's result: out of memory");
        return -1;
    }
    *json = jw_dumps(o, JSON_COMPACT | JSON_SORT_KEYS, "the stage's result", err);
    return *json ? 0 : -1;
}

/* Field f of r from o; an error naming it when missing or mistyped. */
static int field_parse(const json_t *o, const field *f, run_result *r, char *err) {
    char *p = (char *)r + f->off;
    json_t *v = json_object_get(o, f->key);
    if (!v && f->type == F_REAL_OPT) return 0;
    int ok = f->type == F_INT    ? json_is_integer(v)
             : f->type == F_BOOL ? json_is_boolean(v)
             : f->type == F_HASH ? json_is_string(v) && json_string_length(v) < HASH_HEX_LEN
                                 : json_is_number(v);
    if (!ok) return err_set(err, "\"%s\" is %s", f->key, v ? "not as expected" : "missing");
    if (f->type == F_INT)
        *(int64_t *)p = json_integer_value(v);
    else if (f->type == F_BOOL)
        *(int *)p = json_is_true(v);
    else if (f->type == F_HASH)
        memcpy(p, json_string_value(v), json_string_length(v) + 1);
    else
        *(double *)p = json_number_value(v);
    return 0;
}

/* Ingest's doc_ids from o when recorded. */
static int parse_doc_ids(const json_t *o, run_ingest_out *in, char *err) {
    json_t *ids = json_object_get(o, "doc_ids");
    if (!ids) return 0;
    if (!json_is_array(ids)) return err_set(err, "\"doc_ids\" is not an array");
    in->n_doc_ids = json_array_size(ids);
    in->doc_ids = malloc((in->n_doc_ids + 1) * sizeof *in->doc_ids);
    if (!in->doc_ids) return err_set(err, "out of memory");
    in->has_doc_ids = 1;
    for (size_t i = 0; i < in->n_doc_ids; i++) {
        json_t *v = json_array_get(ids, i);
        if (!json_is_integer(v)) return err_set(err, "\"doc_ids\" holds a non-integer");
        in->doc_ids[i] = json_integer_value(v);
    }
    return 0;
}

int run_result_parse(int stage, const char *json, run_result *r, char *err) {
    run_result_init(r, stage);
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    int bad = 0;
    if (!json_is_object(o)) bad = err_set(err, "not a JSON object");
    for (size_t i = 0; i < fields[stage].n && !bad; i++)
        bad = field_parse(o, &fields[stage].f[i], r, err);
    if (!bad && stage == RCP_INGEST) bad = parse_doc_ids(o, &r->ingest, err);
    json_decref(o);
    if (bad) {
        run_result_free(r);
        return err_prefix(err, "%s's recorded result", rcp_stage_names[stage]);
    }
    return 0;
}

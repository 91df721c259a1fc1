/*
** Loading a model fixture written by tests/reference/gpt2_ref.py
** (tests/fixtures/gpt/NAME.json + NAME.bin): its config and parameters.
** Header-only, for the test programs.
*/
#ifndef QUILL_GPT_FIXTURE_H
#define QUILL_GPT_FIXTURE_H

#include "gpt_layout.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

/* The model config of a fixture manifest. */
static inline void gpt_fixture_config(json_t *man, gpt_config *cfg) {
    json_t *jc = json_object_get(man, "config");
    gpt_config_default(cfg);
    cfg->n_layer = (int)json_integer_value(json_object_get(jc, "n_layer"));
    cfg->n_head = (int)json_integer_value(json_object_get(jc, "n_head"));
    cfg->n_embd = (int)json_integer_value(json_object_get(jc, "n_embd"));
    cfg->n_positions = (int)json_integer_value(json_object_get(jc, "n_positions"));
    cfg->vocab_size = (int)json_integer_value(json_object_get(jc, "vocab_size"));
    json_t *act = json_object_get(jc, "activation_function");
    if (act)
        snprintf(cfg->activation_function, sizeof cfg->activation_function, "%s",
                 json_string_value(act));
}

/* Fill *cfg and a malloc'd *params for fixture NAME; 0 on success. */
static inline int gpt_fixture_load(const char *name, gpt_config *cfg, float **params) {
    char path[256];
    json_error_t je;
    snprintf(path, sizeof path, "tests/fixtures/gpt/%s.json", name);
    json_t *man = json_load_file(path, 0, &je);
    if (!man) return -1;
    gpt_fixture_config(man, cfg);
    json_t *pa = json_object_get(json_object_get(man, "arrays"), "params");
    size_t np = (size_t)json_integer_value(json_array_get(json_object_get(pa, "shape"), 0));
    long off = (long)json_integer_value(json_object_get(pa, "offset"));
    json_decref(man);
    *params = malloc(np * sizeof **params);
    snprintf(path, sizeof path, "tests/fixtures/gpt/%s.bin", name);
    FILE *f = fopen(path, "rb");
    int ok = f && fseek(f, off, SEEK_SET) == 0 && fread(*params, sizeof **params, np, f) == np;
    if (f) fclose(f);
    if (!ok) {
        free(*params);
        return -1;
    }
    return 0;
}

#endif

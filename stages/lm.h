/*
** A language model ready to run: GPT-2 weights and their tokenizer, from a
** Hugging Face directory or from a checkpoint in the store.  Shared by the
** commands that run a model (generate, next, score).
*/
#ifndef QUILL_LM_H
#define QUILL_LM_H

#include "gpt.h"
#include "store.h"
#include "tok.h"

#include <stdint.h>

typedef struct lm_model {
    gpt_config cfg;
    float *params;
    gpt_model *m;
    tok *t;
    char source[600]; /* the directory, or "checkpoint:ID" */
    int64_t ckpt_id;  /* 0 for a directory */
} lm_model;

/* Load from dir (an HF GPT-2 directory; its own tokenizer when it has one,
** vocab.json + merges.txt or tokenizer.json (tok_dir_has()), else the
** bundled GPT-2 one) or, when dir is NULL, from the
** store's checkpoint named by checkpoint ("ID" or "latest"). */
int lm_load(store *st, const char *dir, const char *checkpoint, lm_model *l, char *err);

void lm_free(lm_model *l);

#endif

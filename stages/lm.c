/*
** Loading a model and its tokenizer (see lm.h).
*/
#include "lm.h"

#include "ckpt.h"
#include "err.h"
#include "hfmodel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lm_free(lm_model *l) {
    gpt_model_free(l->m);
    free(l->params);
    tok_free(l->t);
    memset(l, 0, sizeof *l);
}

int lm_load(store *st, const char *dir, const char *checkpoint, lm_model *l, char *err) {
    memset(l, 0, sizeof *l);
    size_t n;
    const char *tok_dir = NULL;
    if (dir) {
        if (hf_load(dir, &l->cfg, &l->params, &n, err)) return -1;
        snprintf(l->source, sizeof l->source, "%s", dir);
        if (tok_dir_has(dir)) tok_dir = dir;
    } else {
        if (!st) return err_set(err, "--checkpoint needs a store");
        if (ckpt_resolve(st, checkpoint, 0, &l->ckpt_id, err) ||
            ckpt_get(st, l->ckpt_id, &l->cfg, &l->params, &n, NULL, NULL, NULL, NULL, err))
            return -1;
        snprintf(l->source, sizeof l->source, "checkpoint:%lld", (long long)l->ckpt_id);
    }
    if (gpt_model_create(&l->cfg, l->params, &l->m, err) || tok_load(tok_dir, &l->t, err)) {
        lm_free(l);
        return -1;
    }
    return 0;
}

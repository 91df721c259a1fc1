/*
** libFuzzer target for recipe parsing: any bytes parse or fail with an
** error naming the file, never crash, leak or take super-linear time (the
** fuzzer's -timeout catches deep nesting); a recipe that parses has every
** stage's parameter JSON.  tests/test_fuzz.c replays the committed corpus
** (tests/fuzz/corpus_recipe) through fuzz_recipe_one under ASan/UBSan.
** Build and run: tests/fuzz/run.sh recipe [SECONDS] (or `make fuzz-recipe`).
*/
#include "err.h"
#include "recipe.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Parse one input; returns 0, or -1 with a message in why when a
** property does not hold. */
static int fuzz_recipe_one(const uint8_t *data, size_t size, char *why) {
    char err[ERR_LEN] = "";
    rcp_recipe *r = NULL;
    int rc = rcp_parse((const char *)data, size, "fuzz/recipe.yaml", &r, err);
    if (rc) {
        if (r) return snprintf(why, ERR_LEN, "failed parse returned a recipe"), -1;
        if (strncmp(err, "fuzz/recipe.yaml", 16))
            return snprintf(why, ERR_LEN, "error does not name the file: %s", err), -1;
        return 0;
    }
    for (int i = 0; i < RCP_N_STAGES; i++)
        if (!r->params_json[i] || !*r->params_json[i]) {
            rcp_free(r);
            return snprintf(why, ERR_LEN, "no parameter JSON for %s", rcp_stage_names[i]), -1;
        }
    rcp_free(r);
    return 0;
}

#ifndef FUZZ_REPLAY
#include <stdlib.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char why[ERR_LEN];
    if (fuzz_recipe_one(data, size, why)) {
        fprintf(stderr, "fuzz_recipe: %s\n", why);
        abort();
    }
    return 0;
}
#endif

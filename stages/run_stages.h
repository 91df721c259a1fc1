/*
** The stages `quill run` runs (run.h says what each provides): the
** adapters from a recipe's sections to each stage, in a table indexed by
** RCP_*, and the `quill run` command over them.
*/
#ifndef QUILL_RUN_STAGES_H
#define QUILL_RUN_STAGES_H

#include "run.h"

/* The stages quill runs, indexed by RCP_*; NULL: not in this build. */
extern const run_stage_fn run_stages[RCP_N_STAGES];

#endif

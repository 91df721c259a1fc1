/*
** Completed stages of recipe runs (db/001_init.sql stage_runs): what the
** recipe runner (stages/run.h) skips when a stage's identity is unchanged,
** and what `quill status` shows.
**
** Every function returns 0, or -1 with err naming the store and what
** failed: "no such row" is never an error, it is an empty out parameter.
*/
#ifndef QUILL_DB_STAGERUNS_H
#define QUILL_DB_STAGERUNS_H

#include "store.h"

#include <stdint.h>

/* The result_json of the newest 'done' run of (recipe, stage, identity)
** in *result (malloc'd), or *result NULL when there is none.  A store that
** cannot be read is -1, not "none". */
int stageruns_find_done(store *st, const char *recipe, const char *stage, const char *identity,
                        char **result, char *err);

/* A completed stage. */
typedef struct stageruns_done {
    int64_t recipe_run_id;
    const char *recipe, *stage, *identity;
    const char *params_json, *result_json;
    const char *started_at; /* ISO 8601 UTC; finished_at is now */
} stageruns_done;

/* Record d (status 'done').  Inside the caller's transaction. */
int stageruns_record(store *st, const stageruns_done *d, char *err);

/* The newest run of (recipe, stage) whatever its identity: *finished_at
** and *result malloc'd, both NULL when the stage never ran. */
int stageruns_last(store *st, const char *recipe, const char *stage, char **finished_at,
                   char **result, char *err);

#endif

/*
** The printing half of `quill review` (review_show.c), used by its command
** line (review_cli.c).
*/
#ifndef QUILL_REVIEW_SHOW_H
#define QUILL_REVIEW_SHOW_H

#include "reviews.h"

#include <stdio.h>

/* Print the outputs with status (NULL: every status) as a table, or as
** JSON lines when json; returns the exit status. */
int review_list(store *st, const char *status, int json);

/* Print output id in full with its reviews to f (untrusted text escaped).
** Returns 0, or -1 with err set (no such output, a store error). */
int review_print(store *st, int64_t id, FILE *f, char *err);

#endif

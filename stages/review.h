/*
** The review rules shared by `quill review`, `quill publish` and `quill run`.
**
** An output's status follows from its reviews (table reviews), never the
** other way round:
**   - each reviewer's latest approve/reject is their verdict;
**   - any reviewer whose verdict is reject makes the output rejected;
**   - otherwise it is approved when at least N different reviewers
**     approved it after its latest edit (an approval given to text that was
**     edited since does not count), N = review_rules.min_approvals for the
**     output's recipe_name, else 1;
**   - otherwise pending.
** The text of an output is its latest edit's edited_text, else outputs.text.
*/
#ifndef QUILL_REVIEW_H
#define QUILL_REVIEW_H

#include "store.h"

#include <stdint.h>
#include <stdio.h>

/* The status the reviews of output id call for ("pending", "approved" or
** "rejected"), with the approvals counted and needed (either may be NULL). */
int review_verdict(store *st, int64_t id, const char **status, int *approvals, int *needed,
                   char *err);

/* Recompute outputs.status of id from its reviews (inside the caller's
** transaction). */
int review_refresh(store *st, int64_t id, char *err);

/* Record how many approvals the outputs of recipe_name need. */
int review_set_rule(store *st, const char *recipe_name, int64_t min_approvals, char *err);

/* The text to publish for output id: its latest edit, else its text.
** *text is malloc'd; *edited is 1 when it is an edit. */
int review_text(store *st, int64_t id, char **text, int *edited, char *err);

/* Record one review (verdict approve, reject, edit or note; note and
** edited_text may be NULL) of output id and refresh its status, inside the
** caller's transaction. */
int review_add(store *st, int64_t id, const char *reviewer, const char *verdict, const char *note,
               const char *edited_text, char *err);

/* Prepare sql (its one parameter: the output id), bind id and step to the
** row; fails with "no output with id N" when there is none.  The caller
** finalizes *s. */
int review_fetch(store *st, const char *sql, int64_t id, sqlite3_stmt **s, char *err);

/* Print output id in full with its reviews. */
int review_print(store *st, int64_t id, FILE *f, char *err);

/* The interactive reviewer on the terminal (review_tui.c); returns an exit
** status. */
int review_interactive(store *st, const char *reviewer);

#endif

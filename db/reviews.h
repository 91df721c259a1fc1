/*
** The review gate's SQL: outputs as a reviewer sees them, verdicts, edits,
** review rules.  Called by `quill review` (CLI and TUI) and `quill publish`,
** and meant for any other desk (a web one) so that the rules hold whoever
** asks.
**
** The rules (an output's status follows from its reviews, never the other
** way round):
**   - the text of an output is its latest edit's edited_text, else
**     outputs.text; its version is 1 + its number of edits;
**   - an approval is for one version: it is refused when that version is
**     not the current one (the text changed since it was shown), and an
**     approval of an older version does not count;
**   - any rejection rejects: a reviewer's rejection stands (their approvals
**     are refused) until that same reviewer withdraws it;
**   - otherwise the output is approved when N different reviewers whose
**     latest approve/reject/withdraw is an approval approved its current
**     version; N = outputs.min_approvals, fixed when the output was made
**     (the recipe's review.min_approvals then, else 1), changed only by
**     reviews_change_rule (quill review rule), which is recorded;
**   - an edit is checked against the output's own constraints (its
**     params: forbid_chars, banned_words); one that breaks them is refused,
**     or kept flagged (breaks) when the caller allows it; publish refuses
**     flagged outputs unless told otherwise.
**   - a reviewer may undo their own standing verdict (reviews_undo) while
**     the output is in no publication: recorded as a 'withdraw' row, so the
**     history keeps both the verdict and its undoing.
** Reviewer names are normalised (txt_name_normalize): "A", "a" and "A " are
** one reviewer.  Every write function works inside the caller's
** transaction and refreshes outputs.status.
**
** Every function returns 0 or a negative reviews_rc saying why it failed
** (err says it in words), so that the CLI, the TUI and the desk map the
** same refusal to the same exit status or HTTP status; callers that only
** need "failed" test for non-zero.
*/
#ifndef QUILL_REVIEWS_H
#define QUILL_REVIEWS_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

typedef enum reviews_rc {
    REVIEWS_OK = 0,
    REVIEWS_ERROR = -1,     /* the store failed, out of memory, a bad name */
    REVIEWS_NO_OUTPUT = -2, /* no output with that id */
    REVIEWS_STALE = -3,     /* the version shown is not the current one */
    REVIEWS_BREAKS = -4,    /* the edit breaks the output's constraints */
    REVIEWS_REFUSED = -5,   /* the rules refuse it (a rejection stands, nothing
                            ** to withdraw or undo, the output was published) */
} reviews_rc;

/* One output as a reviewer sees it; strings are malloc'd. */
typedef struct reviews_output {
    int64_t id, recipe_run_id, checkpoint_id, seed; /* ids are 0 when none */
    char *recipe;                                   /* NULL when none */
    char *model, *prompt, *continuation, *original, *params_json, *finish, *created_at;
    char *text;         /* the current text (latest edit, else original) */
    int version;        /* 1 + number of edits */
    int edited;         /* 1 when text is an edit */
    char *breaks;       /* what the current text breaks, NULL when nothing */
    const char *status; /* from the reviews: pending, approved, rejected */
    int approvals, needed;
} reviews_output;

/* One row of an output's review history; strings are malloc'd, "" when
** absent. */
typedef struct reviews_entry {
    char *reviewer, *verdict, *note, *edited_text, *breaks, *created_at;
    int version;
} reviews_entry;

/* Load output id into *o (fails "no output with id N"); free with
** reviews_output_free. */
int reviews_get(store *st, int64_t id, reviews_output *o, char *err);
void reviews_output_free(reviews_output *o);

/* A page of the review queue by keyset: the outputs with an id above
** after whose stored status is status (NULL: any), whose recipe is recipe
** (NULL: any) and whose prompt holds q (NULL: any; ASCII case-insensitive,
** '%' and '_' literal), by id, at most limit of them into v (room for
** limit; free each with reviews_output_free); *got gets how many, *more 1
** when more follow.  One statement, in id order from after (pending ones
** by a scan, reviewed ones by output_rows_reviewed, db/011): fast on
** 100,000 outputs. */
int reviews_page(store *st, const char *status, const char *recipe, const char *q, int64_t after,
                 size_t limit, reviews_output *v, size_t *got, int *more, char *err);

/* The status output id's reviews call for, with the approvals counted and
** needed (either may be NULL). */
int reviews_verdict(store *st, int64_t id, const char **status, int *approvals, int *needed,
                    char *err);

/* The ids (ascending, malloc'd into *ids) of the outputs whose stored
** status is status (NULL: any) and whose recipe is recipe (NULL: any). */
int reviews_list(store *st, const char *status, const char *recipe, int64_t **ids, size_t *n,
                 char *err);

/* The review history of output id, oldest first; free with
** reviews_history_free. */
int reviews_history(store *st, int64_t id, reviews_entry **v, size_t *n, char *err);
void reviews_history_free(reviews_entry *v, size_t n);

/* reviewer approves version (0: the current one, stored into *version
** when not NULL) of output id.  Refused when version is not the current
** one or reviewer's own rejection stands. */
int reviews_approve(store *st, int64_t id, const char *reviewer, int *version, const char *note,
                    char *err);

/* reviewer rejects output id as shown at version (0: current; a rejection
** of an older version still rejects: it is the safe side). */
int reviews_reject(store *st, int64_t id, const char *reviewer, int version, const char *note,
                   char *err);

/* reviewer withdraws their own standing rejection of output id (fails when
** there is none). */
int reviews_withdraw(store *st, int64_t id, const char *reviewer, const char *note, char *err);

/* reviewer undoes their own standing verdict (latest approve or reject) on
** output id, recorded as a 'withdraw' row with note (NULL: "undo VERDICT of
** version V"); *undone (may be NULL) gets "approve" or "reject".  Refused
** when reviewer has no standing verdict on it or any publication (not
** abandoned) holds the output: published text keeps its approvals. */
int reviews_undo(store *st, int64_t id, const char *reviewer, const char *note, const char **undone,
                 char *err);

/* reviewer notes note on output id. */
int reviews_note(store *st, int64_t id, const char *reviewer, const char *note, char *err);

/* reviewer replaces the text of output id, as edited from *version (0:
** from whatever is current), with text; *version gets the new version.
** Text that breaks the output's constraints is refused (err names the
** character or word) unless allow_breaks, when it is kept flagged and
** breaks (cap bytes, may be NULL) says what it breaks ("" when nothing). */
int reviews_edit(store *st, int64_t id, const char *reviewer, const char *text, const char *note,
                 int allow_breaks, int *version, char *breaks, size_t cap, char *err);

/* Set the rule for the future outputs of recipe_name (quill run); the
** outputs it already has keep the rule they were made under. */
int reviews_set_rule(store *st, const char *recipe_name, int64_t min_approvals, char *err);

/* Change the rule of recipe_name for its future AND existing outputs, on
** behalf of changed_by, and record the change (old rule, new rule, how many
** outputs); *old_min gets the old rule (0: none), *changed the number of
** existing outputs. */
int reviews_change_rule(store *st, const char *recipe_name, int64_t min_approvals,
                        const char *changed_by, int64_t *old_min, int64_t *changed, char *err);

/* The pending outputs on which reviewer has no standing verdict (never
** judged, or withdrew or undid it: the interactive queue), ascending. */
int reviews_queue(store *st, const char *reviewer, int64_t **ids, size_t *n, char *err);

/* Where reviewer's interactive session stopped (0: never), and saving it
** (best effort: a failure only loses the resume point). */
int64_t reviews_cursor_get(store *st, const char *reviewer);
void reviews_cursor_set(store *st, const char *reviewer, int64_t id);

#endif

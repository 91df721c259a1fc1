/*
** The review desk's reviewers and sessions (quill reviewer, quill serve).
**
** A reviewer is a normalised name (txt_name_normalize, as db/reviews.h
** records them) with a login token: 256 random bits shown once as 64 hex
** digits; the store keeps only the token's SHA-256.  Logging in with the
** token opens a session: a random cookie (kept as its SHA-256) with its own
** CSRF token and an expiry.  Removing a reviewer revokes the token and every
** session.  An admin (reviewer add --admin) may also, on the desk, list
** the reviewers and change a recipe's review rule (min_approvals).  Write functions run their own
*transaction.
*/
#ifndef QUILL_REVIEWERS_H
#define QUILL_REVIEWERS_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* A login token, a session cookie or a CSRF token: 64 hex digits + NUL. */
#define REVIEWERS_SECRET_LEN 65

typedef struct reviewers_row {
    char *name, *created_at; /* malloc'd */
    int admin;
    int64_t sessions; /* live sessions */
} reviewers_row;

/* Add reviewer name (normalised into *key, malloc'd) with a fresh token
** written into token.  Fails (err says why) when the name is not one or the
** reviewer exists. */
int reviewers_add(store *st, const char *name, int admin, char token[REVIEWERS_SECRET_LEN],
                  char **key, char *err);

/* Every reviewer, by name; free with reviewers_rows_free. */
int reviewers_list(store *st, reviewers_row **v, size_t *n, char *err);
void reviewers_rows_free(reviewers_row *v, size_t n);

/* Remove reviewer name with their token and sessions (*sessions gets how
** many were live; may be NULL).  Fails when there is no such reviewer. */
int reviewers_remove(store *st, const char *name, int64_t *sessions, char *err);

/* Open a session of ttl seconds for the reviewer whose token is token:
** returns 1 and fills *reviewer (malloc'd), cookie and csrf; 0 when no
** reviewer has that token; -1 on error. */
int reviewers_login(store *st, const char *token, int64_t ttl, char **reviewer,
                    char cookie[REVIEWERS_SECRET_LEN], char csrf[REVIEWERS_SECRET_LEN], char *err);

/* The live (unexpired, reviewer not removed) session of cookie: returns 1
** and fills *reviewer (malloc'd), *admin (1 when the reviewer is an admin;
** may be NULL) and csrf, 0 when there is none, -1 on error. */
int reviewers_session(store *st, const char *cookie, char **reviewer, int *admin,
                      char csrf[REVIEWERS_SECRET_LEN], char *err);

/* End the session of cookie (and drop every expired one). */
int reviewers_logout(store *st, const char *cookie, char *err);

#endif

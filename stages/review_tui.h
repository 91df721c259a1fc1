/*
** `quill review`: the command line (review_cli.c) and the interactive reviewer
** (review_tui.c) over the review gate in db/reviews.h, whose rules they
** follow and document.
*/
#ifndef QUILL_REVIEW_TUI_H
#define QUILL_REVIEW_TUI_H

#include "reviews.h"

/* The interactive reviewer on the terminal for reviewer (a normalised
** name); returns an exit status. */
int review_interactive(store *st, const char *reviewer);

#endif

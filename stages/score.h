/*
** Scoring a text under a model: its mean next-token cross-entropy and
** perplexity (`quill score`).
*/
#ifndef QUILL_SCORE_H
#define QUILL_SCORE_H

#include "gpt.h"

#include <stddef.h>
#include <stdint.h>

/* Mean cross-entropy (nats) of predicting ids[1..n-1] from what precedes
** them.  A text longer than n_positions is cut into windows of n_positions
** tokens that overlap by one, so every token after the first is predicted
** exactly once, from at most n_positions - 1 tokens of context.  Needs
** n >= 2.  *n_predicted gets n - 1. */
int score_ids(gpt_model *m, const int32_t *ids, size_t n, double *loss, size_t *n_predicted,
              char *err);

#endif

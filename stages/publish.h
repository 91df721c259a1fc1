/*
** What `quill publish` writes, for whoever must show exactly those bytes
** (quill serve's publish preview) without writing a file.
*/
#ifndef QUILL_PUBLISH_H
#define QUILL_PUBLISH_H

#include "reviews.h"

#include <stdio.h>

typedef struct publish_items {
    reviews_output *v;
    size_t n;
} publish_items;

/* The outputs that pass the gate, in id order; recipe_name filters when
** not NULL.  Outputs marked approved without the reviews to show for it are
** reported on stderr and left out; one whose text breaks its constraints
** fails the whole publication unless allow_breaks (then it is reported). */
int publish_gather(store *st, const char *recipe_name, int allow_breaks, publish_items *out,
                   char *err);

/* Render the gathered items in format (txt, md or jsonl) into f. */
int publish_render(store *st, const publish_items *it, const char *format, FILE *f, char *err);

/* Free the gathered outputs. */
void publish_items_free(publish_items *it);

#endif

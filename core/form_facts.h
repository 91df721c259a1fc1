/*
** A poetic form's facts on a finished text, for reviewers: each line's
** syllables against its count, its initial against the acrostic's letter,
** its last word and the earlier line it must rhyme with, and whether the
** whole text holds the form (form.h's definitions; the form comes from an
** output's recorded parameters, as generate writes them).  An edit that
** breaks a form its output held is refused like a lipogram break.
*/
#ifndef QUILL_FORM_FACTS_H
#define QUILL_FORM_FACTS_H

#include "form.h"

#include <jansson.h>

typedef struct form_facts_line {
    int syll;       /* syllables of the line's dictionary words */
    int target;     /* the count the form asks for, -1: any */
    char initial;   /* the line's first character, 0 for an empty line */
    char letter;    /* the acrostic's letter, 0: none */
    char last[64];  /* the line's last word in lower case, "" when none */
    char rhyme[32]; /* its rhyming part ("EY1 T"), "" when not in the dictionary */
    int partner;    /* the earlier line (0-based) it must rhyme with, -1: none */
    int rhymes;     /* 1 when it rhymes with partner's last word */
} form_facts_line;

typedef struct form_facts {
    int n;     /* lines of the text (at most FORM_MAX_LINES are described) */
    int lines; /* lines the form asks for, 0: any */
    form_facts_line line[FORM_MAX_LINES];
    int holds;      /* 1 when the text holds the whole form */
    char what[160]; /* else the first break, e.g. "line 2 has 6 syllables, not 7" */
} form_facts;

/* The facts of text under the form recorded in params_json (generate's
** syllables, rhyme, acrostic, lines and vocabulary keys); the prompt is
** left out when text starts with it (a continuation may begin with a
** newline).  Returns 1 with *ff filled, 0 when the parameters ask for no
** form, -1 with err set on parameters that are not JSON or a bad form. */
int form_facts_of(const char *params_json, const char *prompt, const char *text, form_facts *ff,
                  char *err);

/* ff as a JSON object {lines, holds, what, line: [{syllables, target,
** initial, letter, last_word, rhyme, rhymes_with, rhymes}]}; NULL when out
** of memory. */
json_t *form_facts_json(const form_facts *ff);

#endif

/*
** Poetic forms that hold by construction: syllable counts per line (a
** haiku is 5,7,5), rhyme schemes (ABAB), acrostics, a word list, a number
** of lines; any combination.
**
** Definitions (issue 16; tests/reference/check_forms.py checks them
** independently):
**   - a word is a maximal run [A-Za-z]+('[A-Za-z]+)*, looked up in lower
**     case; its syllables and rhyming part come from the CMU dictionary
**     (core/cmudict.h);
**   - under syllables or rhyme every word is a dictionary word and the text
**     holds only ASCII letters, apostrophes, spaces, newlines and , . ; : ! ?
**     - " ; under a vocabulary every word is in the list (any case);
**   - lines: the continuation split at '\n', ignoring one empty piece at the
**     start and one at the end; no line is empty; a line's syllables are
**     the sum over its words; line i of an acrostic starts with its letter
**     (its first character, any case);
**   - lines with the same rhyme letter end in words that rhyme: equal
**     rhyming parts, different words; a line under rhyme holds a word.
** The form is complete when its last line ends with '\n' (or the text ends
** after it); the output then ends with finish reason "form".
**
** So that a line cannot stall (a model that meets a hard line end would
** otherwise fill it with "hm", "sh", ",,,," until the length limit), forms
** with syllables or rhyme leave out the dictionary's words of no syllable
** and allow at most FORM_MAX_GAP characters between two words of a line
** (spaces and punctuation; a newline starts afresh).  Both only narrow what
** the definitions allow.
**
** Per step form_mask sets -inf on every token after which the form could
** not be completed by any text: the form's own trie of the allowed words
** (dictionary or list, without words that hold a forbidden letter or are
** banned) knows per prefix the syllable counts below it, and per rhyme
** group which words can still find a partner; a token is walked byte by
** byte through a trie of the vocabulary's tokens, so a whole subtree of
** tokens dies at once.  Masks are cached per state (the states at a word's
** start recur constantly).
*/
#ifndef QUILL_FORM_H
#define QUILL_FORM_H

#include "constrain.h"

#include <stddef.h>
#include <stdint.h>

#define FORM_MAX_LINES 32 /* lines of a form */
#define FORM_MAX_SYLL 31  /* syllables of a line */
#define FORM_MAX_GAP 4    /* characters between two words of a line */

typedef struct form_opts {
    int syllables[FORM_MAX_LINES]; /* per line (n_syllables 0: none) */
    size_t n_syllables;
    const char *rhyme;             /* scheme, e.g. "ABAB", or NULL */
    const char *acrostic;          /* letters, or NULL */
    const char *const *vocabulary; /* allowed words, or NULL */
    size_t n_vocabulary;
    int lines; /* 0: from the others */
} form_opts;

typedef struct form form;

/* State of one sequence (plain value, copy freely). */
typedef struct form_state {
    int32_t node; /* trie node of the word being typed */
    uint32_t lw;  /* last word of the line, or UINT32_MAX */
    uint8_t line, syll, flags;
    uint8_t gap;                  /* characters since the last word (in the line) */
    uint32_t fin[FORM_MAX_LINES]; /* each finished line's last word */
} form_state;

/* 1 when o asks for a form. */
int form_requested(const form_opts *o);

/* Parse "5,7,5" into at most FORM_MAX_LINES counts (1..FORM_MAX_SYLL);
** err names the problem. */
int form_parse_syllables(const char *s, int *out, size_t *n, char *err);

/* Read a word list (one word per line; blank lines and surrounding spaces
** ignored) into *words (malloc'd strings; free with form_words_free). */
int form_load_vocabulary(const char *path, char ***words, size_t *n, char *err);
void form_words_free(char **words, size_t n);

/* Fill o from the option texts (each NULL when not given): syllables
** "5,7,5" or form "haiku", rhyme, acrostic, lines; err names the problem. */
int form_opts_set(form_opts *o, const char *syllables, const char *form_name, const char *rhyme,
                  const char *acrostic, long lines, char *err);

/* Build a form for vocabulary v (referenced, must outlive it); co gives the
** banned words and forbidden characters the form's words avoid (so the
** lookahead agrees with cons_mask).  Fails with err set on an inconsistent
** or impossible form (line counts disagree, a rhyme group no words can
** fill, ...). */
int form_new(const cons_vocab *v, const form_opts *o, const cons_opts *co, form **out, char *err);
void form_free(form *f);

/* The state before the continuation's first byte. */
void form_start(const form *f, form_state *st);

/* Set -inf on every token that would make the form impossible to complete
** from st (and on end-of-text unless the form may end here).  Thread-safe. */
void form_mask(form *f, const form_state *st, float *logits);

/* The mask form_mask sets, computed the plain way: every token walked byte
** by byte through the form's rules, no cache, no shortcut (the reference
** tests hold form_mask to).  Thread-safe. */
void form_mask_plain(form *f, const form_state *st, float *logits);

/* Advance st over token id (eos: the end of the text); returns 1 if the form
** can no longer be completed (never for a token form_mask allowed). */
int form_advance(form *f, form_state *st, int32_t id);

/* The number of lines of the form (0: the lines are free, e.g. a word list
** alone, and ending the text does not complete a form). */
int form_lines(const form *f);

/* 1 when the text may end in state st (the form complete at its end). */
int form_end_ok(const form *f, const form_state *st);

/* 1 when the form is complete (its last line ended): nothing may follow. */
int form_done(const form *f, const form_state *st);

/* Statistics: mask cache hits and misses, seconds in form_mask. */
void form_stats(const form *f, long *hits, long *misses, double *seconds);

#endif

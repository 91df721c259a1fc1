/*
** Option parsing shared by `quill generate` (generate_cli.c) and `quill
** next` (next.c): the model source, the prompt, --dtype and --temperature
** checked the same way with the same messages, and generate's list
** arguments.
*/
#ifndef QUILL_GEN_OPTS_H
#define QUILL_GEN_OPTS_H

#include <stddef.h>
#include <stdint.h>

/* Append s to the list *v of *n strings (s itself, not a copy): 0, or -1
** when out of memory. */
int gen_opts_push(const char ***v, size_t *n, const char *s);

/* --dtype ARG of command CMD into *bf16; 0, or 2 after a usage error. */
int gen_opts_dtype(const char *cmd, const char *arg, int *bf16);

/* --temperature ARG of command CMD into *t, in the recipe's range; 0 gets
** its own message, naming greedy decoding.  0, or 2 after a usage error. */
int gen_opts_temperature(const char *cmd, const char *arg, float *t);

/* The checks after the options common to generate and next: one model
** source and a prompt.  0, or 2 after a usage error. */
int gen_opts_source(const char *cmd, const char *model, const char *checkpoint, size_t n_prompts);

/* Split "a,b,c" into a malloc'd array of *n malloc'd strings ("a, b": the
** space after a comma is dropped; free with form_words_free); NULL when
** out of memory. */
char **gen_opts_words(const char *s, size_t *n);

/* Parse "[[1,2],[3]]" (nested) or "[1,2]" (flat) into ids/off (malloc'd,
** the caller frees them whatever the result; list i is ids[off[i] ..
** off[i+1])) and *n lists.  0; -1 with err when s is not such a list;
** GEN_OPTS_NOMEM when out of memory. */
#define GEN_OPTS_NOMEM (-2)
int gen_opts_id_lists(const char *s, int nested, int32_t **ids, size_t **off, size_t *n, char *err);

#endif

/*
** A prompts file (`quill generate --prompts FILE`, a recipe's
** generate[].prompts_file): many prompts, each with its own parameters.
**
** FILE.jsonl: one JSON object per line, "prompt" (a string) and optional
** per-row num_return_sequences, max_new_tokens, temperature, top_k, top_p
** (numbers in the ranges of the recipe's generate keys of the same names),
** seed (an integer in the recipe seed's range), banned_words (a list of
** non-empty strings), forbid_chars (a string) and meta (any JSON, kept with
** the outputs in their parameters).  Any other name (FILE.txt, or none):
** one prompt per line.  In both, a line ending "\r\n" loses the "\r" and a
** blank line (nothing but spaces) is skipped: it is no prompt.
**
** Every line is checked before anything is used: a prompt must be text
** (valid UTF-8 without NUL or U+FFFD, gen_check_prompt), a row a JSON
** object with only the keys above, each of the right type and in range.
** All bad lines are reported (the first PFILE_MAX_ERRORS), each as
** "FILE:LINE: problem".
*/
#ifndef QUILL_PFILE_H
#define QUILL_PFILE_H

#include "gen.h"

#include <stddef.h>

#define PFILE_MAX_ERRORS 20 /* bad lines reported at most (all are counted) */

typedef struct pfile {
    const char **prompts; /* n prompts, NUL-terminated */
    gen_row *rows;        /* n rows (a .txt file: every row empty) */
    size_t n;
    char **errors; /* n_errors messages "FILE:LINE: problem" (malloc'd) */
    size_t n_errors, n_bad;
    void *own; /* what the prompts and rows point into */
} pfile;

/* Read and check the prompts file path into *f.  0: every line good (at
** least one prompt); -1: err says why (the file cannot be read, no prompt,
** or "N bad lines", the first of them in f->errors).  Free *f with
** pfile_free in both cases. */
int pfile_load(const char *path, pfile *f, char *err);

/* The same for the file's n bytes at data (malloc'd, NUL after them; *f
** takes them, failure or not), read elsewhere (path names them). */
int pfile_parse(const char *path, char *data, size_t n, pfile *f, char *err);
void pfile_free(pfile *f);

#endif

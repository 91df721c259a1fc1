/*
** Error reporting convention used by every module.
**
** A function that can fail returns 0 on success and -1 on failure, and on
** failure writes a one-line, human-readable reason into a caller-supplied
** buffer of ERR_LEN bytes.  The reason names the file or object and the
** problem ("model.safetensors: header length 9000 exceeds file size 120").
** Callers add context by prefixing with err_prefix().
*/
#ifndef QUILL_ERR_H
#define QUILL_ERR_H

#include <stddef.h>

#define ERR_LEN 512

/* Format a message into err (ERR_LEN bytes); always returns -1. */
int err_set(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepend "prefix: " to the message already in err; always returns -1. */
int err_prefix(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

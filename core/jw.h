/*
** Checked JSON writing.  jansson's constructors return NULL for a value
** they cannot make (a string that is not valid UTF-8, a non-finite real,
** no memory), and json_object_set_new() and json_pack() then drop the key
** or the whole object without a word.  Every JSON writer in quill builds
** through these instead, so a field that cannot be written is an error
** naming it, never a gap.  (Text that may legitimately hold invalid UTF-8,
** such as file names or text stored by older versions, is repaired first
** with cli_json_str.)
*/
#ifndef QUILL_JW_H
#define QUILL_JW_H

#include <jansson.h>
#include <stdio.h>

/* An object of KEY, VALUE pairs (const char *, json_t *), each value's
** reference stolen: the object, or NULL (every value released) with err
** naming the first key whose value is NULL. */
json_t *jw_object_(char *err, const char *key, ...);
#define jw_object(err, ...) jw_object_(err, __VA_ARGS__, (const char *)NULL)

/* obj[key] = v, v's reference stolen (released on failure too): 0, or -1
** with err naming the key when v is NULL or jansson refuses it. */
int jw_set(json_t *obj, const char *key, json_t *v, char *err);

/* Append v (reference stolen) to arr: 0, or -1 with err naming what when
** v is NULL or jansson refuses it. */
int jw_append(json_t *arr, json_t *v, const char *what, char *err);

/* Append v (reference stolen) to the list *arr; when that fails, *arr is
** released too and set to NULL, with err naming what (so a loop can stop
** on a NULL list).  A NULL *arr just releases v.  Returns 0 or -1. */
int jw_push(json_t **arr, json_t *v, const char *what, char *err);

/* v as JSON text with jansson's flags, v released: malloc'd text, or NULL
** with err naming what when v is NULL or cannot be encoded. */
char *jw_dumps(json_t *v, size_t flags, const char *what, char *err);

/* v as one line on f, v released: 0, or -1 with err naming what when v
** is NULL or cannot be encoded or written. */
int jw_print(FILE *f, json_t *v, size_t flags, const char *what, char *err);

#endif

/*
** JSON text written straight into a growing buffer, for replies built many
** times a second (the review desk's queue page): no value tree, no
** allocation per field.  Strings are encoded exactly as jansson's
** json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII) encodes the string
** cli_json_str makes of them: invalid UTF-8 is repaired (txt_utf8_repair:
** U+FFFD per maximal bad subpart), then '"', '\\' and control characters are
** escaped and every non-ASCII character becomes \uXXXX (a surrogate pair
** above U+FFFF), U+2028 and U+2029 included, so the text is pure ASCII.
** A failed allocation is remembered and reported once by jbuf_take.
*/
#ifndef QUILL_JBUF_H
#define QUILL_JBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct jbuf {
    char *s; /* NUL-terminated, n bytes; NULL until the first write */
    size_t n, cap;
    int oom; /* an allocation failed: every later write is ignored */
} jbuf;

/* Append the n bytes of raw as they are (JSON punctuation, keys). */
void jbuf_raw(jbuf *b, const char *raw, size_t n);

/* Append a string literal as it is: jbuf_lit(b, ",\"id\":"). */
#define jbuf_lit(b, lit) jbuf_raw(b, lit, sizeof(lit) - 1)

/* Append s as a JSON string (null when s is NULL), encoded as above. */
void jbuf_str(jbuf *b, const char *s);

/* Append v as a JSON integer. */
void jbuf_int(jbuf *b, int64_t v);

/* Append true or false. */
void jbuf_bool(jbuf *b, int v);

/* The text written (malloc'd, NUL-terminated, its length in *n) handed to
** the caller, b emptied; NULL (b freed) when an allocation failed. */
char *jbuf_take(jbuf *b, size_t *n);

#endif

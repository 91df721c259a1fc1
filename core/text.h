/*
** Text clean-up for ingestion: UTF-8 validation and repair, byte-order
** marks, newline normalisation, Project Gutenberg boilerplate, and cutting
** at a number of Unicode characters without splitting a sequence.
** All functions work on byte buffers and never read past n.
*/
#ifndef QUILL_TEXT_H
#define QUILL_TEXT_H

#include <stddef.h>

/* Length in bytes of the valid UTF-8 sequence at s (1..4), or 0 when the
** bytes at s do not start one (overlongs, surrogates and values above
** U+10FFFF are invalid, as in RFC 3629). */
size_t txt_utf8_seq_len(const unsigned char *s, size_t n);

/* 1 when all n bytes are valid UTF-8; else 0 and *bad = offset of the first
** invalid byte. */
int txt_utf8_valid(const unsigned char *s, size_t n, size_t *bad);

/* Copy of s with each maximal invalid subpart replaced by U+FFFD (the
** WHATWG / Python errors='replace' rule).  Returns malloc'd bytes (NUL
** terminated) and sets *out_n, or NULL when out of memory. */
char *txt_utf8_repair(const unsigned char *s, size_t n, size_t *out_n);

/* Number of code points in valid UTF-8. */
size_t txt_count_chars(const unsigned char *s, size_t n);

/* Byte length of the first max_chars code points of valid UTF-8 s. */
size_t txt_prefix_bytes(const unsigned char *s, size_t n, size_t max_chars);

/* Offset just after a leading UTF-8 byte-order mark (0 or 3). */
size_t txt_bom_len(const unsigned char *s, size_t n);

/* Rewrite CRLF and lone CR as LF in place; returns the new length. */
size_t txt_normalize_newlines(char *s, size_t n);

/* Find the text between Project Gutenberg's "*** START OF" and "*** END OF"
** marker lines, with the blank lines around it trimmed.  Returns 1 and sets
** [*begin, *end) when a START marker is present (END optional), else 0. */
int txt_gutenberg_body(const char *s, size_t n, size_t *begin, size_t *end);

/* 1 when the buffer holds a NUL byte (taken as binary, not text). */
int txt_has_nul(const void *s, size_t n);

/* 1 when the string s ends with suffix (both NUL-terminated). */
int txt_ends_with(const char *s, const char *suffix);

/* s with every control character written out for a terminal to show, not
** obey: C0 bytes and DEL as \xHH (\n, \t, \r, \e included), C1 controls
** (U+0080..U+009F) as \uHHHH; the rest is copied.  For names from
** untrusted sources (file and archive member names, reviewer names) in
** human-readable output.  Malloc'd; NULL when out of memory. */
char *txt_escape_controls(const char *s);

#endif

/*
** Text clean-up for ingestion: UTF-8 validation and repair, byte-order
** marks, newline normalisation, Project Gutenberg boilerplate, and cutting
** at a number of Unicode characters without splitting a sequence.
** All functions work on byte buffers and never read past n.
*/
#ifndef QUILL_TEXT_H
#define QUILL_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* Length in bytes of the valid UTF-8 sequence at s (1..4), or 0 when the
** bytes at s do not start one (overlongs, surrogates and values above
** U+10FFFF are invalid, as in RFC 3629). */
size_t txt_utf8_seq_len(const unsigned char *s, size_t n);

/* Incremental checking of generated text, which arrives in pieces
** (tokens): valid UTF-8 without NUL (quill's texts are C strings, a NUL
** would cut them) and without U+FFFD (a replacement character is the mark
** of broken text, never something to publish).  The state between two
** bytes is TXT_U8_START (at a character boundary) or one of the states
** inside a character (how many bytes it still needs and which values the
** next one may take); TXT_U8_BAD once the text can no longer be valid. */
enum { TXT_U8_START = 0, TXT_U8_NSTATES = 10, TXT_U8_BAD = 255 };

/* The state after bytes s[0..n) read from state st (TXT_U8_BAD stays). */
unsigned txt_u8_run(unsigned st, const unsigned char *s, size_t n);

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

/* A person's name as one key: valid UTF-8 without control characters,
** case-folded (utf8proc) and trimmed of white space, so "A", "a" and " A "
** are one name.  *out is malloc'd; fails (err says why: "is empty", "holds a
** control character (U+0007)") on a name that is not one. */
int txt_name_normalize(const char *in, char **out, char *err);
/* Untrusted text (a generated text, a file or reviewer name, a note) shown
** on a terminal: every control character is written out so the terminal
** shows it instead of obeying it (no escape sequence gets through).  C1
** controls (U+0080..U+009F) become \uHHHH in both modes; the rest of the
** UTF-8 is kept. */
typedef enum txt_clean_mode {
    TXT_CLEAN_NAME, /* one line: C0 bytes and DEL as \xHH (\n, \t included) */
    TXT_CLEAN_TEXT  /* lines: \n and \t kept, other C0 bytes and DEL in caret
                    ** notation (^[ for ESC, ^? for DEL) */
} txt_clean_mode;

/* Write s (NULL: nothing) to f, cleaned as mode says. */
void txt_put_clean(FILE *f, const char *s, txt_clean_mode mode);

/* s cleaned as TXT_CLEAN_NAME, malloc'd; NULL when out of memory.  For
** names in human-readable output. */
char *txt_escape_controls(const char *s);

#endif

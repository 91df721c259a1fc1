/*
** JSON text written straight into a growing buffer (jbuf.h).
*/
#include "jbuf.h"

#include "text.h"

#include <stdlib.h>
#include <string.h>

/* Drop b's text: an allocation failed. */
static void fail(jbuf *b) {
    free(b->s);
    *b = (jbuf){.oom = 1};
}

/* Room for more bytes after b->n (and the NUL): 1, or 0 when b is (now)
** out of memory. */
static int reserve(jbuf *b, size_t more) {
    if (b->oom) return 0;
    if (b->s && b->n + more + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + more + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        fail(b);
        return 0;
    }
    b->s = s;
    b->cap = cap;
    return 1;
}

void jbuf_raw(jbuf *b, const char *raw, size_t n) {
    if (!reserve(b, n)) return;
    memcpy(b->s + b->n, raw, n);
    b->n += n;
    b->s[b->n] = 0;
}

/* Write \uXXXX (upper-case hex, as jansson) at o; returns the end. */
static char *put_u(char *o, unsigned u) {
    static const char hex[] = "0123456789ABCDEF";
    o[0] = '\\', o[1] = 'u';
    o[2] = hex[u >> 12 & 15], o[3] = hex[u >> 8 & 15], o[4] = hex[u >> 4 & 15], o[5] = hex[u & 15];
    return o + 6;
}

/* 1 when none of the 8 bytes in w needs escaping: each in 0x20..0x7F and
** neither '"' nor '\\' (the bit tricks of "Bit Twiddling Hacks": exact
** for whether any byte matches, which is all this asks). */
static int plain8(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
    uint64_t below_space = (w - ones * 0x20) & ~w, is_q = (q - ones) & ~q,
             is_bs = (bs - ones) & ~bs;
    return !((w | below_space | is_q | is_bs) & high);
}

/* Append the n bytes of s, valid UTF-8, as a quoted JSON string.  No
** character takes more than 6 output bytes per input byte (a control
** character: \u00XX), so one reservation covers it. */
static void put_string(jbuf *b, const unsigned char *s, size_t n) {
    if (!reserve(b, 6 * n + 2)) return;
    char *o = b->s + b->n;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        uint64_t w;
        if (i + 8 <= n && (memcpy(&w, s + i, 8), plain8(w))) { /* most text */
            memcpy(o, &w, 8), o += 8, i += 8;
            continue;
        }
        unsigned c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c, i++;
            continue;
        }
        /* jansson's short escapes; \u00XX for the other controls */
        char named = c == '"' || c == '\\' ? (char)c
                     : c == '\b'           ? 'b'
                     : c == '\f'           ? 'f'
                     : c == '\n'           ? 'n'
                     : c == '\r'           ? 'r'
                     : c == '\t'           ? 't'
                                           : 0;
        if (named) {
            *o++ = '\\', *o++ = named, i++;
        } else if (c < 0x80) {
            o = put_u(o, c), i++;
        } else if (c < 0xE0) {
            o = put_u(o, (c & 0x1F) << 6 | (s[i + 1] & 0x3F)), i += 2;
        } else if (c < 0xF0) {
            o = put_u(o, (c & 0x0F) << 12 | (s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F)), i += 3;
        } else {
            unsigned cp = ((c & 0x07) << 18 | (s[i + 1] & 0x3F) << 12 | (s[i + 2] & 0x3F) << 6 |
                           (s[i + 3] & 0x3F)) -
                          0x10000;
            o = put_u(put_u(o, 0xD800 | cp >> 10), 0xDC00 | (cp & 0x3FF)), i += 4;
        }
    }
    *o++ = '"';
    *o = 0;
    b->n = (size_t)(o - b->s);
}

void jbuf_str(jbuf *b, const char *s) {
    if (!s) {
        jbuf_lit(b, "null");
        return;
    }
    size_t n = strlen(s), rn;
    if (txt_utf8_valid((const unsigned char *)s, n, NULL)) {
        put_string(b, (const unsigned char *)s, n);
        return;
    }
    /* the rare text that is not UTF-8 (stored by an old version, or a
    ** model's bytes cut mid-character): repaired, as cli_json_str does */
    char *r = txt_utf8_repair((const unsigned char *)s, n, &rn);
    if (r)
        put_string(b, (const unsigned char *)r, rn);
    else
        fail(b);
    free(r);
}

void jbuf_int(jbuf *b, int64_t v) {
    char digits[20];
    size_t k = 0;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do
        digits[k++] = (char)('0' + u % 10);
    while (u /= 10);
    if (!reserve(b, k + 1)) return;
    if (v < 0) b->s[b->n++] = '-';
    while (k)
        b->s[b->n++] = digits[--k];
    b->s[b->n] = 0;
}

void jbuf_bool(jbuf *b, int v) {
    if (v)
        jbuf_lit(b, "true");
    else
        jbuf_lit(b, "false");
}

char *jbuf_take(jbuf *b, size_t *n) {
    if (!reserve(b, 0)) return NULL;
    b->s[b->n] = 0; /* a buffer never written to */
    char *s = b->s;
    *n = b->n;
    *b = (jbuf){0};
    return s;
}

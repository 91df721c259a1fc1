/*
** Text clean-up for ingestion (see text.h).
*/
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Expected length of the sequence a lead byte starts (0 if it starts none)
** and the allowed range of its second byte, which excludes overlongs,
** surrogates and values above U+10FFFF (RFC 3629). */
static size_t lead_info(unsigned c, unsigned *lo, unsigned *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0) *lo = 0xA0;
        if (c == 0xED) *hi = 0x9F;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0) *lo = 0x90;
        if (c == 0xF4) *hi = 0x8F;
        return 4;
    }
    return 0;
}

/* Number of leading bytes of s that belong to the sequence its first byte
** starts, stopping at the first byte that cannot continue it. */
static size_t seq_prefix(const unsigned char *s, size_t n, size_t *expected) {
    unsigned lo, hi;
    size_t len = lead_info(s[0], &lo, &hi);
    *expected = len;
    if (len <= 1) return len;
    if (n < 2 || s[1] < lo || s[1] > hi) return 1;
    size_t i = 2;
    while (i < len && i < n && (s[i] & 0xC0) == 0x80)
        i++;
    return i;
}

size_t txt_utf8_seq_len(const unsigned char *s, size_t n) {
    size_t expected, got = seq_prefix(s, n, &expected);
    return got == expected ? got : 0;
}

int txt_utf8_valid(const unsigned char *s, size_t n, size_t *bad) {
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path, eight bytes at a time. */
        while (i + 8 <= n) {
            unsigned long long w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= n) break;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = txt_utf8_seq_len(s + i, n - i);
        if (!len) {
            if (bad) *bad = i;
            return 0;
        }
        i += len;
    }
    return 1;
}

char *txt_utf8_repair(const unsigned char *s, size_t n, size_t *out_n) {
    char *out = malloc(n * 3 + 1); /* each bad byte becomes at most 3 bytes */
    if (!out) return NULL;
    size_t i = 0, o = 0;
    while (i < n) {
        size_t len = txt_utf8_seq_len(s + i, n - i);
        if (len) {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
            continue;
        }
        memcpy(out + o, "\xEF\xBF\xBD", 3);
        o += 3;
        /* Replace the maximal subpart (at least one byte) as WHATWG does. */
        size_t expected, part = seq_prefix(s + i, n - i, &expected);
        i += part ? part : 1;
    }
    out[o] = 0;
    *out_n = o;
    return out;
}

size_t txt_count_chars(const unsigned char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += (s[i] & 0xC0) != 0x80;
    return count;
}

size_t txt_prefix_bytes(const unsigned char *s, size_t n, size_t max_chars) {
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            if (chars == max_chars) return i;
            chars++;
        }
    }
    return n;
}

size_t txt_bom_len(const unsigned char *s, size_t n) {
    return n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF ? 3 : 0;
}

size_t txt_normalize_newlines(char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            s[o++] = '\n';
            if (i + 1 < n && s[i + 1] == '\n') i++;
        } else
            s[o++] = s[i];
    }
    return o;
}

/* Offset of the first line at or after from that starts with marker, or n. */
static size_t find_marker_line(const char *s, size_t n, size_t from, const char *marker) {
    size_t m = strlen(marker);
    for (size_t i = from; i + m <= n; i++) {
        if ((i == 0 || s[i - 1] == '\n') && !memcmp(s + i, marker, m)) return i;
    }
    return n;
}

int txt_gutenberg_body(const char *s, size_t n, size_t *begin, size_t *end) {
    size_t start = find_marker_line(s, n, 0, "*** START OF");
    if (start == n) return 0;
    const char *nl = memchr(s + start, '\n', n - start);
    size_t b = nl ? (size_t)(nl - s) + 1 : n;
    size_t e = find_marker_line(s, n, b, "*** END OF");
    while (b < e && (s[b] == '\n' || s[b] == '\r' || s[b] == ' '))
        b++;
    while (e > b && (s[e - 1] == '\n' || s[e - 1] == '\r' || s[e - 1] == ' '))
        e--;
    *begin = b;
    *end = e;
    return 1;
}

int txt_has_nul(const void *s, size_t n) {
    return memchr(s, 0, n) != NULL;
}

int txt_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

char *txt_escape_controls(const char *s) {
    size_t n = strlen(s);
    char *out = malloc(4 * n + 1), *o = out; /* 4 per byte at most: \xHH, or 6 for 2 */
    if (!out) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            o += sprintf(o, "\\x%02x", *p);
        else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            o += sprintf(o, "\\u%04x", *++p);
        else
            *o++ = (char)*p;
    }
    *o = 0;
    return out;
}

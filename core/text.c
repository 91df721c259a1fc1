/*
** Text clean-up for ingestion (see text.h).
*/
#include "text.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

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

/* One byte of txt_u8_run: states 1-3 need 1-3 more bytes in 80..BF; 4
** (after E0) needs A0..BF then one, 5 (after ED) 80..9F then one, 6 (after
** F0) 90..BF then two, 7 (after F4) 80..8F then two; 8 (after EF) and 9
** (after EF BF) are 2 and 1 on the way to U+FFFD (EF BF BD). */
static unsigned u8_step(unsigned st, unsigned b) {
    static const unsigned char lo[10] = {0, 0x80, 0x80, 0x80, 0xA0, 0x80, 0x90, 0x80, 0x80, 0x80},
                               hi[10] = {0, 0xBF, 0xBF, 0xBF, 0xBF, 0x9F, 0xBF, 0x8F, 0xBF, 0xBF},
                               then[10] = {0, 0, 1, 2, 1, 1, 2, 2, 1, 0};
    if (st != TXT_U8_START) {
        if (b < lo[st] || b > hi[st] || (st == 9 && b == 0xBD)) return TXT_U8_BAD;
        return st == 8 && b == 0xBF ? 9 : then[st];
    }
    if (b == 0) return TXT_U8_BAD;
    if (b < 0x80) return TXT_U8_START;
    if (b < 0xC2) return TXT_U8_BAD;
    if (b < 0xE0) return 1;
    if (b == 0xE0) return 4;
    if (b == 0xED) return 5;
    if (b == 0xEF) return 8;
    if (b < 0xF0) return 2;
    if (b == 0xF0) return 6;
    if (b < 0xF4) return 3;
    return b == 0xF4 ? 7 : TXT_U8_BAD;
}

unsigned txt_u8_run(unsigned st, const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n && st != TXT_U8_BAD; i++)
        st = u8_step(st, s[i]);
    return st;
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

int txt_name_normalize(const char *in, char **out, char *err) {
    *out = NULL;
    size_t n = strlen(in), bad;
    if (!txt_utf8_valid((const unsigned char *)in, n, &bad))
        return err_set(err, "not valid UTF-8 at byte %zu", bad);
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        i += (size_t)utf8proc_iterate((const uint8_t *)in + i, (utf8proc_ssize_t)(n - i), &cp);
        if (utf8proc_category(cp) == UTF8PROC_CATEGORY_CC)
            return err_set(err, "holds a control character (U+%04X)", (unsigned)cp);
    }
    uint8_t *folded = NULL;
    if (utf8proc_map((const uint8_t *)in, (utf8proc_ssize_t)n, &folded,
                     UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD) < 0)
        return err_set(err, "cannot be case-folded");
    /* trim spaces (U+0020 and the other Unicode Zs) at both ends */
    char *s = (char *)folded, *e = s + strlen(s);
    for (;;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t l = utf8proc_iterate((const uint8_t *)s, e - s, &cp);
        if (l <= 0 || !(cp == ' ' || utf8proc_category(cp) == UTF8PROC_CATEGORY_ZS)) break;
        s += l;
    }
    while (e > s) {
        const char *b = e - 1;
        while (b > s && ((unsigned char)*b & 0xC0) == 0x80)
            b--;
        utf8proc_int32_t cp;
        utf8proc_iterate((const uint8_t *)b, e - b, &cp);
        if (!(cp == ' ' || utf8proc_category(cp) == UTF8PROC_CATEGORY_ZS)) break;
        e = (char *)b;
    }
    if (e == s) {
        free(folded);
        return err_set(err, "is empty");
    }
    *e = 0;
    memmove(folded, s, (size_t)(e - s) + 1);
    *out = (char *)folded;
    return 0;
}

void txt_put_clean(FILE *f, const char *s, txt_clean_mode mode) {
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        if (mode == TXT_CLEAN_TEXT && (*p == '\n' || *p == '\t'))
            fputc(*p, f);
        else if ((*p < 0x20 || *p == 0x7f) && mode == TXT_CLEAN_TEXT)
            fprintf(f, "^%c", *p == 0x7f ? '?' : *p + 64);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            fprintf(f, "\\u%04x", *++p);
        else
            fputc(*p, f);
    }
}

char *txt_escape_controls(const char *s) {
    char *out = NULL;
    size_t n;
    FILE *f = open_memstream(&out, &n);
    if (!f) return NULL;
    txt_put_clean(f, s, TXT_CLEAN_NAME);
    if (fclose(f)) {
        free(out);
        return NULL;
    }
    return out;
}

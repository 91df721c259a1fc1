/*
** Loading a GPT-2 tokenizer: the vocabulary and merges of a Hugging Face
** model directory, turned into tables that encoding reads without hashing
** strings (see core/tok_internal.h).
*/
#include "tok_internal.h"

#include "err.h"
#include "slurp.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>
#include <xxhash.h>

/* Unicode's White_Space property (PropList.txt); utf8proc has no query
** for it.  Note U+0085 is in it, U+180E and U+FEFF are not. */
static const uint32_t white_space[] = {
    0x0009, 0x000A, 0x000B, 0x000C, 0x000D, 0x0020, 0x0085, 0x00A0, 0x1680,
    0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008,
    0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
};

/* Pre-tokenizer class of a code point from utf8proc's general category. */
static int class_of_cp(uint32_t cp) {
    for (size_t i = 0; i < sizeof white_space / sizeof white_space[0]; i++)
        if (white_space[i] == cp) return TC_SPACE;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return TC_LETTER;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return TC_NUMBER;
    default:
        return TC_OTHER;
    }
}

int tok_class_of(const tok *t, uint32_t cp) {
    return cp < 65536 ? t->cls16[cp] : class_of_cp(cp);
}

/* GPT-2's bytes_to_unicode(): printable bytes map to themselves, the other
** 68 to U+0100.. in order.  Fills the inverse: code point -> byte, -1 if none. */
static void unicode_to_byte(int16_t inv[324]) {
    for (int i = 0; i < 324; i++)
        inv[i] = -1;
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        inv[printable ? b : 256 + extra++] = (int16_t)b;
    }
}

/* Decode a byte-level token string (UTF-8 of mapped code points) into raw
** bytes in out (at most strlen(s) bytes); returns the length or -1. */
static long bytelevel_decode(const int16_t inv[324], const char *s, size_t n, unsigned char *out) {
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    size_t i = 0;
    long len = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0 || cp >= 324 || inv[cp] < 0) return -1;
        out[len++] = (unsigned char)inv[cp];
        i += (size_t)k;
    }
    return len;
}

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t c = 16;
    while (c < n)
        c *= 2;
    return c;
}

/* Slot of the bytes s[0..n) in the piece table: its id, or an empty slot (-1). */
static int32_t *piece_slot(const tok *t, const unsigned char *s, size_t n) {
    uint32_t h = (uint32_t)XXH3_64bits(s, n) & t->piece_mask;
    for (;;) {
        int32_t *slot = &t->piece_slot[h];
        if (*slot < 0) return slot;
        size_t len = t->off[*slot + 1] - t->off[*slot];
        if (len == n && !memcmp(t->pool + t->off[*slot], s, n)) return slot;
        h = (h + 1) & t->piece_mask;
    }
}

/* A token as read from a file, before the tables are built. */
typedef struct raw_token {
    int32_t id;
    uint32_t off, len; /* in the staging pool */
} raw_token;

typedef struct loader {
    const char *what; /* file named in errors */
    int16_t inv[324];
    raw_token *toks;
    size_t n_toks, cap_toks;
    unsigned char *pool;
    size_t pool_len, pool_cap;
} loader;

/* Add token `key` (byte-level encoded unless raw) with id to the staging lists. */
static int loader_add(loader *L, const char *key, size_t klen, json_int_t id, int raw, char *err) {
    if (id < 0 || id >= INT32_MAX / 2)
        return err_set(err, "%s: token '%s' has id %lld out of range", L->what, key, (long long)id);
    if (L->n_toks == L->cap_toks) {
        L->cap_toks = L->cap_toks ? 2 * L->cap_toks : 65536;
        raw_token *nt = realloc(L->toks, L->cap_toks * sizeof *nt);
        if (!nt) return err_set(err, "%s: out of memory", L->what);
        L->toks = nt;
    }
    if (L->pool_len + klen > L->pool_cap) {
        L->pool_cap = 2 * (L->pool_len + klen) + 65536;
        unsigned char *np = realloc(L->pool, L->pool_cap);
        if (!np) return err_set(err, "%s: out of memory", L->what);
        L->pool = np;
    }
    long len;
    if (raw) {
        memcpy(L->pool + L->pool_len, key, klen);
        len = (long)klen;
    } else if ((len = bytelevel_decode(L->inv, key, klen, L->pool + L->pool_len)) < 0) {
        return err_set(err, "%s: token '%s' is not in GPT-2's byte-level alphabet", L->what, key);
    }
    if (len == 0) return err_set(err, "%s: empty token with id %lld", L->what, (long long)id);
    L->toks[L->n_toks++] = (raw_token){(int32_t)id, (uint32_t)L->pool_len, (uint32_t)len};
    L->pool_len += (size_t)len;
    return 0;
}

/* Add every "token": id of a JSON object. */
static int loader_vocab(loader *L, json_t *vocab, char *err) {
    if (!json_is_object(vocab)) return err_set(err, "%s: the vocabulary is not an object", L->what);
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) {
        if (!json_is_integer(v))
            return err_set(err, "%s: token '%s' has no integer id", L->what, key);
        if (loader_add(L, key, strlen(key), json_integer_value(v), 0, err)) return -1;
    }
    return 0;
}

/* Build the id-indexed tables and the piece table from the staged tokens. */
static int build_vocab(tok *t, loader *L, char *err) {
    int32_t max_id = -1;
    for (size_t i = 0; i < L->n_toks; i++)
        if (L->toks[i].id > max_id) max_id = L->toks[i].id;
    if (max_id < 0) return err_set(err, "%s: empty vocabulary", L->what);
    t->n_vocab = max_id + 1;
    size_t n = (size_t)t->n_vocab;
    uint32_t *len = calloc(n, sizeof *len);
    t->off = calloc(n + 1, sizeof *t->off);
    t->known = calloc(n, 1);
    t->pool = malloc(L->pool_len + 1);
    t->piece_mask = pow2_at_least(2 * n) - 1;
    t->piece_slot = malloc(((size_t)t->piece_mask + 1) * sizeof *t->piece_slot);
    if (!len || !t->off || !t->known || !t->pool || !t->piece_slot) {
        free(len);
        return err_set(err, "%s: out of memory", L->what);
    }
    raw_token **by_id = calloc(n, sizeof *by_id);
    if (!by_id) {
        free(len);
        return err_set(err, "%s: out of memory", L->what);
    }
    int rc = 0;
    for (size_t i = 0; i < L->n_toks; i++) {
        raw_token *r = &L->toks[i];
        if (by_id[r->id]) {
            /* tokenizer.json lists added tokens again; same bytes is fine */
            raw_token *o = by_id[r->id];
            if (o->len != r->len || memcmp(L->pool + o->off, L->pool + r->off, r->len)) {
                rc = err_set(err, "%s: id %d is given to two different tokens", L->what, r->id);
                break;
            }
            continue;
        }
        by_id[r->id] = r;
    }
    uint32_t pos = 0;
    for (size_t id = 0; id < n && !rc; id++) {
        t->off[id] = pos;
        if (!by_id[id]) continue;
        memcpy(t->pool + pos, L->pool + by_id[id]->off, by_id[id]->len);
        pos += by_id[id]->len;
        t->known[id] = 1;
    }
    t->off[n] = pos;
    free(by_id);
    free(len);
    if (rc) return -1;
    memset(t->piece_slot, 0xff, ((size_t)t->piece_mask + 1) * sizeof *t->piece_slot);
    for (size_t id = 0; id < n; id++) {
        if (!t->known[id]) continue;
        int32_t *slot = piece_slot(t, t->pool + t->off[id], t->off[id + 1] - t->off[id]);
        if (*slot >= 0)
            return err_set(err, "%s: ids %d and %zu have the same bytes", L->what, *slot, id);
        *slot = (int32_t)id;
    }
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        int32_t id = *piece_slot(t, &c, 1);
        if (id < 0) return err_set(err, "%s: no token for the byte 0x%02x", L->what, b);
        t->byte_id[b] = id;
    }
    t->special = *piece_slot(t, (const unsigned char *)"<|endoftext|>", 13);
    return 0;
}

/* Record one merge "left right" (byte-level strings) with its rank. */
static int add_merge(tok *t, loader *L, const char *a, size_t na, const char *b, size_t nb,
                     uint32_t rank, char *err) {
    unsigned char buf[2048];
    long la, lb;
    if (na + nb > sizeof buf || (la = bytelevel_decode(L->inv, a, na, buf)) < 0 ||
        (lb = bytelevel_decode(L->inv, b, nb, buf + la)) < 0)
        return err_set(err, "%s: merge %u ('%.*s %.*s') is not byte-level text", L->what, rank + 1,
                       (int)na, a, (int)nb, b);
    int32_t ia = *piece_slot(t, buf, (size_t)la), ib = *piece_slot(t, buf + la, (size_t)lb);
    int32_t im = *piece_slot(t, buf, (size_t)(la + lb));
    if (ia < 0 || ib < 0 || im < 0)
        return err_set(err,
                       "%s: merge %u ('%.*s %.*s') uses or makes a token not in the vocabulary",
                       L->what, rank + 1, (int)na, a, (int)nb, b);
    /* a repeated merge takes its last rank, as HF's map of merges does */
    tok_merge *m = (tok_merge *)tok_merge_find(t, ia, ib);
    *m = (tok_merge){(uint64_t)(uint32_t)ia << 32 | (uint32_t)ib, rank, im};
    return 0;
}

static int alloc_merges(tok *t, size_t n, const char *what, char *err) {
    t->merge_mask = pow2_at_least(2 * n + 16) - 1;
    t->merges = malloc(((size_t)t->merge_mask + 1) * sizeof *t->merges);
    if (!t->merges) return err_set(err, "%s: out of memory", what);
    for (size_t i = 0; i <= t->merge_mask; i++)
        t->merges[i] = (tok_merge){TOK_NO_KEY, TOK_NO_RANK, -1};
    return 0;
}

/* merges.txt: an optional "#version" line, then "left right" per line. */
static int load_merges_txt(tok *t, loader *L, char *text, size_t n, char *err) {
    size_t lines = 1;
    for (size_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    if (alloc_merges(t, lines, L->what, err)) return -1;
    uint32_t rank = 0;
    char *p = text, *end = text + n;
    for (size_t line = 1; p < end; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        size_t len = (size_t)(eol - p);
        if (len && p[len - 1] == '\r') len--;
        if (line == 1 && len >= 8 && !memcmp(p, "#version", 8)) {
            p = eol + 1;
            continue;
        }
        if (len) {
            char *sp = memchr(p, ' ', len);
            if (!sp || sp == p || sp == p + len - 1 ||
                memchr(sp + 1, ' ', len - (size_t)(sp - p) - 1))
                return err_set(err, "%s: line %zu is not 'left right'", L->what, line);
            if (add_merge(t, L, p, (size_t)(sp - p), sp + 1, len - (size_t)(sp - p) - 1, rank++,
                          err))
                return -1;
        }
        p = eol + 1;
    }
    return 0;
}

/* The merges of a tokenizer.json: "left right" strings or [left, right] pairs. */
static int load_merges_json(tok *t, loader *L, json_t *merges, char *err) {
    if (!json_is_array(merges)) return err_set(err, "%s: model.merges is not a list", L->what);
    if (alloc_merges(t, json_array_size(merges), L->what, err)) return -1;
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m) {
        const char *a, *b;
        size_t na, nb;
        if (json_is_string(m)) {
            a = json_string_value(m);
            const char *sp = strchr(a, ' ');
            if (!sp) return err_set(err, "%s: merge %zu is not 'left right'", L->what, i + 1);
            na = (size_t)(sp - a);
            b = sp + 1;
            nb = strlen(b);
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            na = strlen(a);
            nb = strlen(b);
        } else {
            return err_set(err, "%s: merge %zu is neither a string nor a pair", L->what, i + 1);
        }
        if (add_merge(t, L, a, na, b, nb, (uint32_t)i, err)) return -1;
    }
    return 0;
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Where the bundled tokenizer is: next to the executable (or up to two
** directories above it, for binaries in a build tree: build/, build/asan/),
** in $QUILL_HOME, or in the working directory. */
static int bundled_dir(char *out, size_t cap, char *err) {
    char exe[PATH_MAX], tried[5][PATH_MAX + 32];
    int n = 0;
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = 0;
        char *slash;
        for (int up = 0; up < 3 && (slash = strrchr(exe, '/')) && slash != exe; up++) {
            *slash = 0;
            snprintf(tried[n++], sizeof tried[0], "%s/models/gpt2", exe);
        }
    }
    const char *home = getenv("QUILL_HOME");
    if (home && *home) snprintf(tried[n++], sizeof tried[0], "%s/models/gpt2", home);
    snprintf(tried[n++], sizeof tried[0], "models/gpt2");
    for (int i = 0; i < n; i++) {
        char probe[PATH_MAX + 64];
        snprintf(probe, sizeof probe, "%s/vocab.json", tried[i]);
        if (file_exists(probe)) {
            snprintf(out, cap, "%s", tried[i]);
            return 0;
        }
    }
    char *p = err;
    int left = ERR_LEN;
    int w = snprintf(p, (size_t)left, "bundled tokenizer models/gpt2 not found; looked in");
    for (int i = 0; i < n && w > 0 && w < left; i++) {
        p += w;
        left -= w;
        w = snprintf(p, (size_t)left, "%s %s", i ? "," : "", tried[i]);
    }
    return -1;
}

int tok_dir_has(const char *dir) {
    static const char *names[] = {"vocab.json", "merges.txt", "tokenizer.json"};
    char path[PATH_MAX + 32];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (file_exists(path)) return 1;
    }
    return 0;
}

/* Load vocab.json + merges.txt, or tokenizer.json, from dir into t. */
static int load_dir(tok *t, const char *dir, char *err) {
    char vpath[PATH_MAX + 32], mpath[PATH_MAX + 32], jpath[PATH_MAX + 32];
    snprintf(vpath, sizeof vpath, "%s/vocab.json", dir);
    snprintf(mpath, sizeof mpath, "%s/merges.txt", dir);
    snprintf(jpath, sizeof jpath, "%s/tokenizer.json", dir);
    int use_json = !(file_exists(vpath) && file_exists(mpath));
    if (use_json && !file_exists(jpath))
        return err_set(err, "%s: no vocab.json + merges.txt and no tokenizer.json", dir);
    loader L = {0};
    unicode_to_byte(L.inv);
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    json_t *root = NULL;
    json_error_t je;
    int rc = -1;
    hash_state *h = hash_begin();
    if (!h) goto done;
    if (!use_json) {
        L.what = vpath;
        if (slurp(vpath, &a, &na, err) || slurp(mpath, &b, &nb, err)) goto done;
        hash_update(h, a, na);
        hash_update(h, b, nb);
        if (!(root = json_loadb(a, na, 0, &je))) {
            err_set(err, "%s: line %d: %s", vpath, je.line, je.text);
            goto done;
        }
        if (loader_vocab(&L, root, err) || build_vocab(t, &L, err)) goto done;
        L.what = mpath;
        if (load_merges_txt(t, &L, b, nb, err)) goto done;
    } else {
        L.what = jpath;
        if (slurp(jpath, &a, &na, err)) goto done;
        hash_update(h, a, na);
        if (!(root = json_loadb(a, na, 0, &je))) {
            err_set(err, "%s: line %d: %s", jpath, je.line, je.text);
            goto done;
        }
        json_t *model = json_object_get(root, "model");
        json_t *type = json_object_get(model, "type");
        if (!json_is_object(model) ||
            (type && strcmp(json_string_value(type) ? json_string_value(type) : "", "BPE"))) {
            err_set(err, "%s: model is not BPE", jpath);
            goto done;
        }
        if (loader_vocab(&L, json_object_get(model, "vocab"), err)) goto done;
        size_t i;
        json_t *at;
        json_array_foreach(json_object_get(root, "added_tokens"), i, at) {
            const char *content = json_string_value(json_object_get(at, "content"));
            json_t *id = json_object_get(at, "id");
            if (!content || !json_is_integer(id)) {
                err_set(err, "%s: added token %zu has no content or id", jpath, i + 1);
                goto done;
            }
            if (loader_add(&L, content, strlen(content), json_integer_value(id), 1, err)) goto done;
        }
        if (build_vocab(t, &L, err) ||
            load_merges_json(t, &L, json_object_get(model, "merges"), err))
            goto done;
    }
    rc = 0;
done:
    if (h) hash_end(h, t->identity);
    if (!h) err_set(err, "%s: out of memory", dir);
    json_decref(root);
    free(a);
    free(b);
    free(L.toks);
    free(L.pool);
    return rc;
}

int tok_load(const char *dir, tok **out, char *err) {
    char found[PATH_MAX];
    *out = NULL;
    if (!dir) {
        if (bundled_dir(found, sizeof found, err)) return -1;
        dir = found;
    }
    tok *t = calloc(1, sizeof *t);
    if (!t || !(t->source = strdup(dir))) {
        free(t);
        return err_set(err, "%s: out of memory", dir);
    }
    for (uint32_t cp = 0; cp < 65536; cp++)
        t->cls16[cp] = (unsigned char)class_of_cp(cp);
    if (load_dir(t, dir, err)) {
        tok_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void tok_free(tok *t) {
    if (!t) return;
    free(t->off);
    free(t->pool);
    free(t->known);
    free(t->piece_slot);
    free(t->merges);
    free(t->source);
    free(t);
}

int tok_vocab_size(const tok *t) {
    return t->n_vocab;
}
const char *tok_identity(const tok *t) {
    return t->identity;
}
const char *tok_source(const tok *t) {
    return t->source;
}
int32_t tok_special_id(const tok *t) {
    return t->special;
}

const unsigned char *tok_token_bytes(const tok *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab || !t->known[id]) return NULL;
    *len = t->off[id + 1] - t->off[id];
    return t->pool + t->off[id];
}

int32_t tok_piece_id(const tok *t, const char *text) {
    size_t n = strlen(text);
    if (!n) return -1;
    return *piece_slot(t, (const unsigned char *)text, n);
}

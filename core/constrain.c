/*
** Banned words and forbidden characters enforced by masking tokens; see
** constrain.h for the model and the exact definition of a violation.
*/
#include "constrain.h"

#include "err.h"

#include <assert.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define SYM_B 256 /* the word-boundary symbol */
#define CACHE_SLOTS 1024

typedef struct cache_slot {
    int64_t key; /* -1: empty */
    uint64_t *bits;
} cache_slot;

struct cons {
    const cons_vocab *v;
    int nwords, wholeword, fold_words;
    /* forbidden characters: folded UTF-8 of each, NUL-separated */
    char **forbid;
    int nforbid, fold_chars;
    /* automaton: symbol -> class, delta[state * ncls + class], term[state] */
    uint16_t cls[257];
    int ncls, nstates;
    int32_t *delta;
    uint8_t *term;
    int32_t *depth; /* symbols in the text a state stands for */
    /* per token: regular (whole valid UTF-8) or not; symbols of regular ones */
    uint8_t *irregular, *first_word, *last_word;
    uint32_t *sym_off; /* symbols of token t: syms[sym_off[t] .. sym_off[t+1]) */
    uint16_t *syms;
    int32_t *irr_ids;
    int nirr;
    uint64_t *static_ban; /* regular tokens holding a forbidden char */
    /* bitsets of nwords64 words: the banned words' answers from the start
    ** state, (pw * 2 + is_last) at root_ban; the regular tokens whose first
    ** symbol read after pw has class k, (pw * ncls + k) at groups */
    uint64_t *root_ban, *groups;
    uint8_t *blocks; /* whole words: per 64 code points, bit w set when one
                     ** of them has word-ness w (for completions) */
    int nwords64;
    cache_slot cache[CACHE_SLOTS];
    int ncached;
    omp_lock_t lock;
    long hits, misses;
    double seconds;
};

/* Word characters: letters, marks, numbers, connector punctuation ('_'). */
static int is_word(int32_t cp) {
    if (cp < 0) return 0;
    if (cp < 128)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
               cp == '_';
    int k = utf8proc_category(cp);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_PC;
}

/* UTF-8 of cp, case-folded when fold; returns the byte count (<= 32). */
static int fold_utf8(int32_t cp, int fold, uint8_t *out) {
    if (!fold) return (int)utf8proc_encode_char(cp, out);
    if (cp < 128) {
        out[0] = (uint8_t)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
        return 1;
    }
    utf8proc_int32_t buf[8];
    int last = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char(cp, buf, 8, UTF8PROC_CASEFOLD, &last);
    if (n < 1 || n > 8) return (int)utf8proc_encode_char(cp, out);
    int len = 0;
    for (int i = 0; i < n; i++)
        len += (int)utf8proc_encode_char(buf[i], out + len);
    return len;
}

static int is_forbidden(const cons *c, int32_t cp) {
    if (cp < 0 || !c->nforbid) return 0;
    uint8_t f[33];
    int n = fold_utf8(cp, c->fold_chars, f);
    f[n] = 0;
    for (int i = 0; i < c->nforbid; i++)
        if (strcmp((const char *)f, c->forbid[i]) == 0) return 1;
    return 0;
}

static inline int32_t ac_step(const cons *c, int32_t s, int sym) {
    return c->delta[(size_t)s * c->ncls + c->cls[sym]];
}

/* Feed one character (cp < 0: an invalid byte) to the scanner; returns 1 on
** a forbidden character or a completed banned word. */
static int feed_cp(const cons *c, cons_state *st, int32_t cp) {
    int w = is_word(cp), hit = is_forbidden(c, cp);
    if (c->nwords) {
        int32_t s = st->ac;
        if (c->wholeword && w != st->pw) {
            s = ac_step(c, s, SYM_B);
            hit |= c->term[s];
        }
        if (cp < 0) {
            s = 0; /* no pattern holds an invalid byte */
        } else {
            uint8_t f[32];
            int n = fold_utf8(cp, c->fold_words, f);
            for (int i = 0; i < n; i++) {
                s = ac_step(c, s, f[i]);
                hit |= c->term[s];
            }
        }
        st->ac = s;
    }
    st->pw = (uint8_t)w;
    return hit;
}

/* Length of the UTF-8 sequence led by byte b, or 0 if b cannot lead one. */
static int lead_len(uint8_t b) {
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;
}

static int flush_pending(const cons *c, cons_state *st) {
    int hit = 0;
    for (int i = 0; i < st->npend; i++)
        hit |= feed_cp(c, st, -1);
    st->npend = st->need = 0;
    return hit;
}

/* Feed raw bytes; a character split across calls is decoded whole. */
static int feed_bytes(const cons *c, cons_state *st, const uint8_t *p, size_t n) {
    int hit = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        if (st->need) {
            if ((b & 0xC0) == 0x80) {
                st->pend[st->npend++] = b;
                if (--st->need == 0) {
                    utf8proc_int32_t cp;
                    if (utf8proc_iterate(st->pend, st->npend, &cp) == st->npend) {
                        st->npend = 0;
                        hit |= feed_cp(c, st, cp);
                    } else {
                        hit |= flush_pending(c, st);
                    }
                }
                continue;
            }
            hit |= flush_pending(c, st);
        }
        int l = lead_len(b);
        if (l == 1) {
            hit |= feed_cp(c, st, b);
        } else if (l == 0) {
            hit |= feed_cp(c, st, -1);
        } else {
            st->pend[0] = b;
            st->npend = 1;
            st->need = (uint8_t)(l - 1);
        }
    }
    return hit;
}

/* The text ends here: would that complete a banned word? */
static int feed_end(const cons *c, cons_state *st) {
    int hit = flush_pending(c, st);
    if (c->nwords && c->wholeword && st->pw) {
        st->ac = ac_step(c, st->ac, SYM_B);
        hit |= c->term[st->ac];
        st->pw = 0;
    }
    return hit;
}

/* Symbols of one pattern or token, with internal boundaries; sets *first
** and *last to the word-ness of the first and last characters.  Returns the
** symbol count, or -1 if s is not valid UTF-8. */
static int to_symbols(const cons *c, int fold, const uint8_t *s, size_t n, uint16_t *out,
                      uint8_t *first, uint8_t *last) {
    int k = 0, prev = -1;
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t l = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (l <= 0) return -1;
        i += (size_t)l;
        int w = is_word(cp);
        if (prev < 0)
            *first = (uint8_t)w;
        else if (c->wholeword && w != prev)
            out[k++] = SYM_B;
        uint8_t f[32];
        int m = fold_utf8(cp, fold, f);
        for (int j = 0; j < m; j++)
            out[k++] = f[j];
        prev = w;
    }
    *last = (uint8_t)(prev > 0);
    if (prev < 0) *first = 0;
    return k;
}

/* Word-ness of every block of 64 code points (whole-word mode only: a
** character that must be a word character to complete safely, see
** completable()). */
static int build_blocks(cons *c, char *err) {
    c->blocks = calloc(0x110000 / 64, 1);
    if (!c->blocks) return err_set(err, "constraints: out of memory");
    for (int32_t cp = 0; cp < 0x110000; cp++)
        c->blocks[cp / 64] |= (uint8_t)(1u << is_word(cp));
    return 0;
}

/* Can the character pending in st (st->npend bytes read, st->need to come)
** be completed by some character that breaks no rule?  The code points
** with those leading bytes form one range; a completion can only break a
** rule by being forbidden, by holding a banned word's character, or --
** when the boundary before it would complete a word -- by its word-ness, so
** the search ends after a few characters (whole blocks of the wrong
** word-ness are skipped). */
static int completable(const cons *c, const cons_state *st) {
    static const int32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    int len = st->npend + st->need;
    assert(st->need > 0 && len <= 4);
    int32_t lo = st->pend[0] & (0x7F >> len), hi;
    for (int i = 1; i < st->npend; i++)
        lo = lo << 6 | (st->pend[i] & 0x3F);
    lo <<= 6 * st->need;
    hi = lo | ((1 << 6 * st->need) - 1);
    if (lo < min_cp[len]) lo = min_cp[len];
    if (hi > 0x10FFFF) hi = 0x10FFFF;
    int want = -1; /* the word-ness a completion needs, or -1: either */
    if (c->nwords && c->wholeword && c->term[ac_step(c, st->ac, SYM_B)]) want = st->pw;
    for (int32_t cp = lo; cp <= hi; cp++) {
        if (want >= 0 && cp % 64 == 0 && !(c->blocks[cp / 64] >> want & 1)) {
            cp += 63;
            continue;
        }
        if ((cp >= 0xD800 && cp <= 0xDFFF) || (want >= 0 && is_word(cp) != want)) continue;
        cons_state t = *st;
        t.npend = t.need = 0;
        if (!feed_cp(c, &t, cp)) return 1;
    }
    return 0;
}

/* The banned words as one run of symbols: word i is buf[off[i] .. off[i+1]),
** framed by SYM_B where whole-word matching needs a boundary.  Fills *buf
** and *off (malloc'd, n_words + 1 offsets) or returns -1 with err set. */
static int pattern_symbols(cons *c, const cons_opts *o, uint16_t **bufp, size_t **offp, char *err) {
    size_t cap = 1;
    for (size_t i = 0; i < o->n_words; i++)
        cap += 8 * strlen(o->words[i]) + 2;
    uint16_t *buf = malloc(cap * sizeof *buf);
    size_t *off = malloc((o->n_words + 1) * sizeof *off);
    if (!buf || !off) {
        free(buf), free(off);
        return err_set(err, "banned words: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < o->n_words; i++) {
        const char *w = o->words[i];
        uint8_t first, last;
        off[i] = k;
        int n = w[0] ? to_symbols(c, c->fold_words, (const uint8_t *)w, strlen(w), buf + k + 1,
                                  &first, &last)
                     : 0;
        if (n <= 0) {
            free(buf), free(off);
            return err_set(err, "banned word %zu: %s", i + 1, n < 0 ? "not valid UTF-8" : "empty");
        }
        if (c->wholeword && first)
            buf[k++] = SYM_B;
        else
            memmove(buf + k, buf + k + 1, (size_t)n * sizeof *buf);
        k += (size_t)n;
        if (c->wholeword && last) buf[k++] = SYM_B;
    }
    assert(k < cap);
    off[o->n_words] = k;
    *bufp = buf, *offp = off;
    return 0;
}

/* Number the symbols that occur in some pattern 1..ncls-1 (c->cls); every
** other symbol is class 0, so the transition table stays narrow. */
static void assign_classes(cons *c, const uint16_t *buf, size_t k) {
    int used[257] = {0};
    c->ncls = 1;
    for (size_t i = 0; i < k; i++)
        used[buf[i]] = 1;
    for (int s = 0; s < 257; s++)
        c->cls[s] = used[s] ? (uint16_t)c->ncls++ : 0;
}

/* Complete the trie in c->delta into the automaton: breadth first, each
** missing transition takes its failure state's, and a state is terminal
** when its failure state is.  fail and queue hold at least c->nstates entries. */
static void link_failures(cons *c, int32_t *fail, int32_t *queue) {
    size_t nc = (size_t)c->ncls;
    int qh = 0, qt = 0;
    for (size_t a = 0; a < nc; a++) {
        int32_t *d = &c->delta[a];
        if (*d < 0) {
            *d = 0;
        } else {
            fail[*d] = 0;
            queue[qt++] = *d;
        }
    }
    while (qh < qt) {
        int32_t s = queue[qh++];
        assert(s > 0 && s < c->nstates);
        c->term[s] |= c->term[fail[s]];
        for (size_t a = 0; a < nc; a++) {
            int32_t *d = &c->delta[(size_t)s * nc + a];
            int32_t via = c->delta[(size_t)fail[s] * nc + a];
            if (*d < 0) {
                *d = via;
            } else {
                fail[*d] = via;
                queue[qt++] = *d;
            }
        }
    }
}

/* Build the Aho-Corasick automaton over the pattern symbols. */
static int build_automaton(cons *c, const cons_opts *o, char *err) {
    uint16_t *buf = NULL;
    size_t *off = NULL;
    if (pattern_symbols(c, o, &buf, &off, err)) return -1;
    size_t k = off[o->n_words];
    assign_classes(c, buf, k);
    /* trie with room for every symbol, then BFS for failure links */
    size_t maxst = k + 1, nc = (size_t)c->ncls;
    c->delta = malloc(maxst * nc * sizeof *c->delta);
    c->term = calloc(maxst, 1);
    c->depth = calloc(maxst, sizeof *c->depth);
    int32_t *fail = malloc(maxst * sizeof *fail), *queue = malloc(maxst * sizeof *queue);
    if (!c->delta || !c->term || !c->depth || !fail || !queue) {
        free(buf), free(off), free(fail), free(queue);
        return err_set(err, "banned words: out of memory");
    }
    for (size_t i = 0; i < maxst * nc; i++)
        c->delta[i] = -1;
    int32_t ns = 1;
    for (size_t w = 0; w < o->n_words; w++) {
        int32_t s = 0;
        for (size_t i = off[w]; i < off[w + 1]; i++) {
            int32_t *d = &c->delta[(size_t)s * nc + c->cls[buf[i]]];
            if (*d < 0) {
                c->depth[ns] = c->depth[s] + 1;
                *d = ns++;
            }
            s = *d;
        }
        c->term[s] = 1;
    }
    c->nstates = ns;
    link_failures(c, fail, queue);
    free(buf), free(off), free(fail), free(queue);
    return 0;
}

static int build_forbid(cons *c, const char *chars, char *err) {
    size_t n = strlen(chars), i = 0;
    c->forbid = calloc(n + 1, sizeof *c->forbid);
    if (!c->forbid) return err_set(err, "forbid_chars: out of memory");
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t l =
            utf8proc_iterate((const uint8_t *)chars + i, (utf8proc_ssize_t)(n - i), &cp);
        if (l <= 0) return err_set(err, "forbid_chars: not valid UTF-8 at byte %zu", i);
        i += (size_t)l;
        char *f = malloc(33);
        if (!f) return err_set(err, "forbid_chars: out of memory");
        f[fold_utf8(cp, c->fold_chars, (uint8_t *)f)] = 0;
        c->forbid[c->nforbid++] = f;
    }
    return 0;
}

/* Set bit t of bits to hit. */
static void set_bit(uint64_t *bits, int t, int hit) {
    uint64_t b = 1ull << (t % 64);
    bits[t / 64] = hit ? bits[t / 64] | b : bits[t / 64] & ~b;
}

/* Per-token symbols and static character masks. */
static int build_tokens(cons *c, char *err) {
    int V = c->v->n;
    size_t total = 0;
    for (int t = 0; t < V; t++)
        total += 8 * c->v->len[t] + 1;
    c->nwords64 = (V + 63) / 64;
    c->irregular = calloc((size_t)V, 1);
    c->first_word = calloc((size_t)V, 1);
    c->last_word = calloc((size_t)V, 1);
    c->sym_off = malloc(((size_t)V + 1) * sizeof *c->sym_off);
    c->syms = malloc(total * sizeof *c->syms);
    c->irr_ids = malloc((size_t)V * sizeof *c->irr_ids);
    c->static_ban = calloc((size_t)c->nwords64, sizeof(uint64_t));
    if (!c->irregular || !c->first_word || !c->last_word || !c->sym_off || !c->syms ||
        !c->irr_ids || !c->static_ban)
        return err_set(err, "constraints: out of memory");
    uint32_t k = 0;
    for (int t = 0; t < V; t++) {
        c->sym_off[t] = k;
        if (t == c->v->eos) continue;
        const uint8_t *b = c->v->bytes[t];
        size_t n = c->v->len[t];
        int m =
            to_symbols(c, c->fold_words, b, n, c->syms + k, &c->first_word[t], &c->last_word[t]);
        if (m < 0) {
            c->irregular[t] = 1;
            c->irr_ids[c->nirr++] = t;
            continue;
        }
        if (c->nwords) k += (uint32_t)m;
        size_t i = 0;
        while (i < n) {
            utf8proc_int32_t cp;
            i += (size_t)utf8proc_iterate(b + i, (utf8proc_ssize_t)(n - i), &cp);
            if (is_forbidden(c, cp)) {
                set_bit(c->static_ban, t, 1);
                break;
            }
        }
    }
    c->sym_off[V] = k;
    return 0;
}

/* Does regular token t complete a banned word when read from automaton
** state s after a character of word-ness pw (is_last: or the end of the
** text after it)?  Given root (these answers from the start state), the
** walk stops once its state's depth is at most the symbols read: the state
** then stands for text inside the token, so it is the state the walk from
** the start reaches there, and that walk has completed no word ours has
** not (a word ending inside the token ends in both texts), so the rest of
** the answer is root's. */
static int walk_token(const cons *c, int32_t s, int pw, int t, int is_last, const uint64_t *root) {
    int i = 0, hit = 0;
    if (c->wholeword && c->first_word[t] != pw) {
        s = ac_step(c, s, SYM_B);
        i = 1;
        hit = c->term[s];
    }
    for (uint32_t k = c->sym_off[t]; !hit; k++) {
        if (root && c->depth[s] <= i) return (int)(root[t / 64] >> (t % 64) & 1);
        if (k == c->sym_off[t + 1]) break;
        s = c->delta[(size_t)s * c->ncls + c->cls[c->syms[k]]];
        i++;
        hit = c->term[s];
    }
    if (!hit && is_last && c->wholeword && c->last_word[t]) hit = c->term[ac_step(c, s, SYM_B)];
    return hit;
}

static int is_regular(const cons *c, int t) {
    return !c->irregular[t] && t != c->v->eos;
}

/* The class of the first symbol regular token t reads after a character
** of word-ness pw (0 for a token without symbols: it reads none). */
static int first_class(const cons *c, int t, int pw) {
    if (c->wholeword && c->first_word[t] != pw) return c->cls[SYM_B];
    return c->sym_off[t] < c->sym_off[t + 1] ? c->cls[c->syms[c->sym_off[t]]] : 0;
}

/* The banned words' answers from the start state (c->root_ban) and the
** token groups by first class (c->groups), for word_mask. */
static int build_groups(cons *c, char *err) {
    size_t nw = (size_t)c->nwords64;
    c->root_ban = calloc(4 * nw, sizeof *c->root_ban);
    c->groups = calloc(2 * (size_t)c->ncls * nw, sizeof *c->groups);
    if (!c->root_ban || !c->groups) return err_set(err, "constraints: out of memory");
    for (int pw = 0; pw < 2; pw++)
        for (int t = 0; t < c->v->n; t++) {
            if (!is_regular(c, t)) continue;
            size_t k = (size_t)(pw * c->ncls + first_class(c, t, pw));
            set_bit(c->groups + k * nw, t, 1);
            for (int last = 0; last < 2; last++)
                if (walk_token(c, 0, pw, t, last, NULL))
                    set_bit(c->root_ban + (size_t)(pw * 2 + last) * nw, t, 1);
        }
    return 0;
}

int cons_new(const cons_vocab *v, const cons_opts *o, cons **out, char *err) {
    *out = NULL;
    cons *c = calloc(1, sizeof *c);
    if (!c) return err_set(err, "constraints: out of memory");
    c->v = v;
    c->wholeword = !o->substring;
    c->fold_words = !o->case_sensitive;
    c->fold_chars = !o->forbid_case_sensitive;
    c->nwords = (int)o->n_words;
    for (int i = 0; i < CACHE_SLOTS; i++)
        c->cache[i].key = -1;
    omp_init_lock(&c->lock);
    if ((c->nwords && build_automaton(c, o, err)) ||
        (o->forbid_chars && build_forbid(c, o->forbid_chars, err)) || build_tokens(c, err) ||
        (c->nwords && build_groups(c, err)) ||
        (c->nwords && c->wholeword && build_blocks(c, err))) {
        cons_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void cons_free(cons *c) {
    if (!c) return;
    for (int i = 0; i < c->nforbid; i++)
        free(c->forbid[i]);
    for (int i = 0; i < CACHE_SLOTS; i++)
        free(c->cache[i].bits);
    free(c->forbid), free(c->delta), free(c->term), free(c->irregular), free(c->first_word);
    free(c->last_word), free(c->sym_off), free(c->syms), free(c->irr_ids), free(c->static_ban);
    free(c->blocks), free(c->depth), free(c->root_ban), free(c->groups);
    omp_destroy_lock(&c->lock);
    free(c);
}

int cons_empty(const cons *c) {
    return !c || (!c->nwords && !c->nforbid);
}

void cons_start(const cons *c, cons_state *st, const char *prompt, size_t len) {
    memset(st, 0, sizeof *st);
    feed_bytes(c, st, (const uint8_t *)prompt, len);
}

int cons_advance(const cons *c, cons_state *st, int32_t id) {
    if (id == c->v->eos) return feed_end(c, st);
    return feed_bytes(c, st, c->v->bytes[id], c->v->len[id]);
}

/* The regular tokens that complete a banned word from (ac, pw): the start
** state's answers, but for the groups whose first symbol leads elsewhere
** than it does from the start: to a word's end (the whole group is
** banned) or deeper than one symbol into a pattern (each token walked) --
** a few groups at most. */
static void word_mask(const cons *c, int32_t ac, int pw, int is_last, uint64_t *bits) {
    int nw = c->nwords64;
    const uint64_t *root = c->root_ban + (size_t)(pw * 2 + is_last) * (size_t)nw;
    memcpy(bits, root, (size_t)nw * sizeof *bits);
    for (int k = 1; k < c->ncls; k++) {
        int32_t s1 = c->delta[(size_t)ac * c->ncls + k];
        const uint64_t *g = c->groups + (size_t)(pw * c->ncls + k) * (size_t)nw;
        if (c->term[s1]) {
            for (int w = 0; w < nw; w++)
                bits[w] |= g[w];
        } else if (c->depth[s1] > 1) {
            for (int w = 0; w < nw; w++)
                for (uint64_t m = g[w]; m; m &= m - 1) {
                    int t = w * 64 + __builtin_ctzll(m);
                    set_bit(bits, t, walk_token(c, ac, pw, t, is_last, root));
                }
        }
    }
}

/* Add to bits the partial-UTF-8 tokens that break a rule from st: checked
** from the exact state, with the lookahead that a character they start can
** still be completed. */
static void mask_irregular(const cons *c, const cons_state *st, int is_last, uint64_t *bits) {
    for (int i = 0; i < c->nirr; i++) {
        cons_state s = *st;
        int32_t t = c->irr_ids[i];
        int hit = feed_bytes(c, &s, c->v->bytes[t], c->v->len[t]);
        if (!hit && is_last) hit = feed_end(c, &s);
        /* a token that starts a character it leaves no safe way to finish */
        if (!hit && !is_last && s.need) hit = !completable(c, &s);
        if (hit) set_bit(bits, t, 1);
    }
}

/* Banned-token bitset from a state with no pending bytes (ac, pw): static
** character bans plus every regular token whose symbols (or, when
** is_last, the end of text after it) complete a banned word, plus, when
** irr, the partial-UTF-8 tokens that break a rule. */
static void compute_mask(const cons *c, int32_t ac, int pw, int is_last, int irr, uint64_t *bits) {
    if (c->nwords)
        word_mask(c, ac, pw, is_last, bits);
    else
        memset(bits, 0, (size_t)c->nwords64 * sizeof *bits);
    for (int w = 0; w < c->nwords64; w++)
        bits[w] |= c->static_ban[w];
    if (irr) {
        cons_state st = {.ac = ac, .pw = (uint8_t)pw};
        mask_irregular(c, &st, is_last, bits);
    }
}

/* Copy into bits the cached mask for (ac, pw, is_last, irr); computes it
** on a miss.  Returns -1 when out of memory. */
static int cached_mask(cons *c, int32_t ac, int pw, int is_last, int irr, uint64_t *bits) {
    int64_t key = (((int64_t)ac * 2 + pw) * 2 + is_last) * 2 + irr;
    size_t nb = (size_t)c->nwords64 * sizeof *bits;
    omp_set_lock(&c->lock);
    size_t h = (size_t)(key * 0x9E3779B97F4A7C15ull >> 20) % CACHE_SLOTS;
    while (c->cache[h].key >= 0 && c->cache[h].key != key)
        h = (h + 1) % CACHE_SLOTS;
    if (c->cache[h].key == key) {
        c->hits++;
        memcpy(bits, c->cache[h].bits, nb);
        omp_unset_lock(&c->lock);
        return 0;
    }
    if (c->ncached >= CACHE_SLOTS / 2) { /* full: start over (rare) */
        for (int i = 0; i < CACHE_SLOTS; i++)
            c->cache[i].key = -1;
        c->ncached = 0;
        h = (size_t)(key * 0x9E3779B97F4A7C15ull >> 20) % CACHE_SLOTS;
    }
    c->misses++;
    if (!c->cache[h].bits) c->cache[h].bits = malloc(nb);
    int rc = c->cache[h].bits ? 0 : -1;
    if (!rc) {
        compute_mask(c, ac, pw, is_last, irr, c->cache[h].bits);
        c->cache[h].key = key;
        c->ncached++;
        memcpy(bits, c->cache[h].bits, nb);
    }
    omp_unset_lock(&c->lock);
    return rc;
}

/* Set x[i] = -inf for every i < n that ban holds (16 at a time with
** AVX-512). */
static void apply_ban(const uint64_t *ban, float *x, int n) {
    int i = 0;
#ifdef __AVX512F__
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (; i + 16 <= n; i += 16)
        _mm512_mask_storeu_ps(x + i, (__mmask16)(ban[i / 64] >> (i % 64)), ninf);
#endif
    for (; i < n; i++)
        if (ban[i / 64] >> (i % 64) & 1) x[i] = -INFINITY;
}

static void add_seconds(cons *c, double dt) {
#pragma omp atomic
    c->seconds += dt;
}

void cons_ban(cons *c, const cons_state *st, int is_last, uint64_t *bits) {
    size_t nb = (size_t)c->nwords64 * sizeof *bits;
    if (cons_empty(c)) {
        memset(bits, 0, nb);
        return;
    }
    double t0 = omp_get_wtime();
    int irr = st->npend == 0;
    /* regular tokens start with a lead byte: pending bytes become invalid */
    cons_state eff = *st;
    if (flush_pending(c, &eff)) { /* then every regular token breaks a rule */
        memset(bits, 0, nb);
        for (int t = 0; t < c->v->n; t++)
            if (is_regular(c, t)) set_bit(bits, t, 1);
    } else if (cached_mask(c, eff.ac, eff.pw, is_last, irr, bits)) {
        memset(bits, 0xFF, nb); /* out of memory: ban every token */
    }
    /* the partial-UTF-8 tokens after pending bytes: not cached */
    if (!irr) mask_irregular(c, st, is_last, bits);
    if (c->v->eos >= 0 && !cons_end_ok(c, st)) set_bit(bits, c->v->eos, 1);
    add_seconds(c, omp_get_wtime() - t0);
}

void cons_mask(cons *c, const cons_state *st, int is_last, float *logits) {
    if (cons_empty(c)) return;
    uint64_t bits[c->nwords64];
    cons_ban(c, st, is_last, bits);
    double t0 = omp_get_wtime();
    apply_ban(bits, logits, c->v->n);
    add_seconds(c, omp_get_wtime() - t0);
}

int cons_end_ok(const cons *c, const cons_state *st) {
    cons_state s = *st;
    return !feed_end(c, &s);
}

void cons_stats(const cons *c, long *hits, long *misses, double *seconds) {
    *hits = c->hits;
    *misses = c->misses;
    *seconds = c->seconds;
}

/* Scan text with the constraints of c (the prompt part exempt when text
** starts with prompt, as in generation); returns 1 and sets *at (byte
** offset just after the character that broke a rule; the text's length when
** only its end completes a banned word) on a violation, else 0. */
static int scan_text(const cons *c, const char *prompt, const char *text, size_t *at) {
    size_t p = strlen(prompt), n = strlen(text), i;
    if (strncmp(text, prompt, p)) p = 0;
    cons_state st;
    cons_start(c, &st, text, p);
    for (i = p; i < n; i++)
        if (feed_bytes(c, &st, (const uint8_t *)text + i, 1)) {
            *at = i + 1;
            return 1;
        }
    *at = n;
    return feed_end(c, &st);
}

int cons_check_text(const cons_opts *o, const char *prompt, const char *text, char *what,
                    size_t cap, char *err) {
    /* a one-token vocabulary: cons_new needs one, the scan never uses it */
    static const unsigned char space[] = " ";
    static const unsigned char *const bytes[] = {space};
    static const size_t len[] = {1};
    const cons_vocab v = {1, bytes, len, -1};
    cons_opts one = *o;
    one.n_words = 0;
    cons *c;
    size_t at;
    if (o->forbid_chars && *o->forbid_chars) {
        if (cons_new(&v, &one, &c, err)) return -1;
        int hit = scan_text(c, prompt, text, &at);
        cons_free(c);
        if (hit) {
            size_t b = at - 1; /* back to the start of the character */
            while (b && ((unsigned char)text[b] & 0xC0) == 0x80)
                b--;
            snprintf(what, cap, "forbidden character '%.*s'", (int)(at - b), text + b);
            return 1;
        }
    }
    one.forbid_chars = NULL;
    one.n_words = 1;
    for (size_t w = 0; w < o->n_words; w++) {
        one.words = o->words + w;
        if (cons_new(&v, &one, &c, err)) return -1;
        int hit = scan_text(c, prompt, text, &at);
        cons_free(c);
        if (hit) {
            snprintf(what, cap, "banned word '%s'", o->words[w]);
            return 1;
        }
    }
    return 0;
}

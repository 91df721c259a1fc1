/*
** Poetic forms by construction; see form.h.
**
** The form's words live in its own trie (27 symbols: a-z and the
** apostrophe), built from the dictionary or the word list minus the words
** that hold a forbidden letter or are banned.  Each node knows the syllable
** counts of the words at or below it (amask).  A line's last word must also
** suit the rhyme scheme: the first line of a rhyme group may end only in a
** word whose rhyming part has a partner for every later line of the group
** (gmask, per group), a later line only in a word of the group's rhyming
** part that no earlier line of the group used (rhyme_set, per rhyming part,
** built on demand).
*/
#include "form.h"

#include "cmudict.h"
#include "err.h"
#include "slurp.h"

#include <ctype.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NONE UINT32_MAX
#define NSYM 27 /* a-z, apostrophe */
#define SYM_APOS 26
#define MAX_GROUP 8 /* lines sharing a rhyme letter */
#define CACHE_SLOTS 16384
#define CACHE_FULL (CACHE_SLOTS / 2 - 300) /* room for one mask's subtrees */

enum { F_INWORD = 1, F_APOS = 2, F_STARTED = 4, F_ANY = 8, F_DONE = 16, F_LWOK = 32 };

typedef struct wnode {
    int32_t child[NSYM];
    int32_t parent;
    uint32_t word; /* dictionary id (or list index without the dictionary), NONE */
    uint32_t amask;
    uint8_t syll, depth;
} wnode;

typedef struct hnode { /* a word-trie node's hot part (12 bytes, not 124: the walks */
    uint32_t bits;     /* are memory-bound): its children are kids[base ..], one per */
    int32_t base;      /* bit of bits in symbol order */
    uint32_t amask;
} hnode;

typedef struct tnode { /* the vocabulary's tokens as a byte trie */
    int32_t first, next, tok;
    int32_t lo, hi; /* its tokens and those below it: ord[lo .. hi) */
    uint8_t b;
    uint8_t below; /* T_LETTER, T_WORD: what the bytes below it hold (not dead_byte's) */
} tnode;

enum {
    T_LETTER = 1,
    T_WORD = 2,
    T_OTHER = 4
}; /* a letter; a newline, or a letter after a
      non-letter; a non-letter */

typedef struct rhyme_set { /* the ancestors of one rhyming part's words */
    size_t n;
    uint32_t *node, *mask, *multi; /* by node; multi: counts held by >= 2 words */
    uint64_t *in;                  /* bit per word-trie node: in node[] */
} rhyme_set;

/* A later line's mask reads its rhyme (the rhyming part and the words its
** group's earlier lines ended in, which it may not end in) only through the
** remainders its root's finals fill (tail, in the key) and the line-final
** words of prefixes that leave no other way (fm in alive, F_LWOK at the
** line's count): a slot holds the excluded words it was computed for, and
** a lookup for others walks again only what reads them (fix).  Lines
** without a syllable count keep the words in the key. */
typedef struct mkey {
    int32_t tn; /* the token-trie node the mask is for (0: every token) */
    int32_t node;
    uint8_t line, syll, flags, gap;
    uint32_t tail;            /* a later line's tail_mask at the root, to its count */
    uint32_t excl[MAX_GROUP]; /* its excluded words, when it has no count */
} mkey;

typedef struct mslot {
    int used;
    mkey key;
    uint32_t excl[MAX_GROUP]; /* the excluded words the bits are for */
    uint64_t *bits;           /* allowed tokens */
} mslot;

struct form {
    const cons_vocab *v;
    const cmu_dict *d;
    int dict; /* words from the dictionary (syllables or rhyme) */
    int free; /* any word (no dictionary, no list): the trie is unused */
    int nlines, rhyme;
    int tgt[FORM_MAX_LINES];   /* syllables, -1: any */
    char acro[FORM_MAX_LINES]; /* lower-case initial, 0: any */
    int grp[FORM_MAX_LINES];   /* rhyme group, -1: none */
    int first[FORM_MAX_LINES]; /* first line of the group */
    uint8_t ok[256];           /* bytes allowed in the text */
    wnode *w;
    int32_t nw, capw;
    hnode *hot; /* per node, for the masks */
    int32_t *kids;
    uint64_t fill; /* bit k: k syllables are a sum of word counts */
    int ngroups;
    uint32_t *gmask[FORM_MAX_LINES];
    uint32_t froot[FORM_MAX_LINES], tail[FORM_MAX_LINES]; /* lines but a group's later ones */
    int memo_line;                /* a later line's froot and tail, for ... */
    uint32_t memo_fin[MAX_GROUP]; /* ... the group's earlier line ends (lock held) */
    uint32_t memo_froot, memo_tail;
    uint16_t (*cnt)[32]; /* per rhyming part and syllable count: words */
    uint32_t *r_off;     /* words of each rhyming part: r_nodes[r_off[r] ..] */
    int32_t *r_nodes;
    rhyme_set **rsets; /* per rhyming part, built on demand */
    tnode *t;
    int32_t nt;
    int32_t *tok_next;
    int32_t *ord;   /* the tokens in trie order */
    uint32_t **okr; /* per word-start token-trie node, built on demand: see okr_of */
    int nwords64;
    mslot *cache;
    int ncached;
    int plain;            /* walks byte by byte (form_mask_plain) */
    uint64_t *scratch[3]; /* a fixed mask: a state's, one of its subtrees', a word's */
    long hits, misses;
    double seconds;
    pthread_mutex_t lock;
};

int form_requested(const form_opts *o) {
    return o->n_syllables || (o->rhyme && *o->rhyme) || (o->acrostic && *o->acrostic) ||
           o->vocabulary || o->lines > 0;
}

int form_parse_syllables(const char *s, int *out, size_t *n, char *err) {
    *n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > FORM_MAX_SYLL || (*end && *end != ','))
            return err_set(err, "'%s': expected counts 1..%d separated by commas", s,
                           FORM_MAX_SYLL);
        if (*n == FORM_MAX_LINES) return err_set(err, "more than %d lines", FORM_MAX_LINES);
        out[(*n)++] = (int)v;
        s = *end ? end + 1 : end;
    }
    if (!*n) return err_set(err, "no syllable count");
    return 0;
}

int form_load_vocabulary(const char *path, char ***words, size_t *n, char *err) {
    char *data;
    size_t len;
    *words = NULL;
    *n = 0;
    if (slurp(path, &data, &len, err)) return err_prefix(err, "vocabulary");
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += data[i] == '\n';
    char **v = calloc(cap, sizeof *v);
    if (!v) {
        free(data);
        return err_set(err, "vocabulary: out of memory");
    }
    for (char *p = data, *e; p < data + len; p = e + 1) {
        e = memchr(p, '\n', (size_t)(data + len - p));
        if (!e) e = data + len;
        char *a = p, *b = e;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a && !(v[*n] = strndup(a, (size_t)(b - a)))) {
            form_words_free(v, *n);
            free(data);
            return err_set(err, "vocabulary: out of memory");
        }
        if (b > a) (*n)++;
    }
    free(data);
    if (!*n) {
        free(v);
        return err_set(err, "vocabulary %s: no words", path);
    }
    *words = v;
    return 0;
}

void form_words_free(char **words, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(words[i]);
    free(words);
}

int form_opts_set(form_opts *o, const char *syllables, const char *form_name, const char *rhyme,
                  const char *acrostic, long lines, char *err) {
    if (form_name && *form_name) {
        if (strcmp(form_name, "haiku"))
            return err_set(err, "form '%s': the known form is haiku", form_name);
        if (syllables && *syllables) return err_set(err, "form haiku and syllables are both given");
        syllables = "5,7,5";
    }
    if (syllables && *syllables &&
        form_parse_syllables(syllables, o->syllables, &o->n_syllables, err))
        return err_prefix(err, "syllables");
    if (lines < 0 || lines > FORM_MAX_LINES)
        return err_set(err, "lines: %ld is not in 0..%d", lines, FORM_MAX_LINES);
    o->lines = (int)lines;
    o->rhyme = rhyme && *rhyme ? rhyme : NULL;
    o->acrostic = acrostic && *acrostic ? acrostic : NULL;
    return 0;
}

/* The word-trie symbol of an ASCII letter byte b, or -1 (no locale call:
** the walks test every token-trie byte). */
static inline int letter_of(unsigned b) {
    unsigned s = (b | 0x20) - 'a';
    return s < 26 ? (int)s : -1;
}

/* Does step_byte break on byte b whatever the state (a byte the text may
** not hold; an apostrophe is read inside a word before the rule)? */
static inline int dead_byte(const form *f, unsigned b) {
    return b != '\'' && !f->ok[b];
}

static int sym_of(int c) {
    c = tolower(c);
    return c == '\'' ? SYM_APOS : c >= 'a' && c <= 'z' ? c - 'a' : -1;
}

static int32_t new_node(form *f, int32_t parent) {
    if (f->nw == f->capw) {
        int32_t cap = f->capw ? 2 * f->capw : 1024;
        wnode *nw = realloc(f->w, (size_t)cap * sizeof *nw);
        if (!nw) return -1;
        f->w = nw;
        f->capw = cap;
    }
    wnode *n = &f->w[f->nw];
    memset(n->child, 0xff, sizeof n->child);
    n->parent = parent;
    n->word = NONE;
    n->amask = 0;
    n->syll = 0;
    n->depth = parent < 0 ? 0 : (uint8_t)(f->w[parent].depth + 1);
    return f->nw++;
}

/* Is w (n bytes, any case) a banned word (co's rules, whole or substring)? */
static int banned(const cons_opts *co, const char *w, size_t n) {
    for (size_t i = 0; i < co->n_words; i++) {
        const char *b = co->words[i];
        size_t bl = strlen(b);
        for (size_t s = 0; s + bl <= n; s++) {
            if (!co->substring && (s > 0 || bl != n)) break;
            if (!strncasecmp(w + s, b, bl)) return 1;
        }
    }
    return 0;
}

/* Add word w (n bytes, the word shape) with id and syllables, unless it
** holds a character the text may not hold or is banned. */
static int insert(form *f, const cons_opts *co, const char *w, size_t n, uint32_t id, int syll) {
    for (size_t i = 0; i < n; i++)
        if (!f->ok[(unsigned char)w[i]] && !f->ok[toupper((unsigned char)w[i])]) return 0;
    if (banned(co, w, n) || (f->dict && !syll)) return 0; /* see form.h: no stalling */
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        int s = sym_of((unsigned char)w[i]);
        if (f->w[node].child[s] < 0) {
            int32_t k = new_node(f, node);
            if (k < 0) return -1;
            f->w[node].child[s] = k;
        }
        node = f->w[node].child[s];
    }
    f->w[node].word = id;
    f->w[node].syll = (uint8_t)(syll > FORM_MAX_SYLL ? FORM_MAX_SYLL : syll);
    return 0;
}

/* Every dictionary word below cmu node c, spelt into buf[0..len). */
static int insert_dict(form *f, const cons_opts *co, uint32_t c, char *buf, size_t len) {
    uint32_t word = cmu_word_at(f->d, c), n;
    if (word != CMU_NONE && insert(f, co, buf, len, word, cmu_syllables(f->d, word))) return -1;
    uint32_t k = cmu_children(f->d, c, &n);
    for (uint32_t i = 0; i < n && len < 63; i++) {
        buf[len] = (char)cmu_symbol(f->d, k + i);
        if (insert_dict(f, co, k + i, buf, len + 1)) return -1;
    }
    return 0;
}

/* Is w the shape of a word: [A-Za-z]+('[A-Za-z]+)* ? */
static int word_shape(const char *w) {
    size_t n = strlen(w);
    if (!n || n > 63 || !isalpha((unsigned char)w[0]) || !isalpha((unsigned char)w[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(w[i] > 0 && isalpha((unsigned char)w[i])) &&
            !(w[i] == '\'' && isalpha((unsigned char)w[i + 1]) && i > 0))
            return 0;
    return 1;
}

/* The child of node by symbol s, or -1. */
static inline int32_t child(const form *f, int32_t node, int s) {
    const hnode *h = &f->hot[node];
    if (!(h->bits >> s & 1)) return -1;
    return f->kids[h->base + __builtin_popcount(h->bits & ((1u << s) - 1))];
}

static uint32_t word_bit(const form *f, int32_t node) {
    return node >= 0 && f->w[node].word != NONE ? 1u << f->w[node].syll : 0;
}

/* May a word of rhyming part r and s syllables end the first line of group
** g: every later line of the group can end in another word of r? */
static int partnerable(const form *f, int g, uint32_t r, int s) {
    int k = 0, total = 0;
    for (int c = 0; c < 32; c++)
        total += f->cnt[r][c];
    for (int j = 0; j < f->nlines; j++) {
        if (f->grp[j] != g) continue;
        if (k++ == 0) continue; /* the first line itself */
        int found = 0;
        for (int c = 0; c < 32 && !found; c++) {
            int have = f->cnt[r][c] - (c == s);
            found =
                have > 0 && (f->tgt[j] < 0 || (c <= f->tgt[j] && (f->fill >> (f->tgt[j] - c) & 1)));
        }
        if (!found) return 0;
    }
    return total >= k;
}

static int cmp_u32pair(const void *a, const void *b) {
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* The ancestors of the words of rhyming part r with their syllable masks
** (built once per part, under the lock). */
static const rhyme_set *rset(form *f, uint32_t r) {
    if (f->rsets[r]) return f->rsets[r];
    size_t cap = 0;
    for (uint32_t i = f->r_off[r]; i < f->r_off[r + 1]; i++)
        cap += (size_t)f->w[f->r_nodes[i]].depth + 1;
    uint32_t *pairs = malloc(2 * cap * sizeof *pairs);
    rhyme_set *rs = calloc(1, sizeof *rs);
    if (!pairs || !rs) {
        free(pairs), free(rs);
        return NULL;
    }
    size_t k = 0;
    for (uint32_t i = f->r_off[r]; i < f->r_off[r + 1]; i++)
        for (int32_t a = f->r_nodes[i]; a >= 0; a = f->w[a].parent) {
            pairs[2 * k] = (uint32_t)a;
            pairs[2 * k++ + 1] = word_bit(f, f->r_nodes[i]);
        }
    qsort(pairs, k, 2 * sizeof *pairs, cmp_u32pair);
    rs->node = malloc(k * sizeof *rs->node);
    rs->mask = malloc(k * sizeof *rs->mask);
    rs->multi = malloc(k * sizeof *rs->multi);
    rs->in = calloc(((size_t)f->nw + 63) / 64, sizeof *rs->in);
    if (!rs->node || !rs->mask || !rs->multi || !rs->in) {
        free(pairs), free(rs->node), free(rs->mask), free(rs->multi), free(rs->in), free(rs);
        return NULL;
    }
    for (size_t i = 0; i < k; i++) {
        if (rs->n && rs->node[rs->n - 1] == pairs[2 * i]) {
            rs->multi[rs->n - 1] |= rs->mask[rs->n - 1] & pairs[2 * i + 1];
            rs->mask[rs->n - 1] |= pairs[2 * i + 1];
            continue;
        }
        rs->node[rs->n] = pairs[2 * i];
        rs->in[pairs[2 * i] / 64] |= 1ull << (pairs[2 * i] % 64);
        rs->mask[rs->n] = pairs[2 * i + 1];
        rs->multi[rs->n++] = 0;
    }
    free(pairs);
    return f->rsets[r] = rs;
}

static int is_later(const form *f, int line) {
    return f->rhyme && f->grp[line] >= 0 && f->first[line] != line;
}

/* The rhyming part a later line of a group must end in. */
static uint32_t group_rhyme(const form *f, const form_state *st) {
    return cmu_rhyme(f->d, f->w[st->fin[f->first[st->line]]].word);
}

/* May the word at node end the current line (rhyme scheme)? */
static int final_ok(const form *f, const form_state *st, int32_t node) {
    int line = st->line;
    if (!f->rhyme || f->grp[line] < 0) return 1;
    uint32_t r = cmu_rhyme(f->d, f->w[node].word);
    if (!is_later(f, line)) return partnerable(f, f->grp[line], r, f->w[node].syll);
    if (r != group_rhyme(f, st)) return 0;
    for (int j = 0; j < line; j++)
        if (f->grp[j] == f->grp[line] && (int32_t)st->fin[j] == node) return 0;
    return 1;
}

/* Does a word of rs's rhyming part start with node's letters? */
static int rs_has(const rhyme_set *rs, int32_t node) {
    return rs->in[node / 64] >> (node % 64) & 1;
}

/* The index of node in rs (a word of its rhyming part starts so), or -1. */
static long rs_index(const rhyme_set *rs, int32_t node) {
    if (!rs_has(rs, node)) return -1;
    size_t lo = 0, hi = rs->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (rs->node[mid] < (uint32_t)node)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < rs->n && rs->node[lo] == (uint32_t)node ? (long)lo : -1;
}

/* Does a word of rs's rhyming part and r syllables start with node's
** letters (only such a word can end a line with r syllables left)? */
static int rs_has_count(const rhyme_set *rs, int32_t node, int r) {
    long lo = rs_index(rs, node);
    return lo >= 0 && (rs->mask[lo] >> r & 1);
}

/* Syllable counts of the words at or below node that may end the line. */
static uint32_t fin_mask(form *f, const form_state *st, int32_t node) {
    int line = st->line;
    if (node < 0) return 0;
    if (f->free) return 1;
    if (!f->rhyme || f->grp[line] < 0) return f->hot[node].amask;
    if (!is_later(f, line)) return f->gmask[f->grp[line]][node];
    const rhyme_set *rs = rset(f, group_rhyme(f, st));
    if (!rs) return f->hot[node].amask; /* out of memory: dead ends back out */
    long lo = rs_index(rs, node);
    if (lo < 0) return 0;
    uint32_t m = rs->mask[lo];
    for (int j = 0; j < line; j++) { /* words earlier lines of the group used */
        if (f->grp[j] != f->grp[line]) continue;
        int32_t e = (int32_t)st->fin[j];
        while (e >= 0 && f->w[e].depth > f->w[node].depth)
            e = f->w[e].parent;
        if (e == node) m = (m & ~word_bit(f, (int32_t)st->fin[j])) | rs->multi[lo];
    }
    return m;
}

/* Syllable masks of the word being typed (wm) and of those of its
** completions that may end the line (fm). */
static void cur_masks(form *f, const form_state *st, uint32_t *wm, uint32_t *fm) {
    int32_t node = st->node;
    if (f->free) { /* any word, of no syllables */
        *wm = *fm = 1;
        return;
    }
    if (!(st->flags & F_INWORD)) { /* an acrostic line not started */
        node = child(f, 0, f->acro[st->line] - 'a');
        *wm = node >= 0 ? f->hot[node].amask : 0;
        *fm = fin_mask(f, st, node);
        return;
    }
    if (st->flags & F_APOS) {
        int32_t c = child(f, node, SYM_APOS);
        uint32_t b = word_bit(f, node);
        *wm = b | (c >= 0 ? f->hot[c].amask : 0);
        *fm = (b && final_ok(f, st, node) ? b : 0) | fin_mask(f, st, c);
        return;
    }
    *wm = f->hot[node].amask;
    *fm = fin_mask(f, st, node);
}

static int line_end_ok(const form *f, const form_state *st) {
    int t = f->tgt[st->line];
    if (!(st->flags & F_STARTED) || (t >= 0 && st->syll != t)) return 0;
    return !f->rhyme || (st->lw != NONE && (st->flags & F_LWOK));
}

/* Bit k: k syllables can be a line's remainder ending in a word of fm
** (some words, the last one of fm). */
static uint32_t tail_mask(const form *f, uint32_t fm) {
    uint64_t g = 0;
    for (uint32_t m = fm; m; m &= m - 1)
        g |= f->fill << __builtin_ctz(m);
    return (uint32_t)g;
}

/* The syllable masks of st's line at its root: the counts of the words
** that may end it (froot) and the remainders they can fill (g, tail_mask). */
static void line_roots(form *f, const form_state *st, uint32_t *froot, uint32_t *g) {
    *froot = f->froot[st->line];
    *g = f->tail[st->line];
    if (!is_later(f, st->line)) return;
    uint32_t fin[MAX_GROUP];
    memset(fin, 0xff, sizeof fin);
    for (int j = 0, n = 0; j < st->line; j++)
        if (f->grp[j] == f->grp[st->line]) fin[n++] = st->fin[j];
    if (f->memo_line != st->line || memcmp(fin, f->memo_fin, sizeof fin)) {
        f->memo_line = st->line;
        memcpy(f->memo_fin, fin, sizeof fin);
        f->memo_froot = fin_mask(f, st, 0);
        f->memo_tail = tail_mask(f, f->memo_froot);
    }
    *froot = f->memo_froot;
    *g = f->memo_tail;
}

/* Can some text complete the form from st? */
static int alive(form *f, const form_state *st) {
    if (st->flags & F_DONE) return 1;
    if (!f->nlines) {
        if (!(st->flags & F_INWORD)) return 1;
        uint32_t wm, fm;
        cur_masks(f, st, &wm, &fm);
        return wm != 0;
    }
    int t = f->tgt[st->line], r = t >= 0 ? t - st->syll : 0;
    uint32_t froot, g;
    line_roots(f, st, &froot, &g);
    if ((st->flags & F_INWORD) || (!(st->flags & F_STARTED) && f->acro[st->line])) {
        uint32_t wm, fm;
        cur_masks(f, st, &wm, &fm);
        if (t < 0) return fm != 0 || (wm != 0 && froot != 0);
        if (fm >> r & 1) return 1;
        for (uint32_t m = wm & (uint32_t)((2ull << r) - 1); m; m &= m - 1)
            if (g >> (r - __builtin_ctz(m)) & 1) return 1;
        return 0;
    }
    if (line_end_ok(f, st)) return 1;
    return t < 0 ? froot != 0 : (g >> r & 1);
}

/* The word being typed ends: it must be a word that fits the line. */
static int end_word(const form *f, form_state *st) {
    const wnode *n = &f->w[st->node];
    int t = f->nlines ? f->tgt[st->line] : -1;
    if ((n->word == NONE && !f->free) || (t >= 0 && st->syll + n->syll > t)) return 1;
    if ((st->flags & F_APOS) && !f->ok['\'']) return 1;
    st->syll = (uint8_t)(st->syll + n->syll);
    st->lw = (uint32_t)st->node;
    st->flags &= (uint8_t) ~(F_INWORD | F_APOS | F_LWOK);
    if (f->nlines && final_ok(f, st, st->node)) st->flags |= F_LWOK;
    st->node = 0;
    return 0;
}

/* Advance st over byte b; 1 when the text breaks the form's rules. */
static int step_byte(const form *f, form_state *st, unsigned b) {
    if (st->flags & F_DONE) return 1;
    int s = b < 128 && b != '\'' ? sym_of((int)b) : -1;
    if (s >= 0) {
        if (!f->ok[b]) return 1;
        if (!(st->flags & F_INWORD)) {
            if (f->nlines && !(st->flags & F_STARTED) && f->acro[st->line] &&
                f->acro[st->line] != tolower((int)b))
                return 1;
            st->node = 0;
            st->gap = 0;
            st->flags |= F_INWORD | F_STARTED | F_ANY;
            if (f->free) return 0;
        } else if (f->free) {
            st->flags &= (uint8_t)~F_APOS;
            return 0;
        } else if (st->flags & F_APOS) {
            st->node = child(f, st->node, SYM_APOS);
            st->flags &= (uint8_t)~F_APOS;
            if (st->node < 0) return 1;
        }
        st->node = child(f, st->node, s);
        return st->node < 0;
    }
    if (b == '\'' && (st->flags & F_INWORD) && !(st->flags & F_APOS)) {
        st->flags |= F_APOS;
        return 0;
    }
    if ((st->flags & F_INWORD) && end_word(f, st)) return 1;
    if (!f->ok[b]) return 1;
    if (b == '\n' && f->nlines) {
        if (!(st->flags & F_STARTED)) {
            if (st->line || (st->flags & F_ANY)) return 1; /* an empty line */
            st->flags |= F_ANY;
            return 0;
        }
        if (!line_end_ok(f, st)) return 1;
        st->fin[st->line++] = st->lw;
        st->syll = 0;
        st->gap = 0;
        st->lw = NONE;
        st->flags = F_ANY;
        if (st->line == f->nlines) st->flags |= F_DONE;
        return 0;
    }
    if (f->nlines && !(st->flags & F_STARTED) && f->acro[st->line]) return 1;
    if (f->dict && ++st->gap > FORM_MAX_GAP) return 1; /* see form.h: no stalling */
    st->flags |= F_STARTED | F_ANY;
    return 0;
}

void form_start(const form *f, form_state *st) {
    (void)f;
    memset(st, 0, sizeof *st);
    st->lw = NONE;
    for (int i = 0; i < FORM_MAX_LINES; i++)
        st->fin[i] = NONE;
}

int form_end_ok(const form *f, const form_state *st) {
    form_state s = *st;
    if ((s.flags & F_INWORD) && end_word(f, &s)) return 0;
    if (!f->nlines || (s.flags & F_DONE)) return 1;
    return s.line == f->nlines - 1 && line_end_ok(f, &s);
}

int form_done(const form *f, const form_state *st) {
    (void)f;
    return (st->flags & F_DONE) != 0;
}

int form_advance(form *f, form_state *st, int32_t id) {
    if (id == f->v->eos) return !form_end_ok(f, st);
    for (size_t i = 0; i < f->v->len[id]; i++)
        if (step_byte(f, st, f->v->bytes[id][i])) return 1;
    pthread_mutex_lock(&f->lock); /* alive() may build a rhyme set */
    int ok = alive(f, st);
    pthread_mutex_unlock(&f->lock);
    return !ok;
}

int form_lines(const form *f) {
    return f->nlines;
}

/* Set the tokens of token-trie node tn in bits. */
static void set_toks(const form *f, int32_t tn, uint64_t *bits) {
    for (int32_t k = f->t[tn].tok; k >= 0; k = f->tok_next[k])
        bits[k / 64] |= 1ull << (k % 64);
}

static void walk(form *f, int32_t tn, const form_state *st, uint64_t *bits);
static int word_start(const form *f, int32_t c, const form_state *st);
static const uint64_t *sub_mask(form *f, int32_t tn, const form_state *st);
static int or_word(form *f, int32_t c, const form_state *st, uint64_t *bits);

/* walk() byte by byte: step_byte and alive() on every token-trie node. */
static void walk_plain(form *f, int32_t tn, const form_state *st, uint64_t *bits) {
    for (int32_t c = f->t[tn].first; c >= 0; c = f->t[c].next) {
        form_state s = *st;
        if (step_byte(f, &s, f->t[c].b) || !alive(f, &s)) continue;
        if (word_start(f, c, &s) && !or_word(f, c, &s, bits)) continue;
        set_toks(f, c, bits);
        walk(f, c, &s, bits);
    }
}

/* What alive() reads of the states inside one word of a line, fixed while
** a walk follows the word's letters (walk_word): how it decides from the
** word-trie node alone. */
typedef struct wctx {
    const form_state *st; /* a state in the word (its node aside), no apostrophe pending */
    enum { W_ALL, W_ANY, W_MASK, W_FIN } how; /* any; amask != 0; amask & k; see alive_in */
    int t, r;
    uint32_t k;     /* counts of the words that leave a remainder the line fills */
    uint32_t froot; /* counts of the words that may end the line */
} wctx;

static void wctx_init(form *f, const form_state *st, wctx *x) {
    x->st = st;
    x->t = f->nlines ? f->tgt[st->line] : -1;
    x->r = x->t >= 0 ? x->t - st->syll : 0;
    x->k = 0;
    x->froot = 0;
    if (f->free) {
        x->how = W_ALL;
        return;
    }
    int rhymed = f->nlines && f->rhyme && f->grp[st->line] >= 0; /* fin_mask != amask */
    if (x->t < 0 && !rhymed) {                                   /* fin_mask = amask */
        x->how = W_ANY;
        return;
    }
    uint32_t g;
    line_roots(f, st, &x->froot, &g);
    for (int k = 0; x->t >= 0 && k <= x->r; k++)
        if (g >> (x->r - k) & 1) x->k |= 1u << k;
    x->how = rhymed ? W_FIN : W_MASK;
    if (!rhymed) x->k |= 1u << x->r; /* fin_mask = amask: a word of r syllables ends the line */
}

/* alive() of x's state at word-trie node (in the word, no apostrophe); a
** line-final word's count is in amask too (fin_mask is a part of it). */
static inline int alive_in(form *f, const wctx *x, int32_t node) {
    uint32_t wm = f->hot[node].amask;
    switch (x->how) {
    case W_ALL:
        return 1;
    case W_ANY:
        return wm != 0;
    case W_MASK:
        return (wm & x->k) != 0;
    default:
        if (x->t < 0) return fin_mask(f, x->st, node) != 0 || (wm != 0 && x->froot != 0);
        return (wm & x->k) || (wm >> x->r & 1 && fin_mask(f, x->st, node) >> x->r & 1);
    }
}

/* walk() from word-trie node inside x's word: a letter only moves the node
** (step_byte's in-word step), anything else takes the plain way. */
static void walk_word(form *f, const wctx *x, int32_t tn, int32_t node, uint64_t *bits) {
    for (int32_t c = f->t[tn].first; c >= 0; c = f->t[c].next) {
        unsigned b = f->t[c].b;
        int sym = letter_of(b);
        if (sym >= 0) {
            int32_t n = f->free ? node : child(f, node, sym);
            if (!f->ok[b] || n < 0 || !alive_in(f, x, n)) continue;
            set_toks(f, c, bits);
            walk_word(f, x, c, n, bits);
            continue;
        }
        if (dead_byte(f, b)) continue; /* step_byte breaks: skip the state copy */
        form_state s = *x->st;
        s.node = node;
        if (step_byte(f, &s, b) || !alive(f, &s)) continue;
        set_toks(f, c, bits);
        walk(f, c, &s, bits);
    }
}

/* Mark the tokens below token-trie node tn that keep the form alive. */
static void walk(form *f, int32_t tn, const form_state *st, uint64_t *bits) {
    if ((st->flags & (F_INWORD | F_APOS)) == F_INWORD && !f->plain) {
        wctx x;
        wctx_init(f, st, &x);
        walk_word(f, &x, tn, st->node, bits);
        return;
    }
    walk_plain(f, tn, st, bits);
}

/* Clear the tokens of token-trie node tn and of those below it. */
static void clear_sub(const form *f, int32_t tn, uint64_t *bits) {
    for (int32_t i = f->t[tn].lo; i < f->t[tn].hi; i++)
        bits[f->ord[i] / 64] &= ~(1ull << (f->ord[i] % 64));
}

/* The words st's line may not end in (its group's earlier lines' ends, if
** it is a later line of a group), NONE after them. */
static void excl_of(const form *f, const form_state *st, uint32_t *x) {
    for (int i = 0; i < MAX_GROUP; i++)
        x[i] = NONE;
    if (f->nlines && !(st->flags & F_DONE) && is_later(f, st->line))
        for (int j = 0, n = 0; j < st->line; j++)
            if (f->grp[j] == f->grp[st->line]) x[n++] = st->fin[j];
}

/* How a walk through state s of a later line with a count (g: its tail
** mask), reached from st over byte b below token-trie node c (st NULL: s
** starts the mask), reads the line's rhyme: 0, s's own verdict may (the
** prefix's words all need a line-final word: fm; the line full: F_LWOK; a
** new line; an acrostic's initial); 1, not s's but maybe a later state's;
** 2, nothing below c does (every word of the prefix leaves a remainder the
** root's finals fill, and no word starts below c). */
static int reads_rhyme(const form *f, uint32_t g, const form_state *st, unsigned b, int32_t c,
                       const form_state *s) {
    if (st && b == '\n') return 0;
    int r = f->tgt[s->line] - s->syll;
    if (!(s->flags & F_INWORD)) {
        if (!(s->flags & F_STARTED) && f->acro[s->line]) return 0;
        if (!(g >> r & 1) && s->syll == f->tgt[s->line]) return 0;
        return f->t[c].below & (T_LETTER | T_WORD) ? 1 : 2;
    }
    uint32_t wm = f->hot[s->node].amask;
    if (s->flags & F_APOS) {
        int32_t a = child(f, s->node, SYM_APOS);
        wm = word_bit(f, s->node) | (a >= 0 ? f->hot[a].amask : 0);
    }
    int some = 0, all = 1; /* some word / every word leaves a remainder g fills */
    for (uint32_t m = wm; m; m &= m - 1) {
        int k = __builtin_ctz(m), fills = k <= r && (g >> (r - k) & 1);
        some |= fills;
        all &= fills;
    }
    if (!some) return 0;
    return all && !(f->t[c].below & T_WORD) ? 2 : 1;
}

/* What fix() reads: the line's tail mask (g) and the words of the rhyme
** the slot was computed for (rs0) and of st's (rs1), NULL if unknown. */
typedef struct fixctx {
    uint32_t g;
    const rhyme_set *rs0, *rs1;
} fixctx;

static void fix(form *f, const fixctx *fx, int32_t tn, const form_state *st, uint64_t *bits);

/* fix() of token-trie node c, reached from st over c's byte into s. */
static void fix_child(form *f, const fixctx *fx, const form_state *st, int32_t c, form_state *s,
                      uint64_t *bits) {
    unsigned b = f->t[c].b;
    int broke = step_byte(f, s, b), how = broke ? 2 : reads_rhyme(f, fx->g, st, b, c, s);
    if (b == '\n' || how == 0) {
        clear_sub(f, c, bits);
        if (!broke && alive(f, s)) {
            set_toks(f, c, bits);
            walk(f, c, s, bits);
        }
    } else if (how == 1 && alive(f, s))
        fix(f, fx, c, s, bits);
}

/* fix() inside a word of x's line (no apostrophe pending): a letter moves
** the node; nothing below it reads the rhyme if no word of either rhyme
** with the line's remaining count starts with the word so far (the only
** line-final words alive_in reads: rs_has_count) and no word starts below; a node whose words all
*need a line-final word reads it. */
static void fix_word(form *f, const fixctx *fx, const wctx *x, int32_t tn, int32_t node,
                     uint64_t *bits) {
    for (int32_t c = f->t[tn].first; c >= 0; c = f->t[c].next) {
        unsigned b = f->t[c].b;
        int sym = letter_of(b);
        if (sym < 0) {
            if (b != '\n' && dead_byte(f, b)) continue; /* broken: fix_child keeps it */
            form_state s = *x->st;
            s.node = node;
            fix_child(f, fx, x->st, c, &s, bits);
            continue;
        }
        int32_t n = child(f, node, sym);
        if (!f->ok[b] || n < 0) continue; /* broken whatever the rhyme: no bits */
        if (!(f->t[c].below & T_WORD) && fx->rs0 && fx->rs1 && !rs_has_count(fx->rs0, n, x->r) &&
            !rs_has_count(fx->rs1, n, x->r))
            continue;
        if (f->hot[n].amask & x->k) { /* alive whatever the rhyme */
            if ((f->hot[n].amask & ~x->k) || (f->t[c].below & T_WORD))
                fix_word(f, fx, x, c, n, bits); /* else nothing below reads it (reads_rhyme) */
            continue;
        }
        clear_sub(f, c, bits);
        if (alive_in(f, x, n)) {
            set_toks(f, c, bits);
            walk_word(f, x, c, n, bits);
        }
    }
}

/* bits hold the mask of token-trie node tn's subtree from st (a later line
** with a count) computed for other excluded words: make it st's by walking
** again the subtrees that read them (reads_rhyme, fix_word). */
static void fix(form *f, const fixctx *fx, int32_t tn, const form_state *st, uint64_t *bits) {
    if ((st->flags & (F_INWORD | F_APOS)) == F_INWORD) {
        wctx x;
        wctx_init(f, st, &x);
        fix_word(f, fx, &x, tn, st->node, bits);
        return;
    }
    for (int32_t c = f->t[tn].first; c >= 0; c = f->t[c].next) {
        form_state s = *st;
        fix_child(f, fx, st, c, &s, bits);
    }
}

/* The cache key: what the mask depends on. */
static mkey key_of(form *f, int32_t tn, const form_state *st) {
    mkey k;
    memset(&k, 0, sizeof k);
    k.tn = tn;
    k.node = st->flags & F_INWORD ? st->node : 0;
    k.line = st->line;
    k.syll = st->syll;
    k.gap = st->gap;
    k.flags = st->flags & (uint8_t) ~(F_ANY * !(st->line == 0 && !(st->flags & F_STARTED)));
    if (f->nlines && !(st->flags & F_DONE) && st->syll < f->tgt[st->line])
        k.flags &= (uint8_t)~F_LWOK; /* read (line_end_ok) at the line's count only */
    excl_of(f, st, k.excl);
    int r = f->nlines && !(st->flags & F_DONE) ? f->tgt[st->line] - st->syll : -1;
    if (k.excl[0] != NONE && r >= 0) {
        k.tail = tail_mask(f, fin_mask(f, st, 0)) & (uint32_t)((2ull << r) - 1);
        for (int i = 0; i < MAX_GROUP; i++)
            k.excl[i] = NONE;
    }
    return k;
}

/* The key of a word's token subtree tn from st, at the word's first letter,
** when the subtree holds letters only: what walk_word reads (the node, how
** alive_in decides and from what), not the line's syllables so far, gap or
** flags, so that word starts across lines and counts share it.  Flags 0x80
** tell it from key_of's. */
static mkey word_key(form *f, int32_t tn, const form_state *st) {
    wctx x;
    wctx_init(f, st, &x);
    mkey k;
    memset(&k, 0, sizeof k);
    k.tn = tn;
    k.node = st->node;
    k.flags = (uint8_t)(0x80 | x.how);
    k.gap = x.t < 0;
    for (int i = 0; i < MAX_GROUP; i++)
        k.excl[i] = NONE;
    if (x.how != W_MASK && x.how != W_FIN) return k;
    int later = is_later(f, st->line);
    k.line = (uint8_t)(x.how == W_FIN ? (later ? 0xff : f->grp[st->line]) : 0);
    if (x.t < 0) { /* alive_in reads froot: the group's (first line) or its words */
        if (later) excl_of(f, st, k.excl);
        return k;
    }
    uint32_t froot, g;
    line_roots(f, st, &froot, &g);
    k.syll = (uint8_t)x.r;
    k.tail = g & (uint32_t)((2ull << x.r) - 1); /* k; fixed() reads it as g */
    return k;
}

/* Is the mask of a token subtree from st worth caching: st at a word's
** start or its first letter (these recur; deeper states are cheap to walk). */
static int worth_caching(const form *f, const form_state *st) {
    return !(st->flags & F_INWORD) || f->free || f->w[st->node].depth <= 1;
}

/* The cache slot of key k (a mask from st): hit, or a slot to fill for st
** (lock held). */
static mslot *slot_of(form *f, mkey k, const form_state *st, int *hit) {
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p = (const unsigned char *)&k;
    for (size_t i = 0; i < sizeof k; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    size_t i = (size_t)(h % CACHE_SLOTS);
    while (f->cache[i].used && memcmp(&f->cache[i].key, &k, sizeof k))
        i = (i + 1) % CACHE_SLOTS;
    *hit = f->cache[i].used;
    if (!*hit) {
        f->cache[i].key = k;
        excl_of(f, st, f->cache[i].excl);
    }
    return &f->cache[i];
}

/* The bits of slot m (token-trie node tn's subtree from st) for st: m's
** own when computed for st's excluded words, else fixed in scratch. */
static const uint64_t *fixed(form *f, const mslot *m, int32_t tn, const form_state *st,
                             uint64_t *scratch) {
    uint32_t x[MAX_GROUP];
    excl_of(f, st, x);
    if (!memcmp(x, m->excl, sizeof x)) return m->bits;
    uint32_t g = m->key.tail;
    int how = reads_rhyme(f, g, NULL, 0, tn, st);
    if (how == 2) return m->bits; /* nothing in it reads the excluded words */
    if (how == 0) {               /* walk it all */
        memset(scratch, 0, (size_t)f->nwords64 * sizeof *scratch);
        set_toks(f, tn, scratch);
        walk(f, tn, st, scratch);
        return scratch;
    }
    memcpy(scratch, m->bits, (size_t)f->nwords64 * sizeof *scratch);
    fixctx fx = {g, rset(f, cmu_rhyme(f->d, f->w[m->excl[0]].word)), rset(f, group_rhyme(f, st))};
    fix(f, &fx, tn, st, scratch);
    return scratch;
}

/* Does token-trie node c start a word (st, the state after its byte, at
** the word's first letter) with letters only below it (word_key), and is
** there room in the cache? */
static int word_start(const form *f, int32_t c, const form_state *st) {
    return (st->flags & (F_INWORD | F_APOS)) == F_INWORD && !f->free && !f->plain &&
           f->w[st->node].depth == 1 && !(f->t[c].below & T_OTHER) &&
           f->ncached < CACHE_SLOTS * 5 / 8;
}

/* The allowed tokens of token-trie subtree tn (tn's own tokens and those
** below it), from st, the state after tn's bytes; NULL when out of memory.
** Lock held. */
static const uint64_t *sub_mask(form *f, int32_t tn, const form_state *st) {
    int hit, word = word_start(f, tn, st);
    mslot *m = slot_of(f, word ? word_key(f, tn, st) : key_of(f, tn, st), st, &hit);
    if (hit) return fixed(f, m, tn, st, f->scratch[word ? 2 : 1]);
    if (!m->bits) m->bits = malloc((size_t)f->nwords64 * sizeof *m->bits);
    if (!m->bits) return NULL;
    m->used = 1; /* taken before its word starts fill the table */
    f->ncached++;
    memset(m->bits, 0, (size_t)f->nwords64 * sizeof *m->bits);
    set_toks(f, tn, m->bits);
    walk(f, tn, st, m->bits);
    return m->bits;
}

/* Add to bits the allowed tokens of token-trie subtree c from st (sub_mask);
** -1 when out of memory. */
static int or_sub(form *f, int32_t c, const form_state *st, uint64_t *bits) {
    const uint64_t *sb = sub_mask(f, c, st);
    if (!sb) return -1;
    for (int w = 0; w < f->nwords64; w++)
        bits[w] |= sb[w];
    return 0;
}

/* The tokens below token-trie node tn (word-trie node, in x's word) that
** a later line keeps only for its rhyme: below the first node whose words
** all have too many syllables to leave room (amask & k = 0), every node
** must hold a line-final word of rs (alive_in), one of the r syllables
** left; such nodes are rs's (rs_has_count), and so are their ancestors. */
static void rhyme_walk(form *f, const wctx *x, const rhyme_set *rs, int32_t tn, int32_t node,
                       uint64_t *bits) {
    for (int32_t c = f->t[tn].first; c >= 0; c = f->t[c].next) {
        unsigned b = f->t[c].b;
        if (dead_byte(f, b)) continue; /* a letter (word_start): ok, or dead */
        int32_t n = child(f, node, (b | 0x20) - 'a');
        if (n < 0 || !rs_has_count(rs, n, x->r)) continue;
        if (f->hot[n].amask & x->k) {
            rhyme_walk(f, x, rs, c, n, bits);
            continue;
        }
        if (!alive_in(f, x, n)) continue;
        set_toks(f, c, bits);
        walk_word(f, x, c, n, bits);
    }
}

/* Per token of word-start token-trie node tn's letters-only subtree (by
** its place in ord, from base): the counts r a line may have left for
** walk_word to keep it (the intersection over the token's nodes below tn),
** when alive_in reads, of kind OK_MASK, "a word of at most r syllables"
** (W_MASK); OK_LONG, "of at most r - 1" (a later line's, the rest from
** rhyme_walk); OK_GROUP + g, that or "a line-final word of r" of rhyme
** group g's first line (W_FIN). */
enum { OK_MASK, OK_LONG, OK_GROUP };

static void okr_walk(const form *f, int kind, int32_t tn, int32_t node, uint32_t cur, uint32_t *okr,
                     int32_t base) {
    for (int32_t c = f->t[tn].first; c >= 0; c = f->t[c].next) {
        unsigned b = f->t[c].b;
        if (dead_byte(f, b)) continue; /* a letter (word_start): ok, or dead */
        int32_t n = child(f, node, (b | 0x20) - 'a');
        if (n < 0 || !f->hot[n].amask) continue;
        int low = __builtin_ctz(f->hot[n].amask);
        uint32_t v = ~((2u << low) - 1) | (kind == OK_MASK    ? 1u << low
                                           : kind >= OK_GROUP ? f->gmask[kind - OK_GROUP][n]
                                                              : 0);
        if (!(v &= cur)) continue;
        int32_t i = f->t[c].lo - base;
        for (int32_t k = f->t[c].tok; k >= 0; k = f->tok_next[k])
            okr[i++] = v;
        okr_walk(f, kind, c, n, v, okr, base);
    }
}

/* tn's okr (above) of kind, built once for every kind; NULL when out of
** memory. */
static const uint32_t *okr_of(form *f, int32_t tn, int32_t node, int kind) {
    if (!f->okr && !(f->okr = calloc((size_t)f->nt, sizeof *f->okr))) return NULL;
    size_t n = (size_t)(f->t[tn].hi - f->t[tn].lo);
    if (!f->okr[tn]) {
        uint32_t *okr = calloc(n * (size_t)(OK_GROUP + f->ngroups) + 1, sizeof *okr);
        if (!okr) return NULL;
        for (int h = 0; h < OK_GROUP + f->ngroups; h++) {
            for (int32_t i = 0, k = f->t[tn].tok; k >= 0; k = f->tok_next[k])
                okr[h * n + (size_t)i++] = ~0u; /* tn's own: its state is alive */
            okr_walk(f, h, tn, node, ~0u, okr + h * n, f->t[tn].lo);
        }
        f->okr[tn] = okr;
    }
    return f->okr[tn] + (size_t)kind * n;
}

/* Add to bits the allowed tokens of word-start node c's subtree from st
** (word_start): from okr when alive_in reads "a word of at most so many
** syllables" (with a later line's rhyme_walk), else from the cache; -1 when
** out of memory. */
static int or_word(form *f, int32_t c, const form_state *st, uint64_t *bits) {
    wctx x;
    wctx_init(f, st, &x);
    uint32_t below = (uint32_t)((1ull << x.r) - 1) & ~1u; /* counts 1 .. r - 1 */
    int kind = -1, later = f->nlines && is_later(f, st->line);
    if (x.how == W_MASK && x.k == (uint32_t)((2ull << x.r) - 1))
        kind = OK_MASK;
    else if (x.how == W_FIN && x.t >= 0 && (x.k & ~1u) == below)
        kind = later ? OK_LONG : OK_GROUP + f->grp[st->line];
    if (kind < 0) return or_sub(f, c, st, bits);
    const uint32_t *okr = okr_of(f, c, st->node, kind);
    const rhyme_set *rs = later ? rset(f, group_rhyme(f, st)) : NULL;
    if (!okr || (later && !rs)) return -1;
    for (int32_t i = f->t[c].lo; i < f->t[c].hi; i++)
        if (okr[i - f->t[c].lo] >> x.r & 1) bits[f->ord[i] / 64] |= 1ull << (f->ord[i] % 64);
    if (later) rhyme_walk(f, &x, rs, c, st->node, bits);
    return 0;
}

/* The allowed-token bits for st (computed on a miss from the subtrees of
** each first byte, themselves cached when they recur); lock held. */
static const uint64_t *cached(form *f, const form_state *st) {
    if (f->ncached >= CACHE_FULL) { /* full: start over (rare) */
        for (int j = 0; j < CACHE_SLOTS; j++)
            f->cache[j].used = 0;
        f->ncached = 0;
    }
    int hit;
    mslot *m = slot_of(f, key_of(f, 0, st), st, &hit);
    if (hit) {
        f->hits++;
        return fixed(f, m, 0, st, f->scratch[0]);
    }
    f->misses++;
    if (!m->bits) m->bits = malloc((size_t)f->nwords64 * sizeof *m->bits);
    if (!m->bits) return NULL;
    m->used = 1; /* taken before the subtrees fill the table */
    f->ncached++;
    uint64_t *bits = m->bits;
    memset(bits, 0, (size_t)f->nwords64 * sizeof *bits);
    set_toks(f, 0, bits); /* empty tokens */
    for (int32_t c = f->t[0].first; c >= 0; c = f->t[c].next) {
        if (dead_byte(f, f->t[c].b)) continue; /* step_byte breaks: skip the state copy */
        form_state s = *st;
        if (step_byte(f, &s, f->t[c].b) || !alive(f, &s)) continue;
        if (!worth_caching(f, &s)) {
            set_toks(f, c, bits);
            walk(f, c, &s, bits);
            continue;
        }
        if (word_start(f, c, &s) ? or_word(f, c, &s, bits) : or_sub(f, c, &s, bits)) {
            m->used = 0;
            return NULL;
        }
    }
    return bits;
}

/* Set -inf on the tokens bits leaves out (NULL: all), and on end-of-text
** unless the form may end in st. */
static void apply(const form *f, const uint64_t *bits, const form_state *st, float *logits) {
    int eos = f->v->eos;
    float keep = eos >= 0 ? logits[eos] : 0;
    for (int w = 0; w < f->nwords64; w++) {
        uint64_t m = bits ? ~bits[w] : ~0ull;
        int n = f->v->n - w * 64 < 64 ? f->v->n - w * 64 : 64;
        float *l = logits + w * 64;
        if (m == ~0ull && n == 64) /* whole words at once: this runs per sequence and step */
            for (int j = 0; j < 64; j++)
                l[j] = -INFINITY;
        else if (n == 64)
            for (int h = 0; h < 64; h += 32) { /* 32-bit lanes: shifts the compiler vectorises */
                uint32_t mh = (uint32_t)(m >> h);
                for (int j = 0; j < 32; j++)
                    l[h + j] = mh >> j & 1 ? -INFINITY : l[h + j];
            }
        else
            for (int j = 0; j < n; j++)
                l[j] = m >> j & 1 ? -INFINITY : l[j];
    }
    if (eos >= 0) logits[eos] = keep; /* end-of-text: by form_end_ok alone */
    if (eos >= 0 && !form_end_ok(f, st)) logits[eos] = -INFINITY;
}

void form_mask(form *f, const form_state *st, float *logits) {
    pthread_mutex_lock(&f->lock);
    double t0 = omp_get_wtime(); /* the work, serialised: not the wait (counted by its holder) */
    apply(f, cached(f, st), st, logits);
    f->seconds += omp_get_wtime() - t0;
    pthread_mutex_unlock(&f->lock);
}

void form_mask_plain(form *f, const form_state *st, float *logits) {
    pthread_mutex_lock(&f->lock);
    uint64_t *bits = f->scratch[0];
    memset(bits, 0, (size_t)f->nwords64 * sizeof *bits);
    set_toks(f, 0, bits);
    f->plain = 1;
    walk_plain(f, 0, st, bits);
    f->plain = 0;
    apply(f, bits, st, logits);
    pthread_mutex_unlock(&f->lock);
}

void form_stats(const form *f, long *hits, long *misses, double *seconds) {
    *hits = f->hits;
    *misses = f->misses;
    *seconds = f->seconds;
}

/* Number the tokens from k in trie order below node n (its lo, hi); the
** next number. */
static int32_t number(form *f, int32_t n, int32_t k) {
    f->t[n].lo = k;
    for (int32_t t = f->t[n].tok; t >= 0; t = f->tok_next[t])
        f->ord[k++] = t;
    for (int32_t c = f->t[n].first; c >= 0; c = f->t[c].next)
        k = number(f, c, k);
    f->t[n].hi = k;
    return k;
}

/* Copy token-trie node n of old and the nodes below it to out from *k on,
** each node before its children and a subtree's nodes together (the walks
** follow subtrees: memory order); n's new index. */
static int32_t lay_out(const tnode *old, int32_t n, tnode *out, int32_t *k) {
    int32_t me = (*k)++, prev = -1;
    out[me] = old[n];
    out[me].first = out[me].next = -1;
    for (int32_t c = old[n].first; c >= 0; c = old[c].next) {
        int32_t nc = lay_out(old, c, out, k);
        if (prev < 0)
            out[me].first = nc;
        else
            out[prev].next = nc;
        prev = nc;
    }
    return me;
}

/* The byte trie of the vocabulary's tokens. */
static int build_tokens(form *f) {
    const cons_vocab *v = f->v;
    size_t total = 1;
    for (int t = 0; t < v->n; t++)
        total += v->len[t];
    f->t = malloc(total * sizeof *f->t);
    f->tok_next = malloc((size_t)v->n * sizeof *f->tok_next);
    f->ord = malloc((size_t)v->n * sizeof *f->ord);
    if (!f->t || !f->tok_next || !f->ord) return -1;
    f->t[0] = (tnode){-1, -1, -1, 0, 0, 0, 0};
    f->nt = 1;
    for (int t = 0; t < v->n; t++) {
        f->tok_next[t] = -1;
        if (t == v->eos) continue;
        int32_t n = 0;
        for (size_t i = 0; i < v->len[t]; i++) {
            int32_t c = f->t[n].first;
            while (c >= 0 && f->t[c].b != v->bytes[t][i])
                c = f->t[c].next;
            if (c < 0) {
                c = f->nt++;
                f->t[c] = (tnode){-1, f->t[n].first, -1, 0, 0, v->bytes[t][i], 0};
                f->t[n].first = c;
            }
            n = c;
        }
        f->tok_next[t] = f->t[n].tok;
        f->t[n].tok = t;
    }
    tnode *t = malloc((size_t)f->nt * sizeof *t);
    if (!t) return -1;
    int32_t k = 0;
    lay_out(f->t, 0, t, &k);
    free(f->t);
    f->t = t;
    for (int32_t i = f->nt; i-- > 0;) /* children come after their parent */
        for (int32_t c = f->t[i].first; c >= 0; c = f->t[c].next) {
            unsigned b = f->t[c].b;
            if (dead_byte(f, b)) continue; /* no token below it is ever allowed */
            int letter = b < 128 && isalpha((int)b);
            f->t[i].below |=
                (uint8_t)(f->t[c].below | (letter ? T_LETTER : T_OTHER) |
                          (b == '\n' || (!letter && (f->t[c].below & T_LETTER)) ? T_WORD : 0));
        }
    number(f, 0, 0);
    return 0;
}

/* Lines, initials and rhyme groups from o; checks they agree. */
static int build_lines(form *f, const form_opts *o, char *err) {
    int n = o->lines;
    const char *what = "--lines";
    size_t na = 0;
    if (o->acrostic)
        for (const char *p = o->acrostic; *p; p++) {
            if ((unsigned char)*p >= 128 || !isalpha((unsigned char)*p))
                return err_set(err, "form: acrostic '%s' holds '%c', not an ASCII letter",
                               o->acrostic, *p);
            na++;
        }
    size_t counts[3] = {o->n_syllables, o->rhyme ? strlen(o->rhyme) : 0, na};
    const char *names[3] = {"--syllables", "--rhyme", "--acrostic"};
    for (int i = 0; i < 3; i++) {
        if (!counts[i]) continue;
        if (n && (size_t)n != counts[i])
            return err_set(err, "form: %s gives %zu lines, %s %d", names[i], counts[i], what, n);
        n = (int)counts[i];
        what = names[i];
    }
    if (n > FORM_MAX_LINES) return err_set(err, "form: more than %d lines", FORM_MAX_LINES);
    if (o->rhyme && *o->rhyme && !n) return err_set(err, "form: --rhyme needs lines");
    f->nlines = n;
    f->rhyme = o->rhyme && *o->rhyme;
    for (int i = 0; i < n; i++) {
        f->tgt[i] = o->n_syllables ? o->syllables[i] : -1;
        f->acro[i] = (char)(na ? tolower((unsigned char)o->acrostic[i]) : 0);
        f->grp[i] = -1;
        f->first[i] = i;
    }
    for (int i = 0; f->rhyme && i < n; i++) {
        char c = o->rhyme[i];
        if (!isalpha((unsigned char)c))
            return err_set(err, "form: rhyme scheme '%s' holds '%c', not a letter", o->rhyme, c);
        int k = 0;
        for (int j = 0; j < n; j++)
            k += o->rhyme[j] == c;
        if (k > MAX_GROUP + 1)
            return err_set(err, "form: rhyme '%c' on more than %d lines", c, MAX_GROUP + 1);
        if (k < 2) continue;
        int j = 0;
        while (o->rhyme[j] != c)
            j++;
        f->first[i] = j;
        f->grp[i] = j == i ? f->ngroups++ : f->grp[j];
    }
    return 0;
}

/* The allowed bytes: the forms' character set, minus forbidden ASCII. */
static void build_ok(form *f, const cons_opts *co) {
    for (int b = 0; b < 256; b++)
        f->ok[b] = !f->dict || isalpha(b) || strchr("' \n,.;:!?-\"", b) != NULL;
    f->ok[0] = 0;
    if (!co->forbid_chars) return;
    for (const unsigned char *p = (const unsigned char *)co->forbid_chars; *p; p++) {
        if (*p >= 128) continue;
        f->ok[*p] = 0;
        if (!co->forbid_case_sensitive && isalpha(*p)) f->ok[*p ^ 0x20] = 0;
    }
}

/* The syllable masks, rhyming-part tables and group masks. */
static int build_masks(form *f) {
    for (int32_t i = f->nw; i-- > 0;) {
        wnode *n = &f->w[i];
        n->amask = word_bit(f, i);
        for (int s = 0; s < NSYM; s++)
            if (n->child[s] >= 0) n->amask |= f->w[n->child[s]].amask;
    }
    f->hot = malloc((size_t)f->nw * sizeof *f->hot);
    f->kids = malloc((size_t)f->nw * sizeof *f->kids);
    if (!f->hot || !f->kids) return -1;
    for (int32_t i = 0, k = 0; i < f->nw; i++) {
        f->hot[i] = (hnode){0, k, f->w[i].amask};
        for (int s = 0; s < NSYM; s++)
            if (f->w[i].child[s] >= 0) {
                f->hot[i].bits |= 1u << s;
                f->kids[k++] = f->w[i].child[s];
            }
    }
    f->fill = 1;
    for (int k = 1; k < 64; k++)
        for (int s = 1; s <= k && s <= FORM_MAX_SYLL; s++)
            if ((f->w[0].amask >> s & 1) && (f->fill >> (k - s) & 1)) f->fill |= 1ull << k;
    if (!f->rhyme) return 0;
    uint32_t nr = cmu_n_rhymes(f->d);
    f->cnt = calloc(nr, sizeof *f->cnt);
    f->r_off = calloc(nr + 1, sizeof *f->r_off);
    f->r_nodes = malloc((size_t)f->nw * sizeof *f->r_nodes);
    f->rsets = calloc(nr, sizeof *f->rsets);
    if (!f->cnt || !f->r_off || !f->r_nodes || !f->rsets) return -1;
    for (int32_t i = 0; i < f->nw; i++) {
        if (f->w[i].word == NONE) continue;
        uint32_t r = cmu_rhyme(f->d, f->w[i].word);
        if (f->cnt[r][f->w[i].syll] < UINT16_MAX) f->cnt[r][f->w[i].syll]++;
        f->r_off[r + 1]++;
    }
    for (uint32_t r = 0; r < nr; r++)
        f->r_off[r + 1] += f->r_off[r];
    uint32_t *fillp = calloc(nr, sizeof *fillp);
    if (!fillp) return -1;
    for (int32_t i = 0; i < f->nw; i++)
        if (f->w[i].word != NONE) {
            uint32_t r = cmu_rhyme(f->d, f->w[i].word);
            f->r_nodes[f->r_off[r] + fillp[r]++] = i;
        }
    free(fillp);
    for (int g = 0; g < f->ngroups; g++) {
        uint32_t *m = f->gmask[g] = malloc((size_t)f->nw * sizeof *m);
        if (!m) return -1;
        for (int32_t i = f->nw; i-- > 0;) {
            const wnode *n = &f->w[i];
            m[i] = n->word != NONE && partnerable(f, g, cmu_rhyme(f->d, n->word), n->syll)
                       ? word_bit(f, i)
                       : 0;
            for (int s = 0; s < NSYM; s++)
                if (n->child[s] >= 0) m[i] |= m[n->child[s]];
        }
    }
    return 0;
}

int form_new(const cons_vocab *v, const form_opts *o, const cons_opts *co, form **out, char *err) {
    *out = NULL;
    form *f = calloc(1, sizeof *f);
    if (!f) return err_set(err, "form: out of memory");
    pthread_mutex_init(&f->lock, NULL);
    f->v = v;
    f->memo_line = -1;
    f->dict = o->n_syllables || (o->rhyme && *o->rhyme);
    if (build_lines(f, o, err)) goto fail;
    build_ok(f, co);
    if (f->dict && !(f->d = cmu_open(err))) goto fail;
    if (new_node(f, -1) < 0) goto oom;
    if (o->vocabulary) {
        for (size_t i = 0; i < o->n_vocabulary; i++) {
            const char *w = o->vocabulary[i];
            if (!word_shape(w)) {
                err_set(err,
                        "form: vocabulary word %zu ('%s') is not a word ([A-Za-z]+ "
                        "joined by single apostrophes)",
                        i + 1, w);
                goto fail;
            }
            uint32_t id = f->dict ? cmu_lookup(f->d, w, strlen(w)) : (uint32_t)i;
            if (id != CMU_NONE &&
                insert(f, co, w, strlen(w), id, f->dict ? cmu_syllables(f->d, id) : 0))
                goto oom;
        }
    } else if (f->dict) {
        char buf[64];
        if (insert_dict(f, co, cmu_root(f->d), buf, 0)) goto oom;
    }
    if (build_masks(f) || build_tokens(f)) goto oom;
    f->free = !f->dict && !o->vocabulary;
    if (!f->w[0].amask && !f->free) {
        err_set(err, "form: no word is allowed (vocabulary, forbidden characters, banned words)");
        goto fail;
    }
    form_state st;
    form_start(f, &st);
    for (int i = 0; i < f->nlines; i++) {
        st.line = (uint8_t)i;
        if (!is_later(f, i)) {
            f->froot[i] = fin_mask(f, &st, 0);
            f->tail[i] = tail_mask(f, f->froot[i]);
        }
        int32_t a = f->acro[i] && !f->free ? child(f, 0, f->acro[i] - 'a') : 0;
        uint32_t fm = is_later(f, i) ? f->w[0].amask : fin_mask(f, &st, 0);
        int ok = a >= 0 && (f->tgt[i] < 0 ? fm != 0 : tail_mask(f, fm) >> f->tgt[i] & 1);
        if (!ok) {
            err_set(err, "form: no words can fill line %d%s", i + 1,
                    a < 0 ? " (no word starts with its letter)" : "");
            goto fail;
        }
    }
    f->nwords64 = (v->n + 63) / 64;
    f->cache = calloc(CACHE_SLOTS, sizeof *f->cache);
    f->scratch[0] = malloc((size_t)f->nwords64 * sizeof *f->scratch[0]);
    f->scratch[1] = malloc((size_t)f->nwords64 * sizeof *f->scratch[1]);
    f->scratch[2] = malloc((size_t)f->nwords64 * sizeof *f->scratch[2]);
    if (!f->cache || !f->scratch[0] || !f->scratch[1] || !f->scratch[2]) goto oom;
    *out = f;
    return 0;
oom:
    err_set(err, "form: out of memory");
fail:
    form_free(f);
    return -1;
}

void form_free(form *f) {
    if (!f) return;
    for (int g = 0; g < f->ngroups; g++)
        free(f->gmask[g]);
    if (f->rsets)
        for (uint32_t r = 0; r < cmu_n_rhymes(f->d); r++)
            if (f->rsets[r]) {
                free(f->rsets[r]->node), free(f->rsets[r]->mask), free(f->rsets[r]->multi);
                free(f->rsets[r]->in);
                free(f->rsets[r]);
            }
    for (int i = 0; f->cache && i < CACHE_SLOTS; i++)
        free(f->cache[i].bits);
    free(f->cache), free(f->scratch[0]), free(f->scratch[1]), free(f->scratch[2]), free(f->rsets),
        free(f->cnt), free(f->r_off), free(f->r_nodes);
    for (int32_t i = 0; f->okr && i < f->nt; i++)
        free(f->okr[i]);
    free(f->okr);
    free(f->w), free(f->hot), free(f->kids), free(f->t), free(f->tok_next), free(f->ord);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

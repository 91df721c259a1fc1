/*
** Encoding and decoding with a loaded tokenizer (see core/tok.h).
**
** Encoding is three loops: split out <|endoftext|>, cut the rest into
** pre-tokens with a hand-written matcher of GPT-2's pattern, and run BPE on
** each pre-token.  BPE looks merges up by (left id, right id) in an integer
** hash table; short pre-tokens use a linear scan over at most 64 symbols on
** the stack, long ones (a 100 000-space run) a heap, as Hugging Face does,
** with the same tie-break (lowest rank, then leftmost), so both give HF's
** ids.  A direct-mapped cache (per call, per thread) remembers recent short
** words.  Large inputs are encoded by all threads in pieces cut where the
** pre-tokenizer cuts anyway (encode_parallel), so the ids equal the serial
** ones.
*/
#include "tok_internal.h"

#include "err.h"

#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SHORT_WORD 64 /* longest pre-token BPE'd by the linear scan */
#define CACHE_KEY 22  /* longest word kept in the cache */
#define CACHE_IDS 10  /* most ids of a cached word */
#define SPECIAL_TEXT "<|endoftext|>"
#define SPECIAL_LEN 13

/* One cached word: 64 bytes, klen 0 when the slot is empty. */
typedef struct cache_ent {
    uint8_t klen, nids;
    unsigned char key[CACHE_KEY];
    int32_t ids[CACHE_IDS];
} cache_ent;

/* The state of one (serial) encoding: its output and scratch space. */
typedef struct enc {
    const tok *t;
    int32_t *ids;
    size_t n, cap;
    cache_ent *cache; /* NULL: no cache (short inputs) */
    uint32_t cache_mask;
    int32_t *scratch; /* long-word BPE: ids, next, prev, heap */
    size_t scratch_cap;
    int oom;
} enc;

/* Make room for `more` ids; sets oom on failure. */
static int enc_reserve(enc *e, size_t more) {
    if (e->n + more <= e->cap) return 0;
    size_t cap = e->cap ? e->cap : 64;
    while (cap < e->n + more)
        cap *= 2;
    int32_t *p = realloc(e->ids, cap * sizeof *p);
    if (!p) {
        e->oom = 1;
        return -1;
    }
    e->ids = p;
    e->cap = cap;
    return 0;
}

/* ---- pre-tokenizer ---- */

/* Length and class of the character at s[i] (i < n).  A byte that does not
** start a valid UTF-8 sequence is a one-byte character of class TC_OTHER. */
static inline size_t char_at(const tok *t, const unsigned char *s, size_t n, size_t i, int *cls) {
    unsigned c = s[i];
    if (c < 0x80) {
        *cls = t->cls16[c];
        return 1;
    }
    size_t left = n - i;
    uint32_t cp;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
        if (c == 0xE0) lo = 0xA0; /* no overlong forms */
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        *cls = TC_OTHER;
        return 1;
    }
    if (left < len || s[i + 1] < lo || s[i + 1] > hi) {
        *cls = TC_OTHER;
        return 1;
    }
    cp = cp << 6 | (s[i + 1] & 0x3F);
    for (size_t k = 2; k < len; k++) {
        if ((s[i + k] & 0xC0) != 0x80) {
            *cls = TC_OTHER;
            return 1;
        }
        cp = cp << 6 | (s[i + k] & 0x3F);
    }
    *cls = tok_class_of(t, cp);
    return len;
}

/* End of the pre-token starting at s[i], following the alternatives of
** 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
** in order (the first that matches wins, each greedy). */
static size_t pre_next(const tok *t, const unsigned char *s, size_t n, size_t i) {
    if (s[i] == '\'' && i + 1 < n) {
        unsigned char a = s[i + 1];
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
        if (i + 2 < n) {
            unsigned char b = s[i + 2];
            if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
                return i + 3;
        }
    }
    int cls;
    size_t j = i, len = char_at(t, s, n, i, &cls);
    if (s[i] == ' ' && i + 1 < n) { /* " ?" before a letter, number or other run */
        int c2;
        size_t l2 = char_at(t, s, n, i + 1, &c2);
        if (c2 != TC_SPACE) {
            cls = c2;
            j = i + 1;
            len = l2;
        }
    }
    if (cls != TC_SPACE) { /* a run of one class */
        j += len;
        while (j < n) {
            int c3;
            size_t l3 = char_at(t, s, n, j, &c3);
            if (c3 != cls) break;
            j += l3;
        }
        return j;
    }
    /* white space: all of it at the end of the text; else all but its last
    ** character (\s+(?!\S)), or that single character (\s+) */
    size_t last = i;
    j = i;
    while (j < n) {
        int c3;
        size_t l3 = char_at(t, s, n, j, &c3);
        if (c3 != TC_SPACE) break;
        last = j;
        j += l3;
    }
    if (j == n) return n;
    return last > i ? last : j;
}

/* ---- BPE ---- */

/* BPE of a word of at most SHORT_WORD bytes: repeatedly merge the adjacent
** pair of lowest rank (leftmost on ties).  Writes the ids to out, returns
** their number. */
static size_t bpe_short(const tok *t, const unsigned char *w, size_t n, int32_t *out) {
    int32_t sym[SHORT_WORD], made[SHORT_WORD];
    uint32_t rank[SHORT_WORD];
    for (size_t i = 0; i < n; i++)
        sym[i] = t->byte_id[w[i]];
    for (size_t i = 0; i + 1 < n; i++) {
        const tok_merge *m = tok_merge_find(t, sym[i], sym[i + 1]);
        rank[i] = m->rank;
        made[i] = m->id;
    }
    size_t m_n = n;
    while (m_n > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < m_n; i++)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == TOK_NO_RANK) break;
        sym[best] = made[best];
        size_t tail = m_n - best - 2; /* symbols after the removed one */
        memmove(sym + best + 1, sym + best + 2, tail * sizeof *sym);
        memmove(rank + best + 1, rank + best + 2, (tail ? tail - 1 : 0) * sizeof *rank);
        memmove(made + best + 1, made + best + 2, (tail ? tail - 1 : 0) * sizeof *made);
        m_n--;
        if (best > 0) {
            const tok_merge *m = tok_merge_find(t, sym[best - 1], sym[best]);
            rank[best - 1] = m->rank;
            made[best - 1] = m->id;
        }
        if (best + 1 < m_n) {
            const tok_merge *m = tok_merge_find(t, sym[best], sym[best + 1]);
            rank[best] = m->rank;
            made[best] = m->id;
        }
    }
    memcpy(out, sym, m_n * sizeof *sym);
    return m_n;
}

/* Binary min-heap of (rank << 32 | position). */
static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
    return top;
}

/* BPE of a long word with a heap of candidate merges, as Hugging Face's
** Word::merge_all: pop the lowest (rank, position), skip it if the pair
** there changed, merge, push the two new neighbouring pairs.  Appends the
** ids to e's output (reserved by the caller). */
static void bpe_long(enc *e, const unsigned char *w, size_t n) {
    const tok *t = e->t;
    size_t need = 9 * n + 1; /* ids, next, prev; a heap of 3n uint64 (aligned) */
    if (need > e->scratch_cap) {
        int32_t *p = realloc(e->scratch, need * sizeof *p);
        if (!p) {
            e->oom = 1;
            return;
        }
        e->scratch = p;
        e->scratch_cap = need;
    }
    int32_t *sym = e->scratch, *next = sym + n, *prev = next + n;
    uint64_t *heap = (uint64_t *)(prev + n + (n & 1)); /* 8-byte aligned */
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        sym[i] = t->byte_id[w[i]];
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        const tok_merge *m = tok_merge_find(t, sym[i], sym[i + 1]);
        if (m->rank != TOK_NO_RANK) heap_push(heap, &hn, (uint64_t)m->rank << 32 | i);
    }
    while (hn) {
        uint64_t top = heap_pop(heap, &hn);
        int32_t pos = (int32_t)(uint32_t)top, right = next[pos];
        if (sym[pos] < 0 || right < 0) continue;
        const tok_merge *m = tok_merge_find(t, sym[pos], sym[right]);
        if (m->rank != (uint32_t)(top >> 32)) continue; /* stale */
        sym[pos] = m->id;
        sym[right] = -1;
        next[pos] = next[right];
        if (next[right] >= 0) prev[next[right]] = pos;
        if (prev[pos] >= 0) {
            const tok_merge *l = tok_merge_find(t, sym[prev[pos]], sym[pos]);
            if (l->rank != TOK_NO_RANK)
                heap_push(heap, &hn, (uint64_t)l->rank << 32 | (uint32_t)prev[pos]);
        }
        if (next[pos] >= 0) {
            const tok_merge *r = tok_merge_find(t, sym[pos], sym[next[pos]]);
            if (r->rank != TOK_NO_RANK)
                heap_push(heap, &hn, (uint64_t)r->rank << 32 | (uint32_t)pos);
        }
    }
    for (int32_t i = 0; i >= 0; i = next[i])
        e->ids[e->n++] = sym[i];
}

/* Append the ids of one pre-token. */
static void encode_word(enc *e, const unsigned char *w, size_t n) {
    if (enc_reserve(e, n)) return;
    if (n == 1) {
        e->ids[e->n++] = e->t->byte_id[w[0]];
        return;
    }
    if (n > SHORT_WORD) {
        bpe_long(e, w, n);
        return;
    }
    cache_ent *c = NULL;
    if (e->cache && n <= CACHE_KEY) {
        c = &e->cache[XXH3_64bits(w, n) & e->cache_mask];
        if (c->klen == n && !memcmp(c->key, w, n)) {
            memcpy(e->ids + e->n, c->ids, c->nids * sizeof *c->ids);
            e->n += c->nids;
            return;
        }
    }
    size_t k = bpe_short(e->t, w, n, e->ids + e->n);
    if (c && k <= CACHE_IDS) {
        c->klen = (uint8_t)n;
        c->nids = (uint8_t)k;
        memcpy(c->key, w, n);
        memcpy(c->ids, e->ids + e->n, k * sizeof *c->ids);
    }
    e->n += k;
}

/* Encode s[0..n) with no special tokens. */
static void encode_plain(enc *e, const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n && !e->oom;) {
        size_t end = pre_next(e->t, s, n, i);
        encode_word(e, s + i, end - i);
        i = end;
    }
}

/* Give e a word cache sized for about n bytes of text (none for short
** texts, where clearing it would cost more than it saves). */
static void enc_cache(enc *e, size_t n) {
    if (n < 4096) return;
    uint32_t slots = 256;
    while (slots < 16384 && slots < n / 16)
        slots *= 2;
    e->cache = calloc(slots, sizeof *e->cache); /* NULL: encode without */
    e->cache_mask = slots - 1;
}

static void enc_release(enc *e) {
    free(e->cache);
    free(e->scratch);
    e->cache = NULL;
    e->scratch = NULL;
}

/* Append the ids of s[0..n) to e, <|endoftext|> included when special. */
static void encode_text(enc *e, const unsigned char *s, size_t n, int special) {
    if (n == 0) return; /* s may be NULL then */
    if (special && e->t->special >= 0) {
        const unsigned char *p = s, *end = s + n, *hit;
        while ((hit = memmem(p, (size_t)(end - p), SPECIAL_TEXT, SPECIAL_LEN)) && !e->oom) {
            encode_plain(e, p, (size_t)(hit - p));
            if (enc_reserve(e, 1)) break;
            e->ids[e->n++] = e->t->special;
            p = hit + SPECIAL_LEN;
        }
        encode_plain(e, p, (size_t)(end - p));
    } else {
        encode_plain(e, s, n);
    }
}

/* The first position q >= p where a pre-token surely starts, and where the
** text before q, pre-tokenized alone, ends as it would in the whole text:
** an ASCII space after a printable ASCII character (letter, number and
** punctuation runs and contractions never take a following space), or a
** printable ASCII character after a newline that is alone between printable
** characters (a longer white-space run at the end of a text would become
** one token, where before a non-space its last character is split off).
** Neither can fall inside <|endoftext|>.  n if none. */
static size_t safe_split(const unsigned char *s, size_t n, size_t p) {
    for (size_t q = p > 2 ? p : 2; q < n; q++) {
        unsigned char z = s[q - 2], a = s[q - 1], b = s[q];
        if (b == ' ' && a > 0x20 && a < 0x7F) return q;
        if (a == '\n' && b > 0x20 && b < 0x7F && z > 0x20 && z < 0x7F) return q;
    }
    return n;
}

#define SLOTS_PER_THREAD 8 /* piece buffers in the ring, per thread */

/* Shared state of one parallel encoding (see encode_parallel). */
typedef struct par {
    size_t n_pieces, *cut;     /* piece k is s[cut[k] .. cut[k+1]) */
    size_t n_slots;            /* piece k is encoded into slot k % n_slots */
    enc *slot;                 /* the slots' buffers */
    _Atomic size_t *slot_for;  /* the piece slot j may take next */
    size_t *n_ids;             /* ids of piece k, once it is ready */
    unsigned char *ready;      /* piece k encoded (under lock) */
    _Atomic size_t next;       /* the next piece to take */
    size_t placed, placed_ids; /* pieces placed in out, and their ids (under lock) */
    omp_lock_t lock;
    int oom; /* under lock */
} par;

/* After piece k is encoded: mark it ready, then place in out every ready
** piece that follows the placed ones, copying each (outside the lock) and
** freeing its slot for the piece n_slots later. */
static void par_place(par *P, enc *out, size_t k, int oom) {
    omp_set_lock(&P->lock);
    P->ready[k] = 1;
    P->oom |= oom;
    for (;;) {
        if (P->placed == P->n_pieces || !P->ready[P->placed]) break;
        size_t j = P->placed++, at = P->placed_ids;
        P->placed_ids += P->n_ids[j];
        omp_unset_lock(&P->lock);
        const enc *e = &P->slot[j % P->n_slots];
        if (P->n_ids[j]) memcpy(out->ids + at, e->ids, P->n_ids[j] * sizeof *e->ids);
        atomic_store(&P->slot_for[j % P->n_slots], j + P->n_slots);
        omp_set_lock(&P->lock);
    }
    omp_unset_lock(&P->lock);
}

/* Encode s[0..n) into out, which has room for n ids, with `threads`
** threads.  The text is cut into pieces of about `piece` bytes where the
** pre-tokenizer cuts anyway.  Each thread takes the next piece, encodes it
** into a slot of a ring of buffers (with its own word cache), and then
** copies to out every piece whose place is known (all before it are
** encoded).  No barrier but the last: a thread that is descheduled delays
** only its own piece.  out is written once, as in the serial case; the
** memory beyond it is the ring. */
static void encode_parallel(enc *out, const unsigned char *s, size_t n, int special, int threads,
                            size_t piece) {
    par P = {.n_slots = (size_t)threads * SLOTS_PER_THREAD};
    size_t max_pieces = n / piece + 2;
    P.cut = malloc((max_pieces + 1) * sizeof *P.cut);
    P.n_ids = malloc(max_pieces * sizeof *P.n_ids);
    P.ready = calloc(max_pieces, 1);
    P.slot = calloc(P.n_slots, sizeof *P.slot);
    P.slot_for = malloc(P.n_slots * sizeof *P.slot_for);
    enc *cache = calloc((size_t)threads, sizeof *cache);
    if (!P.cut || !P.n_ids || !P.ready || !P.slot || !P.slot_for || !cache) {
        out->oom = 1;
        goto done;
    }
    P.cut[0] = 0;
    while (P.cut[P.n_pieces] < n) {
        size_t c = P.cut[P.n_pieces];
        P.cut[++P.n_pieces] = n - c <= piece ? n : safe_split(s, n, c + piece);
    }
    for (size_t j = 0; j < P.n_slots; j++)
        atomic_init(&P.slot_for[j], j);
    atomic_init(&P.next, 0);
    for (int i = 0; i < threads; i++)
        enc_cache(&cache[i], n / (size_t)threads);
    omp_init_lock(&P.lock);
#pragma omp parallel num_threads(threads)
    {
        const enc *c = &cache[omp_get_thread_num()];
        for (size_t k; (k = atomic_fetch_add(&P.next, 1)) < P.n_pieces;) {
            enc *e = &P.slot[k % P.n_slots];
            while (atomic_load(&P.slot_for[k % P.n_slots]) != k)
                sched_yield(); /* the piece n_slots before is still being copied */
            e->t = out->t;
            e->n = 0;
            e->cache = c->cache;
            e->cache_mask = c->cache_mask;
            encode_text(e, s + P.cut[k], P.cut[k + 1] - P.cut[k], special);
            P.n_ids[k] = e->n;
            par_place(&P, out, k, e->oom);
        }
    }
    omp_destroy_lock(&P.lock);
    out->n = P.placed_ids;
    out->oom |= P.oom;
done:
    for (size_t j = 0; P.slot && j < P.n_slots; j++) {
        free(P.slot[j].ids);
        free(P.slot[j].scratch);
    }
    for (int i = 0; cache && i < threads; i++)
        enc_release(&cache[i]);
    free(cache);
    free(P.cut);
    free(P.n_ids);
    free(P.ready);
    free(P.slot);
    free(P.slot_for);
}

int tok_encode_ex(const tok *t, const char *text, size_t n, int special, int threads,
                  size_t min_split, int32_t **ids, size_t *n_ids, char *err) {
    const unsigned char *s = (const unsigned char *)text;
    *ids = NULL;
    *n_ids = 0;
    if (threads <= 0) threads = omp_get_max_threads();
    if (!min_split) min_split = 256 << 10;
    enc e = {.t = t};
    if (threads > 1 && n >= min_split && enc_reserve(&e, n + 1) == 0) {
        /* room for the most ids n bytes can make (one a byte): the threads
        ** copy into it without reallocating; pages never written cost nothing */
        encode_parallel(&e, s, n, special, threads, min_split / 4 ? min_split / 4 : 1);
        int32_t *fit = e.oom ? NULL : realloc(e.ids, (e.n ? e.n : 1) * sizeof *e.ids);
        if (fit) e.ids = fit;
    } else if (enc_reserve(&e, n / 3 + 16) == 0) {
        e.oom = 0; /* a failed reservation for the parallel case above */
        enc_cache(&e, n);
        encode_text(&e, s, n, special);
        enc_release(&e);
    }
    if (e.oom) {
        free(e.ids);
        return err_set(err, "tokenizer: out of memory encoding %zu bytes", n);
    }
    *ids = e.ids;
    *n_ids = e.n;
    return 0;
}

int tok_encode(const tok *t, const char *text, size_t n, int special, int32_t **ids, size_t *n_ids,
               char *err) {
    return tok_encode_ex(t, text, n, special, 0, 0, ids, n_ids, err);
}

int tok_decode(const tok *t, const int32_t *ids, size_t n, char **text, size_t *len, char *err) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_vocab || !t->known[id])
            return err_set(err, "token id %d (at position %zu) is not in the vocabulary (0..%d)",
                           id, i, t->n_vocab - 1);
        total += t->off[id + 1] - t->off[id];
    }
    char *out = malloc(total + 1);
    if (!out) return err_set(err, "tokenizer: out of memory decoding %zu ids", n);
    char *p = out;
    for (size_t i = 0; i < n; i++) {
        uint32_t a = t->off[ids[i]], b = t->off[ids[i] + 1];
        memcpy(p, t->pool + a, b - a);
        p += b - a;
    }
    *p = 0;
    *text = out;
    *len = total;
    return 0;
}

/*
** The tokenizer's tables, shared by core/tok.c (loading) and
** core/tok_encode.c (encoding and decoding).  Not a public interface.
*/
#ifndef QUILL_TOK_INTERNAL_H
#define QUILL_TOK_INTERNAL_H

#include "hash.h"
#include "tok.h"

#include <stdint.h>

/* Character classes of the pre-tokenizer. */
enum { TC_OTHER = 0, TC_LETTER = 1, TC_NUMBER = 2, TC_SPACE = 3 };

/* One merge: the pair (left id, right id) packed as left << 32 | right,
** its rank (line in merges.txt) and the id it makes. */
typedef struct tok_merge {
    uint64_t key; /* TOK_NO_KEY when the slot is empty */
    uint32_t rank;
    int32_t id;
} tok_merge;

#define TOK_NO_KEY UINT64_MAX
#define TOK_NO_RANK UINT32_MAX

struct tok {
    int n_vocab;          /* largest id + 1 */
    uint32_t *off;        /* token i's bytes are pool[off[i] .. off[i+1]) */
    unsigned char *pool;  /* every token's raw bytes */
    unsigned char *known; /* known[i]: id i is in the vocabulary */
    int32_t byte_id[256]; /* the token of each single byte */
    int32_t special;      /* <|endoftext|>, or -1 */

    int32_t *piece_slot; /* open-addressing table of ids by their bytes */
    uint32_t piece_mask;

    tok_merge *merges; /* open-addressing table keyed by id pair */
    uint32_t merge_mask;

    unsigned char cls16[65536]; /* class of every code point below 0x10000 */

    char identity[HASH_HEX_LEN];
    char *source;
};

/* Class of code point cp (TC_*). */
int tok_class_of(const tok *t, uint32_t cp);

/* Rank and product of merging ids a and b; TOK_NO_RANK when they don't merge. */
static inline const tok_merge *tok_merge_find(const tok *t, int32_t a, int32_t b) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & t->merge_mask;
    for (;;) {
        const tok_merge *m = &t->merges[h];
        if (m->key == key || m->key == TOK_NO_KEY) return m;
        h = (h + 1) & t->merge_mask;
    }
}

#endif

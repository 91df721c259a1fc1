/*
** The binary layout of the embedded dictionary, shared by its writer
** (scripts/gen_cmudict.c, at build time) and its reader (cmudict.c).
** Host byte order: both run on the machine that builds quill.
**
**   cmu_header
**   cmu_node_rec  nodes[n_nodes]   breadth-first; node 0 the root; a
**                                  node's children contiguous, by symbol
**   cmu_word_rec  words[n_words]
**   uint32_t      rhyme_off[n_rhymes + 1]   into the pool
**   char          pool[pool_bytes]          NUL-terminated rhyming parts
*/
#ifndef QUILL_CMUDICT_FORMAT_H
#define QUILL_CMUDICT_FORMAT_H

#include <stdint.h>

#define CMU_FMT_MAGIC                                                                              \
    { 'Q', 'C', 'M', 'U', 'D', 'I', 'C', '1' }
#define CMU_FMT_MAX_SYLL 31

typedef struct cmu_header {
    char magic[8];
    uint32_t n_nodes, n_words, n_rhymes, pool_bytes;
} cmu_header;

typedef struct cmu_node_rec {
    uint32_t first_child; /* index of the first child */
    uint32_t word;        /* the word ending here, or UINT32_MAX */
    uint32_t syll_mask;   /* syllable counts of the words at or below */
    uint8_t sym;          /* the letter that leads here ('\'' or a-z) */
    uint8_t n_child;
    uint16_t pad;
} cmu_node_rec;

typedef struct cmu_word_rec {
    uint32_t rhyme; /* index of its rhyming part */
    uint8_t syll;
    uint8_t pad[3];
} cmu_word_rec;

#endif

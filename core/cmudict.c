/*
** The embedded CMU Pronouncing Dictionary; see cmudict.h and, for the
** layout, cmudict_format.h.
*/
#include "cmudict.h"

#include "cmudict_format.h"
#include "err.h"

#include <assert.h>
#include <pthread.h>
#include <string.h>

/* The bytes scripts/gen_cmudict.c wrote, linked in by the Makefile. */
extern const unsigned char cmu_blob[], cmu_blob_end[];

struct cmu_dict {
    const cmu_header *h;
    const cmu_node_rec *nodes;
    const cmu_word_rec *words;
    const uint32_t *rhyme_off;
    const char *pool;
};

static cmu_dict the_dict;
static const char *open_error; /* why the blob was refused, or NULL */
static pthread_once_t open_once = PTHREAD_ONCE_INIT;

/* Check the blob's header and sizes once, and point the_dict into it. */
static void open_blob(void) {
    static const char magic[8] = CMU_FMT_MAGIC;
    size_t n = (size_t)(cmu_blob_end - cmu_blob);
    const cmu_header *h = (const cmu_header *)cmu_blob;
    if (n < sizeof *h || memcmp(h->magic, magic, sizeof magic)) {
        open_error = "no dictionary header";
        return;
    }
    size_t need = sizeof *h + h->n_nodes * sizeof(cmu_node_rec) +
                  h->n_words * sizeof(cmu_word_rec) + (h->n_rhymes + 1) * sizeof(uint32_t) +
                  h->pool_bytes;
    if (need != n || h->n_nodes == 0) {
        open_error = "dictionary size does not match its header";
        return;
    }
    the_dict.h = h;
    the_dict.nodes = (const cmu_node_rec *)(h + 1);
    the_dict.words = (const cmu_word_rec *)(the_dict.nodes + h->n_nodes);
    the_dict.rhyme_off = (const uint32_t *)(the_dict.words + h->n_words);
    the_dict.pool = (const char *)(the_dict.rhyme_off + h->n_rhymes + 1);
}

const cmu_dict *cmu_open(char *err) {
    pthread_once(&open_once, open_blob);
    if (open_error) {
        err_set(err, "cmudict: %s (rebuild quill)", open_error);
        return NULL;
    }
    return &the_dict;
}

uint32_t cmu_n_nodes(const cmu_dict *d) {
    return d->h->n_nodes;
}

uint32_t cmu_n_words(const cmu_dict *d) {
    return d->h->n_words;
}

uint32_t cmu_n_rhymes(const cmu_dict *d) {
    return d->h->n_rhymes;
}

uint32_t cmu_root(const cmu_dict *d) {
    (void)d;
    return 0;
}

uint32_t cmu_step(const cmu_dict *d, uint32_t node, int c) {
    assert(node < d->h->n_nodes);
    if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
    const cmu_node_rec *n = &d->nodes[node];
    for (uint32_t i = 0; i < n->n_child; i++) { /* at most 27, sorted */
        const cmu_node_rec *k = &d->nodes[n->first_child + i];
        if (k->sym == c) return n->first_child + i;
        if (k->sym > c) break;
    }
    return CMU_NONE;
}

uint32_t cmu_children(const cmu_dict *d, uint32_t node, uint32_t *n) {
    assert(node < d->h->n_nodes);
    *n = d->nodes[node].n_child;
    return d->nodes[node].first_child;
}

int cmu_symbol(const cmu_dict *d, uint32_t node) {
    assert(node < d->h->n_nodes);
    return node == 0 ? 0 : d->nodes[node].sym;
}

uint32_t cmu_syll_mask(const cmu_dict *d, uint32_t node) {
    assert(node < d->h->n_nodes);
    return d->nodes[node].syll_mask;
}

uint32_t cmu_word_at(const cmu_dict *d, uint32_t node) {
    assert(node < d->h->n_nodes);
    return d->nodes[node].word;
}

uint32_t cmu_lookup(const cmu_dict *d, const char *w, size_t n) {
    uint32_t node = cmu_root(d);
    for (size_t i = 0; i < n && node != CMU_NONE; i++)
        node = cmu_step(d, node, (unsigned char)w[i]);
    return node == CMU_NONE ? CMU_NONE : cmu_word_at(d, node);
}

int cmu_syllables(const cmu_dict *d, uint32_t word) {
    assert(word < d->h->n_words);
    return d->words[word].syll;
}

uint32_t cmu_rhyme(const cmu_dict *d, uint32_t word) {
    assert(word < d->h->n_words);
    return d->words[word].rhyme;
}

const char *cmu_rhyme_text(const cmu_dict *d, uint32_t rhyme) {
    assert(rhyme < d->h->n_rhymes);
    return d->pool + d->rhyme_off[rhyme];
}

void cmu_rhyme_masks(const cmu_dict *d, uint32_t rhyme, uint32_t *mask) {
    /* children follow their parent: summing in reverse sees them first */
    for (uint32_t i = d->h->n_nodes; i-- > 0;) {
        const cmu_node_rec *n = &d->nodes[i];
        uint32_t m = 0;
        if (n->word != UINT32_MAX && d->words[n->word].rhyme == rhyme) {
            int s = d->words[n->word].syll;
            m = 1u << (s > CMU_MAX_SYLL ? CMU_MAX_SYLL : s);
        }
        for (uint32_t c = 0; c < n->n_child; c++)
            m |= mask[n->first_child + c];
        mask[i] = m;
    }
}

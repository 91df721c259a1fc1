/*
** Build-time tool: the CMU Pronouncing Dictionary (cmudict.dict) as the
** binary trie core/cmudict.c reads (layout in core/cmudict_format.h).
**
**   gen_cmudict data/cmudict/cmudict.dict OUT.bin
**
** Only first pronunciations of words of the shape [a-z]+('[a-z]+)* are
** kept (see core/cmudict.h for the definitions).  Exits 1 with a message
** naming the line on a malformed entry.
*/
#include "cmudict_format.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char *word;
    char *rhyme;
    int syll;
} entry;

/* A node of the trie while it is built: children as a sibling list. */
typedef struct tnode {
    int first, next; /* first child, next sibling; -1 none */
    int sym;
    int word; /* entry index, or -1 */
} tnode;

static tnode *nodes;
static int n_nodes, cap_nodes;

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "gen_cmudict: out of memory\n");
        exit(1);
    }
    return p;
}

static int new_node(int sym) {
    if (n_nodes == cap_nodes) {
        cap_nodes = cap_nodes ? 2 * cap_nodes : 1024;
        nodes = xrealloc(nodes, sizeof *nodes * (size_t)cap_nodes);
    }
    nodes[n_nodes] = (tnode){-1, -1, sym, -1};
    return n_nodes++;
}

/* The child of n for sym, made if missing (siblings kept sorted by sym). */
static int child(int n, int sym) {
    int prev = -1, at = nodes[n].first;
    while (at >= 0 && nodes[at].sym < sym) {
        prev = at;
        at = nodes[at].next;
    }
    if (at >= 0 && nodes[at].sym == sym) return at;
    int c = new_node(sym); /* may move nodes: link it by index */
    nodes[c].next = at;
    if (prev < 0)
        nodes[n].first = c;
    else
        nodes[prev].next = c;
    return c;
}

/* 1 when w is [a-z]+('[a-z]+)*. */
static int is_word(const char *w) {
    int letters = 0;
    for (; *w; w++) {
        if (*w >= 'a' && *w <= 'z')
            letters++;
        else if (*w == '\'' && letters && w[1] >= 'a' && w[1] <= 'z')
            letters = 0;
        else
            return 0;
    }
    return letters > 0;
}

/* Parse "word PH1 PH2 ..." into e; 0 to skip the line, 1 kept, -1 bad. */
static int parse(char *line, entry *e) {
    char *sp = strchr(line, ' ');
    if (!sp) return -1;
    *sp = 0;
    if (strchr(line, '(') || !is_word(line)) return 0;
    char *ph[64];
    int n = 0;
    for (char *t = strtok(sp + 1, " \n\r"); t; t = strtok(NULL, " \n\r")) {
        if (n == 64) return -1;
        ph[n++] = t;
    }
    if (!n) return -1;
    int last = -1, last_stressed = -1;
    e->syll = 0;
    for (int i = 0; i < n; i++) {
        char c = ph[i][strlen(ph[i]) - 1];
        if (!isdigit((unsigned char)c)) continue;
        e->syll++;
        last = i;
        if (c == '1' || c == '2') last_stressed = i;
    }
    /* no vowel ("hmm", "shh"): no syllable; it rhymes on all its phones */
    int from = last_stressed >= 0 ? last_stressed : last >= 0 ? last : 0;
    size_t len = 1;
    for (int i = from; i < n; i++)
        len += strlen(ph[i]) + 1;
    e->rhyme = xrealloc(NULL, len);
    e->rhyme[0] = 0;
    for (int i = from; i < n; i++) {
        if (i > from) strcat(e->rhyme, " ");
        strcat(e->rhyme, ph[i]);
    }
    e->word = strdup(line);
    return 1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: gen_cmudict cmudict.dict OUT.bin\n");
        return 1;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    entry *es = NULL;
    int n_es = 0, cap = 0, lineno = 0;
    char line[1024];
    new_node(0);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        entry e;
        int r = parse(line, &e);
        if (r < 0) {
            fprintf(stderr, "%s:%d: not 'word PHONES'\n", argv[1], lineno);
            return 1;
        }
        if (!r) continue;
        int n = 0;
        for (const char *p = e.word; *p; p++)
            n = child(n, (unsigned char)*p);
        if (nodes[n].word >= 0) continue; /* a second first entry: keep the first */
        if (n_es == cap) es = xrealloc(es, sizeof *es * (size_t)(cap = cap ? 2 * cap : 4096));
        nodes[n].word = n_es;
        es[n_es++] = e;
    }
    fclose(f);

    /* Rhyming parts: sorted, unique; a word's rhyme id is its index. */
    char **rh = xrealloc(NULL, sizeof *rh * (size_t)n_es);
    for (int i = 0; i < n_es; i++)
        rh[i] = es[i].rhyme;
    qsort(rh, (size_t)n_es, sizeof *rh, cmp_str);
    int n_rh = 0;
    for (int i = 0; i < n_es; i++)
        if (!n_rh || strcmp(rh[n_rh - 1], rh[i])) rh[n_rh++] = rh[i];

    /* Breadth-first order: root 0, each node's children contiguous and
    ** after it, so masks can be summed over the nodes in reverse. */
    int *order = xrealloc(NULL, sizeof *order * (size_t)n_nodes);
    cmu_node_rec *out = calloc((size_t)n_nodes, sizeof *out);
    int head = 0, tail = 0;
    order[tail++] = 0;
    while (head < tail) {
        int n = order[head];
        cmu_node_rec *o = &out[head++];
        o->sym = (uint8_t)nodes[n].sym;
        o->word = nodes[n].word >= 0 ? (uint32_t)nodes[n].word : UINT32_MAX;
        o->first_child = (uint32_t)tail;
        for (int c = nodes[n].first; c >= 0; c = nodes[c].next) {
            order[tail++] = c;
            o->n_child++;
        }
    }
    cmu_word_rec *words = calloc((size_t)n_es, sizeof *words);
    for (int i = n_nodes - 1; i >= 0; i--) {
        cmu_node_rec *o = &out[i];
        if (o->word != UINT32_MAX) {
            entry *e = &es[o->word];
            char **hit = bsearch(&e->rhyme, rh, (size_t)n_rh, sizeof *rh, cmp_str);
            words[o->word].rhyme = (uint32_t)(hit - rh);
            words[o->word].syll = (uint8_t)e->syll;
            o->syll_mask |= 1u << (e->syll > CMU_FMT_MAX_SYLL ? CMU_FMT_MAX_SYLL : e->syll);
        }
        for (uint32_t c = 0; c < o->n_child; c++)
            o->syll_mask |= out[o->first_child + c].syll_mask;
    }
    uint32_t *off = xrealloc(NULL, sizeof *off * (size_t)(n_rh + 1));
    uint32_t pool = 0;
    for (int i = 0; i < n_rh; i++) {
        off[i] = pool;
        pool += (uint32_t)strlen(rh[i]) + 1;
    }
    off[n_rh] = pool;

    cmu_header h = {CMU_FMT_MAGIC, (uint32_t)n_nodes, (uint32_t)n_es, (uint32_t)n_rh, pool};
    FILE *o = fopen(argv[2], "wb");
    if (!o) {
        perror(argv[2]);
        return 1;
    }
    fwrite(&h, sizeof h, 1, o);
    fwrite(out, sizeof *out, (size_t)n_nodes, o);
    fwrite(words, sizeof *words, (size_t)n_es, o);
    fwrite(off, sizeof *off, (size_t)n_rh + 1, o);
    for (int i = 0; i < n_rh; i++)
        fwrite(rh[i], 1, strlen(rh[i]) + 1, o);
    if (fclose(o)) {
        perror(argv[2]);
        return 1;
    }
    fprintf(stderr, "gen_cmudict: %d words, %d trie nodes, %d rhyming parts\n", n_es, n_nodes,
            n_rh);
    return 0;
}

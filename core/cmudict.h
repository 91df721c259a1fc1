/*
** The CMU Pronouncing Dictionary as a trie, for poetic forms.
**
** data/cmudict/cmudict.dict is turned into a compact binary at build time
** (scripts/gen_cmudict.c) and linked into the binary, so opening it costs
** nothing: the structures below point into read-only data.
**
** Definitions (the ones the forms and their tests use):
**   - a word is [a-z]+('[a-z]+)*, looked up in lower case; entries of any
**     other shape ("'bout", "a.") are not words and are left out;
**   - a word's pronunciation is its first entry (not "word(1)"...);
**   - its syllables are its vowel phones (those with a stress digit);
**   - its rhyming part is its phones from the last vowel with stress 1 or
**     2 (the last vowel if there is none) to the end; two words rhyme when
**     their rhyming parts are equal and the words differ.  The few words
**     with no vowel ("hmm", "shh") have no syllable and rhyme on all their
**     phones.
**
** The trie walks a word letter by letter from cmu_root(); every node knows
** which syllable counts the words below it have (a bit mask), so a form can
** tell whether a prefix can still become a word of the syllables it needs.
*/
#ifndef QUILL_CMUDICT_H
#define QUILL_CMUDICT_H

#include <stddef.h>
#include <stdint.h>

#define CMU_NONE UINT32_MAX /* no such node or word */
#define CMU_MAX_SYLL 31     /* syllable masks hold counts 0..31 */

typedef struct cmu_dict cmu_dict;

/* The dictionary linked into this binary, checked once; NULL with err set if
** the embedded data is damaged (a build problem). */
const cmu_dict *cmu_open(char *err);

/* Numbers of trie nodes, words and distinct rhyming parts. */
uint32_t cmu_n_nodes(const cmu_dict *d);
uint32_t cmu_n_words(const cmu_dict *d);
uint32_t cmu_n_rhymes(const cmu_dict *d);

/* The root node (the empty prefix). */
uint32_t cmu_root(const cmu_dict *d);

/* The node after letter c (a-z, A-Z or '\'') from node, or CMU_NONE when no
** word continues that way. */
uint32_t cmu_step(const cmu_dict *d, uint32_t node, int c);

/* The children of node: *n of them, ids first .. first + *n - 1, sorted by
** their letter; returns first. */
uint32_t cmu_children(const cmu_dict *d, uint32_t node, uint32_t *n);

/* The letter that leads to node ('\'' or a-z; 0 for the root). */
int cmu_symbol(const cmu_dict *d, uint32_t node);

/* Bit s is set when some word at or below node has s syllables. */
uint32_t cmu_syll_mask(const cmu_dict *d, uint32_t node);

/* The word that ends at node, or CMU_NONE when the prefix is not a word. */
uint32_t cmu_word_at(const cmu_dict *d, uint32_t node);

/* Walk the n bytes of w (any case) from the root: the word's id, or CMU_NONE
** when w is not in the dictionary. */
uint32_t cmu_lookup(const cmu_dict *d, const char *w, size_t n);

/* A word's syllable count and rhyming part id (0 .. cmu_n_rhymes - 1). */
int cmu_syllables(const cmu_dict *d, uint32_t word);
uint32_t cmu_rhyme(const cmu_dict *d, uint32_t word);

/* A rhyming part as text, e.g. "EY1 T". */
const char *cmu_rhyme_text(const cmu_dict *d, uint32_t rhyme);

/* Fill mask[node] (cmu_n_nodes entries) with the syllable counts of the
** words at or below each node whose rhyming part is rhyme (0: none). */
void cmu_rhyme_masks(const cmu_dict *d, uint32_t rhyme, uint32_t *mask);

#endif

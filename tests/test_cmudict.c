/*
** The embedded CMU dictionary against the text file it was built from,
** read again here with the definitions of core/cmudict.h: every word's
** syllables and rhyming part, the trie's masks, and the time to open it.
*/
#include "cmudict.h"
#include "err.h"
#include "test.h"

#include <ctype.h>
#include <stdlib.h>
#include <time.h>

static const cmu_dict *dict(void) {
    char err[ERR_LEN];
    const cmu_dict *d = cmu_open(err);
    CHECKF(d != NULL, "%s", err);
    return d;
}

/* 1 when w is [a-z]+('[a-z]+)*. */
static int word_shape(const char *w) {
    if (!islower((unsigned char)w[0])) return 0;
    for (const char *p = w; *p; p++)
        if (!islower((unsigned char)*p) &&
            !(*p == '\'' && islower((unsigned char)p[-1]) && islower((unsigned char)p[1])))
            return 0;
    return 1;
}

/* Every first pronunciation in the file: the same syllables and rhyming
** part through the trie; every other shape or variant absent. */
static void test_every_word(void) {
    const cmu_dict *d = dict();
    if (!d) return;
    FILE *f = fopen("data/cmudict/cmudict.dict", "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[1024];
    long words = 0, bad_syll = 0, bad_rhyme = 0, missing = 0, extra = 0;
    while (fgets(line, sizeof line, f)) {
        char *w = strtok(line, " \n"), *ph[64];
        int n = 0, syll = 0, from = 0, last = -1, stressed = -1;
        while (n < 64 && (ph[n] = strtok(NULL, " \n")))
            n++;
        uint32_t id = cmu_lookup(d, w, strlen(w));
        if (strchr(w, '(') || !word_shape(w)) {
            /* a variant's base word is in; other shapes never are */
            if (!strchr(w, '(') && id != CMU_NONE) extra++;
            continue;
        }
        words++;
        if (id == CMU_NONE) {
            missing++;
            continue;
        }
        for (int i = 0; i < n; i++) {
            char c = ph[i][strlen(ph[i]) - 1];
            if (!isdigit((unsigned char)c)) continue;
            syll++;
            last = i;
            if (c == '1' || c == '2') stressed = i;
        }
        from = stressed >= 0 ? stressed : last >= 0 ? last : 0;
        char rhyme[512] = "";
        for (int i = from; i < n; i++) {
            if (i > from) strcat(rhyme, " ");
            strcat(rhyme, ph[i]);
        }
        bad_syll += cmu_syllables(d, id) != syll;
        bad_rhyme += strcmp(cmu_rhyme_text(d, cmu_rhyme(d, id)), rhyme) != 0;
    }
    fclose(f);
    CHECK_EQ_INT(words, cmu_n_words(d));
    CHECK_EQ_INT(missing, 0);
    CHECK_EQ_INT(extra, 0);
    CHECK_EQ_INT(bad_syll, 0);
    CHECK_EQ_INT(bad_rhyme, 0);
}

static void test_known_words(void) {
    const cmu_dict *d = dict();
    if (!d) return;
    uint32_t cat = cmu_lookup(d, "Cat", 3), hat = cmu_lookup(d, "hat", 3),
             beautiful = cmu_lookup(d, "beautiful", 9), dont = cmu_lookup(d, "don't", 5);
    CHECK(cat != CMU_NONE && hat != CMU_NONE && beautiful != CMU_NONE && dont != CMU_NONE);
    if (cat == CMU_NONE || hat == CMU_NONE || beautiful == CMU_NONE || dont == CMU_NONE) return;
    CHECK_EQ_INT(cmu_syllables(d, beautiful), 3);
    CHECK_EQ_INT(cmu_syllables(d, dont), 1);
    CHECK(cmu_rhyme(d, cat) == cmu_rhyme(d, hat));
    CHECK_STR(cmu_rhyme_text(d, cmu_rhyme(d, cat)), "AE1 T");
    /* the first entry counts: "the" is DH AH0, not its variant DH AH1 */
    CHECK_STR(cmu_rhyme_text(d, cmu_rhyme(d, cmu_lookup(d, "the", 3))), "AH0");
    CHECK(cmu_lookup(d, "qzxv", 4) == CMU_NONE);
    CHECK(cmu_lookup(d, "'bout", 5) == CMU_NONE);
    CHECK(cmu_lookup(d, "", 0) == CMU_NONE);
}

/* A prefix's mask holds exactly the syllable counts of the words below it. */
static void test_prefix_masks(void) {
    const cmu_dict *d = dict();
    if (!d) return;
    uint32_t n = cmu_root(d);
    for (const char *p = "beaut"; *p; p++)
        n = cmu_step(d, n, *p);
    CHECK(n != CMU_NONE);
    if (n == CMU_NONE) return;
    uint32_t m = cmu_syll_mask(d, n);
    CHECK(m & (1u << 2)); /* beauty */
    CHECK(m & (1u << 3)); /* beautiful */
    CHECK(!(m & 1u));     /* no 0-syllable word starts "beaut" */
    CHECK(cmu_step(d, n, 'Q') == CMU_NONE);
    /* rhyme masks: "ca" leads to cat (one syllable, AE1 T) */
    uint32_t *rm = calloc(cmu_n_nodes(d), sizeof *rm);
    uint32_t at = cmu_rhyme(d, cmu_lookup(d, "cat", 3));
    cmu_rhyme_masks(d, at, rm);
    uint32_t c = cmu_step(d, cmu_root(d), 'c'), ca = cmu_step(d, c, 'a');
    CHECK(rm[ca] & (1u << 1));
    CHECK(rm[cmu_root(d)] && !(rm[cmu_root(d)] & ~cmu_syll_mask(d, cmu_root(d))));
    uint32_t h = cmu_step(d, cmu_root(d), 'h'), ho = cmu_step(d, h, 'o'),
             hor = cmu_step(d, ho, 'r');
    CHECK(!(rm[hor] & (1u << 1))); /* no one-syllable "hor..." rhymes with cat */
    free(rm);
}

static void test_open_is_fast(void) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    const cmu_dict *d = dict();
    int s = d ? cmu_syllables(d, cmu_lookup(d, "haiku", 5)) : -1;
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    CHECK_EQ_INT(s, 2);
    CHECKF(ms < 50, "open and first lookup took %.2f ms", ms);
}

int main(void) {
    RUN(test_open_is_fast);
    RUN(test_every_word);
    RUN(test_known_words);
    RUN(test_prefix_masks);
    return TEST_SUMMARY();
}

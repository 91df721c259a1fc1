/* Poetic forms over the real GPT-2 vocabulary: form_mask (cached masks,
** the in-word shortcut, masks fixed for another rhyme) sets exactly the
** tokens form_mask_plain sets (every token walked byte by byte), state
** after state, on random walks through many forms sharing their caches. */
#include "err.h"
#include "form.h"
#include "gpt2_vocab.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static test_vocab TV;

/* Walk n outputs of up to steps tokens each through form f (as a batch
** would: each output's own state, one cache), the first tokens pre's (NULL
** ended) when given, then allowed tokens picked with a fixed generator; at
** every state the two masks must agree. */
static void walk_form(form *f, int n, int steps, const char *const *pre, uint64_t seed) {
    uint64_t seed0 = seed;
    float *a = malloc((size_t)TV.v.n * sizeof *a), *b = malloc((size_t)TV.v.n * sizeof *b);
    int32_t *ok = malloc((size_t)TV.v.n * sizeof *ok);
    CHECK(a && b && ok);
    long states = 0;
    int npre = 0;
    while (pre && pre[npre])
        npre++;
    for (int k = 0; k < n; k++) {
        form_state st;
        form_start(f, &st);
        for (int i = 0; i < steps && !form_done(f, &st); i++) {
            memset(a, 0, (size_t)TV.v.n * sizeof *a);
            memset(b, 0, (size_t)TV.v.n * sizeof *b);
            form_mask(f, &st, a);
            form_mask_plain(f, &st, b);
            int n_ok = 0, d = 0;
            for (int t = 0; t < TV.v.n; t++) {
                d += (a[t] == -INFINITY) != (b[t] == -INFINITY);
                if (a[t] != -INFINITY && t != TV.v.eos) ok[n_ok++] = t;
            }
            CHECKF(d == 0, "walk %d output %d step %d: %d tokens differ", (int)seed0, k, i, d);
            states++;
            if (!n_ok) break;
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            int32_t t = i < npre ? vocab_id(&TV, pre[i]) : ok[(seed >> 33) % (uint64_t)n_ok];
            CHECKF(t >= 0 && a[t] != -INFINITY, "output %d step %d: token %d masked", k, i, t);
            int broke = form_advance(f, &st, t);
            CHECKF(!broke, "output %d step %d: allowed token %d breaks", k, i, t);
            if (broke) break;
        }
    }
    CHECKF(states >= n * 4, "only %ld states", states);
    free(a), free(b), free(ok);
}

static form *make(const form_opts *o, const cons_opts *co) {
    char err[ERR_LEN];
    form *f = NULL;
    CHECKF(form_new(&TV.v, o, co, &f, err) == 0, "%s", err);
    return f;
}

static void test_haiku(void) {
    form_opts o = {.syllables = {5, 7, 5}, .n_syllables = 3};
    cons_opts co = {0};
    form *f = make(&o, &co);
    walk_form(f, 4, 20, NULL, 1);
    form_free(f);
}

/* Later lines of a rhyme group: masks shared by remainders, fixed per rhyme. */
static void test_rhyme_quatrains(void) {
    form_opts o = {.syllables = {8, 8, 8, 8}, .n_syllables = 4, .rhyme = "ABAB"};
    cons_opts co = {0};
    form *f = make(&o, &co);
    const char *const line[] = {" the", " sea",  " is", " blue", " and",
                                " I",   " will", " be", "\n",    NULL};
    walk_form(f, 4, 36, line, 2);
    form_free(f);
    form_opts o2 = {.syllables = {3, 3, 3}, .n_syllables = 3, .rhyme = "AAA"};
    const char *const banned[] = {"the", "and"};
    cons_opts co2 = {.words = banned, .n_words = 2, .forbid_chars = "e"};
    f = make(&o2, &co2);
    walk_form(f, 4, 20, NULL, 3);
    form_free(f);
}

/* Rhyme without counts, an acrostic, a word list, lines alone. */
static void test_other_forms(void) {
    cons_opts co = {0};
    form_opts o = {.rhyme = "AA"};
    form *f = make(&o, &co);
    walk_form(f, 2, 12, NULL, 4);
    form_free(f);
    form_opts o2 = {.syllables = {4, 4, 4}, .n_syllables = 3, .acrostic = "owl"};
    f = make(&o2, &co);
    walk_form(f, 2, 16, NULL, 5);
    form_free(f);
    const char *const words[] = {"the", "sea", "and", "sky", "blue", "see", "me", "don't"};
    form_opts o3 = {.vocabulary = words,
                    .n_vocabulary = 8,
                    .syllables = {3, 2},
                    .n_syllables = 2,
                    .rhyme = "AA"};
    f = make(&o3, &co);
    walk_form(f, 2, 12, NULL, 6);
    form_free(f);
    form_opts o4 = {.vocabulary = words, .n_vocabulary = 8};
    f = make(&o4, &co);
    walk_form(f, 1, 8, NULL, 7);
    form_free(f);
    form_opts o5 = {.acrostic = "sea"};
    f = make(&o5, &co);
    walk_form(f, 1, 8, NULL, 8);
    form_free(f);
}

int main(void) {
    if (vocab_load(&TV)) {
        fprintf(stderr, "models/gpt2/vocab.json: cannot load\n");
        return 1;
    }
    RUN(test_haiku);
    RUN(test_rhyme_quatrains);
    RUN(test_other_forms);
    vocab_free(&TV);
    return TEST_SUMMARY();
}

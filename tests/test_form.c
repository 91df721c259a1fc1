/* Poetic forms (core/form.h): the masks per step, line ends, rhyme,
** acrostics, word lists, and sample.c's back-out of a form's dead end. */
#include "err.h"
#include "form.h"
#include "form_facts.h"
#include "sample.h"
#include "test.h"

#include <math.h>
#include <string.h>

/* A small vocabulary: words of known syllables, pieces, punctuation. */
enum {
    T_THE,
    T_CAT,
    T_SAT,
    T_ELEPHANT,
    T_NL,
    T_HAT,
    T_DIGIT,
    T_ELEPH,
    T_ANT,
    T_DOT,
    T_SEA,
    T_HM,
    T_COMMA,
    T_EOS,
    NV
};
static const char *const WORDS[NV] = {" the",   " cat", " sat", " elephant", "\n",  " hat", " 42",
                                      " eleph", "ant",  ".",    " sea",      " hm", ",",    ""};
static const unsigned char *TB[NV];
static size_t TL[NV];
static cons_vocab TV = {NV, TB, TL, T_EOS};

static form *make(form_opts *o, const cons_opts *co) {
    static const cons_opts none = {0};
    char err[ERR_LEN];
    form *f = NULL;
    for (int i = 0; i < NV; i++) {
        TB[i] = (const unsigned char *)WORDS[i];
        TL[i] = strlen(WORDS[i]);
    }
    CHECKF(form_new(&TV, o, co ? co : &none, &f, err) == 0, "%s", err);
    return f;
}

/* Which tokens form_mask allows from st (bit t). */
static unsigned allowed(form *f, const form_state *st) {
    float x[NV] = {0};
    form_mask(f, st, x);
    unsigned m = 0;
    for (int t = 0; t < NV; t++)
        if (x[t] != -INFINITY) m |= 1u << t;
    return m;
}

static void feed(form *f, form_state *st, const int *toks, int n) {
    for (int i = 0; i < n; i++)
        CHECKF(form_advance(f, st, toks[i]) == 0, "token %d", toks[i]);
}

#define B(t) (1u << (t))

static void test_syllables(void) {
    form_opts o = {.syllables = {5, 1}, .n_syllables = 2};
    form *f = make(&o, NULL);
    form_state st;
    form_start(f, &st);
    unsigned m = allowed(f, &st);
    CHECK(m & B(T_ELEPHANT));                          /* 3 of 5 */
    CHECK(m & B(T_NL));                                /* a leading newline */
    CHECK(!(m & B(T_DIGIT)));                          /* not a dictionary word */
    CHECK(!(m & B(T_EOS)));                            /* the form is not complete */
    feed(f, &st, (int[]){T_NL, T_ELEPHANT, T_CAT}, 3); /* 4 syllables */
    m = allowed(f, &st);
    CHECK(!(m & B(T_NL))); /* the line needs 5 */
    CHECK(m & B(T_SAT) && m & B(T_DOT));
    feed(f, &st, (int[]){T_SAT}, 1); /* 5 */
    m = allowed(f, &st);
    CHECK(m & B(T_NL) && m & B(T_DOT));
    CHECK(!(m & B(T_THE)) && !(m & B(T_ELEPHANT)));
    feed(f, &st, (int[]){T_NL}, 1);
    CHECK(!(allowed(f, &st) & B(T_NL))); /* no empty line */
    feed(f, &st, (int[]){T_SEA}, 1);
    CHECK(allowed(f, &st) & B(T_EOS)); /* complete at the end of the text */
    CHECK(!form_done(f, &st));
    feed(f, &st, (int[]){T_NL}, 1);
    CHECK(form_done(f, &st));
    form_free(f);
}

/* A line cannot stall: no word of no syllable ("hm"), and at most
** FORM_MAX_GAP characters between two words. */
static void test_no_stalling(void) {
    form_opts o = {.syllables = {5}, .n_syllables = 1};
    form *f = make(&o, NULL);
    form_state st, s2;
    form_start(f, &st);
    s2 = st;
    CHECK(allowed(f, &s2) & B(T_HM)); /* "hm" may still grow ("hmong") ... */
    feed(f, &s2, (int[]){T_HM}, 1);
    CHECK(!(allowed(f, &s2) & (B(T_COMMA) | B(T_DOT) | B(T_THE))));            /* ... but not end */
    feed(f, &st, (int[]){T_CAT, T_COMMA, T_COMMA, T_COMMA}, 4);                /* " cat,,," */
    CHECK((allowed(f, &st) & (B(T_THE) | B(T_DOT))) == (B(T_THE) | B(T_DOT))); /* 4 */
    feed(f, &st, (int[]){T_COMMA}, 1); /* 4 characters since "cat": no more */
    CHECK(!(allowed(f, &st) & (B(T_THE) | B(T_COMMA) | B(T_DOT))));
    form_free(f);
}

/* The facts reviewers see: syllables per line, acrostic initials, rhyme
** pairs, and the first break. */
static void test_facts(void) {
    char err[ERR_LEN];
    form_facts ff;
    const char *p = "{\"syllables\":[5,5],\"rhyme\":\"AA\",\"acrostic\":\"TA\"}";
    CHECK(form_facts_of("{\"syllables\":[]}", "", "x", &ff, err) == 0); /* no form */
    CHECK(form_facts_of("{", "", "x", &ff, err) == -1);
    CHECK(form_facts_of(p, "Hi", "Hi\nthe sun is now gray\nand I go away\n", &ff, err) == 1);
    CHECK(ff.holds && ff.n == 2 && ff.lines == 2);
    CHECK(ff.line[0].syll == 5 && ff.line[0].target == 5 && ff.line[0].initial == 't');
    CHECK(!strcmp(ff.line[1].last, "away") && !strcmp(ff.line[1].rhyme, "EY1"));
    CHECK(ff.line[1].partner == 0 && ff.line[1].rhymes && ff.line[0].partner == -1);
    CHECK(form_facts_of(p, "Hi", "Hi\nthe sun is now gray\nand I go away", &ff, err) == 1 &&
          ff.holds);
    CHECK(form_facts_of(p, "Hi", "the sun is now gray\nand I go so gray", &ff, err) == 1);
    CHECK(!ff.holds && strstr(ff.what, "do not rhyme")); /* the same word */
    CHECK(form_facts_of(p, "Hi", "the sun is now gray\nyet I go away", &ff, err) == 1);
    CHECK(!ff.holds && strstr(ff.what, "line 2 does not start with the acrostic's 'A'"));
    CHECK(form_facts_of(p, "", "the sun is now gray", &ff, err) == 1);
    CHECK(!ff.holds && !strcmp(ff.what, "1 lines, not 2"));
    CHECK(form_facts_of(p, "", "the sun is 4 gray\nand I go away", &ff, err) == 1);
    CHECK(!ff.holds && strstr(ff.what, "code 52"));
}

static void test_word_split_across_tokens(void) {
    form_opts o = {.syllables = {3}, .n_syllables = 1};
    form *f = make(&o, NULL);
    form_state st;
    form_start(f, &st);
    feed(f, &st, (int[]){T_ELEPH}, 1); /* " eleph" may become " elephant" */
    unsigned m = allowed(f, &st);
    CHECK(m & B(T_ANT));
    CHECK(!(m & B(T_NL)) && !(m & B(T_EOS))); /* "eleph" is not a word */
    feed(f, &st, (int[]){T_ANT}, 1);
    CHECK(allowed(f, &st) & B(T_NL));
    form_free(f);
}

static void test_rhyme(void) {
    form_opts o = {.syllables = {1, 1}, .n_syllables = 2, .rhyme = "AA"};
    form *f = make(&o, NULL);
    form_state st;
    form_start(f, &st);
    feed(f, &st, (int[]){T_CAT, T_NL}, 2);
    unsigned m = allowed(f, &st);
    CHECK(m & B(T_HAT) && m & B(T_SAT));       /* rhymes */
    CHECK(!(m & B(T_SEA)) && !(m & B(T_THE))); /* no rhyme with cat */
    feed(f, &st, (int[]){T_CAT}, 1);           /* may become "catt" ... */
    CHECK(!(allowed(f, &st) & B(T_NL)));       /* ... but cat does not rhyme with cat */
    form_free(f);
}

/* A later line's mask cached for one partner word serves another (its key
** holds the remainders, not the words): fixed, it equals a fresh form's. */
static void test_rhyme_cache_shared(void) {
    form_opts o = {.syllables = {1, 1}, .n_syllables = 2, .rhyme = "AA"};
    form *f = make(&o, NULL), *fresh = make(&o, NULL);
    form_state a, b;
    form_start(f, &a);
    form_start(f, &b);
    feed(f, &a, (int[]){T_CAT, T_NL}, 2);
    feed(f, &b, (int[]){T_HAT, T_NL}, 2);
    unsigned ma = allowed(f, &a), mb = allowed(f, &b);
    CHECK(ma & B(T_HAT) && mb & B(T_CAT) && !(ma & B(T_SEA)));
    CHECK_EQ_INT((int)mb, (int)allowed(fresh, &b));
    form_state a2 = a;
    feed(f, &a, (int[]){T_CAT}, 1); /* cat does not rhyme with cat ... */
    feed(f, &b, (int[]){T_CAT}, 1); /* ... but with hat */
    CHECK(!(allowed(f, &a) & B(T_NL)) && allowed(f, &b) & B(T_NL));
    CHECK_EQ_INT((int)allowed(f, &b), (int)allowed(fresh, &b));
    CHECK_EQ_INT((int)allowed(f, &a2), (int)ma);
    form_free(f);
    form_free(fresh);
}

static void test_acrostic_and_lipogram(void) {
    form_opts o = {.acrostic = "sc"};
    cons_opts co = {.forbid_chars = "a"};
    form *f = make(&o, &co);
    form_state st;
    form_start(f, &st);
    unsigned m = allowed(f, &st);
    CHECK(!(m & B(T_SEA))); /* " sea" starts with a space, not 's' */
    CHECK(m & B(T_NL));
    CHECK(!(m & B(T_CAT)));
    form_free(f);
    /* any word, line initials only: "ant" may start line 1 of "AC" */
    form_opts o2 = {.acrostic = "AC"};
    f = make(&o2, NULL);
    form_start(f, &st);
    CHECK(allowed(f, &st) & B(T_ANT));
    form_free(f);
}

static void test_vocabulary(void) {
    const char *words[] = {"the", "cat"};
    form_opts o = {.vocabulary = words, .n_vocabulary = 2, .lines = 1};
    form *f = make(&o, NULL);
    form_state st;
    form_start(f, &st);
    unsigned m = allowed(f, &st);
    CHECK(m & B(T_THE) && m & B(T_CAT));
    CHECK(!(m & B(T_ELEPH)));
    CHECK(!(m & B(T_SAT)) && !(m & B(T_SEA)));
    CHECK(m & B(T_DIGIT)); /* not a word: any other character may appear */
    form_free(f);
}

static void test_bad_forms(void) {
    char err[ERR_LEN];
    form *f = NULL;
    cons_opts co = {0};
    form_opts o = {.syllables = {5, 7, 5}, .n_syllables = 3, .lines = 2};
    CHECK(form_new(&TV, &o, &co, &f, err) == -1 && strstr(err, "gives 3 lines"));
    form_opts o2 = {.acrostic = "a-b"};
    CHECK(form_new(&TV, &o2, &co, &f, err) == -1 && strstr(err, "not an ASCII letter"));
    form_opts o3 = {0};
    CHECK(form_opts_set(&o3, "5,x", NULL, NULL, NULL, 0, err) == -1);
    CHECK(form_opts_set(&o3, NULL, "haiku", NULL, NULL, 0, err) == 0 && o3.n_syllables == 3);
}

/* A dead end the form cannot see (the only completion of " eleph", "ant",
** is suppressed): the output backs out of " eleph", bans it there, and
** takes the next choice. */
static void test_dead_end_backs_out(void) {
    form_opts o = {.syllables = {3}, .n_syllables = 1};
    form *f = make(&o, NULL);
    samp_params p;
    samp_defaults(&p);
    p.do_sample = 0;
    p.eos_id = T_EOS;
    p.max_new_tokens = 6;
    int32_t sup[] = {T_ANT};
    p.suppress = sup;
    p.n_suppress = 1;
    samp_vocab sv;
    samp_work w;
    samp_seq s;
    char err[ERR_LEN];
    int32_t prompt[] = {T_THE};
    CHECK(samp_vocab_init(&sv, &TV, err) == 0);
    CHECK(samp_work_init(&w, NV, err) == 0);
    CHECK(samp_seq_init(&s, &p, prompt, 1, " the", 4, NULL, 7, err) == 0);
    CHECK(samp_seq_set_form(&s, f, err) == 0);
    for (int i = 0; i < 10 && !s.finish; i++) {
        float x[NV] = {0};
        x[T_ELEPH] = 9, x[T_ELEPHANT] = 5, x[T_NL] = 3;
        samp_seq_step(&p, NULL, &sv, &s, x, &w);
    }
    CHECK_STR(s.finish, "form");
    CHECK_STR(s.text, " elephant\n");
    CHECK_EQ_INT(s.n_backout, 1);
    samp_seq_free(&s);
    samp_work_free(&w);
    samp_vocab_free(&sv);
    form_free(f);
}

int main(void) {
    RUN(test_syllables);
    RUN(test_no_stalling);
    RUN(test_facts);
    RUN(test_word_split_across_tokens);
    RUN(test_rhyme);
    RUN(test_rhyme_cache_shared);
    RUN(test_acrostic_and_lipogram);
    RUN(test_vocabulary);
    RUN(test_bad_forms);
    RUN(test_dead_end_backs_out);
    return TEST_SUMMARY();
}

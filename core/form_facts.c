/*
** A poetic form's facts on a finished text; see form_facts.h.  Works from
** the text and the dictionary alone (not through the generation masks), so
** it also checks what a reviewer typed.
*/
#include "form_facts.h"

#include "cmudict.h"
#include "err.h"
#include "jw.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct spec { /* the form, from the parameters */
    form_opts o;
    int dict;      /* words from the dictionary */
    int nlines;    /* 0: any */
    json_t *vocab; /* array of words, or NULL */
} spec;

/* The form in params_json's keys; 0 when none, 1, or -1 with err. */
static int spec_of(const char *params_json, json_t **root, spec *s, char *err) {
    memset(s, 0, sizeof *s);
    if (!(*root = json_loads(params_json, 0, NULL))) return err_set(err, "its params are not JSON");
    json_t *sy = json_object_get(*root, "syllables");
    for (size_t i = 0; json_is_array(sy) && i < json_array_size(sy); i++) {
        json_int_t v = json_integer_value(json_array_get(sy, i));
        if (i == FORM_MAX_LINES || v < 1 || v > FORM_MAX_SYLL)
            return err_set(err, "its syllables are not counts 1..%d", FORM_MAX_SYLL);
        s->o.syllables[s->o.n_syllables++] = (int)v;
    }
    const char *r = json_string_value(json_object_get(*root, "rhyme"));
    const char *a = json_string_value(json_object_get(*root, "acrostic"));
    s->o.rhyme = r && *r ? r : NULL;
    s->o.acrostic = a && *a ? a : NULL;
    s->o.lines = (int)json_integer_value(json_object_get(*root, "lines"));
    json_t *v = json_object_get(*root, "vocabulary");
    s->vocab = json_is_array(v) ? v : NULL;
    if (!s->o.n_syllables && !s->o.rhyme && !s->o.acrostic && !s->vocab && s->o.lines <= 0)
        return 0;
    size_t n = s->o.n_syllables;
    if (s->o.rhyme && strlen(s->o.rhyme) > n) n = strlen(s->o.rhyme);
    if (s->o.acrostic && strlen(s->o.acrostic) > n) n = strlen(s->o.acrostic);
    if ((size_t)s->o.lines > n) n = (size_t)s->o.lines;
    if (n > FORM_MAX_LINES) return err_set(err, "its form has more than %d lines", FORM_MAX_LINES);
    s->nlines = (int)n;
    s->dict = s->o.n_syllables || s->o.rhyme;
    return 1;
}

/* Record the first break (later ones are left out: one is enough to act). */
__attribute__((format(printf, 2, 3))) static void brk(form_facts *ff, const char *fmt, ...) {
    if (!ff->holds) return;
    ff->holds = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ff->what, sizeof ff->what, fmt, ap);
    va_end(ap);
}

static int in_vocab(const json_t *vocab, const char *w) {
    for (size_t i = 0; i < json_array_size(vocab); i++) {
        const char *v = json_string_value(json_array_get(vocab, i));
        if (v && !strcasecmp(v, w)) return 1;
    }
    return 0;
}

/* The words of line [p, e): syllables, last word, dictionary and list
** membership into ff. */
static void scan_line(const cmu_dict *d, const spec *s, const char *p, const char *e,
                      form_facts *ff, form_facts_line *L) {
    while (p < e) {
        if (!isalpha((unsigned char)*p)) {
            if (s->dict && !strchr("' ,.;:!?-\"", *p))
                brk(ff, "the character with code %d is not allowed in a form", (unsigned char)*p);
            p++;
            continue;
        }
        const char *w = p;
        while (p < e && (isalpha((unsigned char)*p) ||
                         (*p == '\'' && p + 1 < e && isalpha((unsigned char)p[1]))))
            p++;
        size_t n = (size_t)(p - w) < sizeof L->last ? (size_t)(p - w) : sizeof L->last - 1;
        for (size_t i = 0; i < n; i++)
            L->last[i] = (char)tolower((unsigned char)w[i]);
        L->last[n] = 0;
        L->rhyme[0] = 0;
        uint32_t id = d ? cmu_lookup(d, w, (size_t)(p - w)) : CMU_NONE;
        if (d && id == CMU_NONE) brk(ff, "the word '%s' is not in the dictionary", L->last);
        if (s->vocab && !in_vocab(s->vocab, L->last))
            brk(ff, "the word '%s' is not in the vocabulary", L->last);
        if (id != CMU_NONE) {
            L->syll += cmu_syllables(d, id);
            snprintf(L->rhyme, sizeof L->rhyme, "%s", cmu_rhyme_text(d, cmu_rhyme(d, id)));
        }
    }
}

/* The rhyme pairs: line i's partner is the nearest earlier line of its
** letter; the words must rhyme and differ from every earlier one of it. */
static void rhymes(const spec *s, form_facts *ff) {
    for (int i = 0; s->o.rhyme && i < ff->n && i < (int)strlen(s->o.rhyme); i++) {
        form_facts_line *L = &ff->line[i];
        for (int j = i - 1; j >= 0 && L->partner < 0; j--)
            if (s->o.rhyme[j] == s->o.rhyme[i]) L->partner = j;
        if (L->partner < 0) continue;
        const form_facts_line *P = &ff->line[L->partner];
        L->rhymes = *L->rhyme && !strcmp(L->rhyme, P->rhyme);
        for (int j = 0; j < i; j++)
            if (s->o.rhyme[j] == s->o.rhyme[i] && !strcmp(ff->line[j].last, L->last)) L->rhymes = 0;
        if (!L->rhymes)
            brk(ff, "lines %d and %d do not rhyme ('%s', '%s')", L->partner + 1, i + 1, P->last,
                L->last);
    }
}

int form_facts_of(const char *params_json, const char *prompt, const char *text, form_facts *ff,
                  char *err) {
    memset(ff, 0, sizeof *ff);
    json_t *root;
    spec s;
    int rc = spec_of(params_json, &root, &s, err);
    const cmu_dict *d = rc == 1 && s.dict ? cmu_open(err) : NULL;
    if (rc != 1 || (s.dict && !d)) {
        json_decref(root);
        return rc == 1 ? -1 : rc;
    }
    size_t pl = strlen(prompt);
    const char *p = strncmp(text, prompt, pl) ? text : text + pl, *end = p + strlen(p);
    if (*p == '\n') p++;                   /* one empty piece at the start ... */
    if (end > p && end[-1] == '\n') end--; /* ... and one at the end are not lines */
    ff->lines = s.nlines;
    ff->holds = 1;
    for (const char *q = p; q <= end && (q < end || end > p); ff->n++) {
        const char *e = memchr(q, '\n', (size_t)(end - q));
        if (!e) e = end;
        if (ff->n < FORM_MAX_LINES) {
            form_facts_line *L = &ff->line[ff->n];
            L->target = ff->n < (int)s.o.n_syllables ? s.o.syllables[ff->n] : -1;
            L->initial = e > q ? *q : 0;
            L->letter = s.o.acrostic && ff->n < (int)strlen(s.o.acrostic) ? s.o.acrostic[ff->n] : 0;
            L->partner = -1;
            scan_line(d, &s, q, e, ff, L);
            if (e == q) brk(ff, "line %d is empty", ff->n + 1);
            if (L->target >= 0 && L->syll != L->target)
                brk(ff, "line %d has %d syllables, not %d", ff->n + 1, L->syll, L->target);
            if (L->letter &&
                tolower((unsigned char)L->initial) != tolower((unsigned char)L->letter))
                brk(ff, "line %d does not start with the acrostic's '%c'", ff->n + 1, L->letter);
        }
        q = e + 1;
    }
    if (ff->n > FORM_MAX_LINES) ff->n = FORM_MAX_LINES;
    rhymes(&s, ff);
    if (s.nlines && ff->n != s.nlines) {
        ff->holds = 1; /* the line count is the first thing to say */
        brk(ff, "%d lines, not %d", ff->n, s.nlines);
    }
    json_decref(root);
    return 1;
}

json_t *form_facts_json(const form_facts *ff) {
    char err[ERR_LEN];
    json_t *lines = json_array();
    for (int i = 0; i < ff->n && lines; i++) {
        const form_facts_line *L = &ff->line[i];
        char ini[2] = {L->initial, 0}, let[2] = {L->letter, 0};
        jw_push(&lines,
                jw_object(err, "syllables", json_integer(L->syll), "target",
                          L->target >= 0 ? json_integer(L->target) : json_null(), "initial",
                          json_stringn(ini, L->initial ? 1 : 0), "letter",
                          L->letter ? json_string(let) : json_null(), "last_word",
                          json_string(L->last), "rhyme", json_string(L->rhyme), "rhymes_with",
                          L->partner >= 0 ? json_integer(L->partner + 1) : json_null(), "rhymes",
                          L->partner >= 0 ? json_boolean(L->rhymes) : json_null()),
                "form", err);
    }
    if (!lines) return NULL;
    return jw_object(err, "lines", json_integer(ff->n), "lines_wanted",
                     ff->lines ? json_integer(ff->lines) : json_null(), "holds",
                     json_boolean(ff->holds), "what", json_string(ff->what), "line", lines);
}

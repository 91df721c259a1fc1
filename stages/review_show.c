/*
** What `quill review` prints: the queue as a table or JSON lines, and one
** output in full (its text, constraints, form facts and reviews).  Model
** output and reviewer names are untrusted: everything goes through the
** terminal escaper.
*/
#include "review_show.h"

#include "cli.h"
#include "err.h"
#include "form_facts.h"
#include "jw.h"
#include "text.h"
#include <ctype.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One line of text for a table cell: newlines shown as ⏎, cut to width. */
static void cell(char *out, size_t cap, const char *s) {
    size_t j = 0;
    for (; *s && j + 4 < cap; s++) {
        if (*s == '\n') {
            memcpy(out + j, "\xe2\x8f\x8e", 3); /* ⏎ */
            j += 3;
        } else if ((unsigned char)*s >= 0x20 || *s == '\t') {
            out[j++] = *s == '\t' ? ' ' : *s;
        }
    }
    while (j && ((unsigned char)out[j - 1] & 0xC0) == 0x80)
        j--; /* no cut UTF-8 */
    if (j && (unsigned char)out[j - 1] >= 0xC0) j--;
    out[j] = 0;
}

/* Print the outputs (with status, when given) as a table or JSON lines;
** returns the exit status. */
int review_list(store *st, const char *status, int json) {
    char err[ERR_LEN];
    int64_t *ids;
    size_t n;
    if (reviews_list(st, status, NULL, &ids, &n, err)) return cli_error("review: %s", err);
    if (!json) printf("%6s  %-8s  %-5s  %-20s  %s\n", "id", "status", "appr", "recipe", "text");
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        reviews_output o;
        if (reviews_get(st, ids[i], &o, err)) {
            rc = cli_error("review: %s", err);
            break;
        }
        if (json) {
            json_t *j = jw_object(
                err, "id", json_integer(o.id), "status", json_string(o.status), "approvals",
                json_integer(o.approvals), "needed", json_integer(o.needed), "recipe",
                cli_json_str(o.recipe ? o.recipe : ""), "prompt", cli_json_str(o.prompt),
                "continuation", cli_json_str(o.continuation), "text", cli_json_str(o.text),
                "edited", json_boolean(o.edited), "version", json_integer(o.version), "breaks",
                cli_json_str(o.breaks), "model", cli_json_str(o.model), "seed",
                json_integer(o.seed), "created_at", cli_json_str(o.created_at));
            if (!j || jw_print(stdout, j, JSON_COMPACT | JSON_ENSURE_ASCII, "the output", err))
                rc = cli_error("review list: output %lld: %s", (long long)o.id, err);
        } else {
            char c[80], r[21], a[16];
            cell(c, sizeof c, o.text);
            cell(r, sizeof r, o.recipe ? o.recipe : "");
            snprintf(a, sizeof a, "%d/%d", o.approvals, o.needed);
            printf("%6lld  %-8s  %-5s  %-20s  %s%s%s\n", (long long)o.id, o.status, a, r,
                   o.breaks ? "(BREAKS CONSTRAINTS) " : "", o.edited ? "(edited) " : "", c);
        }
        reviews_output_free(&o);
    }
    free(ids);
    return rc;
}

/* Print the facts of the form o's text keeps (each line's syllables,
** initial and rhyme), so a reviewer sees that it holds; nothing when there
** is no form. */
static void print_form(FILE *f, const reviews_output *o) {
    char err[ERR_LEN];
    form_facts ff;
    int rc = form_facts_of(o->params_json, o->prompt, o->text, &ff, err);
    if (rc < 0) fprintf(f, "form: unknown (%s)\n", err); /* the rest still shows */
    if (rc <= 0) return;
    fprintf(f, "form: %d line%s", ff.n, ff.n == 1 ? "" : "s");
    if (ff.lines) fprintf(f, " of %d", ff.lines);
    fprintf(f, ", %s", ff.holds ? "holds" : "BROKEN: ");
    if (!ff.holds) cli_put_clean(f, ff.what);
    fputc('\n', f);
    for (int i = 0; i < ff.n; i++) {
        const form_facts_line *L = &ff.line[i];
        fprintf(f, "  line %d: %d syllable%s", i + 1, L->syll, L->syll == 1 ? "" : "s");
        if (L->target >= 0) fprintf(f, " (of %d)", L->target);
        if (L->letter) /* the initial is the text's: shown only when printable */
            fprintf(f, ", initial %c (acrostic %c)",
                    isprint((unsigned char)L->initial) ? L->initial : '?', L->letter);
        if (*L->last) fprintf(f, ", ends \"%s\" %s", L->last, L->rhyme);
        if (L->partner >= 0)
            fprintf(f, ", %s line %d", L->rhymes ? "rhymes with" : "does NOT rhyme with",
                    L->partner + 1);
        fputc('\n', f);
    }
}

/* Print output id in full with its reviews (untrusted text escaped). */
int review_print(store *st, int64_t id, FILE *f, char *err) {
    reviews_output o;
    if (reviews_get(st, id, &o, err)) return -1;
    fprintf(f, "output %lld  %s (%d/%d approvals)  text version %d\nrecipe: ", (long long)id,
            o.status, o.approvals, o.needed, o.version);
    cli_put_clean(f, o.recipe ? o.recipe : "-");
    fprintf(f, "\nmodel: ");
    cli_put_clean(f, o.model);
    if (o.checkpoint_id) fprintf(f, " (checkpoint %lld)", (long long)o.checkpoint_id);
    fprintf(f, "\nseed: %lld\nfinish: %s\ncreated: %s\nparams: ", (long long)o.seed, o.finish,
            o.created_at);
    cli_put_clean(f, o.params_json);
    fprintf(f, "\n\nprompt: ");
    cli_put_clean(f, o.prompt);
    fprintf(f, "\ncontinuation: ");
    cli_put_clean(f, o.continuation);
    if (o.edited) {
        fprintf(f, "\ntext (edited, version %d): ", o.version);
        cli_put_clean(f, o.text);
    }
    fputc('\n', f);
    print_form(f, &o);
    if (o.breaks) {
        fprintf(f, "WARNING: the text breaks the output's constraints: it has the ");
        cli_put_clean(f, o.breaks);
        fprintf(f, "; publish refuses it unless --allow-constraint-breaks\n");
    }
    reviews_output_free(&o);
    reviews_entry *v;
    size_t n;
    if (reviews_history(st, id, &v, &n, err)) return -1;
    for (size_t i = 0; i < n; i++) {
        if (!i) fprintf(f, "\nreviews:\n");
        fprintf(f, "  %s  %-8s v%d ", v[i].created_at, v[i].verdict, v[i].version);
        cli_put_clean(f, v[i].reviewer);
        if (*v[i].note) {
            fprintf(f, "  note: ");
            cli_put_clean(f, v[i].note);
        }
        if (*v[i].edited_text) {
            fprintf(f, "\n    edited text: ");
            cli_put_clean(f, v[i].edited_text);
        }
        if (*v[i].breaks) {
            fprintf(f, "\n    breaks: ");
            cli_put_clean(f, v[i].breaks);
        }
        fputc('\n', f);
    }
    reviews_history_free(v, n);
    return 0;
}

/*
** `quill review`: the review queue.  Subcommands list, show, approve,
** reject, withdraw, edit, note and rule work from the command line; without
** a subcommand the interactive reviewer (review_tui.c) runs.  The rules are
** in db/reviews.h; this file only parses and prints.
*/
#include "review.h"

#include "cli.h"
#include "err.h"
#include "form_facts.h"
#include "jw.h"
#include "text.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse an output id (a positive integer) into *id; returns 0 or -1. */
static int parse_id(const char *arg, int64_t *id) {
    long long v;
    if (cli_int(arg, 1, INT64_MAX, &v)) return -1;
    *id = v;
    return 0;
}

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
static int review_list(store *st, const char *status, int json) {
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
static int review_print(store *st, int64_t id, FILE *f, char *err) {
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

/* What one review command asks for. */
typedef struct request {
    const char *verb; /* approve, reject, withdraw, note, edit */
    const char *reviewer, *note, *text;
    int version; /* --version, 0 when not given */
    int allow_breaks;
} request;

/* Record q for output id inside the open transaction; fills *version with
** the version approved or edited and breaks with what an edit breaks. */
static int apply_one(store *st, int64_t id, const request *q, int *version, char *breaks,
                     size_t cap, char *err) {
    *version = q->version;
    breaks[0] = 0;
    if (!strcmp(q->verb, "approve"))
        return reviews_approve(st, id, q->reviewer, version, q->note, err);
    if (!strcmp(q->verb, "reject"))
        return reviews_reject(st, id, q->reviewer, q->version, q->note, err);
    if (!strcmp(q->verb, "withdraw")) return reviews_withdraw(st, id, q->reviewer, q->note, err);
    if (!strcmp(q->verb, "note")) return reviews_note(st, id, q->reviewer, q->note, err);
    return reviews_edit(st, id, q->reviewer, q->text, q->note, q->allow_breaks, version, breaks,
                        cap, err);
}

/* Record q for each id, all or none, then say what happened. */
static int review_apply(store *st, char **ids, int n, const request *q) {
    char err[ERR_LEN], breaks[256];
    int *versions = calloc((size_t)n, sizeof *versions);
    if (!versions) return cli_error("review: out of memory");
    if (store_begin(st, err)) {
        free(versions);
        return cli_error("review: %s", err);
    }
    for (int i = 0; i < n; i++) {
        int64_t id;
        if (parse_id(ids[i], &id)) {
            store_rollback(st);
            free(versions);
            return cli_error("review %s: '%s' is not an output id", q->verb, ids[i]);
        }
        int rc = apply_one(st, id, q, &versions[i], breaks, sizeof breaks, err);
        if (rc) {
            store_rollback(st);
            free(versions);
            cli_error("review %s: %s", q->verb, err);
            /* the exit status says why (README "The review gate") */
            return rc == REVIEWS_STALE     ? 3
                   : rc == REVIEWS_BREAKS  ? 4
                   : rc == REVIEWS_REFUSED ? 5
                                           : 1;
        }
    }
    if (store_commit(st, err)) {
        free(versions);
        return cli_error("review: %s", err);
    }
    for (int i = 0; i < n; i++) {
        int64_t id = 0;
        const char *status;
        parse_id(ids[i], &id);
        if (reviews_verdict(st, id, &status, NULL, NULL, err)) continue;
        printf("output %lld: %s", (long long)id,
               !strcmp(q->verb, "approve")    ? "approved"
               : !strcmp(q->verb, "reject")   ? "rejected"
               : !strcmp(q->verb, "withdraw") ? "rejection withdrawn"
               : !strcmp(q->verb, "edit")     ? "edited"
                                              : "noted");
        if (!strcmp(q->verb, "approve") || !strcmp(q->verb, "edit"))
            printf(" (text version %d)", versions[i]);
        printf(" by ");
        cli_put_clean(stdout, q->reviewer);
        printf(", now %s\n", status);
        if (*breaks) {
            printf("WARNING: the edit breaks the output's constraints: it has the ");
            cli_put_clean(stdout, breaks);
            printf("; kept flagged, publish refuses it unless --allow-constraint-breaks\n");
        }
    }
    free(versions);
    return 0;
}

/* `review rule RECIPE --min-approvals N`: change the rule for the recipe's
** existing and future outputs, recorded. */
static int review_rule(store *st, const char *recipe, long long min, const char *who) {
    char err[ERR_LEN];
    int64_t old, changed;
    if (store_begin(st, err)) return cli_error("review rule: %s", err);
    if (reviews_change_rule(st, recipe, min, who, &old, &changed, err)) {
        store_rollback(st);
        return cli_error("review rule: %s", err);
    }
    if (store_commit(st, err)) return cli_error("review rule: %s", err);
    printf("review rule for %s: min_approvals %lld -> %lld (%lld existing output%s), by ", recipe,
           (long long)old, min, (long long)changed, changed == 1 ? "" : "s");
    cli_put_clean(stdout, who);
    putchar('\n');
    return 0;
}

static const char *usage =
    "usage: quill review [--reviewer NAME]            interactive reviewer\n"
    "       quill review list [--status pending|approved|rejected] [--json]\n"
    "       quill review show ID\n"
    "       quill review approve ID... [--version V] [--note TEXT]\n"
    "       quill review reject ID... [--note TEXT]\n"
    "       quill review withdraw ID... [--note TEXT]\n"
    "       quill review edit ID --text TEXT [--version V] [--allow-constraint-breaks]\n"
    "       quill review note ID... --note TEXT\n"
    "       quill review rule RECIPE --min-approvals N\n"
    "--reviewer NAME records who reviewed (default $QUILL_REVIEWER, else $USER;\n"
    "one of them is required).  Names are trimmed and case-folded: \"Ann\" and\n"
    "\"ann \" are one reviewer.  An output needs min_approvals (its recipe's\n"
    "review section when it was made, else 1) approvals of its current text from\n"
    "different reviewers.  approve --version V approves text version V only\n"
    "(refused when the text changed since); without it the current version is\n"
    "approved and printed.  Any rejection rejects: it stands until the reviewer\n"
    "who gave it withdraws it.  An edit that breaks the output's constraints\n"
    "(forbidden characters, banned words) is refused; --allow-constraint-breaks\n"
    "keeps it, flagged, and publish refuses it unless --allow-constraint-breaks.\n"
    "rule changes a recipe's rule for its existing outputs too, and is recorded.\n";

/* `quill review` (interactive) and its subcommands; returns the exit status
** (2 for a usage mistake). */
int cmd_review(cli *c, int argc, char **argv) {
    const char *reviewer = NULL, *status = NULL, *version = NULL, *min = NULL;
    request q = {0};
    int json = 0, npos = 0;
    char **pos = calloc(argc + 1, sizeof *pos);
    if (!pos) return cli_error("review: out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--help")) {
            fputs(usage, stdout);
            free(pos);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--allow-constraint-breaks")) {
            q.allow_breaks = 1;
        } else if (more && !strcmp(a, "--reviewer")) {
            reviewer = argv[++i];
        } else if (more && !strcmp(a, "--note")) {
            q.note = argv[++i];
        } else if (more && !strcmp(a, "--text")) {
            q.text = argv[++i];
        } else if (more && !strcmp(a, "--status")) {
            status = argv[++i];
        } else if (more && !strcmp(a, "--version")) {
            version = argv[++i];
        } else if (more && !strcmp(a, "--min-approvals")) {
            min = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            free(pos);
            return cli_usage_error("review", "unknown option, or option without a value: '%s'", a);
        } else {
            pos[npos++] = argv[i];
        }
    }
    const char *sub = npos ? pos[0] : NULL;
    char **ids = pos + 1;
    int nids = npos - 1, rc = 2;
    long long v = 0, m = 0;
    char *who = NULL, err[ERR_LEN];
    store *st = NULL;
    static const char *const writers[] = {"approve", "reject", "withdraw", "note", "edit", "rule"};
    int writes = !sub;
    for (size_t i = 0; sub && i < sizeof writers / sizeof *writers; i++)
        writes |= !strcmp(sub, writers[i]);
    if (!reviewer) reviewer = getenv("QUILL_REVIEWER");
    if (!reviewer || !*reviewer) reviewer = getenv("USER");
    if (status && strcmp(status, "pending") && strcmp(status, "approved") &&
        strcmp(status, "rejected")) {
        rc = cli_error("review list: --status must be pending, approved or rejected");
    } else if (version && cli_int(version, 1, INT32_MAX, &v)) {
        rc = cli_usage_error("review", "--version must be a text version (1, 2, ...), not '%s'",
                             version);
    } else if (version && (!sub || (strcmp(sub, "approve") && strcmp(sub, "edit")) || nids != 1)) {
        rc = cli_usage_error("review", "--version goes with approve or edit of one output");
    } else if (min && cli_int(min, 1, 1000, &m)) {
        rc = cli_usage_error("review", "--min-approvals must be 1..1000, not '%s'", min);
    } else if (writes && (!reviewer || !*reviewer)) {
        rc = cli_usage_error("review", "who is reviewing? pass --reviewer NAME or set "
                                       "QUILL_REVIEWER ($USER is not set either)");
    } else if (writes && txt_name_normalize(reviewer, &who, err)) {
        rc = cli_usage_error("review", "--reviewer: %s", err); /* the name may not print */
    } else if (!sub) {
        rc = (st = cli_store(c, STORE_WRITE)) ? review_interactive(st, who) : 1;
    } else if (!strcmp(sub, "list") && !nids) {
        rc = (st = cli_store(c, STORE_READ)) ? review_list(st, status, json) : 1;
    } else if (!strcmp(sub, "show") && nids == 1) {
        int64_t id;
        if (parse_id(ids[0], &id))
            rc = cli_error("review show: '%s' is not an output id", ids[0]);
        else if (!(st = cli_store(c, STORE_READ)))
            rc = 1;
        else
            rc = review_print(st, id, stdout, err) ? cli_error("review show: %s", err) : 0;
    } else if (!strcmp(sub, "rule") && nids == 1 && min) {
        rc = (st = cli_store(c, STORE_WRITE)) ? review_rule(st, ids[0], m, who) : 1;
    } else if (((!strcmp(sub, "approve") || !strcmp(sub, "reject") || !strcmp(sub, "withdraw")) &&
                nids >= 1) ||
               (!strcmp(sub, "note") && nids >= 1 && q.note) ||
               (!strcmp(sub, "edit") && nids == 1 && q.text)) {
        q.verb = sub;
        q.reviewer = who;
        q.version = (int)v;
        rc = (st = cli_store(c, STORE_WRITE)) ? review_apply(st, ids, nids, &q) : 1;
    } else if (strcmp(sub, "list") && strcmp(sub, "show") && !writes) {
        rc = cli_usage_error("review", "unknown subcommand '%s'", sub);
    } else {
        rc = cli_usage_error("review", "%s: missing or extra arguments", sub);
    }
    free(who);
    free(pos);
    return rc;
}

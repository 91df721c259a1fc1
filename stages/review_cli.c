/*
** `quill review`: the review queue.  Subcommands list, show, approve,
** reject, withdraw, edit, note and rule work from the command line; without
** a subcommand the interactive reviewer (review_tui.c) runs.  The rules are
** in db/reviews.h; this file only parses and prints.
*/
#include "review_show.h"
#include "review_tui.h"

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

/* Parse an output id (a positive integer) into *id; returns 0 or -1. */
static int parse_id(const char *arg, int64_t *id) {
    long long v;
    if (cli_int(arg, 1, INT64_MAX, &v)) return -1;
    *id = v;
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

/* review's command line: options and positional words. */
typedef struct review_cli {
    const char *reviewer, *status, *version, *min, *sub;
    request q;
    int json;
    char **ids; /* the words after the subcommand */
    int nids;
    long long v, m; /* --version and --min-approvals, checked */
    char *who;      /* the normalised reviewer, when the command writes */
} review_cli;

/* Read argv into g (g->ids points into pos, argc + 1 entries).  Returns 0,
** 1 after --help (printed), or 2 after a usage error (reported). */
static int review_parse(int argc, char **argv, char **pos, review_cli *g) {
    static const struct {
        const char *name;
        size_t off;
    } valued[] = {{"--reviewer", offsetof(review_cli, reviewer)},
                  {"--note", offsetof(review_cli, q.note)},
                  {"--text", offsetof(review_cli, q.text)},
                  {"--status", offsetof(review_cli, status)},
                  {"--version", offsetof(review_cli, version)},
                  {"--min-approvals", offsetof(review_cli, min)}};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        size_t k = 0, nv = sizeof valued / sizeof *valued;
        while (k < nv && (i + 1 >= argc || strcmp(a, valued[k].name)))
            k++;
        if (k < nv)
            *(const char **)((char *)g + valued[k].off) = argv[++i];
        else if (!strcmp(a, "--help"))
            return fputs(usage, stdout), 1;
        else if (!strcmp(a, "--json"))
            g->json = 1;
        else if (!strcmp(a, "--allow-constraint-breaks"))
            g->q.allow_breaks = 1;
        else if (a[0] == '-' && a[1])
            return cli_usage_error("review", "unknown option, or option without a value: '%s'", a);
        else
            pos[npos++] = argv[i];
    }
    g->sub = npos ? pos[0] : NULL;
    g->ids = pos + 1;
    g->nids = npos - 1;
    return 0;
}

/* Whether review's subcommand sub (NULL: the interactive reviewer) writes. */
static int review_writes(const char *sub) {
    static const char *const writers[] = {"approve", "reject", "withdraw", "note", "edit", "rule"};
    int writes = !sub;
    for (size_t i = 0; sub && i < sizeof writers / sizeof *writers; i++)
        writes |= !strcmp(sub, writers[i]);
    return writes;
}

/* Check g's values that need no store, and name its reviewer (from
** --reviewer, $QUILL_REVIEWER or $USER) when the command writes.  Returns
** 0, or the exit status after reporting the mistake. */
static int review_check(review_cli *g) {
    const char *r = g->reviewer, *sub = g->sub;
    char err[ERR_LEN];
    if (!r) r = getenv("QUILL_REVIEWER");
    if (!r || !*r) r = getenv("USER");
    if (g->status && strcmp(g->status, "pending") && strcmp(g->status, "approved") &&
        strcmp(g->status, "rejected"))
        return cli_error("review list: --status must be pending, approved or rejected");
    if (g->version && cli_int(g->version, 1, INT32_MAX, &g->v))
        return cli_usage_error("review", "--version must be a text version (1, 2, ...), not '%s'",
                               g->version);
    if (g->version && (!sub || (strcmp(sub, "approve") && strcmp(sub, "edit")) || g->nids != 1))
        return cli_usage_error("review", "--version goes with approve or edit of one output");
    if (g->min && cli_int(g->min, 1, 1000, &g->m))
        return cli_usage_error("review", "--min-approvals must be 1..1000, not '%s'", g->min);
    if (!review_writes(sub)) return 0;
    if (!r || !*r)
        return cli_usage_error("review", "who is reviewing? pass --reviewer NAME or set "
                                         "QUILL_REVIEWER ($USER is not set either)");
    if (txt_name_normalize(r, &g->who, err))
        return cli_usage_error("review", "--reviewer: %s", err); /* the name may not print */
    return 0;
}

/* `quill review show ID`. */
static int review_show(cli *c, const char *arg) {
    int64_t id;
    char err[ERR_LEN];
    if (parse_id(arg, &id)) return cli_error("review show: '%s' is not an output id", arg);
    store *st = cli_store(c, STORE_READ);
    if (!st) return 1;
    return review_print(st, id, stdout, err) ? cli_error("review show: %s", err) : 0;
}

/* Run the checked command g; returns the exit status. */
static int review_dispatch(cli *c, review_cli *g) {
    const char *sub = g->sub;
    int n = g->nids;
    store *st;
    if (!sub) return (st = cli_store(c, STORE_WRITE)) ? review_interactive(st, g->who) : 1;
    if (!strcmp(sub, "list") && !n)
        return (st = cli_store(c, STORE_READ)) ? review_list(st, g->status, g->json) : 1;
    if (!strcmp(sub, "show") && n == 1) return review_show(c, g->ids[0]);
    if (!strcmp(sub, "rule") && n == 1 && g->min)
        return (st = cli_store(c, STORE_WRITE)) ? review_rule(st, g->ids[0], g->m, g->who) : 1;
    if (((!strcmp(sub, "approve") || !strcmp(sub, "reject") || !strcmp(sub, "withdraw")) && n) ||
        (!strcmp(sub, "note") && n && g->q.note) || (!strcmp(sub, "edit") && n == 1 && g->q.text)) {
        g->q.verb = sub;
        g->q.reviewer = g->who;
        g->q.version = (int)g->v;
        return (st = cli_store(c, STORE_WRITE)) ? review_apply(st, g->ids, n, &g->q) : 1;
    }
    if (strcmp(sub, "list") && strcmp(sub, "show") && !review_writes(sub))
        return cli_usage_error("review", "unknown subcommand '%s'", sub);
    return cli_usage_error("review", "%s: missing or extra arguments", sub);
}

/* `quill review` (interactive) and its subcommands; returns the exit status
** (2 for a usage mistake). */
int cmd_review(cli *c, int argc, char **argv) {
    review_cli g = {0};
    char **pos = calloc(argc + 1, sizeof *pos);
    if (!pos) return cli_error("review: out of memory");
    int rc = review_parse(argc, argv, pos, &g);
    if (rc == 1)
        rc = 0; /* --help */
    else if (!rc && !(rc = review_check(&g)))
        rc = review_dispatch(c, &g);
    free(g.who);
    free(pos);
    return rc;
}

/*
** `quill review`: the review queue.  Subcommands list, show, approve,
** reject, edit and note work from the command line; without a subcommand
** the interactive reviewer (review_tui.c) runs.  The status rules are in
** review.h.
*/
#include "review.h"

#include "cli.h"
#include "err.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int review_verdict(store *st, int64_t id, const char **status, int *approvals, int *needed,
                   char *err) {
    /* Each reviewer's latest approve/reject, and whether it came after the
    ** latest edit. */
    static const char *sql =
        "WITH last_edit AS (SELECT COALESCE(MAX(id), 0) AS e FROM reviews "
        "                   WHERE output_id = ?1 AND verdict = 'edit'), "
        "latest AS (SELECT r.reviewer, r.verdict, r.id FROM reviews r "
        "           WHERE r.output_id = ?1 AND r.verdict IN ('approve', 'reject') "
        "             AND r.id = (SELECT MAX(id) FROM reviews WHERE output_id = ?1 "
        "                         AND reviewer = r.reviewer "
        "                         AND verdict IN ('approve', 'reject'))) "
        "SELECT (SELECT COUNT(*) FROM latest WHERE verdict = 'reject'), "
        "       (SELECT COUNT(*) FROM latest, last_edit WHERE verdict = 'approve' AND id > e), "
        "       COALESCE((SELECT min_approvals FROM review_rules "
        "                 WHERE recipe_name = o.recipe_name), 1) "
        "FROM outputs o WHERE o.id = ?1";
    sqlite3_stmt *s;
    if (review_fetch(st, sql, id, &s, err)) return -1;
    int rejects = sqlite3_column_int(s, 0), ok = sqlite3_column_int(s, 1),
        need = sqlite3_column_int(s, 2);
    sqlite3_finalize(s);
    *status = rejects ? "rejected" : ok >= need ? "approved" : "pending";
    if (approvals) *approvals = ok;
    if (needed) *needed = need;
    return 0;
}

int review_refresh(store *st, int64_t id, char *err) {
    const char *status;
    if (review_verdict(st, id, &status, NULL, NULL, err)) return -1;
    sqlite3_stmt *s;
    if (store_prepare(st, "UPDATE outputs SET status = ? WHERE id = ?", &s, err)) return -1;
    sqlite3_bind_text(s, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE
               ? 0
               : store_error(st, err, "output %lld: cannot update its status", (long long)id);
}

int review_set_rule(store *st, const char *recipe_name, int64_t min_approvals, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "INSERT INTO review_rules (recipe_name, min_approvals) VALUES (?, ?) "
                      "ON CONFLICT (recipe_name) DO UPDATE SET min_approvals = excluded."
                      "min_approvals, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, recipe_name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, min_approvals);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_error(st, err, "review rule for %s", recipe_name);
    /* the rule applies to the recipe's existing outputs too */
    if (store_prepare(st, "SELECT id FROM outputs WHERE recipe_name = ?", &s, err)) return -1;
    sqlite3_bind_text(s, 1, recipe_name, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (review_refresh(st, sqlite3_column_int64(s, 0), err)) break;
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

int review_fetch(store *st, const char *sql, int64_t id, sqlite3_stmt **s, char *err) {
    if (store_prepare(st, sql, s, err)) return -1;
    sqlite3_bind_int64(*s, 1, id);
    if (sqlite3_step(*s) == SQLITE_ROW) return 0;
    sqlite3_finalize(*s);
    *s = NULL;
    return err_set(err, "no output with id %lld", (long long)id);
}

int review_text(store *st, int64_t id, char **text, int *edited, char *err) {
    sqlite3_stmt *s;
    if (review_fetch(st,
                     "SELECT COALESCE((SELECT edited_text FROM reviews WHERE output_id = o.id "
                     "AND verdict = 'edit' ORDER BY id DESC LIMIT 1), o.text), "
                     "EXISTS (SELECT 1 FROM reviews WHERE output_id = o.id AND verdict = 'edit') "
                     "FROM outputs o WHERE o.id = ?",
                     id, &s, err))
        return -1;
    *text = strdup((const char *)sqlite3_column_text(s, 0));
    if (edited) *edited = sqlite3_column_int(s, 1);
    sqlite3_finalize(s);
    return *text ? 0 : err_set(err, "out of memory");
}

int review_add(store *st, int64_t id, const char *reviewer, const char *verdict, const char *note,
               const char *edited_text, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "INSERT INTO reviews (output_id, reviewer, verdict, note, edited_text) "
                      "SELECT id, ?, ?, ?, ? FROM outputs WHERE id = ?",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, reviewer, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, verdict, -1, SQLITE_STATIC);
    if (note) sqlite3_bind_text(s, 3, note, -1, SQLITE_STATIC);
    if (edited_text) sqlite3_bind_text(s, 4, edited_text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return store_error(st, err, "output %lld: cannot record the review", (long long)id);
    if (!sqlite3_changes(store_db(st)))
        return err_set(err, "no output with id %lld", (long long)id);
    return review_refresh(st, id, err);
}

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
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT id, status, COALESCE(recipe_name, ''), prompt, continuation, "
                      "model_source, seed, created_at FROM outputs "
                      "WHERE ?1 IS NULL OR status = ?1 ORDER BY id",
                      &s, err))
        return cli_error("review: %s", err);
    if (status) sqlite3_bind_text(s, 1, status, -1, SQLITE_STATIC);
    if (!json) printf("%6s  %-8s  %-5s  %-20s  %s\n", "id", "status", "appr", "recipe", "text");
    int rc = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        const char *verdict;
        int ok, need;
        char *text;
        int edited;
        if (review_verdict(st, id, &verdict, &ok, &need, err) ||
            review_text(st, id, &text, &edited, err)) {
            rc = cli_error("review: %s", err);
            break;
        }
        if (json) {
            json_t *o = json_pack(
                "{s:I,s:s,s:i,s:i,s:o,s:o,s:o,s:o,s:b,s:o,s:I,s:s}", "id", (json_int_t)id, "status",
                (const char *)sqlite3_column_text(s, 1), "approvals", ok, "needed", need, "recipe",
                cli_json_str((const char *)sqlite3_column_text(s, 2)), "prompt",
                cli_json_str((const char *)sqlite3_column_text(s, 3)), "continuation",
                cli_json_str((const char *)sqlite3_column_text(s, 4)), "text", cli_json_str(text),
                "edited", edited, "model", cli_json_str((const char *)sqlite3_column_text(s, 5)),
                "seed", (json_int_t)sqlite3_column_int64(s, 6), "created_at",
                (const char *)sqlite3_column_text(s, 7));
            char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
            puts(line);
            free(line);
            json_decref(o);
        } else {
            char c[256], r[64], a[16];
            cell(c, sizeof c < 80 ? sizeof c : 80, text);
            cell(r, 21, (const char *)sqlite3_column_text(s, 2));
            snprintf(a, sizeof a, "%d/%d", ok, need);
            printf("%6lld  %-8s  %-5s  %-20s  %s%s\n", (long long)id,
                   (const char *)sqlite3_column_text(s, 1), a, r, edited ? "(edited) " : "", c);
        }
        free(text);
    }
    sqlite3_finalize(s);
    return rc;
}

/* Print one output in full with its reviews. */
int review_print(store *st, int64_t id, FILE *f, char *err) {
    sqlite3_stmt *s;
    if (review_fetch(st,
                     "SELECT status, COALESCE(recipe_name, '-'), model_source, "
                     "COALESCE(checkpoint_id, 0), prompt, continuation, params_json, seed, "
                     "finish_reason, created_at FROM outputs WHERE id = ?",
                     id, &s, err))
        return -1;
    const char *status;
    int ok, need;
    if (review_verdict(st, id, &status, &ok, &need, err)) {
        sqlite3_finalize(s);
        return -1;
    }
#define COL(i) ((const char *)sqlite3_column_text(s, i))
    fprintf(f, "output %lld  %s (%d/%d approvals)\nrecipe: %s\nmodel: %s", (long long)id, COL(0),
            ok, need, COL(1), COL(2));
    if (sqlite3_column_int64(s, 3)) fprintf(f, " (checkpoint %lld)", sqlite3_column_int64(s, 3));
    fprintf(f,
            "\nseed: %lld\nfinish: %s\ncreated: %s\nparams: %s\n\nprompt: %s\n"
            "continuation: %s\n",
            (long long)sqlite3_column_int64(s, 7), COL(8), COL(9), COL(6), COL(4), COL(5));
#undef COL
    sqlite3_finalize(s);
    if (store_prepare(st,
                      "SELECT reviewer, verdict, COALESCE(note, ''), COALESCE(edited_text, ''), "
                      "created_at FROM reviews WHERE output_id = ? ORDER BY id",
                      &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, id);
    int any = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (!any++) fprintf(f, "\nreviews:\n");
        fprintf(f, "  %s  %-8s %s", (const char *)sqlite3_column_text(s, 4),
                (const char *)sqlite3_column_text(s, 1), (const char *)sqlite3_column_text(s, 0));
        if (*sqlite3_column_text(s, 2)) fprintf(f, "  note: %s", sqlite3_column_text(s, 2));
        if (*sqlite3_column_text(s, 3))
            fprintf(f, "\n    edited text: %s", sqlite3_column_text(s, 3));
        fputc('\n', f);
    }
    sqlite3_finalize(s);
    return 0;
}

/* Record one verdict for each id, all or none. */
static int review_apply(store *st, char **ids, int n, const char *reviewer, const char *verdict,
                        const char *note, const char *text) {
    char err[ERR_LEN];
    if (store_begin(st, err)) return cli_error("review: %s", err);
    for (int i = 0; i < n; i++) {
        int64_t id;
        if (parse_id(ids[i], &id)) {
            store_rollback(st);
            return cli_error("review %s: '%s' is not an output id", verdict, ids[i]);
        }
        if (review_add(st, id, reviewer, verdict, note, text, err)) {
            store_rollback(st);
            return cli_error("review %s: %s", verdict, err);
        }
    }
    if (store_commit(st, err)) return cli_error("review: %s", err);
    for (int i = 0; i < n; i++) {
        int64_t id = 0;
        const char *status;
        parse_id(ids[i], &id);
        if (!review_verdict(st, id, &status, NULL, NULL, err))
            printf("output %lld: %s by %s, now %s\n", (long long)id,
                   !strcmp(verdict, "approve")  ? "approved"
                   : !strcmp(verdict, "reject") ? "rejected"
                   : !strcmp(verdict, "edit")   ? "edited"
                                                : "noted",
                   reviewer, status);
    }
    return 0;
}

static const char *usage =
    "usage: quill review [--reviewer NAME]            interactive reviewer\n"
    "       quill review list [--status pending|approved|rejected] [--json]\n"
    "       quill review show ID\n"
    "       quill review approve ID... [--note TEXT]\n"
    "       quill review reject ID... [--note TEXT]\n"
    "       quill review edit ID --text TEXT\n"
    "       quill review note ID... --note TEXT\n"
    "--reviewer NAME records who reviewed (default $USER).  An output needs\n"
    "min_approvals (its recipe's review section, else 1) approvals from\n"
    "different reviewers; any rejection rejects it.\n";

/* `quill review` (interactive) and its list/show/approve/reject/edit/note
** subcommands; returns the exit status (2 for a usage mistake). */
int cmd_review(cli *c, int argc, char **argv) {
    const char *reviewer = getenv("USER"), *note = NULL, *text = NULL, *status = NULL;
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
        } else if (more && !strcmp(a, "--reviewer")) {
            reviewer = argv[++i];
        } else if (more && !strcmp(a, "--note")) {
            note = argv[++i];
        } else if (more && !strcmp(a, "--text")) {
            text = argv[++i];
        } else if (more && !strcmp(a, "--status")) {
            status = argv[++i];
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
    if (!reviewer || !*reviewer) reviewer = "unknown";
    if (status && strcmp(status, "pending") && strcmp(status, "approved") &&
        strcmp(status, "rejected")) {
        free(pos);
        return cli_error("review list: --status must be pending, approved or rejected");
    }
    store *st = NULL;
    if (!sub) {
        if ((st = cli_store(c, STORE_WRITE)))
            rc = review_interactive(st, reviewer);
        else
            rc = 1;
    } else if (!strcmp(sub, "list") && !nids) {
        rc = (st = cli_store(c, STORE_READ)) ? review_list(st, status, json) : 1;
    } else if (!strcmp(sub, "show") && nids == 1) {
        int64_t id;
        char err[ERR_LEN];
        if (parse_id(ids[0], &id))
            rc = cli_error("review show: '%s' is not an output id", ids[0]);
        else if (!(st = cli_store(c, STORE_READ)))
            rc = 1;
        else
            rc = review_print(st, id, stdout, err) ? cli_error("review show: %s", err) : 0;
    } else if ((!strcmp(sub, "approve") || !strcmp(sub, "reject")) && nids >= 1) {
        rc = (st = cli_store(c, STORE_WRITE))
                 ? review_apply(st, ids, nids, reviewer, sub, note, NULL)
                 : 1;
    } else if (!strcmp(sub, "note") && nids >= 1 && note) {
        rc = (st = cli_store(c, STORE_WRITE))
                 ? review_apply(st, ids, nids, reviewer, "note", note, NULL)
                 : 1;
    } else if (!strcmp(sub, "edit") && nids == 1 && text) {
        rc = (st = cli_store(c, STORE_WRITE))
                 ? review_apply(st, ids, 1, reviewer, "edit", note, text)
                 : 1;
    } else if (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "approve") &&
               strcmp(sub, "reject") && strcmp(sub, "note") && strcmp(sub, "edit")) {
        rc = cli_usage_error("review", "unknown subcommand '%s'", sub);
    } else {
        rc = cli_usage_error("review", "%s: missing or extra arguments", sub);
    }
    free(pos);
    return rc;
}

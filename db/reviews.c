/*
** The review gate's SQL (the rules are in reviews.h).
*/
#include "reviews.h"

#include "constrain.h"
#include "err.h"
#include "form_facts.h"
#include "mem.h"
#include "outputs.h"
#include "text.h"

#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prepare sql, bind id as ?1 and step to its row; fails with "no output
** with id N" (REVIEWS_NO_OUTPUT) when there is none.  The caller finalizes
** *s. */
static int fetch(store *st, const char *sql, int64_t id, sqlite3_stmt **s, char *err) {
    if (store_prepare(st, sql, s, err)) return REVIEWS_ERROR;
    sqlite3_bind_int64(*s, 1, id);
    if (sqlite3_step(*s) == SQLITE_ROW) return 0;
    sqlite3_finalize(*s);
    *s = NULL;
    err_set(err, "no output with id %lld", (long long)id);
    return REVIEWS_NO_OUTPUT;
}

/* Normalise a reviewer name into *out (malloc'd), err naming it. */
static int reviewer_key(const char *raw, char **out, char *err) {
    if (txt_name_normalize(raw, out, err)) return err_prefix(err, "reviewer name");
    return 0;
}

/* Output id's current version (1 + its edits) into *version. */
static int current_version(store *st, int64_t id, int *version, char *err) {
    sqlite3_stmt *s;
    int rc = fetch(st,
                   "SELECT 1 + (SELECT COUNT(*) FROM reviews WHERE output_id = o.id AND "
                   "verdict = 'edit') FROM output_rows o WHERE o.id = ?",
                   id, &s, err);
    if (rc) return rc;
    *version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return 0;
}

/* reviewer's standing verdict on output id into said ("approve", "reject"
** or "" when none: their latest approve/reject/withdraw is a withdraw, or
** there is none) and the version it judged into *version; 0 or -1.  With
** only_rejects, approvals are not looked at (a rejection stands until it
** is withdrawn, whatever came after). */
static int standing(store *st, int64_t id, const char *reviewer, int only_rejects, char said[8],
                    int *version, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT verdict, version FROM reviews WHERE output_id = ? AND reviewer = ? "
                      "AND verdict IN ('reject', 'withdraw', ?) ORDER BY id DESC LIMIT 1",
                      &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, reviewer, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, only_rejects ? "reject" : "approve", -1, SQLITE_STATIC);
    said[0] = 0;
    *version = 0;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(s, 0), "withdraw")) {
        snprintf(said, 8, "%s", (const char *)sqlite3_column_text(s, 0));
        *version = sqlite3_column_int(s, 1);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE
               ? 0
               : store_error(st, err, "output %lld: cannot read its reviews", (long long)id);
}

/* 0 when shown (0: not given) is output id's current version cur, else
** REVIEWS_STALE with err saying what to do before verb. */
static int check_version(int64_t id, int shown, int cur, const char *verb, char *err) {
    if (!shown || shown == cur) return 0;
    if (shown > cur)
        err_set(err, "output %lld has no text version %d (it is at version %d)", (long long)id,
                shown, cur);
    else
        err_set(err,
                "output %lld: its text changed since version %d was shown (now version %d); "
                "look at it again (quill review show %lld) before %s",
                (long long)id, shown, cur, (long long)id, verb);
    return REVIEWS_STALE;
}

/* The statuses, by their code in output_rows.status (db/011). */
static const char *const statuses[] = {"pending", "approved", "rejected"};

/* The code of status ("pending", ...) in output_rows.status; -1 for none. */
static int status_code(const char *status) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(status, statuses[i])) return i;
    return -1;
}

int reviews_verdict(store *st, int64_t id, const char **status, int *approvals, int *needed,
                    char *err) {
    /* the rules live in the view (db/006_review_gate.sql, 011) */
    static const char *sql = "SELECT status, approvals, needed FROM output_verdicts "
                             "WHERE output_id = ?";
    sqlite3_stmt *s;
    if (fetch(st, sql, id, &s, err)) return -1;
    const char *said = (const char *)sqlite3_column_text(s, 0);
    int ok = sqlite3_column_int(s, 1), need = sqlite3_column_int(s, 2);
    *status = statuses[0];
    for (int i = 1; i < 3; i++)
        if (!strcmp(said, statuses[i])) *status = statuses[i];
    sqlite3_finalize(s);
    if (approvals) *approvals = ok;
    if (needed) *needed = need;
    return 0;
}

/* Recompute outputs.status of id from its reviews. */
static int refresh(store *st, int64_t id, char *err) {
    const char *status;
    if (reviews_verdict(st, id, &status, NULL, NULL, err)) return -1;
    sqlite3_stmt *s;
    if (store_prepare(st, "UPDATE output_rows SET status = ? WHERE id = ?", &s, err)) return -1;
    sqlite3_bind_int(s, 1, status_code(status));
    sqlite3_bind_int64(s, 2, id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE
               ? 0
               : store_error(st, err, "output %lld: cannot update its status", (long long)id);
}

/* Insert one review row (reviewer already normalised) and refresh the
** status. */
static int add(store *st, int64_t id, const char *reviewer, const char *verdict, const char *note,
               const char *edited_text, int version, const char *breaks, char *err) {
    assert(version >= 1);
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "INSERT INTO reviews (output_id, reviewer, verdict, note, edited_text, "
                      "version, breaks) SELECT id, ?, ?, ?, ?, ?, ? FROM output_rows WHERE id = ?",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, reviewer, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, verdict, -1, SQLITE_STATIC);
    if (note) sqlite3_bind_text(s, 3, note, -1, SQLITE_STATIC);
    if (edited_text) sqlite3_bind_text(s, 4, edited_text, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 5, version);
    if (breaks && *breaks) sqlite3_bind_text(s, 6, breaks, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return store_error(st, err, "output %lld: cannot record the review", (long long)id);
    if (!sqlite3_changes(store_db(st))) {
        err_set(err, "no output with id %lld", (long long)id);
        return REVIEWS_NO_OUTPUT;
    }
    return refresh(st, id, err);
}

/* The columns read_output reads, of output rows o with their batches b,
** parameters p and verdicts v (db/011); a caller appends its conditions
** (" AND ..."). */
#define OUTPUT_SELECT                                                                              \
    "SELECT b.recipe_name, COALESCE(b.recipe_run_id, 0), COALESCE(b.checkpoint_id, 0), "           \
    "o.seed, b.model_source, b.prompt, o.continuation, b.prompt || o.continuation, p.json, "       \
    "o.finish, b.created_at, "                                                                     \
    "(SELECT edited_text FROM reviews WHERE output_id = o.id AND "                                 \
    " verdict = 'edit' ORDER BY id DESC LIMIT 1), "                                                \
    "(SELECT breaks FROM reviews WHERE output_id = o.id AND verdict = 'edit' "                     \
    " ORDER BY id DESC LIMIT 1), "                                                                 \
    "1 + (SELECT COUNT(*) FROM reviews WHERE output_id = o.id AND "                                \
    " verdict = 'edit'), v.status, v.approvals, v.needed, o.id "                                   \
    "FROM output_rows o, output_batches b, output_params p, output_verdicts v "                    \
    "WHERE b.id = o.batch AND p.id = b.params AND v.output_id = o.id"

/* The row of an OUTPUT_SELECT statement into *o; 0, or -1 when out of
** memory (*o then freed). */
static int read_output(sqlite3_stmt *s, reviews_output *o) {
    memset(o, 0, sizeof *o);
    o->id = sqlite3_column_int64(s, 17);
    o->recipe = store_column_dup(s, 0, 1);
    o->recipe_run_id = sqlite3_column_int64(s, 1);
    o->checkpoint_id = sqlite3_column_int64(s, 2);
    o->seed = sqlite3_column_int64(s, 3);
    o->model = store_column_dup(s, 4, 0);
    o->prompt = store_column_dup(s, 5, 0);
    o->continuation = store_column_dup(s, 6, 0);
    o->original = store_column_dup(s, 7, 0);
    o->params_json = store_column_dup(s, 8, 0);
    const char *finish = sqlite3_column_type(s, 9) == SQLITE_INTEGER
                             ? outputs_finish_name(sqlite3_column_int64(s, 9))
                             : NULL;
    o->finish = finish ? strdup(finish) : store_column_dup(s, 9, 0);
    o->created_at = store_column_dup(s, 10, 0);
    o->edited = sqlite3_column_type(s, 11) != SQLITE_NULL;
    o->text = store_column_dup(s, o->edited ? 11 : 7, 0);
    o->breaks = store_column_dup(s, 12, 1);
    o->version = sqlite3_column_int(s, 13);
    const char *said = (const char *)sqlite3_column_text(s, 14);
    o->status = statuses[0];
    for (int i = 1; i < 3; i++)
        if (said && !strcmp(said, statuses[i])) o->status = statuses[i];
    o->approvals = sqlite3_column_int(s, 15);
    o->needed = sqlite3_column_int(s, 16);
    int oom = (!o->recipe && sqlite3_column_type(s, 0) != SQLITE_NULL) || !o->model || !o->prompt ||
              !o->continuation || !o->original || !o->params_json || !o->finish || !o->created_at ||
              !o->text || (!o->breaks && sqlite3_column_type(s, 12) != SQLITE_NULL);
    if (oom) reviews_output_free(o);
    return oom ? -1 : 0;
}

/* Read up to max rows of the prepared OUTPUT_SELECT statement s into v
** (released here); *got gets how many, *more whether a row was left. */
static int read_outputs(store *st, sqlite3_stmt *s, size_t max, reviews_output *v, size_t *got,
                        int *more, char *err) {
    int rc;
    *got = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && *got < max) {
        if (read_output(s, &v[*got])) {
            rc = SQLITE_NOMEM;
            break;
        }
        ++*got;
    }
    if (more) *more = rc == SQLITE_ROW;
    if (rc == SQLITE_NOMEM)
        err_set(err, "out of memory");
    else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        store_error(st, err, "cannot read the outputs");
    store_release(st, s);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) return 0;
    for (size_t i = 0; i < *got; i++)
        reviews_output_free(&v[i]);
    *got = 0;
    return REVIEWS_ERROR;
}

int reviews_get(store *st, int64_t id, reviews_output *o, char *err) {
    sqlite3_stmt *s;
    size_t got;
    memset(o, 0, sizeof *o);
    if (store_prepare_cached(st, OUTPUT_SELECT " AND o.id = ?", &s, err)) return REVIEWS_ERROR;
    sqlite3_bind_int64(s, 1, id);
    int rc = read_outputs(st, s, 1, o, &got, NULL, err);
    if (rc || got) return rc;
    err_set(err, "no output with id %lld", (long long)id);
    return REVIEWS_NO_OUTPUT;
}

/* q as a LIKE pattern matching any text that holds it ('%', '_' and '\\'
** escaped with '\\'), malloc'd; NULL when out of memory. */
static char *like_pattern(const char *q) {
    char *like = malloc(2 * strlen(q) + 3);
    size_t k = 1;
    if (!like) return NULL;
    like[0] = '%';
    for (const char *p = q; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\') like[k++] = '\\';
        like[k++] = *p;
    }
    like[k++] = '%';
    like[k] = 0;
    return like;
}

int reviews_page(store *st, const char *status, const char *recipe, const char *q, int64_t after,
                 size_t limit, reviews_output *v, size_t *got, int *more, char *err) {
    /* one statement for the page (one snapshot; 50 lookups by id cost
    ** twice as much), with only the conditions asked for, so SQLite walks
    ** outputs_status (status, id) from the cursor instead of testing
    ** "?2 IS NULL OR ..." per row */
    char sql[sizeof OUTPUT_SELECT + 160] = OUTPUT_SELECT " AND o.id > ?1";
    /* the status as a constant: an index holds the reviewed ones only */
    if (status) sprintf(sql + strlen(sql), " AND o.status = %d", status_code(status));
    if (recipe) strcat(sql, " AND b.recipe_name = ?3");
    if (q) strcat(sql, " AND b.prompt LIKE ?4 ESCAPE '\\'");
    strcat(sql, " ORDER BY o.id LIMIT ?5");
    char *like = q ? like_pattern(q) : NULL;
    sqlite3_stmt *s;
    *got = 0;
    *more = 0;
    if (q && !like) return err_set(err, "out of memory");
    if (store_prepare_cached(st, sql, &s, err)) {
        free(like);
        return REVIEWS_ERROR;
    }
    sqlite3_bind_int64(s, 1, after);
    if (recipe) sqlite3_bind_text(s, 3, recipe, -1, SQLITE_STATIC);
    if (q) sqlite3_bind_text(s, 4, like, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, (int64_t)limit + 1); /* one more: is there a next page? */
    int rc = read_outputs(st, s, limit, v, got, more, err);
    free(like);
    return rc;
}

void reviews_output_free(reviews_output *o) {
    free(o->recipe), free(o->model), free(o->prompt), free(o->continuation);
    free(o->original), free(o->params_json), free(o->finish), free(o->created_at);
    free(o->text), free(o->breaks);
    memset(o, 0, sizeof *o);
}

/* Collect the int64 column 0 of every row of the prepared statement s
** (finalized here) into *ids. */
static int collect_ids(sqlite3_stmt *s, int64_t **ids, size_t *n, char *err) {
    size_t cap = 0;
    int rc;
    *ids = NULL;
    *n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t *id = mem_push(ids, n, &cap, sizeof *id);
        if (!id) {
            sqlite3_finalize(s);
            return err_set(err, "out of memory");
        }
        *id = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : err_set(err, "cannot list the outputs");
}

int reviews_list(store *st, const char *status, const char *recipe, int64_t **ids, size_t *n,
                 char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT o.id FROM output_rows o, output_batches b WHERE b.id = o.batch "
                      "AND (?1 IS NULL OR o.status = ?1) AND (?2 IS NULL OR b.recipe_name = ?2) "
                      "ORDER BY o.id",
                      &s, err))
        return -1;
    if (status) sqlite3_bind_int(s, 1, status_code(status));
    if (recipe) sqlite3_bind_text(s, 2, recipe, -1, SQLITE_STATIC);
    return collect_ids(s, ids, n, err);
}

int reviews_queue(store *st, const char *reviewer, int64_t **ids, size_t *n, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT id FROM output_rows o WHERE status = 0 AND COALESCE("
                      "(SELECT verdict FROM reviews WHERE output_id = o.id AND reviewer = ? AND "
                      "verdict IN ('approve', 'reject', 'withdraw') ORDER BY id DESC LIMIT 1), "
                      "'withdraw') = 'withdraw' ORDER BY id",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, reviewer, -1, SQLITE_TRANSIENT);
    return collect_ids(s, ids, n, err);
}

int reviews_history(store *st, int64_t id, reviews_entry **v, size_t *n, char *err) {
    *v = NULL;
    *n = 0;
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT reviewer, verdict, note, edited_text, breaks, created_at, version "
                      "FROM reviews WHERE output_id = ? ORDER BY id",
                      &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        reviews_entry *e = mem_push(v, n, &cap, sizeof *e);
        if (!e) break;
        e->reviewer = store_column_dup(s, 0, 0);
        e->verdict = store_column_dup(s, 1, 0);
        e->note = store_column_dup(s, 2, 0);
        e->edited_text = store_column_dup(s, 3, 0);
        e->breaks = store_column_dup(s, 4, 0);
        e->created_at = store_column_dup(s, 5, 0);
        e->version = sqlite3_column_int(s, 6);
        if (!e->reviewer || !e->verdict || !e->note || !e->edited_text || !e->breaks ||
            !e->created_at)
            break;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        reviews_history_free(*v, *n);
        *v = NULL;
        *n = 0;
        return err_set(err, "output %lld: cannot read its reviews", (long long)id);
    }
    return 0;
}

void reviews_history_free(reviews_entry *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(v[i].reviewer), free(v[i].verdict), free(v[i].note);
        free(v[i].edited_text), free(v[i].breaks), free(v[i].created_at);
    }
    free(v);
}

int reviews_approve(store *st, int64_t id, const char *reviewer, int *version, const char *note,
                    char *err) {
    char *who, said[8];
    int cur, judged;
    if (reviewer_key(reviewer, &who, err)) return REVIEWS_ERROR;
    int rc = current_version(st, id, &cur, err);
    if (!rc && version) rc = check_version(id, *version, cur, "approving", err);
    if (!rc) rc = standing(st, id, who, 1, said, &judged, err);
    if (!rc && *said) {
        err_set(err,
                "output %lld: %s rejected it and any rejection rejects; withdraw the rejection "
                "first (quill review withdraw %lld)",
                (long long)id, who, (long long)id);
        rc = REVIEWS_REFUSED;
    }
    if (!rc) rc = add(st, id, who, "approve", note, NULL, cur, NULL, err);
    if (!rc && version) *version = cur;
    free(who);
    return rc;
}

int reviews_reject(store *st, int64_t id, const char *reviewer, int version, const char *note,
                   char *err) {
    char *who;
    int cur;
    if (reviewer_key(reviewer, &who, err)) return REVIEWS_ERROR;
    int rc = current_version(st, id, &cur, err);
    if (!rc) rc = add(st, id, who, "reject", note, NULL, version ? version : cur, NULL, err);
    free(who);
    return rc;
}

/* 1 when a publication that was not abandoned holds output id, 0 when
** none does, -1 on error. */
static int published(store *st, int64_t id, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT 1 FROM publications p, json_each(p.output_ids) j "
                      "WHERE p.state <> 'abandoned' AND j.value = ? LIMIT 1",
                      &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_error(st, err, "output %lld: cannot read the publications", (long long)id);
    return rc == SQLITE_ROW;
}

/* Withdraw reviewer's standing verdict on output id (only a rejection when
** only_rejects: quill review withdraw) with a 'withdraw' row; an undo
** (not only_rejects) is refused once the output was published, and its
** row's note says what it undid. */
static int take_back(store *st, int64_t id, const char *reviewer, int only_rejects,
                     const char *note, const char **undone, char *err) {
    static const char *const verdicts[] = {"approve", "reject"};
    char *who, said[8], why[64];
    int cur, judged, pub = 0;
    if (reviewer_key(reviewer, &who, err)) return REVIEWS_ERROR;
    int rc = current_version(st, id, &cur, err);
    if (!rc) rc = standing(st, id, who, only_rejects, said, &judged, err);
    if (!rc && !only_rejects && *said && (pub = published(st, id, err)) < 0) rc = REVIEWS_ERROR;
    if (!rc && (!*said || pub)) {
        if (!*said)
            err_set(err, "output %lld: %s has no %s to %s", (long long)id, who,
                    only_rejects ? "rejection" : "standing verdict",
                    only_rejects ? "withdraw" : "undo");
        else
            err_set(err,
                    "output %lld was published (quill publish): its verdicts stand; reject it "
                    "if it should not have been",
                    (long long)id);
        rc = REVIEWS_REFUSED;
    }
    if (!rc) {
        snprintf(why, sizeof why, "undo %s of version %d", said, judged);
        rc = add(st, id, who, "withdraw",
                 note           ? note
                 : only_rejects ? NULL
                                : why,
                 NULL, cur, NULL, err);
    }
    if (!rc && undone) *undone = verdicts[!strcmp(said, "reject")];
    free(who);
    return rc;
}

int reviews_withdraw(store *st, int64_t id, const char *reviewer, const char *note, char *err) {
    return take_back(st, id, reviewer, 1, note, NULL, err);
}

int reviews_undo(store *st, int64_t id, const char *reviewer, const char *note, const char **undone,
                 char *err) {
    return take_back(st, id, reviewer, 0, note, undone, err);
}

int reviews_note(store *st, int64_t id, const char *reviewer, const char *note, char *err) {
    char *who;
    int cur;
    if (reviewer_key(reviewer, &who, err)) return REVIEWS_ERROR;
    int rc = current_version(st, id, &cur, err);
    if (!rc) rc = add(st, id, who, "note", note, NULL, cur, NULL, err);
    free(who);
    return rc;
}

/* The constraints in an output's params_json (as gen_params_json writes
** them) into *o, pointing into *root (the caller json_decref's it). */
static int params_constraints(const char *params_json, json_t **root, cons_opts *o,
                              const char ***words, char *err) {
    memset(o, 0, sizeof *o);
    *words = NULL;
    *root = json_loads(params_json, 0, NULL);
    if (!*root) return err_set(err, "its params are not JSON");
    json_t *bw = json_object_get(*root, "banned_words");
    size_t n = json_is_array(bw) ? json_array_size(bw) : 0;
    *words = calloc(n + 1, sizeof **words);
    if (!*words) return err_set(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *w = json_string_value(json_array_get(bw, i));
        if (w && *w) (*words)[o->n_words++] = w;
    }
    o->words = *words;
    const char *match = json_string_value(json_object_get(*root, "match"));
    o->substring = match && !strcmp(match, "substring");
    o->case_sensitive = json_is_true(json_object_get(*root, "case_sensitive"));
    o->forbid_chars = json_string_value(json_object_get(*root, "forbid_chars"));
    o->forbid_case_sensitive = json_is_true(json_object_get(*root, "forbid_case_sensitive"));
    return 0;
}

/* Does text break the form output o held (it ended "form")?  1 with what
** naming the break, 0, or -1 with err set. */
static int form_break(const reviews_output *o, const char *text, char *what, size_t cap,
                      char *err) {
    form_facts ff;
    if (strcmp(o->finish, "form")) return 0;
    int rc = form_facts_of(o->params_json, o->prompt, text, &ff, err);
    if (rc <= 0 || ff.holds) return rc < 0 ? -1 : 0;
    snprintf(what, cap, "broken form (%s)", ff.what);
    return 1;
}

int reviews_edit(store *st, int64_t id, const char *reviewer, const char *text, const char *note,
                 int allow_breaks, int *version, char *breaks, size_t cap, char *err) {
    char *who, what[256] = "";
    if (reviewer_key(reviewer, &who, err)) return REVIEWS_ERROR;
    reviews_output o;
    int rc = reviews_get(st, id, &o, err);
    if (rc) {
        free(who);
        return rc;
    }
    if ((rc = check_version(id, *version, o.version, "editing", err))) goto done;
    rc = REVIEWS_ERROR;
    json_t *root;
    const char **words;
    cons_opts co;
    int hit = params_constraints(o.params_json, &root, &co, &words, err);
    if (!hit) hit = cons_check_text(&co, o.prompt, text, what, sizeof what, err);
    if (!hit) hit = form_break(&o, text, what, sizeof what, err);
    json_decref(root);
    free(words);
    if (hit < 0) {
        err_prefix(err, "output %lld: cannot check the edit against its constraints",
                   (long long)id);
        goto done;
    }
    if (hit && !allow_breaks) {
        rc = REVIEWS_BREAKS;
        err_set(err,
                "output %lld: the edit breaks the output's constraints: it has the %s; "
                "nothing saved (quill review edit --allow-constraint-breaks keeps it, flagged)",
                (long long)id, what);
        goto done;
    }
    if (!(rc = add(st, id, who, "edit", note, text, o.version + 1, what, err))) {
        *version = o.version + 1;
        if (breaks) snprintf(breaks, cap, "%s", what);
    }
done:
    reviews_output_free(&o);
    free(who);
    return rc;
}

int reviews_set_rule(store *st, const char *recipe_name, int64_t min_approvals, char *err) {
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
    return rc == SQLITE_DONE ? 0 : store_error(st, err, "review rule for %s", recipe_name);
}

int reviews_change_rule(store *st, const char *recipe_name, int64_t min_approvals,
                        const char *changed_by, int64_t *old_min, int64_t *changed, char *err) {
    char *who;
    if (reviewer_key(changed_by, &who, err)) return -1;
    sqlite3_stmt *s;
    int rc = -1;
    if (store_prepare(st,
                      "SELECT (SELECT min_approvals FROM review_rules WHERE recipe_name = ?1), "
                      "EXISTS (SELECT 1 FROM output_batches WHERE recipe_name = ?1)",
                      &s, err))
        goto done;
    sqlite3_bind_text(s, 1, recipe_name, -1, SQLITE_STATIC);
    sqlite3_step(s);
    *old_min = sqlite3_column_int64(s, 0);
    int known = sqlite3_column_type(s, 0) != SQLITE_NULL || sqlite3_column_int64(s, 1);
    sqlite3_finalize(s);
    if (!known) {
        err_set(err, "no recipe named '%s' in the store (no rule, no outputs)", recipe_name);
        goto done;
    }
    if (reviews_set_rule(st, recipe_name, min_approvals, err)) goto done;
    if (store_prepare(st,
                      "UPDATE output_rows SET min_approvals = ? WHERE batch IN "
                      "(SELECT id FROM output_batches WHERE recipe_name = ?)",
                      &s, err))
        goto done;
    sqlite3_bind_int64(s, 1, min_approvals);
    sqlite3_bind_text(s, 2, recipe_name, -1, SQLITE_STATIC);
    int step = sqlite3_step(s);
    sqlite3_finalize(s);
    if (step != SQLITE_DONE) {
        store_error(st, err, "outputs of recipe %s", recipe_name);
        goto done;
    }
    *changed = sqlite3_changes(store_db(st));
    if (store_prepare(st,
                      "INSERT INTO review_rule_changes (recipe_name, changed_by, old_min, new_min, "
                      "outputs) VALUES (?, ?, ?, ?, ?)",
                      &s, err))
        goto done;
    sqlite3_bind_text(s, 1, recipe_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, who, -1, SQLITE_STATIC);
    if (*old_min) sqlite3_bind_int64(s, 3, *old_min);
    sqlite3_bind_int64(s, 4, min_approvals);
    sqlite3_bind_int64(s, 5, *changed);
    step = sqlite3_step(s);
    sqlite3_finalize(s);
    if (step != SQLITE_DONE) {
        store_error(st, err, "cannot record the rule change for %s", recipe_name);
        goto done;
    }
    int64_t *ids;
    size_t n;
    if (reviews_list(st, NULL, recipe_name, &ids, &n, err)) goto done;
    rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = refresh(st, ids[i], err);
    free(ids);
done:
    free(who);
    return rc;
}

int64_t reviews_cursor_get(store *st, const char *reviewer) {
    char err[ERR_LEN];
    sqlite3_stmt *s;
    int64_t id = 0;
    if (store_prepare(st, "SELECT output_id FROM review_cursor WHERE reviewer = ?", &s, err))
        return 0;
    sqlite3_bind_text(s, 1, reviewer, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return id;
}

void reviews_cursor_set(store *st, const char *reviewer, int64_t id) {
    char err[ERR_LEN];
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "INSERT INTO review_cursor (reviewer, output_id) VALUES (?, ?) "
                      "ON CONFLICT (reviewer) DO UPDATE SET output_id = excluded.output_id",
                      &s, err))
        return;
    sqlite3_bind_text(s, 1, reviewer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, id);
    sqlite3_step(s);
    sqlite3_finalize(s);
}

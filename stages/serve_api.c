/*
** quill serve's API routes (serve.h, README "Review desk"): every rule is
** db/reviews.h's, the same the CLI and the TUI follow; this file only maps
** HTTP to it by its reviews_rc (404 no output, 409 a stale version or a
** refusal, 422 an edit that breaks the output's constraints).
*/
#include "serve.h"

#include "cli.h"
#include "desk.h"
#include "err.h"
#include "form_facts.h"
#include "jbuf.h"
#include "publish.h"
#include "reviewers.h"
#include "reviews.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *serve_arg(serve_req *r, const char *name) {
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    return v && *v ? v : NULL;
}

/* Output o as the queue shows it, as a value the detail adds to (parsed
** back from serve_output_text: one encoding of an output, not two); NULL when
** out of memory. */
static json_t *output_json(const reviews_output *o) {
    jbuf b = {0};
    size_t n;
    serve_output_text(&b, o);
    char *s = jbuf_take(&b, &n);
    json_t *j = s ? json_loadb(s, n, 0, NULL) : NULL;
    free(s);
    return j;
}

/* The facts of the form o's current text keeps (form_facts_json), null
** when it has none, so the page shows each line's syllables and rhymes. */
static void add_form(json_t *j, const reviews_output *o) {
    char err[ERR_LEN];
    form_facts ff;
    json_t *f = form_facts_of(o->params_json, o->prompt, o->text, &ff, err) == 1
                    ? form_facts_json(&ff)
                    : NULL;
    json_object_set_new(j, "form", f ? f : json_null());
}

/* Output id in full: provenance, constraints, versions, reviews; NULL
** (err says why) when there is none. */
static json_t *detail(store *st, int64_t id, char *err) {
    reviews_output o;
    if (reviews_get(st, id, &o, err)) return NULL;
    json_t *j = output_json(&o), *params = json_loads(o.params_json, 0, NULL);
    json_object_set_new(
        j, "provenance",
        json_pack("{s:o,s:o,s:o,s:o,s:I,s:o,s:o}", "recipe", cli_json_str(o.recipe),
                  "recipe_run_id", o.recipe_run_id ? json_integer(o.recipe_run_id) : json_null(),
                  "checkpoint_id", o.checkpoint_id ? json_integer(o.checkpoint_id) : json_null(),
                  "model", cli_json_str(o.model), "seed", (json_int_t)o.seed, "finish_reason",
                  cli_json_str(o.finish), "params", params ? params : json_object()));
    json_object_set_new(j, "original", cli_json_str(o.original));
    json_object_set_new(j, "holds_constraints", json_boolean(!o.breaks || !*o.breaks));
    add_form(j, &o);
    reviews_entry *v;
    size_t n;
    if (reviews_history(st, id, &v, &n, err)) {
        reviews_output_free(&o);
        json_decref(j);
        return NULL;
    }
    json_t *versions = json_array(), *reviews = json_array();
    json_array_append_new(versions,
                          json_pack("{s:i,s:o}", "version", 1, "text", cli_json_str(o.original)));
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_pack("{s:o,s:s,s:i,s:o,s:s}", "reviewer", cli_json_str(v[i].reviewer),
                              "verdict", v[i].verdict, "version", v[i].version, "note",
                              cli_json_str(v[i].note), "at", v[i].created_at);
        json_array_append_new(reviews, e);
        if (!strcmp(v[i].verdict, "edit"))
            json_array_append_new(versions, json_pack("{s:i,s:o,s:o,s:o}", "version", v[i].version,
                                                      "text", cli_json_str(v[i].edited_text), "by",
                                                      cli_json_str(v[i].reviewer), "breaks",
                                                      cli_json_str(v[i].breaks)));
    }
    reviews_history_free(v, n);
    json_object_set_new(j, "versions", versions);
    json_object_set_new(j, "reviews", reviews);
    reviews_output_free(&o);
    return j;
}

/* The HTTP status of a reviews_rc and the "code" of its error reply. */
static unsigned http_status(int rc, const char **code) {
    *code = rc == REVIEWS_NO_OUTPUT ? "not_found"
            : rc == REVIEWS_STALE   ? "stale"
            : rc == REVIEWS_BREAKS  ? "breaks"
            : rc == REVIEWS_REFUSED ? "refused"
                                    : "error";
    return rc == 0                   ? 200
           : rc == REVIEWS_NO_OUTPUT ? 404
           : rc == REVIEWS_STALE     ? 409
           : rc == REVIEWS_BREAKS    ? 422
           : rc == REVIEWS_REFUSED   ? 409
                                     : 500;
}

/* Record what (review, edit, note, withdraw, undo) of who on output id, as
** body asks, inside the open transaction: the version shown (review,
** edit) must be the current one.  Returns a reviews_rc. */
static int apply(store *st, const serve_who *who, int64_t id, const char *what, json_t *body,
                 char *err) {
    const char *verdict = json_string_value(json_object_get(body, "verdict"));
    const char *note = json_string_value(json_object_get(body, "note"));
    const char *text = json_string_value(json_object_get(body, "text"));
    json_t *jv = json_object_get(body, "version");
    int version = json_is_integer(jv) ? (int)json_integer_value(jv) : 0;
    if (note && !*note) note = NULL;
    reviews_output o;
    int rc = reviews_get(st, id, &o, err), cur = o.version;
    if (rc) return rc;
    reviews_output_free(&o);
    if (version && version != cur) {
        snprintf(err, ERR_LEN, "output %lld changed since version %d was shown (now version %d)",
                 (long long)id, version, cur);
        return REVIEWS_STALE;
    }
    if (!strcmp(what, "edit"))
        return reviews_edit(st, id, who->reviewer, text, note,
                            json_is_true(json_object_get(body, "override")), &version, NULL, 0,
                            err);
    if (!strcmp(what, "review") && !strcmp(verdict, "approve"))
        return reviews_approve(st, id, who->reviewer, &version, note, err);
    if (!strcmp(what, "review")) return reviews_reject(st, id, who->reviewer, version, note, err);
    if (!strcmp(what, "note")) return reviews_note(st, id, who->reviewer, note, err);
    if (!strcmp(what, "undo")) return reviews_undo(st, id, who->reviewer, note, NULL, err);
    return reviews_withdraw(st, id, who->reviewer, note, err);
}

/* What is wrong with body for what (a 400), or NULL. */
static const char *bad_body(const char *what, json_t *body) {
    const char *verdict = json_string_value(json_object_get(body, "verdict"));
    const char *note = json_string_value(json_object_get(body, "note"));
    json_t *jv = json_object_get(body, "version");
    int version = json_is_integer(jv) ? (int)json_integer_value(jv) : 0;
    int is_edit = !strcmp(what, "edit"), is_review = !strcmp(what, "review");
    return is_review && (!verdict || (strcmp(verdict, "approve") && strcmp(verdict, "reject")))
               ? "a review needs verdict (approve or reject) and version"
           : is_edit && !json_is_string(json_object_get(body, "text"))
               ? "an edit needs text and version"
           : (is_review || is_edit) && version < 1      ? "the version shown is missing"
           : !strcmp(what, "note") && (!note || !*note) ? "a note needs note"
                                                        : NULL;
}

/* POST /api/outputs/ID/{review,edit,note,withdraw,undo}: one write
** transaction; 200 with the output as it is now, else the error with its
** code (and the output now: a 409 shows what changed). */
static enum MHD_Result act(serve_req *r, store *st, const serve_who *who, int64_t id,
                           const char *what) {
    char err[ERR_LEN];
    json_t *body = r->body ? json_loads(r->body, 0, NULL) : NULL;
    const char *bad = bad_body(what, body);
    if (bad) {
        json_decref(body);
        return serve_error(r->conn, 400, bad);
    }
    serve_write_lock(1);
    int busy = store_begin(st, err) != 0,
        rc = busy ? REVIEWS_ERROR : apply(st, who, id, what, body, err);
    if (!rc && store_commit(st, err)) busy = 1, rc = REVIEWS_ERROR;
    if (rc) store_rollback(st);
    serve_write_lock(0);
    json_decref(body);
    if (busy) return serve_error(r->conn, 503, err);
    const char *code;
    unsigned status = http_status(rc, &code);
    char derr[ERR_LEN];
    json_t *now = status == 404 ? NULL : detail(st, id, derr);
    if (status == 200) return now ? serve_json(r->conn, 200, now) : serve_error(r->conn, 500, derr);
    json_t *j = json_pack("{s:s,s:s}", "error", err, "code", code);
    if (now) json_object_set_new(j, "output", now);
    return serve_json(r->conn, status, j);
}

/* GET /api/runs and /api/runs/ID/logs. */
static enum MHD_Result runs(serve_req *r, store *st, int64_t id) {
    char err[ERR_LEN];
    json_t *a = json_array();
    if (!id) {
        desk_run *v;
        size_t n;
        if (desk_runs(st, &v, &n, err)) return json_decref(a), serve_error(r->conn, 500, err);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                a, json_pack("{s:I,s:s,s:I,s:I,s:o,s:s}", "id", (json_int_t)v[i].id, "status",
                             v[i].status, "total_steps", (json_int_t)v[i].total_steps, "last_step",
                             (json_int_t)v[i].last_step, "model", cli_json_str(v[i].model),
                             "created_at", v[i].created_at));
        desk_runs_free(v, n);
        return serve_json(r->conn, 200, json_pack("{s:o}", "runs", a));
    }
    desk_log *v;
    size_t n;
    if (desk_logs(st, id, &v, &n, err)) return json_decref(a), serve_error(r->conn, 404, err);
#define NUM(x) (isnan(x) ? json_null() : json_real(x))
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            a, json_pack("{s:s,s:I,s:f,s:f,s:o,s:o}", "kind", v[i].eval ? "eval" : "train", "step",
                         (json_int_t)v[i].step, "epoch", v[i].epoch, "loss", v[i].loss, "lr",
                         NUM(v[i].lr), "grad_norm", NUM(v[i].grad_norm)));
#undef NUM
    free(v);
    return serve_json(r->conn, 200, json_pack("{s:I,s:o}", "run", (json_int_t)id, "logs", a));
}

/* GET /api/publish/preview: the bytes `quill publish` would write now, by
** publish's own gather and render. */
static enum MHD_Result preview(serve_req *r, store *st) {
    const char *format = serve_arg(r, "format") ? serve_arg(r, "format") : "md";
    if (strcmp(format, "md") && strcmp(format, "txt") && strcmp(format, "jsonl"))
        return serve_error(r->conn, 400, "format must be md, txt or jsonl");
    char err[ERR_LEN], *buf = NULL;
    size_t len = 0;
    publish_items it = {0};
    FILE *f = open_memstream(&buf, &len);
    int bad = !f || publish_gather(st, serve_arg(r, "recipe"), 0, &it, err) ||
              publish_render(st, &it, format, f, err);
    if (f) fclose(f);
    publish_items_free(&it);
    enum MHD_Result rc =
        bad ? serve_error(r->conn, 409, f ? err : "out of memory")
            : serve_reply(r->conn, 200,
                          !strcmp(format, "jsonl") ? "application/jsonl; charset=utf-8"
                                                   : "text/plain; charset=utf-8",
                          buf ? buf : "", len, NULL, NULL);
    free(buf);
    return rc;
}

/* GET /api/reviewers (admin only): who may log in, with their live
** sessions; no token or hash ever leaves the store. */
static enum MHD_Result reviewers(serve_req *r, store *st) {
    char err[ERR_LEN];
    reviewers_row *v;
    size_t n;
    if (reviewers_list(st, &v, &n, err)) return serve_error(r->conn, 500, err);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            a, json_pack("{s:o,s:b,s:I,s:s}", "name", cli_json_str(v[i].name), "admin", v[i].admin,
                         "sessions", (json_int_t)v[i].sessions, "created_at", v[i].created_at));
    reviewers_rows_free(v, n);
    return serve_json(r->conn, 200, json_pack("{s:o}", "reviewers", a));
}

/* POST /api/rules {"recipe": R, "min_approvals": N} (admin only): change
** R's review rule for its future and existing outputs, recorded under the
** admin's name, as `quill review rule` does. */
static enum MHD_Result rule(serve_req *r, store *st, const serve_who *who) {
    char err[ERR_LEN];
    json_t *body = r->body ? json_loads(r->body, 0, NULL) : NULL;
    const char *recipe = json_string_value(json_object_get(body, "recipe"));
    json_t *jm = json_object_get(body, "min_approvals");
    json_int_t min = json_is_integer(jm) ? json_integer_value(jm) : 0;
    int64_t old = 0, changed = 0;
    unsigned status = 200;
    if (!recipe || min < 1 || min > 1000) {
        json_decref(body);
        return serve_error(r->conn, 400, "a rule needs recipe and min_approvals 1..1000");
    }
    serve_write_lock(1);
    if (store_begin(st, err))
        status = 503;
    else if (reviews_change_rule(st, recipe, min, who->reviewer, &old, &changed, err) ||
             store_commit(st, err))
        store_rollback(st), status = 409;
    serve_write_lock(0);
    json_t *j = status == 200
                    ? json_pack("{s:s,s:I,s:I,s:I}", "recipe", recipe, "old", (json_int_t)old,
                                "min_approvals", min, "outputs", (json_int_t)changed)
                    : NULL;
    json_decref(body);
    return j ? serve_json(r->conn, 200, j) : serve_error(r->conn, status, err);
}

/* Parse the whole of u as /api/outputs/ID (returns 1) or
** /api/outputs/ID/VERB (2, VERB into tail); 0 when it is neither. */
static int output_url(const char *u, long long *id, char tail[32]) {
    int n = 0, m = 0;
    if (sscanf(u, "/api/outputs/%lld%n", id, &n) != 1 || *id <= 0) return 0;
    if (!u[n]) return 1;
    return sscanf(u + n, "/%31[a-z]%n", tail, &m) == 1 && !u[n + m] ? 2 : 0;
}

enum MHD_Result serve_api(serve_req *r, store *st, const serve_who *who) {
    const char *u = r->url;
    int get = !strcmp(r->method, "GET"), post = !strcmp(r->method, "POST");
    long long id = 0;
    char tail[32] = "";
    int end = 0;
    if (get && !strcmp(u, "/api/outputs")) return serve_queue(r, st);
    if (get && !strcmp(u, "/api/runs")) return runs(r, st, 0);
    if (get && !strcmp(u, "/api/publish/preview")) return preview(r, st);
    int admin_route = (get && !strcmp(u, "/api/reviewers")) || (post && !strcmp(u, "/api/rules"));
    if (admin_route && !who->admin)
        return serve_error(r->conn, 403, "only an admin (quill reviewer add --admin) may do that");
    if (admin_route) return get ? reviewers(r, st) : rule(r, st, who);
    /* whole matches only (%n at the end): /api/outputs/12abc is no output */
    if (sscanf(u, "/api/runs/%lld/%31[a-z]%n", &id, tail, &end) == 2 && !u[end] && id > 0 && get &&
        !strcmp(tail, "logs"))
        return runs(r, st, id);
    int k = output_url(u, &id, tail);
    if (k == 1 && get) {
        char err[ERR_LEN];
        json_t *j = detail(st, id, err);
        return j ? serve_json(r->conn, 200, j) : serve_error(r->conn, 404, err);
    }
    if (k == 2 && post &&
        (!strcmp(tail, "review") || !strcmp(tail, "edit") || !strcmp(tail, "note") ||
         !strcmp(tail, "withdraw") || !strcmp(tail, "undo")))
        return act(r, st, who, id, tail);
    return serve_error(r->conn, 404, "no such API route");
}

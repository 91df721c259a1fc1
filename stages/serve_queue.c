/*
** quill serve's queue page, GET /api/outputs (serve.h): the request the
** desk answers most, so its JSON is written directly into one buffer
** (core/jbuf.h) and handed to libmicrohttpd without a copy.
*/
#include "serve.h"

#include "cli.h"
#include "desk.h"
#include "err.h"
#include "jbuf.h"
#include "reviews.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_MAX 200

void serve_output_text(jbuf *b, const reviews_output *o) {
    jbuf_lit(b, "{\"id\":");
    jbuf_int(b, o->id);
    jbuf_lit(b, ",\"status\":");
    jbuf_str(b, o->status);
    jbuf_lit(b, ",\"approvals\":");
    jbuf_int(b, o->approvals);
    jbuf_lit(b, ",\"needed\":");
    jbuf_int(b, o->needed);
    jbuf_lit(b, ",\"version\":");
    jbuf_int(b, o->version);
    jbuf_lit(b, ",\"prompt\":");
    jbuf_str(b, o->prompt);
    jbuf_lit(b, ",\"continuation\":");
    jbuf_str(b, o->continuation);
    jbuf_lit(b, ",\"text\":");
    jbuf_str(b, o->text);
    jbuf_lit(b, ",\"recipe\":");
    jbuf_str(b, o->recipe);
    jbuf_lit(b, ",\"edited\":");
    jbuf_bool(b, o->edited);
    jbuf_lit(b, ",\"breaks\":");
    jbuf_str(b, o->breaks);
    jbuf_lit(b, ",\"created_at\":");
    jbuf_str(b, o->created_at);
    jbuf_lit(b, "}");
}

/* The first page's counts: ,"counts":{...}; nothing when they cannot be
** read (the page still shows). */
static void counts_text(jbuf *b, store *st, const char *recipe) {
    int64_t p, a, x, need;
    char err[ERR_LEN];
    if (desk_counts(st, recipe, &p, &a, &x, &need, err)) return;
    jbuf_lit(b, ",\"counts\":{\"pending\":");
    jbuf_int(b, p);
    jbuf_lit(b, ",\"approved\":");
    jbuf_int(b, a);
    jbuf_lit(b, ",\"rejected\":");
    jbuf_int(b, x);
    jbuf_lit(b, ",\"needed\":");
    jbuf_int(b, need);
    jbuf_lit(b, "}");
}

enum MHD_Result serve_queue(serve_req *r, store *st) {
    const char *status = serve_arg(r, "status"), *recipe = serve_arg(r, "recipe"),
               *q = serve_arg(r, "q");
    const char *lim = serve_arg(r, "limit"), *cur = serve_arg(r, "cursor");
    long long limit = 50, after = 0;
    if (status && !strcmp(status, "all")) status = NULL;
    if (status && strcmp(status, "pending") && strcmp(status, "approved") &&
        strcmp(status, "rejected"))
        return serve_error(r->conn, 400, "status must be pending, approved, rejected or all");
    if ((lim && cli_int(lim, 1, PAGE_MAX, &limit)) || (cur && cli_int(cur, 0, INT64_MAX, &after)))
        return serve_error(r->conn, 400, "limit must be 1..200 and cursor an output id");
    reviews_output page[PAGE_MAX];
    size_t got;
    int more;
    char err[ERR_LEN];
    if (reviews_page(st, status, recipe, q, after, (size_t)limit, page, &got, &more, err))
        return serve_error(r->conn, 500, err);
    int64_t next = more ? page[got - 1].id : 0; /* more: got == limit */
    jbuf b = {0};
    jbuf_lit(&b, "{\"outputs\":[");
    for (size_t i = 0; i < got; i++) {
        if (i) jbuf_lit(&b, ",");
        serve_output_text(&b, &page[i]);
        reviews_output_free(&page[i]);
    }
    jbuf_lit(&b, "],\"next\":");
    if (more)
        jbuf_int(&b, next);
    else
        jbuf_lit(&b, "null");
    if (!after) counts_text(&b, st, recipe);
    jbuf_lit(&b, "}");
    size_t len;
    char *s = jbuf_take(&b, &len);
    return s ? serve_json_text(r->conn, 200, s, len) : serve_error(r->conn, 500, "out of memory");
}

/*
** quill serve's request plumbing (serve.h): the Host check, the body limit,
** the compiled-in page and the replies' security headers.
*/
#include "serve.h"

#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The page, compiled in from web/ by scripts/embed_web.sh. */
typedef struct web_file {
    const char *path, *type;
    const unsigned char *data;
    size_t n;
} web_file;
extern const web_file web_files[];
extern const size_t web_nfiles;

/* No inline script or style anywhere, nothing from elsewhere. */
static const char *csp = "default-src 'none'; script-src 'self'; style-src 'self'; "
                         "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                         "form-action 'none'; frame-ancestors 'none'";

/* Add the security headers (and extra_header when not NULL) to rsp, queue
** it with status and release it. */
static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status, struct MHD_Response *rsp,
                             const char *type, const char *extra_header, const char *extra_value) {
    if (!rsp) return MHD_NO;
    MHD_add_response_header(rsp, "Content-Type", type);
    MHD_add_response_header(rsp, "Content-Security-Policy", csp);
    MHD_add_response_header(rsp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(rsp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(rsp, "Cache-Control", "no-store");
    if (extra_header) MHD_add_response_header(rsp, extra_header, extra_value);
    enum MHD_Result rc = MHD_queue_response(conn, status, rsp);
    MHD_destroy_response(rsp);
    return rc;
}

enum MHD_Result serve_reply(struct MHD_Connection *conn, unsigned status, const char *type,
                            const void *body, size_t n, const char *extra_header,
                            const char *extra_value) {
    return queue(conn, status,
                 MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY), type,
                 extra_header, extra_value);
}

enum MHD_Result serve_json_text(struct MHD_Connection *conn, unsigned status, char *s, size_t n) {
    /* handed over, not copied: a queue page is some 35 KB */
    struct MHD_Response *rsp = MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_FREE);
    if (!rsp) free(s);
    return queue(conn, status, rsp, "application/json; charset=utf-8", NULL, NULL);
}

enum MHD_Result serve_json(struct MHD_Connection *conn, unsigned status, json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(j);
    if (!s) return serve_error(conn, 500, "cannot encode the reply");
    return serve_json_text(conn, status, s, strlen(s));
}

enum MHD_Result serve_error(struct MHD_Connection *conn, unsigned status, const char *msg) {
    json_t *j = json_object();
    json_object_set_new(j, "error", cli_json_str(msg));
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(j);
    enum MHD_Result rc = serve_reply(conn, status, "application/json; charset=utf-8", s,
                                     s ? strlen(s) : 0, NULL, NULL);
    free(s);
    return rc;
}

/* 1 when the Host header names this machine by a loopback name or address
** (with any port): against DNS rebinding, a page from another origin that
** resolves its name to 127.0.0.1 must not reach the desk. */
static int loopback_host(const char *h) {
    if (!h) return 0;
    size_t n = strlen(h);
    const char *colon = strrchr(h, ':');
    if (h[0] == '[') {
        const char *end = strchr(h, ']');
        return end && (size_t)(end - h) == 4 && !strncmp(h, "[::1]", 5) &&
               (!end[1] || end[1] == ':');
    }
    if (colon) n = (size_t)(colon - h);
    if (n == 9 && !strncasecmp(h, "localhost", 9)) return 1;
    if (n < 9 || n > 15 || strncmp(h, "127.", 4)) return 0;
    for (size_t i = 4; i < n; i++)
        if (h[i] != '.' && (h[i] < '0' || h[i] > '9')) return 0;
    return 1;
}

/* The compiled-in file for url ("/" is index.html), or NULL: only these
** exact names exist, so no path reaches the file system. */
static const web_file *static_file(const char *url) {
    if (!strcmp(url, "/")) url = "/index.html";
    for (size_t i = 0; i < web_nfiles; i++)
        if (!strcmp(url + 1, web_files[i].path)) return &web_files[i];
    return NULL;
}

/* Answer a complete request. */
static enum MHD_Result dispatch(serve_req *r) {
    if (r->too_big) return serve_error(r->conn, 413, "request body too large");
    if (!strncmp(r->url, "/api/", 5)) return serve_auth_route(r);
    const web_file *f = static_file(r->url);
    if (!f) return serve_error(r->conn, 404, "not found");
    if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD"))
        return serve_error(r->conn, 405, "method not allowed");
    return serve_reply(r->conn, 200, f->type, f->data, f->n, NULL, NULL);
}

enum MHD_Result serve_handle(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_n, void **ctx) {
    serve_req *r = *ctx;
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        *ctx = r;
        r->conn = conn;
        r->url = url;
        r->method = method;
        if (serve_config.loopback &&
            !loopback_host(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host")))
            return serve_error(conn, 421, "this desk answers only to a loopback Host");
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > SERVE_MAX_BODY)
            return serve_error(conn, 413, "request body too large");
        return MHD_YES;
    }
    if (*upload_n) {
        size_t n = *upload_n;
        *upload_n = 0;
        if (r->too_big || r->n + n > SERVE_MAX_BODY) {
            r->too_big = 1;
            return MHD_YES;
        }
        if (r->n + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 1024;
            while (cap < r->n + n + 1)
                cap *= 2;
            char *nb = realloc(r->body, cap);
            if (!nb) return MHD_NO;
            r->body = nb;
            r->cap = cap;
        }
        memcpy(r->body + r->n, upload, n);
        r->n += n;
        r->body[r->n] = 0;
        return MHD_YES;
    }
    return dispatch(r);
}

void serve_done(void *cls, struct MHD_Connection *conn, void **ctx,
                enum MHD_RequestTerminationCode why) {
    serve_req *r = *ctx;
    if (!r) return;
    free(r->body);
    free(r);
    *ctx = NULL;
}

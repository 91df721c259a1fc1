/*
** `quill serve`, the review desk: an HTTP(S) server on libmicrohttpd that
** serves the page (web/, compiled in) and a JSON API over the store.
**   serve.c       options, listening socket, TLS, signals, start and stop
**   serve_http.c  requests: host check, body limit, static files, replies
**   serve_auth.c  login, logout, sessions, CSRF, login rate limit
**   serve_api.c   the API routes over db/reviews.h and db/desk.h
** Each server thread has its own store connection (serve_store); SQLite's
** WAL lets them read while the CLI, the TUI or another thread writes.
**   serve_queue.c the queue page, GET /api/outputs
** libmicrohttpd runs a thread per connection; QUILL_SERVE_MODE (threads,
** pool, epoll) and QUILL_SERVE_THREADS pick another threading, for
** bench/desk to compare.
*/
#ifndef QUILL_SERVE_H
#define QUILL_SERVE_H

#include "jbuf.h"
#include "reviews.h"
#include "store.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>

/* Largest request body accepted; a bigger one gets 413. */
#define SERVE_MAX_BODY (256 * 1024)

/* One request in progress. */
typedef struct serve_req {
    struct MHD_Connection *conn;
    const char *method, *url;
    char *body; /* NUL-terminated, n bytes */
    size_t n, cap;
    int too_big;
} serve_req;

/* Server-wide settings, set once before the daemon starts. */
typedef struct serve_cfg {
    const char *db_path;
    int tls;      /* cookies get Secure */
    int loopback; /* bound to a loopback address: Host must be loopback */
} serve_cfg;

extern serve_cfg serve_config;

/* The store connection of the calling thread, opened on first use; NULL
** (err says why) when it cannot be opened. */
store *serve_store(char *err);

/* Take (take = 1) or release (0) the server's write lock: its threads
** write one at a time, queued here rather than in SQLite's busy handler,
** whose sleeps would add tens of milliseconds under load.  Other processes
** (the CLI, the TUI) still meet the busy timeout. */
void serve_write_lock(int take);

/* The libmicrohttpd request handler and completion callback (serve_http.c). */
enum MHD_Result serve_handle(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_n, void **ctx);
void serve_done(void *cls, struct MHD_Connection *conn, void **ctx,
                enum MHD_RequestTerminationCode why);

/* Queue a reply: body (n bytes, copied) with content type; the security
** headers (CSP, nosniff, no-store) are added.  extra_header/extra_value add
** one more header when not NULL. */
enum MHD_Result serve_reply(struct MHD_Connection *conn, unsigned status, const char *type,
                            const void *body, size_t n, const char *extra_header,
                            const char *extra_value);

/* Queue the JSON text s (n bytes, malloc'd, taken: libmicrohttpd frees
** it once sent, or it is freed here when the reply cannot be made). */
enum MHD_Result serve_json_text(struct MHD_Connection *conn, unsigned status, char *s, size_t n);

/* Queue j (taken) as a JSON reply. */
enum MHD_Result serve_json(struct MHD_Connection *conn, unsigned status, json_t *j);

/* Queue {"error": msg} with status. */
enum MHD_Result serve_error(struct MHD_Connection *conn, unsigned status, const char *msg);

/* The logged-in reviewer of a request. */
typedef struct serve_who {
    char *reviewer; /* malloc'd, normalised */
    int admin;      /* may list reviewers and change review rules */
} serve_who;

/* Route an /api/ request (serve_auth.c): login, logout and session are
** answered here; any other route needs a live session (else 401) and, when
** it changes state (POST), the session's X-CSRF-Token (else 403); then
** serve_api runs it. */
enum MHD_Result serve_auth_route(serve_req *r);

/* Run an authenticated API request for who (serve_api.c): 404 for an
** unknown route. */
enum MHD_Result serve_api(serve_req *r, store *st, const serve_who *who);

/* A query argument of r, NULL when absent or empty. */
const char *serve_arg(serve_req *r, const char *name);

/* GET /api/outputs?status=&recipe=&q=&limit=&cursor= (serve_queue.c): a
** page of the queue by keyset (cursor = the last id shown), with "next"
** and, on the first page, the progress counts. */
enum MHD_Result serve_queue(serve_req *r, store *st);

/* Append output o as the queue shows it, one JSON object (the detail of
** an output adds to it). */
void serve_output_text(jbuf *b, const reviews_output *o);

#endif

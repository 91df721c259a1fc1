/*
** quill serve's login, logout and sessions (serve.h), over db/reviewers.h.
** The session cookie is HttpOnly and SameSite=Strict (Secure under TLS);
** a state-changing request must also carry the session's CSRF token in
** X-CSRF-Token.  Failed logins are limited per client address.
*/
#include "serve.h"

#include "err.h"
#include "reviewers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SESSION_TTL (12 * 3600)
#define LOGIN_FAILS 5   /* failed logins allowed per address ... */
#define LOGIN_WINDOW 60 /* ... in this many seconds, then 429 until it ends */
#define LOGIN_SLOTS 256 /* addresses remembered (the oldest is forgotten) */

typedef struct attempts {
    char addr[INET6_ADDRSTRLEN];
    time_t since;
    int fails;
} attempts;

static pthread_mutex_t login_lock = PTHREAD_MUTEX_INITIALIZER;
static attempts login_slots[LOGIN_SLOTS];

/* The client's address as text into out. */
static void client_addr(struct MHD_Connection *conn, char out[INET6_ADDRSTRLEN]) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    strcpy(out, "?");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, INET6_ADDRSTRLEN);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, INET6_ADDRSTRLEN);
}

/* Count a failed login from addr (failed) or ask whether addr may try
** again; returns 1 when addr is over the limit. */
static int login_limited(const char *addr, int failed) {
    time_t now = time(NULL);
    pthread_mutex_lock(&login_lock);
    attempts *slot = NULL, *oldest = &login_slots[0];
    for (int i = 0; i < LOGIN_SLOTS && !slot; i++) {
        if (!strcmp(login_slots[i].addr, addr)) slot = &login_slots[i];
        if (login_slots[i].since < oldest->since) oldest = &login_slots[i];
    }
    if (slot && now - slot->since >= LOGIN_WINDOW) {
        slot->since = now;
        slot->fails = 0;
    }
    if (!slot && failed) {
        slot = oldest;
        snprintf(slot->addr, sizeof slot->addr, "%s", addr);
        slot->since = now;
        slot->fails = 0;
    }
    if (slot && failed) slot->fails++;
    int over = slot && slot->fails > LOGIN_FAILS - (failed ? 0 : 1);
    pthread_mutex_unlock(&login_lock);
    return over;
}

/* {"reviewer": NAME, "csrf": TOKEN, "admin": B}, the answer of login and
** session. */
static json_t *who_json(const char *reviewer, const char *csrf, int admin) {
    return json_pack("{s:s,s:s,s:b}", "reviewer", reviewer, "csrf", csrf, "admin", admin);
}

/* POST /api/login {"token": T}: open a session and set its cookie. */
static enum MHD_Result login(serve_req *r, store *st) {
    char addr[INET6_ADDRSTRLEN], err[ERR_LEN];
    client_addr(r->conn, addr);
    if (login_limited(addr, 0))
        return serve_error(r->conn, 429, "too many failed logins; wait a minute");
    json_t *body = r->body ? json_loads(r->body, 0, NULL) : NULL;
    const char *token = json_string_value(json_object_get(body, "token"));
    if (!token || strlen(token) != REVIEWERS_SECRET_LEN - 1) {
        json_decref(body);
        login_limited(addr, 1);
        return serve_error(r->conn, 401, "not a login token");
    }
    char cookie[REVIEWERS_SECRET_LEN], csrf[REVIEWERS_SECRET_LEN], *reviewer, *again = NULL;
    int ok = reviewers_login(st, token, SESSION_TTL, &reviewer, cookie, csrf, err), admin = 0;
    json_decref(body);
    if (ok < 0) return serve_error(r->conn, 500, err);
    if (!ok) {
        login_limited(addr, 1);
        return serve_error(r->conn, 401, "unknown or revoked token");
    }
    if (reviewers_session(st, cookie, &again, &admin, csrf, err) < 0) admin = 0;
    free(again);
    char set[256];
    snprintf(set, sizeof set, "quill_session=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
             cookie, SESSION_TTL, serve_config.tls ? "; Secure" : "");
    json_t *j = who_json(reviewer, csrf, admin);
    free(reviewer);
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(j);
    enum MHD_Result rc = serve_reply(r->conn, 200, "application/json; charset=utf-8", s,
                                     s ? strlen(s) : 0, "Set-Cookie", set);
    free(s);
    return rc;
}

enum MHD_Result serve_auth_route(serve_req *r) {
    char err[ERR_LEN];
    store *st = serve_store(err);
    if (!st) return serve_error(r->conn, 500, err);
    int post = !strcmp(r->method, "POST");
    if (!strcmp(r->url, "/api/login"))
        return post ? login(r, st) : serve_error(r->conn, 405, "method not allowed");
    const char *cookie = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "quill_session");
    char csrf[REVIEWERS_SECRET_LEN];
    serve_who who = {0};
    int live = cookie ? reviewers_session(st, cookie, &who.reviewer, &who.admin, csrf, err) : 0;
    if (live < 0) return serve_error(r->conn, 500, err);
    if (!live) return serve_error(r->conn, 401, "not logged in");
    enum MHD_Result rc;
    const char *sent = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-CSRF-Token");
    int changes = strcmp(r->method, "GET") && strcmp(r->method, "HEAD");
    if (changes && (!sent || strlen(sent) != REVIEWERS_SECRET_LEN - 1 ||
                    CRYPTO_memcmp(sent, csrf, REVIEWERS_SECRET_LEN - 1)))
        rc = serve_error(r->conn, 403, "missing or wrong X-CSRF-Token");
    else if (!strcmp(r->url, "/api/session"))
        rc = changes ? serve_error(r->conn, 405, "method not allowed")
                     : serve_json(r->conn, 200, who_json(who.reviewer, csrf, who.admin));
    else if (!strcmp(r->url, "/api/logout"))
        rc = !post ? serve_error(r->conn, 405, "method not allowed")
             : reviewers_logout(st, cookie, err)
                 ? serve_error(r->conn, 500, err)
                 : serve_reply(r->conn, 200, "application/json; charset=utf-8", "{}", 2,
                               "Set-Cookie",
                               "quill_session=; Path=/; Max-Age=0; "
                               "HttpOnly; SameSite=Strict");
    else
        rc = serve_api(r, st, &who);
    free(who.reviewer);
    return rc;
}

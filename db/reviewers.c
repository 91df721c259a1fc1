/*
** Reviewers and desk sessions (reviewers.h): tokens and cookies are random
** (OpenSSL's RAND_bytes) and kept only as SHA-256 hex.
*/
#include "reviewers.h"

#include "err.h"
#include "mem.h"
#include "text.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 32 random bytes as 64 hex digits into out. */
static int secret(char out[REVIEWERS_SECRET_LEN], char *err) {
    unsigned char b[32];
    if (RAND_bytes(b, sizeof b) != 1) return err_set(err, "no random bytes from the system");
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return 0;
}

/* The SHA-256 of s as 64 hex digits into out. */
static int sha256_hex(const char *s, char out[REVIEWERS_SECRET_LEN], char *err) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return err_set(err, "cannot compute SHA-256");
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* Step s (bound by the caller) to the end and finalize it; 0 when it ran. */
static int run(store *st, sqlite3_stmt *s, const char *what, char *err) {
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_error(st, err, "%s", what);
}

int reviewers_add(store *st, const char *name, int admin, char token[REVIEWERS_SECRET_LEN],
                  char **key, char *err) {
    char hash[REVIEWERS_SECRET_LEN];
    *key = NULL;
    if (txt_name_normalize(name, key, err)) return err_prefix(err, "reviewer name");
    if (secret(token, err) || sha256_hex(token, hash, err) || store_begin(st, err)) goto fail;
    sqlite3_stmt *s;
    if (store_prepare(st, "SELECT 1 FROM reviewers WHERE name = ?", &s, err)) goto rollback;
    sqlite3_bind_text(s, 1, *key, -1, SQLITE_STATIC);
    int exists = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    if (exists) {
        err_set(err, "reviewer %s exists (quill reviewer remove, then add, for a new token)", *key);
        goto rollback;
    }
    if (store_prepare(st, "INSERT INTO reviewers (name, token_hash, admin) VALUES (?, ?, ?)", &s,
                      err))
        goto rollback;
    sqlite3_bind_text(s, 1, *key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, admin != 0);
    if (run(st, s, "cannot add the reviewer", err) || store_commit(st, err)) goto rollback;
    return 0;
rollback:
    store_rollback(st);
fail:
    free(*key);
    *key = NULL;
    memset(token, 0, REVIEWERS_SECRET_LEN);
    return -1;
}

int reviewers_list(store *st, reviewers_row **v, size_t *n, char *err) {
    *v = NULL;
    *n = 0;
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT name, admin, created_at, (SELECT COUNT(*) FROM sessions e "
                      "WHERE e.reviewer = r.name AND e.expires_at > ?) FROM reviewers r "
                      "ORDER BY name",
                      &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, (int64_t)time(NULL));
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        reviewers_row *r = mem_push(v, n, &cap, sizeof *r);
        if (!r) break;
        r->name = strdup((const char *)sqlite3_column_text(s, 0));
        r->admin = sqlite3_column_int(s, 1);
        r->created_at = strdup((const char *)sqlite3_column_text(s, 2));
        r->sessions = sqlite3_column_int64(s, 3);
        if (!r->name || !r->created_at) break;
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    reviewers_rows_free(*v, *n);
    *v = NULL;
    *n = 0;
    return rc == SQLITE_ROW ? err_set(err, "out of memory")
                            : store_error(st, err, "cannot list the reviewers");
}

void reviewers_rows_free(reviewers_row *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].created_at);
    }
    free(v);
}

int reviewers_remove(store *st, const char *name, int64_t *sessions, char *err) {
    char *key;
    if (txt_name_normalize(name, &key, err)) return err_prefix(err, "reviewer name");
    sqlite3_stmt *s;
    int rc = -1;
    if (store_begin(st, err)) goto done;
    if (store_prepare(st, "SELECT COUNT(*) FROM sessions WHERE reviewer = ? AND expires_at > ?", &s,
                      err))
        goto rollback;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
    int64_t live = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    /* sessions first: the foreign key would cascade, but say it here too */
    if (store_prepare(st, "DELETE FROM sessions WHERE reviewer = ?", &s, err)) goto rollback;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    if (run(st, s, "cannot end the reviewer's sessions", err)) goto rollback;
    if (store_prepare(st, "DELETE FROM reviewers WHERE name = ?", &s, err)) goto rollback;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    if (run(st, s, "cannot remove the reviewer", err)) goto rollback;
    if (!sqlite3_changes(store_db(st))) {
        err_set(err, "no reviewer named %s", key);
        goto rollback;
    }
    if (store_commit(st, err)) goto rollback;
    if (sessions) *sessions = live;
    rc = 0;
    goto done;
rollback:
    store_rollback(st);
done:
    free(key);
    return rc;
}

int reviewers_login(store *st, const char *token, int64_t ttl, char **reviewer,
                    char cookie[REVIEWERS_SECRET_LEN], char csrf[REVIEWERS_SECRET_LEN], char *err) {
    char hash[REVIEWERS_SECRET_LEN], cookie_hash[REVIEWERS_SECRET_LEN];
    *reviewer = NULL;
    if (sha256_hex(token, hash, err) || secret(cookie, err) || secret(csrf, err) ||
        sha256_hex(cookie, cookie_hash, err) || store_begin(st, err))
        return -1;
    sqlite3_stmt *s;
    if (store_prepare(st, "SELECT name FROM reviewers WHERE token_hash = ?", &s, err))
        goto rollback;
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) *reviewer = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    if (!*reviewer) {
        store_rollback(st);
        return 0;
    }
    if (store_prepare(st,
                      "INSERT INTO sessions (id_hash, reviewer, csrf, expires_at) "
                      "VALUES (?, ?, ?, ?)",
                      &s, err))
        goto rollback;
    sqlite3_bind_text(s, 1, cookie_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, *reviewer, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, csrf, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (int64_t)time(NULL) + ttl);
    if (run(st, s, "cannot open a session", err) || store_commit(st, err)) goto rollback;
    return 1;
rollback:
    store_rollback(st);
    free(*reviewer);
    *reviewer = NULL;
    return -1;
}

int reviewers_session(store *st, const char *cookie, char **reviewer, int *admin,
                      char csrf[REVIEWERS_SECRET_LEN], char *err) {
    char hash[REVIEWERS_SECRET_LEN];
    *reviewer = NULL;
    if (sha256_hex(cookie, hash, err)) return -1;
    sqlite3_stmt *s;
    if (store_prepare_cached(st,
                             "SELECT s.reviewer, s.csrf, r.admin FROM sessions s JOIN reviewers r "
                             "ON r.name = s.reviewer WHERE s.id_hash = ? AND s.expires_at > ?",
                             &s, err))
        return -1;
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *reviewer = strdup((const char *)sqlite3_column_text(s, 0));
        snprintf(csrf, REVIEWERS_SECRET_LEN, "%s", (const char *)sqlite3_column_text(s, 1));
        if (admin) *admin = sqlite3_column_int(s, 2);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) store_error(st, err, "cannot read the session");
    store_release(st, s);
    if (rc == SQLITE_ROW) return *reviewer ? 1 : err_set(err, "out of memory");
    return rc == SQLITE_DONE ? 0 : -1;
}

int reviewers_logout(store *st, const char *cookie, char *err) {
    char hash[REVIEWERS_SECRET_LEN];
    if (sha256_hex(cookie, hash, err) || store_begin(st, err)) return -1;
    sqlite3_stmt *s;
    if (store_prepare(st, "DELETE FROM sessions WHERE id_hash = ? OR expires_at <= ?", &s, err))
        goto rollback;
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
    if (run(st, s, "cannot end the session", err) || store_commit(st, err)) goto rollback;
    return 0;
rollback:
    store_rollback(st);
    return -1;
}

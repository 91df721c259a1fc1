/*
** The ingest stage (see ingest.h) and `quill ingest`.
**
** Sources are read one at a time by one thread into a batch of pending
** documents; each document is cleaned, hashed and compressed by an OpenMP
** task as soon as it is read, so reading overlaps compression (the bound).
** A full batch waits for its tasks and is inserted in order.  Each top-level path and each archive
*runs inside its
** own SAVEPOINT so that a corrupt archive contributes nothing.
*/
#include "ingest.h"

#include "cli.h"
#include "err.h"
#include "jw.h"
#include "progress.h"
#include "text.h"
#include "zbuf.h"

#include <assert.h>
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BATCH_BYTES (64u << 20)
#define BATCH_DOCS 256

/* A document on its way into the store. */
typedef struct pending {
    char *source;
    unsigned char *raw; /* as read; freed after cleaning */
    size_t raw_n;
    char *text; /* cleaned text (raw's buffer, reused when it was valid) */
    size_t text_n, chars;
    char hash[HASH_HEX_LEN];
    void *z;
    size_t zn;
    char *skip; /* reason when it is not stored */
} pending;

typedef struct ingest {
    store *st;
    const ingest_opts *o;
    ingest_result *res;
    pending *batch;
    int n_batch;
    size_t batch_bytes;
    char (*hashes)[HASH_HEX_LEN]; /* content hash of each res->doc_ids entry */
    progress prog;
    int savepoint_depth;
    /* Counts at each open savepoint, restored when it is rolled back. */
    struct {
        int added, duplicates, n_doc_ids;
    } marks[8];
} ingest;

/* The defaults: no --max-chars, nothing stripped or normalised, invalid
** UTF-8 rejected, members up to 1 GiB. */
void ingest_opts_default(ingest_opts *o) {
    o->max_chars = -1;
    o->strip_gutenberg = 0;
    o->normalize_newlines = 0;
    o->replace_invalid = 0;
    o->max_member_bytes = 1LL << 30;
}

static void note_add(ingest_note **list, int *n, const char *source, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Append (source, printf-style reason) to a skip or error list. */
static void note_add(ingest_note **list, int *n, const char *source, const char *fmt, ...) {
    char reason[ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    *list = realloc(*list, (size_t)(*n + 1) * sizeof **list);
    (*list)[*n].source = strdup(source);
    (*list)[*n].reason = strdup(reason);
    (*n)++;
}

/* Free the lists of a result from stage_ingest(). */
void ingest_result_free(ingest_result *res) {
    for (int i = 0; i < res->n_skips; i++)
        free(res->skips[i].source), free(res->skips[i].reason);
    for (int i = 0; i < res->n_errors; i++)
        free(res->errors[i].source), free(res->errors[i].reason);
    free(res->skips);
    free(res->errors);
    free(res->doc_ids);
}

/* Clean one document: binary and empty checks, BOM, UTF-8, Gutenberg
** boilerplate, newlines, max_chars; then hash and compress.  Runs in
** parallel, so it touches only p. */
static void clean_one(pending *p, const ingest_opts *o) {
    char reason[ERR_LEN];
    if (p->raw_n == 0) {
        p->skip = strdup("empty file");
        return;
    }
    if (txt_has_nul(p->raw, p->raw_n)) {
        p->skip = strdup("binary (contains NUL bytes)");
        return;
    }
    size_t bom = txt_bom_len(p->raw, p->raw_n), bad;
    const unsigned char *s = p->raw + bom;
    size_t n = p->raw_n - bom;
    if (txt_utf8_valid(s, n, &bad)) {
        /* The common case works in place, without a copy. */
        memmove(p->raw, s, n);
        p->text = (char *)p->raw;
        p->raw = NULL;
        p->text_n = n;
    } else if (o->replace_invalid) {
        p->text = txt_utf8_repair(s, n, &p->text_n);
        free(p->raw);
        p->raw = NULL;
    } else {
        snprintf(reason, sizeof reason,
                 "invalid UTF-8 at byte offset %zu (use --on-invalid-utf8 replace)", bad + bom);
        p->skip = strdup(reason);
        return;
    }
    size_t b = 0, e = p->text_n;
    if (o->strip_gutenberg) txt_gutenberg_body(p->text, p->text_n, &b, &e);
    if (b) memmove(p->text, p->text + b, e - b);
    p->text_n = e - b;
    if (o->normalize_newlines) p->text_n = txt_normalize_newlines(p->text, p->text_n);
    if (o->max_chars >= 0)
        p->text_n = txt_prefix_bytes((unsigned char *)p->text, p->text_n, (size_t)o->max_chars);
    if (p->text_n == 0) {
        p->skip = strdup("empty after clean-up");
        return;
    }
    p->chars = txt_count_chars((unsigned char *)p->text, p->text_n);
    hash_hex(p->text, p->text_n, p->hash);
    char zerr[ERR_LEN];
    if (zbuf_compress(p->text, p->text_n, 3, &p->z, &p->zn, zerr)) p->skip = strdup(zerr);
}

/* *id = the id of the document with this content hash, or 0 if none. */
static int doc_exists(store *st, const char *hash, int64_t *id, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st, "SELECT id FROM documents WHERE hash = ?", &s, err)) return -1;
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store_error(st, err, "document %s", hash);
    return 0;
}

/* Store a prepared document (its compressed text and its row), or count
** it as a duplicate; either way it joins the documents the run saw. */
/* Note a document the run saw (duplicates included; repeats are removed
** at the end). */
static void seen_doc(ingest *g, int64_t id, const char *hash) {
    ingest_result *r = g->res;
    r->doc_ids = realloc(r->doc_ids, (size_t)(r->n_doc_ids + 1) * sizeof *r->doc_ids);
    g->hashes = realloc(g->hashes, (size_t)(r->n_doc_ids + 1) * sizeof *g->hashes);
    r->doc_ids[r->n_doc_ids] = id;
    memcpy(g->hashes[r->n_doc_ids], hash, HASH_HEX_LEN);
    r->n_doc_ids++;
}

static int insert_doc(ingest *g, pending *p, char *err) {
    int64_t existing = 0;
    if (doc_exists(g->st, p->hash, &existing, err)) return -1;
    if (existing) {
        g->res->duplicates++;
        seen_doc(g, existing, p->hash);
        return 0;
    }
    int64_t blob;
    if (store_put_compressed(g->st, p->hash, p->text_n, p->z, p->zn, &blob, err)) return -1;
    sqlite3_stmt *s;
    if (store_prepare(g->st,
                      "INSERT INTO documents(source, hash, bytes, chars, text_blob) "
                      "VALUES (?, ?, ?, ?, ?)",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, p->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, p->hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)p->text_n);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)p->chars);
    sqlite3_bind_int64(s, 5, blob);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_error(g->st, err, "cannot store %s", p->source);
    g->res->added++;
    seen_doc(g, sqlite3_last_insert_rowid(store_db(g->st)), p->hash);
    return 0;
}

/* Free what a prepared document holds. */
static void pending_free(pending *p) {
    free(p->source);
    free(p->raw);
    free(p->text);
    free(p->z);
    free(p->skip);
}

/* Wait for the batch's clean-up tasks, then free and empty the batch. */
static void batch_drop(ingest *g) {
#pragma omp taskwait
    for (int i = 0; i < g->n_batch; i++)
        pending_free(&g->batch[i]);
    g->n_batch = 0;
    g->batch_bytes = 0;
}

/* Wait for the batch's clean-up tasks, then insert it in order. */
static int batch_flush(ingest *g, char *err) {
    const int n = g->n_batch;
#pragma omp taskwait
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        pending *p = &g->batch[i];
        if (p->skip)
            note_add(&g->res->skips, &g->res->n_skips, p->source, "%s", p->skip);
        else
            rc = insert_doc(g, p, err);
    }
    batch_drop(g);
    return rc;
}

/* Queue a document (takes ownership of raw). */
static int batch_add(ingest *g, const char *source, unsigned char *raw, size_t n, char *err) {
    if (!g->batch) g->batch = calloc(BATCH_DOCS, sizeof *g->batch);
    pending *p = &g->batch[g->n_batch++];
    memset(p, 0, sizeof *p);
    p->source = strdup(source);
    p->raw = raw;
    p->raw_n = n;
    g->batch_bytes += n;
    g->res->bytes_in += (long long)n;
    const ingest_opts *o = g->o;
#pragma omp task firstprivate(p, o)
    clean_one(p, o);
    progress_add(&g->prog, (double)n / 1e6);
    if (g->n_batch == BATCH_DOCS || g->batch_bytes >= BATCH_BYTES) return batch_flush(g, err);
    return 0;
}

/* Run VERB (SAVEPOINT, RELEASE, ROLLBACK TO) on the innermost savepoint. */
static int savepoint(ingest *g, const char *verb, char *err) {
    char sql[64];
    snprintf(sql, sizeof sql, "%s ingest_%d", verb, g->savepoint_depth);
    return store_exec(g->st, sql, err);
}

/* Open a nested savepoint for one PATH or archive. */
static int savepoint_open(ingest *g, char *err) {
    assert(g->savepoint_depth < 8); /* a path, then an archive in it */
    g->savepoint_depth++;
    g->marks[g->savepoint_depth - 1].added = g->res->added;
    g->marks[g->savepoint_depth - 1].duplicates = g->res->duplicates;
    g->marks[g->savepoint_depth - 1].n_doc_ids = g->res->n_doc_ids;
    return savepoint(g, "SAVEPOINT", err);
}

/* Close the innermost savepoint: keep its work, or undo it when failed. */
static int savepoint_close(ingest *g, int failed, char *err) {
    int rc = 0;
    if (failed) {
        batch_drop(g);
        rc = savepoint(g, "ROLLBACK TO", err);
        g->res->added = g->marks[g->savepoint_depth - 1].added;
        g->res->duplicates = g->marks[g->savepoint_depth - 1].duplicates;
        g->res->n_doc_ids = g->marks[g->savepoint_depth - 1].n_doc_ids;
    }
    if (!rc) rc = savepoint(g, "RELEASE", err);
    g->savepoint_depth--;
    return rc;
}

/* Archives and compressed files, by content or by name. */
static int looks_like_archive(const char *path, const unsigned char *head, size_t n) {
    static const char *ext[] = {".tar", ".tgz", ".tbz2", ".txz", ".tzst", ".zip",
                                ".gz",  ".bz2", ".xz",   ".zst", NULL};
    for (int i = 0; ext[i]; i++)
        if (txt_ends_with(path, ext[i])) return 1;
    if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b) return 1; /* gzip */
    if (n >= 3 && !memcmp(head, "BZh", 3)) return 1;            /* bzip2 */
    if (n >= 6 && !memcmp(head,
                          "\xFD"
                          "7zXZ\0",
                          6))
        return 1;                                                 /* xz */
    if (n >= 4 && !memcmp(head, "\x28\xB5\x2F\xFD", 4)) return 1; /* zstd */
    if (n >= 4 && (!memcmp(head, "PK\3\4", 4) || !memcmp(head, "PK\5\6", 4))) return 1;
    if (n >= 262 && !memcmp(head + 257, "ustar", 5)) return 1; /* tar */
    return 0;
}

/* A member path that climbs out of its archive or is absolute. */
static int unsafe_member(const char *name) {
    if (name[0] == '/') return 1;
    for (const char *p = name; *p;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') return 1;
        if (!slash) break;
        p = slash + 1;
    }
    return 0;
}

/* Something read_all() reads from: fills buf with up to n bytes and returns
** how many (0 at the end), or -1 on a read error. */
typedef long (*read_fn)(void *src, unsigned char *buf, size_t n);

/* Read src to its end into memory, after the pre_n bytes of pre, at most
** limit bytes in all: returns 0 with *out malloc'd, 1 when there are more
** (whatever a header or stat() said), 2 when memory runs out, -1 on a read
** error.  The buffer grows as it fills, so a source that is longer than
** announced, or announces nothing (/proc, a FIFO), cannot overflow it. */
static int read_all(read_fn rd, void *src, const unsigned char *pre, size_t pre_n, long long limit,
                    unsigned char **out, size_t *out_n) {
    size_t cap = 1 << 16, n = pre_n;
    assert(pre_n <= cap);
    unsigned char *buf = malloc(cap);
    if (buf && pre_n) memcpy(buf, pre, pre_n);
    for (;;) {
        if (buf && n == cap) {
            unsigned char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
        if (!buf) return 2;
        if ((long long)n > limit) {
            free(buf);
            return 1;
        }
        long r = rd(src, buf + n, cap - n);
        if (r < 0) {
            free(buf);
            return -1;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    *out = buf;
    *out_n = n;
    return 0;
}

/* read_fn over an archive's current member. */
static long archive_reader(void *src, unsigned char *buf, size_t n) {
    return (long)archive_read_data(src, buf, n);
}

/* read_fn over a stdio file. */
static long file_reader(void *src, unsigned char *buf, size_t n) {
    size_t r = fread(buf, 1, n, src);
    return r == 0 && ferror((FILE *)src) ? -1 : (long)r;
}

/* Every member of an archive (or the one stream of a compressed file). */
static int ingest_archive_members(ingest *g, struct archive *a, const char *path, char *why,
                                  char *err) {
    struct archive_entry *e;
    int single = 0, r;
    char source[4096];
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        if (archive_format(a) == ARCHIVE_FORMAT_RAW) single = 1;
        if (archive_entry_filetype(e) != AE_IFREG) continue;
        const char *name = archive_entry_pathname(e);
        if (!name) name = "?";
        if (single)
            snprintf(source, sizeof source, "%s", path);
        else
            snprintf(source, sizeof source, "%s!%s", path, name);
        if (!single && unsafe_member(name)) {
            note_add(&g->res->skips, &g->res->n_skips, source,
                     "unsafe member path (absolute or containing ..)");
            continue;
        }
        if (archive_entry_size_is_set(e) && archive_entry_size(e) > g->o->max_member_bytes) {
            note_add(&g->res->skips, &g->res->n_skips, source,
                     "member of %lld bytes exceeds the limit of %lld bytes",
                     (long long)archive_entry_size(e), g->o->max_member_bytes);
            continue;
        }
        unsigned char *data;
        size_t n;
        int rr = read_all(archive_reader, a, NULL, 0, g->o->max_member_bytes, &data, &n);
        if (rr < 0) {
            snprintf(why, ERR_LEN, "%s: %s", name, archive_error_string(a));
            return 1;
        }
        if (rr > 0) {
            if (rr == 2)
                note_add(&g->res->skips, &g->res->n_skips, source, "out of memory");
            else
                note_add(&g->res->skips, &g->res->n_skips, source,
                         "member exceeds the limit of %lld bytes", g->o->max_member_bytes);
            continue;
        }
        if (batch_add(g, source, data, n, err)) return -1;
    }
    if (r != ARCHIVE_EOF) {
        snprintf(why, ERR_LEN, "%s",
                 archive_error_string(a) ? archive_error_string(a) : "cannot read archive");
        return 1;
    }
    return 0;
}

/* Ingest an archive inside its own savepoint; a corrupt one keeps nothing. */
static int ingest_archive(ingest *g, const char *path, char *err) {
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    archive_read_support_format_raw(a);
    char why[ERR_LEN] = "";
    int rc = 0;
    if (savepoint_open(g, err)) {
        archive_read_free(a);
        return -1;
    }
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        snprintf(why, sizeof why, "%s", archive_error_string(a));
        rc = 1;
    } else {
        rc = ingest_archive_members(g, a, path, why, err);
        if (rc == 0) rc = batch_flush(g, err);
    }
    archive_read_free(a);
    if (rc < 0) return -1;
    if (savepoint_close(g, rc > 0, err)) return -1;
    if (rc > 0)
        note_add(&g->res->errors, &g->res->n_errors, path, "corrupt or truncated archive: %s", why);
    return 0;
}

static int ingest_path(ingest *g, const char *path, int explicit, char *err);

/* qsort order of folder entries: bytewise by name. */
static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory: recursive, in sorted (bytewise) order. */
static int ingest_dir(ingest *g, const char *path, char *err) {
    DIR *d = opendir(path);
    if (!d) {
        note_add(&g->res->errors, &g->res->n_errors, path, "%s", strerror(errno));
        return 0;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char **nn = realloc(names, (n + 1) * sizeof *names);
        if (nn) names = nn;
        if (!nn || !(names[n] = strdup(de->d_name)))
            rc = err_set(err, "%s: out of memory", path);
        else
            n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        char child[4096];
        snprintf(child, sizeof child, "%s%s%s", path, txt_ends_with(path, "/") ? "" : "/",
                 names[i]);
        struct stat lst;
        /* Symlinked folders are not followed, so a link cannot loop. */
        if (!rc && !(lstat(child, &lst) == 0 && S_ISLNK(lst.st_mode) && stat(child, &lst) == 0 &&
                     S_ISDIR(lst.st_mode)))
            rc = ingest_path(g, child, 0, err);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* A plain file, unless its name or first bytes say it is an archive (whose
** own size is not limited: its members are).  A file that is not regular
** (a FIFO, /proc) is read as text to its end, as is one that grows while
** it is read: stat()'s size is only a first guess. */
static int ingest_file(ingest *g, const char *path, const struct stat *sb, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        note_add(&g->res->errors, &g->res->n_errors, path, "%s", strerror(errno));
        return 0;
    }
    unsigned char head[512];
    size_t hn = fread(head, 1, sizeof head, f);
    if (S_ISREG(sb->st_mode) && looks_like_archive(path, head, hn)) {
        fclose(f);
        return ingest_archive(g, path, err);
    }
    long long limit = g->o->max_member_bytes;
    if (S_ISREG(sb->st_mode) && sb->st_size > limit) {
        fclose(f);
        note_add(&g->res->skips, &g->res->n_skips, path,
                 "file of %lld bytes exceeds the limit of %lld bytes", (long long)sb->st_size,
                 limit);
        return 0;
    }
    unsigned char *buf = NULL;
    size_t n = 0;
    int rr = ferror(f) ? -1 : read_all(file_reader, f, head, hn, limit, &buf, &n);
    fclose(f);
    if (rr < 0)
        note_add(&g->res->errors, &g->res->n_errors, path, "read error");
    else if (rr == 2)
        note_add(&g->res->skips, &g->res->n_skips, path, "out of memory");
    else if (rr == 1)
        note_add(&g->res->skips, &g->res->n_skips, path, "file exceeds the limit of %lld bytes",
                 limit);
    return rr ? 0 : batch_add(g, path, buf, n, err);
}

/* Ingest one PATH: a folder, an archive or a text file.  Inside a folder
** only regular files are read (a FIFO there would block, a device never
** ends); a PATH named on the command line (EXPLICIT) is read whatever it
** is.  A path that cannot be read is recorded as an error, not a failure;
** returns -1 only when the store fails. */
static int ingest_path(ingest *g, const char *path, int explicit, char *err) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        note_add(&g->res->errors, &g->res->n_errors, path, "%s", strerror(errno));
        return 0;
    }
    if (S_ISDIR(sb.st_mode)) return ingest_dir(g, path, err);
    if (!S_ISREG(sb.st_mode) && !explicit) {
        note_add(&g->res->skips, &g->res->n_skips, path, "not a regular file (%s)",
                 S_ISFIFO(sb.st_mode)   ? "a FIFO"
                 : S_ISSOCK(sb.st_mode) ? "a socket"
                 : S_ISCHR(sb.st_mode)  ? "a character device"
                 : S_ISBLK(sb.st_mode)  ? "a block device"
                                        : "unknown type");
        return 0;
    }
    return ingest_file(g, path, &sb, err);
}

/* Keep the first appearance of each document in res->doc_ids and hash
** their content hashes, in that order, into res->content_hash. */
static void dedupe_docs(ingest *g) {
    ingest_result *r = g->res;
    hash_state *h = hash_begin();
    int kept = 0;
    for (int i = 0; i < r->n_doc_ids; i++) {
        /* Ids usually increase (new rows, or a rerun in the same order):
        ** only an id out of order can be a repeat, and only then scan. */
        int repeat = 0;
        if (kept && r->doc_ids[i] <= r->doc_ids[kept - 1])
            for (int k = 0; k < kept && !repeat; k++)
                repeat = r->doc_ids[k] == r->doc_ids[i];
        if (repeat) continue;
        r->doc_ids[kept] = r->doc_ids[i];
        hash_update(h, g->hashes[i], HASH_HEX_LEN - 1);
        kept++;
    }
    r->n_doc_ids = kept;
    hash_end(h, r->content_hash);
}

int stage_ingest(store *st, const ingest_opts *o, char *const *paths, int n_paths,
                 ingest_result *res, char *err) {
    memset(res, 0, sizeof *res);
    ingest g = {.st = st, .o = o, .res = res};
    progress_begin(&g.prog, "ingest", "MB", 0);
    int rc = store_begin(st, err);
    /* One thread walks the paths and talks to SQLite; the others run the
    ** clean-up tasks it creates. */
#pragma omp parallel
#pragma omp single
    for (int i = 0; i < n_paths && !rc; i++) {
        int errors_before = res->n_errors;
        rc = savepoint_open(&g, err);
        if (!rc) rc = ingest_path(&g, paths[i], 1, err);
        if (!rc) rc = batch_flush(&g, err);
        if (!rc) rc = savepoint_close(&g, res->n_errors > errors_before, err);
    }
    if (!rc) rc = store_commit(st, err);
    progress_end(&g.prog);
    batch_drop(&g);
    free(g.batch);
    if (!rc) dedupe_docs(&g);
    free(g.hashes);
    if (rc) {
        store_rollback(st);
        ingest_result_free(res);
        memset(res, 0, sizeof *res);
    }
    return rc;
}

/* The skips or errors as a JSON list of {source, reason}; NULL with err
** when one cannot be written. */
static json_t *notes_json(const ingest_note *v, int n, char *err) {
    json_t *a = json_array();
    for (int i = 0; i < n && a; i++) {
        jw_push(&a,
                jw_object(err, "source", cli_json_str(v[i].source), "reason",
                          cli_json_str(v[i].reason)),
                "a skipped or failed path", err);
    }
    return a;
}

/* Print "added N, duplicates M, skipped K" and each skip and error, or
** the same as one JSON object.  When every PATH failed and nothing else
** happened, the text form prints only the errors (no "added 0" line that
** reads like success).  Returns -1 (after saying why) when the JSON cannot
** be written. */
static int print_result(const ingest_result *res, int json) {
    if (json) {
        char err[ERR_LEN];
        json_t *o = jw_object(err, "added", json_integer(res->added), "duplicates",
                              json_integer(res->duplicates), "skipped",
                              notes_json(res->skips, res->n_skips, err), "errors",
                              notes_json(res->errors, res->n_errors, err));
        if (!o || jw_print(stdout, o, JSON_COMPACT | JSON_ENSURE_ASCII, "the result", err))
            return cli_error("ingest: %s", err);
    } else if (!res->n_errors || res->added || res->duplicates || res->n_skips) {
        printf("added %d, duplicates %d, skipped %d\n", res->added, res->duplicates, res->n_skips);
        for (int i = 0; i < res->n_skips; i++) {
            /* names come from archives and folders: control characters shown, not obeyed */
            char *name = txt_escape_controls(res->skips[i].source);
            printf("  skipped %s: %s\n", name ? name : "?", res->skips[i].reason);
            free(name);
        }
    }
    for (int i = 0; i < res->n_errors; i++) {
        char *name = txt_escape_controls(res->errors[i].source);
        cli_error("ingest: %s: %s", name ? name : "?", res->errors[i].reason);
        free(name);
    }
    return 0;
}

static const char ingest_usage[] =
    "usage: quill ingest [options] PATH...\n"
    "Add text files, folders (recursively, in sorted order) and archives (tar,\n"
    "tar.gz/bz2/xz/zst, zip, and single .gz/.bz2/.xz/.zst files) to the store.\n"
    "The same content is stored once.\n\n"
    "  --max-chars N               keep the first N Unicode characters of each text\n"
    "  --strip-gutenberg           keep only the text between Project Gutenberg's\n"
    "                              *** START OF / *** END OF markers\n"
    "  --normalize-newlines        turn CRLF and CR into LF\n"
    "  --on-invalid-utf8 MODE      reject (default) or replace (with U+FFFD)\n"
    "  --max-member-bytes N        skip files and archive members larger than N\n"
    "                              (default 1073741824)\n"
    "  --json                      print the result as JSON\n";

/* Parse a non-negative integer option; returns -1 when it is not one. */
static long long parse_count(const char *s) {
    long long v;
    return cli_int(s, 0, LLONG_MAX, &v) ? -1 : v;
}

/* `quill ingest [options] PATH...`: exit status 1 when a PATH could not be
** read at all or the store failed. */
int cmd_ingest(cli *c, int argc, char **argv) {
    static const struct option opts[] = {{"max-chars", required_argument, 0, 'm'},
                                         {"strip-gutenberg", no_argument, 0, 'g'},
                                         {"normalize-newlines", no_argument, 0, 'n'},
                                         {"on-invalid-utf8", required_argument, 0, 'u'},
                                         {"max-member-bytes", required_argument, 0, 'b'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    ingest_opts o;
    ingest_opts_default(&o);
    int json = 0, ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            if ((o.max_chars = parse_count(optarg)) < 0)
                return cli_error("ingest: --max-chars: '%s' is not a non-negative integer", optarg);
            break;
        case 'g':
            o.strip_gutenberg = 1;
            break;
        case 'n':
            o.normalize_newlines = 1;
            break;
        case 'u':
            if (!strcmp(optarg, "reject"))
                o.replace_invalid = 0;
            else if (!strcmp(optarg, "replace"))
                o.replace_invalid = 1;
            else
                return cli_error("ingest: --on-invalid-utf8: '%s' is not reject or replace",
                                 optarg);
            break;
        case 'b':
            if ((o.max_member_bytes = parse_count(optarg)) < 0)
                return cli_error("ingest: --max-member-bytes: '%s' is not a non-negative "
                                 "integer",
                                 optarg);
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            fputs(ingest_usage, stdout);
            return 0;
        default:
            return cli_bad_option("ingest", ch, argv);
        }
    }
    if (optind >= argc) return cli_usage_error("ingest", "no PATH given");
    store *st = cli_store(c, STORE_CREATE);
    if (!st) return 1;
    ingest_result res;
    char err[ERR_LEN];
    if (stage_ingest(st, &o, argv + optind, argc - optind, &res, err))
        return cli_error("ingest: %s", err);
    int failed = print_result(&res, json) || res.n_errors > 0;
    ingest_result_free(&res);
    return failed;
}

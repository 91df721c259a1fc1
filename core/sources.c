/*
** Files, folders and archives, read for ingest (see sources.h).
*/
#include "sources.h"

#include "err.h"
#include "text.h"

#include <archive.h>
#include <archive_entry.h>
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void note(const sources_walk *w, int error, const char *source, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Hand (source, printf-style reason) to w->error (error set) or w->skip. */
static void note(const sources_walk *w, int error, const char *source, const char *fmt, ...) {
    char reason[ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    (error ? w->error : w->skip)(w->ctx, source, reason);
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
static int archive_members(const sources_walk *w, struct archive *a, const char *path, char *why,
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
            note(w, 0, source, "unsafe member path (absolute or containing ..)");
            continue;
        }
        if (archive_entry_size_is_set(e) && archive_entry_size(e) > w->max_member_bytes) {
            note(w, 0, source, "member of %lld bytes exceeds the limit of %lld bytes",
                 (long long)archive_entry_size(e), w->max_member_bytes);
            continue;
        }
        unsigned char *data;
        size_t n;
        int rr = read_all(archive_reader, a, NULL, 0, w->max_member_bytes, &data, &n);
        if (rr < 0) {
            snprintf(why, ERR_LEN, "%s: %s", name, archive_error_string(a));
            return 1;
        }
        if (rr > 0) {
            if (rr == 2)
                note(w, 0, source, "out of memory");
            else
                note(w, 0, source, "member exceeds the limit of %lld bytes", w->max_member_bytes);
            continue;
        }
        if (w->add(w->ctx, source, data, n, err)) return -1;
    }
    if (r != ARCHIVE_EOF) {
        snprintf(why, ERR_LEN, "%s",
                 archive_error_string(a) ? archive_error_string(a) : "cannot read archive");
        return 1;
    }
    return 0;
}

/* An archive between w->begin and w->end: a corrupt one keeps nothing. */
static int walk_archive(const sources_walk *w, const char *path, char *err) {
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    archive_read_support_format_raw(a);
    char why[ERR_LEN] = "";
    int rc = 0;
    if (w->begin(w->ctx, err)) {
        archive_read_free(a);
        return -1;
    }
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        snprintf(why, sizeof why, "%s", archive_error_string(a));
        rc = 1;
    } else {
        rc = archive_members(w, a, path, why, err);
    }
    archive_read_free(a);
    if (rc < 0) return -1;
    if (w->end(w->ctx, rc > 0, err)) return -1;
    if (rc > 0) note(w, 1, path, "corrupt or truncated archive: %s", why);
    return 0;
}

/* qsort order of folder entries: bytewise by name. */
static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory: recursive, in sorted (bytewise) order. */
static int walk_dir(const sources_walk *w, const char *path, char *err) {
    DIR *d = opendir(path);
    if (!d) {
        note(w, 1, path, "%s", strerror(errno));
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
            rc = sources_read(w, child, 0, err);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* A plain file, unless its name or first bytes say it is an archive (whose
** own size is not limited: its members are).  A file that is not regular
** (a FIFO, /proc) is read as text to its end, as is one that grows while
** it is read: stat()'s size is only a first guess. */
static int walk_file(const sources_walk *w, const char *path, const struct stat *sb, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        note(w, 1, path, "%s", strerror(errno));
        return 0;
    }
    unsigned char head[512];
    size_t hn = fread(head, 1, sizeof head, f);
    if (S_ISREG(sb->st_mode) && looks_like_archive(path, head, hn)) {
        fclose(f);
        return walk_archive(w, path, err);
    }
    long long limit = w->max_member_bytes;
    if (S_ISREG(sb->st_mode) && sb->st_size > limit) {
        fclose(f);
        note(w, 0, path, "file of %lld bytes exceeds the limit of %lld bytes",
             (long long)sb->st_size, limit);
        return 0;
    }
    unsigned char *buf = NULL;
    size_t n = 0;
    int rr = ferror(f) ? -1 : read_all(file_reader, f, head, hn, limit, &buf, &n);
    fclose(f);
    if (rr < 0)
        note(w, 1, path, "read error");
    else if (rr == 2)
        note(w, 0, path, "out of memory");
    else if (rr == 1)
        note(w, 0, path, "file exceeds the limit of %lld bytes", limit);
    return rr ? 0 : w->add(w->ctx, path, buf, n, err);
}

/* One path: a folder, an archive or a text file.  Inside a folder only
** regular files are read (a FIFO there would block, a device never ends). */
int sources_read(const sources_walk *w, const char *path, int explicit, char *err) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        note(w, 1, path, "%s", strerror(errno));
        return 0;
    }
    if (S_ISDIR(sb.st_mode)) return walk_dir(w, path, err);
    if (!S_ISREG(sb.st_mode) && !explicit) {
        note(w, 0, path, "not a regular file (%s)",
             S_ISFIFO(sb.st_mode)   ? "a FIFO"
             : S_ISSOCK(sb.st_mode) ? "a socket"
             : S_ISCHR(sb.st_mode)  ? "a character device"
             : S_ISBLK(sb.st_mode)  ? "a block device"
                                    : "unknown type");
        return 0;
    }
    return walk_file(w, path, &sb, err);
}

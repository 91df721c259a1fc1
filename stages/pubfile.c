/*
** Crash-safe publication files (see pubfile.h).
*/
#include "pubfile.h"

#include "err.h"
#include "fsutil.h"
#include "hash.h"
#include "publications.h"
#include "slurp.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pubfile_write_fd(int fd, const char *data, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, data + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

/* 1 when name is base + ".tmp." + six mkstemp characters: a temp file of
** ours for the output called base. */
static int our_temp(const char *name, const char *base) {
    size_t b = strlen(base);
    if (strncmp(name, base, b) || strncmp(name + b, ".tmp.", 5) || strlen(name + b + 5) != 6)
        return 0;
    for (const char *p = name + b + 5; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9'))
            return 0;
    return 1;
}

/* Remove the temp files of our naming beside out, except keep (a live
** publication's); says so on stdout. */
static void clean_temps(const char *out, const char *const *keep, size_t nkeep) {
    const char *slash = strrchr(out, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - out) + 1 : 1, slash ? out : ".");
    const char *base = slash ? slash + 1 : out;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!our_temp(e->d_name, base)) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s%s%s", slash ? "" : "./", slash ? dir : "", e->d_name);
        int kept = 0;
        for (size_t i = 0; i < nkeep; i++)
            kept |= fs_same_file(keep[i], path);
        struct stat sb;
        if (!kept && !lstat(path, &sb) && S_ISREG(sb.st_mode) && !unlink(path))
            printf("note: removed %s, a temp file left by an interrupted publish\n", path);
    }
    closedir(d);
}

int pubfile_repair(store *st, const char *out, char *err) {
    publications_row *v;
    size_t n;
    if (store_begin(st, err)) return -1;
    if (publications_pending(st, &v, &n, err)) {
        store_rollback(st);
        return -1;
    }
    const char **keep = calloc(n + 1, sizeof *keep);
    size_t nkeep = 0;
    int rc = keep ? 0 : err_set(err, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        publications_row *r = &v[i];
        if (r->pid && r->pid != getpid() && (!kill((pid_t)r->pid, 0) || errno == EPERM)) {
            keep[nkeep++] = r->tmp_path; /* still publishing */
            continue;
        }
        char *data = NULL, hash[HASH_HEX_LEN] = "", e2[ERR_LEN];
        size_t len;
        int renamed = r->tmp_path && access(r->tmp_path, F_OK) && r->file_hash &&
                      !slurp(r->out_path, &data, &len, e2);
        if (renamed) hash_hex(data, len, hash);
        free(data);
        int done = renamed && !strcmp(hash, r->file_hash);
        if (!done && r->tmp_path) unlink(r->tmp_path);
        rc = publications_finish(st, r->id, done ? "done" : "abandoned", err);
        if (!rc)
            printf("note: publication %lld to %s was interrupted %s\n", (long long)r->id,
                   r->out_path,
                   done ? "after its file was put in place; now recorded as done"
                        : "before its file was put in place; recorded as abandoned");
    }
    if (rc || store_commit(st, err)) {
        store_rollback(st);
        rc = -1;
    } else {
        clean_temps(out, keep, nkeep);
    }
    free(keep);
    publications_rows_free(v, n);
    return rc;
}

int pubfile_write_temp(const char *path, const char *data, size_t n, char **tmp, char *err) {
    if (fs_mkdirs_for(path, err)) return -1; /* a recipe's out/ folder, say */
    size_t len = strlen(path);
    if (!(*tmp = malloc(len + 16))) return err_set(err, "out of memory");
    snprintf(*tmp, len + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(*tmp);
    if (fd < 0) {
        err_set(err, "%s: %s", path, strerror(errno));
        free(*tmp);
        *tmp = NULL;
        return -1;
    }
    int bad = pubfile_write_fd(fd, data, n) || fsync(fd) || fchmod(fd, 0644);
    bad |= close(fd) != 0;
    if (bad) {
        err_set(err, "%s: %s", path, strerror(errno));
        unlink(*tmp);
        free(*tmp);
        *tmp = NULL;
        return -1;
    }
    return 0;
}

int pubfile_not_the_store(const char *out, const char *db, char *err) {
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
        char f[8192];
        snprintf(f, sizeof f, "%s%s", db, suffix[i]);
        if (fs_same_file(out, f))
            return err_set(err,
                           "--out %s is the store%s%s (%s): publishing there would destroy it; "
                           "choose another file",
                           out, *suffix[i] ? "'s " : "", *suffix[i] ? suffix[i] + 1 : "", f);
    }
    return 0;
}

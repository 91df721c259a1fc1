/*
** File-system helpers (see fsutil.h).
*/
#include "fsutil.h"

#include "err.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_mkdirs(const char *dir, char *err) {
    if (!*dir) return err_set(err, "the folder name is empty");
    char *p = strdup(dir);
    if (!p) return err_set(err, "%s: out of memory", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) && errno != EEXIST) {
            err_set(err, "%s: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    int bad = mkdir(p, 0755) && errno != EEXIST;
    if (bad) err_set(err, "%s: %s", p, strerror(errno));
    free(p);
    return bad ? -1 : 0;
}

int fs_mkdirs_for(const char *path, char *err) {
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return 0;
    char *dir = strndup(path, (size_t)(slash - path));
    if (!dir) return err_set(err, "%s: out of memory", path);
    int rc = fs_mkdirs(dir, err);
    free(dir);
    return rc;
}

/* The absolute, resolved form of folder dir (malloc'd; NULL when out of
** memory): realpath() of its longest existing part, the rest (folders that
** do not exist yet, so no symbolic links) resolved by name. */
static char *canonical_dir(const char *dir) {
    char buf[PATH_MAX];
    if (realpath(*dir ? dir : ".", buf)) return strdup(buf);
    const char *slash = strrchr(dir, '/');
    const char *comp = slash ? slash + 1 : dir;
    char *parent = slash ? strndup(dir, (size_t)(slash - dir)) : strdup(".");
    if (!parent) return NULL;
    char *p = canonical_dir(slash && slash == dir ? "/" : parent), *out = NULL;
    free(parent);
    if (!p) return NULL;
    if (!strcmp(comp, "..")) {
        char *cut = strrchr(p, '/');
        if (cut) cut == p ? (void)(p[1] = 0) : (void)(*cut = 0);
        return p;
    }
    if (!*comp || !strcmp(comp, ".")) return p;
    if (asprintf(&out, "%s%s%s", p, strcmp(p, "/") ? "/" : "", comp) < 0) out = NULL;
    free(p);
    return out;
}

/* path with the symbolic links of its last component followed (even to a
** file that does not exist yet) and its folder resolved by canonical_dir;
** malloc'd, or NULL when out of memory. */
static char *canonical(const char *path) {
    char *p = strdup(path);
    for (int hops = 0; p && hops < 40; hops++) {
        char link[PATH_MAX];
        ssize_t n = readlink(p, link, sizeof link - 1);
        if (n < 0) break;
        link[n] = 0;
        char *next;
        const char *slash = strrchr(p, '/');
        if (link[0] == '/' || !slash)
            next = strdup(link);
        else if (asprintf(&next, "%.*s/%s", (int)(slash - p), p, link) < 0)
            next = NULL;
        free(p);
        p = next;
    }
    if (!p) return NULL;
    char *slash = strrchr(p, '/'), *out = NULL;
    const char *base = slash ? slash + 1 : p;
    if (slash) *slash = 0;
    char *dir = canonical_dir(slash ? (*p ? p : "/") : ".");
    if (dir && asprintf(&out, "%s/%s", strcmp(dir, "/") ? dir : "", base) < 0) out = NULL;
    free(dir);
    free(p);
    return out;
}

int fs_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (!stat(a, &sa) && !stat(b, &sb)) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char *ca = canonical(a), *cb = canonical(b);
    int same = ca && cb && !strcmp(ca, cb);
    free(ca);
    free(cb);
    return same;
}

/* Call fn(dir/name, name, arg) for each file name in dir until one returns
** non-zero; returns that, or -1 with errno when dir cannot be read. */
static int each_file(const char *dir, int (*fn)(const char *, const char *, void *), void *arg) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *path;
        if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
            rc = -1;
            break;
        }
        rc = fn(path, de->d_name, arg);
        free(path);
    }
    closedir(d);
    return rc;
}

/* each_file() callback of fs_move_files(): rename into the folder arg. */
static int move_one(const char *path, const char *name, void *arg) {
    char *dest;
    if (asprintf(&dest, "%s/%s", (const char *)arg, name) < 0) return -1;
    int rc = rename(path, dest);
    free(dest);
    return rc;
}

int fs_move_files(const char *from, const char *to, char *err) {
    struct stat sb;
    if (stat(to, &sb) != 0) {
        if (rename(from, to)) return err_set(err, "%s: %s", to, strerror(errno));
        return 0;
    }
    if (!S_ISDIR(sb.st_mode)) return err_set(err, "%s: not a folder", to);
    if (each_file(from, move_one, (void *)to))
        return err_set(err, "%s: cannot move the files in: %s", to, strerror(errno));
    rmdir(from);
    return 0;
}

/* each_file() callback of fs_remove_flat(). */
static int remove_one(const char *path, const char *name, void *arg) {
    (void)name;
    (void)arg;
    unlink(path);
    return 0;
}

void fs_remove_flat(const char *dir) {
    each_file(dir, remove_one, NULL);
    rmdir(dir);
}

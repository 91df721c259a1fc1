/*
** File-system helpers (see fsutil.h).
*/
#include "fsutil.h"

#include "err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

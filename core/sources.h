/*
** Reading what `quill ingest` is given: text files, folders (recursively,
** in bytewise name order) and archives (tar, zip, and compressed files,
** whatever libarchive reads), each readable source handed whole to the
** caller.  No store here: the caller decides what a source becomes.
*/
#ifndef QUILL_SOURCES_H
#define QUILL_SOURCES_H

#include <stddef.h>

/* Where the sources go, and the limits.  Each callback returns 0, or -1
** (with err) to stop the walk; skip and error cannot fail. */
typedef struct sources_walk {
    void *ctx;
    long long max_member_bytes; /* larger files and archive members are skipped */
    /* one source's bytes (malloc'd; add owns them), named source: PATH, or
    ** ARCHIVE!MEMBER for an archive's member */
    int (*add)(void *ctx, const char *source, unsigned char *data, size_t n, char *err);
    /* around each archive's members: end's failed says the archive turned
    ** out corrupt or truncated, and what add received since begin must be
    ** dropped (the error is reported after end) */
    int (*begin)(void *ctx, char *err);
    int (*end)(void *ctx, int failed, char *err);
    /* something left out (reason: too large, unsafe member name, not a
    ** regular file ...), or a path that could not be read at all */
    void (*skip)(void *ctx, const char *source, const char *reason);
    void (*error)(void *ctx, const char *source, const char *reason);
} sources_walk;

/* Read path (a file, folder or archive) into w.  Inside a folder only
** regular files are read and symlinked folders are not followed; a path
** named by the user (explicit) is read whatever it is (a FIFO, /dev/stdin).
** What cannot be read goes to w->skip or w->error; returns -1 only when a
** callback failed or memory ran out. */
int sources_read(const sources_walk *w, const char *path, int explicit, char *err);

#endif

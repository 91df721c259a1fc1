/*
** The files `quill publish` writes, crash-safely (see publish_cli.c): a
** temp file beside FILE renamed into place, the publication recorded
** around it, and the repair of what a crashed publish left.
*/
#ifndef QUILL_PUBFILE_H
#define QUILL_PUBFILE_H

#include "store.h"

#include <stddef.h>

/* Write all n bytes of data to fd; 0, or -1 with errno set. */
int pubfile_write_fd(int fd, const char *data, size_t n);

/* Write data to a new temp file FILE.tmp.XXXXXX beside path (its folder
** made if needed; fsync'd, 0644); *tmp gets its malloc'd name.  0, or -1
** with err naming path (and no temp file left). */
int pubfile_write_temp(const char *path, const char *data, size_t n, char **tmp, char *err);

/* Repair what crashed publishes left, in its own transaction: a pending
** publication whose process is gone becomes 'done' when its FILE holds its
** bytes, else 'abandoned' (its temp file removed); then the stale temp
** files of our naming beside out go.  Each repair is reported on stdout. */
int pubfile_repair(store *st, const char *out, char *err);

/* -1 with err when out is the store db or one of its -wal, -shm or
** -journal files (publishing there would destroy it), else 0. */
int pubfile_not_the_store(const char *out, const char *db, char *err);

#endif

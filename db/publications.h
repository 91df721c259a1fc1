/*
** Publications: what `quill publish` wrote, where, and whether the file
** got there.  A publication into a file is recorded 'pending' (with the
** temp file that holds its bytes and their hash) before the temp file is
** renamed into place, and 'done' after; a crash in between leaves a
** pending row that the next publish repairs (publications_pending).
*/
#ifndef QUILL_PUBLICATIONS_H
#define QUILL_PUBLICATIONS_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct publications_row {
    int64_t id, pid;
    char *out_path, *tmp_path, *file_hash; /* tmp_path, file_hash may be NULL */
} publications_row;

/* The latest done publication with set_hash: returns 1 and fills *id,
** *out_path and *created_at (malloc'd), 0 when there is none, -1 on
** error. */
int publications_same(store *st, const char *set_hash, int64_t *id, char **out_path,
                      char **created_at, char *err);

/* Record a publication of the output ids (ids_json) to out_path in format;
** pending with tmp_path and file_hash when tmp_path is not NULL (the
** caller's process id recorded), else done.  *id gets its id. */
int publications_add(store *st, const char *out_path, const char *format, const char *set_hash,
                     const char *ids_json, const char *tmp_path, const char *file_hash, int64_t *id,
                     char *err);

/* Mark publication id state ('done' or 'abandoned'). */
int publications_finish(store *st, int64_t id, const char *state, char *err);

/* Every pending publication, oldest first; free with
** publications_rows_free. */
int publications_pending(store *st, publications_row **v, size_t *n, char *err);
void publications_rows_free(publications_row *v, size_t n);

#endif

/*
** The documents table (db/001_init.sql): the texts ingest stored, one row
** per distinct content (its hash), the text itself a compressed blob.
*/
#ifndef QUILL_DB_DOCUMENTS_H
#define QUILL_DB_DOCUMENTS_H

#include "store.h"

#include <stdint.h>

typedef struct documents_row {
    int64_t id;              /* set by the store */
    const char *source;      /* a file, or ARCHIVE!MEMBER: untrusted bytes */
    const char *hash;        /* hash_hex of the text */
    int64_t bytes, chars;    /* the text's length in bytes and code points */
    int64_t text_blob;       /* the blob holding the text */
    const char *ingested_at; /* set by the store (documents_each only) */
} documents_row;

/* *id = the id of the document whose text has this hash, or 0 when none;
** -1 only when the store fails. */
int documents_find(store *st, const char *hash, int64_t *id, char *err);

/* Add row (source, hash, bytes, chars, text_blob; the blob stored first)
** and set *id to the new row's id.  Call inside the caller's transaction;
** a hash already stored is an error (documents_find first). */
int documents_insert(store *st, const documents_row *row, int64_t *id, char *err);

/* Call fn(ctx, row) for every document in id order; row and its strings
** live until fn returns.  A non-zero return from fn stops the walk and is
** returned; -1 with err when the store fails. */
typedef int (*documents_fn)(void *ctx, const documents_row *row);
int documents_each(store *st, documents_fn fn, void *ctx, char *err);

/* The text of document id: *text malloc'd (with a trailing NUL after *n
** bytes) and *found 1; *found 0 (and *text NULL) when there is no such
** document.  -1 only when the store fails. */
int documents_text(store *st, int64_t id, void **text, size_t *n, int *found, char *err);

#endif

/*
** The ingest stage: text files, folders and archives into `documents`.
*/
#ifndef QUILL_INGEST_H
#define QUILL_INGEST_H

#include "hash.h"
#include "store.h"

typedef struct ingest_opts {
    long long max_chars;        /* keep the first N code points; < 0: all */
    int strip_gutenberg;        /* keep only the text between the PG markers */
    int normalize_newlines;     /* CRLF and CR to LF */
    int replace_invalid;        /* invalid UTF-8: 0 reject, 1 replace with U+FFFD */
    long long max_member_bytes; /* larger files and archive members are skipped */
} ingest_opts;

/* Something not stored, or a PATH that could not be read. */
typedef struct ingest_note {
    char *source;
    char *reason;
} ingest_note;

typedef struct ingest_result {
    int added, duplicates;
    ingest_note *skips;
    int n_skips;
    ingest_note *errors; /* unreadable paths, corrupt archives: nothing kept */
    int n_errors;
    long long bytes_in;
    /* Every document this run saw (added or already stored), in order of
    ** first appearance, each once: what a recipe's later stages use. */
    int64_t *doc_ids;
    int n_doc_ids;
    /* Hash over those documents' content hashes, in that order: the
    ** stage's output identity for the recipe runner. */
    char content_hash[HASH_HEX_LEN];
} ingest_result;

void ingest_opts_default(ingest_opts *o);

/* Ingest every path (file, directory, archive) inside one transaction.
** A path that fails (unreadable, corrupt or truncated archive) keeps
** nothing and is listed in res->errors; the others are committed.  Returns
** -1 (and rolls everything back) only when the store itself fails. */
int stage_ingest(store *st, const ingest_opts *o, char *const *paths, int n_paths,
                 ingest_result *res, char *err);

void ingest_result_free(ingest_result *res);

#endif

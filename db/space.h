/*
** What the store's space goes to (`quill status`) and getting it back
** (`quill gc`).
**
** Every function returns 0, or -1 with err naming the store and what
** failed.
*/
#ifndef QUILL_DB_SPACE_H
#define QUILL_DB_SPACE_H

#include "store.h"

#include <stdint.h>

/* Bytes of the store file by kind.  Each kind is its blobs' stored
** (compressed) bytes plus, when SQLite has the dbstat table (tables_known),
** the pages of its tables and indexes: documents (documents), tokens
** (doc_tokens, tokenizers), blocks (block_sets), weights (checkpoints'
** tensors and rows), optimizer state (checkpoints' state), outputs
** (outputs, reviews, publications and the review tables).  free: pages
** SQLite keeps for reuse; other: the rest (schema, logs, run records,
** blobs nothing uses, and the tables when dbstat is missing).  A blob two
** kinds share counts in both. */
typedef struct space_usage {
    int64_t documents, tokens, blocks, weights, state, outputs, other, free, total;
    int tables_known;
} space_usage;

/* Measure st into *u.  Read-only. */
int space_usage_get(store *st, space_usage *u, char *err);

/* n bytes for people: "812 B", "20.4 KiB", "214.0 MiB", ... into out. */
void space_human(int64_t n, char out[16]);

/* What space_collect did. */
typedef struct space_collected {
    int64_t states; /* checkpoints whose optimizer state was dropped */
    int64_t blobs;  /* unused blobs deleted */
    int64_t before; /* bytes of the file (and its WAL) before */
    int64_t after;  /* and after */
    int vacuumed;   /* 0: another process wrote first; run it again */
} space_collected;

/* quill gc: in one transaction taken without waiting (a store another
** process is writing to, or a recipe run holds, is refused: err says so),
** drop the optimizer state the retention rule (checkpoints_drop_state)
** does not keep and delete every blob nothing references; then, outside
** any transaction, VACUUM (converting an old store to auto_vacuum
** incremental) and checkpoint the WAL so the file shrinks.  Nothing a row
** references is ever deleted. */
int space_collect(store *st, space_collected *c, char *err);

#endif

/*
** The tokens tables: tokenizers (one row per distinct tokenizer) and
** doc_tokens (each document's ids under a tokenizer, as a little-endian
** u16 blob when every id fits, else u32).
**
** Every function returns 0, or -1 with err naming the store and the row.
** Writers run inside the caller's transaction (store_begin).
*/
#ifndef QUILL_DB_TOKENS_H
#define QUILL_DB_TOKENS_H

#include "hash.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* The tokenizers row with this content hash, inserted if new (source and
** vocab_size describe it); its id in *id. */
int tokens_tokenizer_put(store *st, const char *hash, const char *source, int vocab_size,
                         int64_t *id, char *err);

/* The content hash of tokenizer row id into hash; an error when no such row. */
int tokens_tokenizer_hash(store *st, int64_t id, char hash[HASH_HEX_LEN], char *err);

/* Call fn(ctx, doc_id, text_blob, err) for the documents with ids above
** after that have no ids under tokenizer tok_id yet, in id order, at most
** limit of them (limit > 0).  Stops at fn's first non-zero return, which it returns (fn may return
*1 to stop early
** without an error).  Work through a large store in batches by passing the
** last id visited as the next batch's after. */
int tokens_each_pending(store *st, int64_t tok_id, int64_t after, int limit,
                        int (*fn)(void *ctx, int64_t doc_id, int64_t text_blob, char *err),
                        void *ctx, char *err);

/* Store the n ids of document doc_id under tokenizer tok_id (u32 when wide,
** else u16: every id must then be below 65536). */
int tokens_put_ids(store *st, int64_t doc_id, int64_t tok_id, const int32_t *ids, size_t n,
                   int wide, char *err);

/* What fn sees of one document in tokens_each_doc(). */
typedef struct tokens_doc {
    int64_t id;
    const char *hash;  /* the document's content hash */
    int64_t text_blob; /* its text */
    int has_ids;       /* 0 when it has no ids under the tokenizer */
    const int32_t *ids;
    size_t n_ids;
} tokens_doc;

/* Call fn(ctx, doc, err) for each document with its ids under tokenizer
** tok_id (when with_ids; else has_ids tells only whether they exist): every
** document in id order when doc_ids is NULL, else the n listed ones in list
** order (a missing one is an error).  Stops at fn's first non-zero return,
** which it returns.  The row and ids are valid only during the call. */
int tokens_each_doc(store *st, int64_t tok_id, const int64_t *doc_ids, size_t n, int with_ids,
                    int (*fn)(void *ctx, const tokens_doc *doc, char *err), void *ctx, char *err);

#endif

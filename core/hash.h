/*
** Content hashes: XXH3-128 as 32 lowercase hex digits.  Used to identify
** documents, blobs, tokenizers and stage inputs; not a security boundary.
*/
#ifndef QUILL_HASH_H
#define QUILL_HASH_H

#include <stddef.h>

#define HASH_HEX_LEN 33 /* 32 hex digits and a NUL */

/* Hash n bytes of data into out (32 hex digits, NUL-terminated). */
void hash_hex(const void *data, size_t n, char out[HASH_HEX_LEN]);

/* Incremental hashing, for data that arrives in pieces. */
typedef struct hash_state hash_state;
hash_state *hash_begin(void);
void hash_update(hash_state *h, const void *data, size_t n);
/* Writes the digest and frees h. */
void hash_end(hash_state *h, char out[HASH_HEX_LEN]);

#endif

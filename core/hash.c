/*
** XXH3-128 content hashes (libxxhash).
*/
#include "hash.h"

#include <stdio.h>
#include <xxhash.h>

/* Write h as 32 lowercase hex digits (high half first) and a NUL. */
static void hash_format(XXH128_hash_t h, char out[HASH_HEX_LEN]) {
    snprintf(out, HASH_HEX_LEN, "%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
}

void hash_hex(const void *data, size_t n, char out[HASH_HEX_LEN]) {
    hash_format(XXH3_128bits(data, n), out);
}

struct hash_state {
    XXH3_state_t *st;
};

/* Start an incremental hash; NULL when out of memory.  Finish it with
** hash_end(), which also frees it. */
hash_state *hash_begin(void) {
    XXH3_state_t *st = XXH3_createState();
    if (!st) return NULL;
    XXH3_128bits_reset(st);
    return (hash_state *)st;
}

/* Feed n more bytes of data into h (h from hash_begin()). */
void hash_update(hash_state *h, const void *data, size_t n) {
    XXH3_128bits_update((XXH3_state_t *)h, data, n);
}

void hash_end(hash_state *h, char out[HASH_HEX_LEN]) {
    hash_format(XXH3_128bits_digest((XXH3_state_t *)h), out);
    XXH3_freeState((XXH3_state_t *)h);
}

/*
** zstd compression of whole buffers, for every large value in the store.
*/
#ifndef QUILL_ZBUF_H
#define QUILL_ZBUF_H

#include <stddef.h>

/* Compress n bytes at level (1..19; 3 is zstd's default).  *out is malloc'd. */
int zbuf_compress(const void *src, size_t n, int level, void **out, size_t *out_n, char *err);

/* Decompress a frame whose decompressed size must be exactly raw_n bytes
** (the size the store recorded).  *out is malloc'd (raw_n + 1 bytes, the last
** one a NUL so texts can be used as C strings). */
int zbuf_decompress(const void *src, size_t n, size_t raw_n, void **out, char *err);

#endif

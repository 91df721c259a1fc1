/*
** zstd wrappers (libzstd's one-shot API).
*/
#include "zbuf.h"

#include "err.h"

#include <stdlib.h>
#include <zstd.h>

int zbuf_compress(const void *src, size_t n, int level, void **out, size_t *out_n, char *err) {
    size_t cap = ZSTD_compressBound(n);
    void *dst = malloc(cap ? cap : 1);
    if (!dst) return err_set(err, "out of memory compressing %zu bytes", n);
    size_t r = ZSTD_compress(dst, cap, src, n, level);
    if (ZSTD_isError(r)) {
        free(dst);
        return err_set(err, "zstd: %s", ZSTD_getErrorName(r));
    }
    *out = dst;
    *out_n = r;
    return 0;
}

int zbuf_decompress(const void *src, size_t n, size_t raw_n, void **out, char *err) {
    unsigned long long declared = ZSTD_getFrameContentSize(src, n);
    if (declared == ZSTD_CONTENTSIZE_ERROR)
        return err_set(err, "zstd: not a zstd frame (%zu bytes)", n);
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != raw_n)
        return err_set(err, "zstd: frame holds %llu bytes, expected %zu", declared, raw_n);
    char *dst = malloc(raw_n + 1);
    if (!dst) return err_set(err, "out of memory decompressing %zu bytes", raw_n);
    size_t r = ZSTD_decompress(dst, raw_n, src, n);
    if (ZSTD_isError(r) || r != raw_n) {
        free(dst);
        return err_set(err, "zstd: %s", ZSTD_isError(r) ? ZSTD_getErrorName(r) : "size mismatch");
    }
    dst[raw_n] = 0;
    *out = dst;
    return 0;
}

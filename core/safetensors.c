/*
** safetensors reader and writer (see safetensors.h).
*/
#include "safetensors.h"

#include "err.h"
#include "jw.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors is little-endian");

/* The reference implementation caps the header at 100 MB. */
#define ST_MAX_HEADER (100u << 20)

struct st_file {
    char *path;
    const unsigned char *map; /* whole file, or NULL when empty */
    size_t map_size;
    const unsigned char *data; /* after the header */
    size_t data_size;
    st_tensor *t;
    int n;
    char **meta; /* key, value, key, value ... */
    int n_meta;
};

static const struct {
    const char *name;
    int size;
    st_dtype dtype;
} dtypes[] = {
    {"F32", 4, ST_F32},    {"F16", 2, ST_F16},       {"BF16", 2, ST_BF16},     {"F64", 8, ST_OTHER},
    {"I64", 8, ST_OTHER},  {"U64", 8, ST_OTHER},     {"I32", 4, ST_OTHER},     {"U32", 4, ST_OTHER},
    {"I16", 2, ST_OTHER},  {"U16", 2, ST_OTHER},     {"I8", 1, ST_OTHER},      {"U8", 1, ST_OTHER},
    {"BOOL", 1, ST_OTHER}, {"F8_E4M3", 1, ST_OTHER}, {"F8_E5M2", 1, ST_OTHER},
};

/* Unmap and free f; NULL is a no-op. */
void st_close(st_file *f) {
    if (!f) return;
    if (f->map) munmap((void *)f->map, f->map_size);
    for (int i = 0; i < f->n; i++)
        free(f->t[i].name);
    for (int i = 0; i < 2 * f->n_meta; i++)
        free(f->meta[i]);
    free(f->meta);
    free(f->t);
    free(f->path);
    free(f);
}

/* qsort order of tensors by their data offsets (for the overlap check). */
static int by_begin(const void *a, const void *b) {
    const st_tensor *x = *(st_tensor *const *)a, *y = *(st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* A JSON integer in [0, max], or -1. */
static int64_t json_uint(json_t *v, int64_t max) {
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    return x < 0 || x > max ? -1 : (int64_t)x;
}

/* Parse and check one tensor entry. */
static int parse_tensor(st_file *f, const char *name, json_t *v, st_tensor *t, char *err) {
    if (!json_is_object(v)) return err_set(err, "tensor '%s': entry is not an object", name);
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    if (!json_is_string(dt)) return err_set(err, "tensor '%s': missing dtype", name);
    int size = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (!strcmp(json_string_value(dt), dtypes[i].name)) {
            size = dtypes[i].size;
            t->dtype = dtypes[i].dtype;
            snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dtypes[i].name);
        }
    if (!size)
        return err_set(err, "tensor '%s': unknown dtype '%.20s'", name, json_string_value(dt));
    if (!json_is_array(sh) || json_array_size(sh) > ST_MAX_DIMS)
        return err_set(err, "tensor '%s': shape must be an array of at most %d sizes", name,
                       ST_MAX_DIMS);
    t->ndim = (int)json_array_size(sh);
    size_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        int64_t s = json_uint(json_array_get(sh, d), INT64_MAX);
        if (s < 0) return err_set(err, "tensor '%s': shape[%d] is not a size", name, d);
        t->shape[d] = s;
        if (s && numel > SIZE_MAX / (size_t)s / (size_t)size)
            return err_set(err, "tensor '%s': shape overflows", name);
        numel *= (size_t)s;
    }
    t->numel = numel;
    if (!json_is_array(off) || json_array_size(off) != 2)
        return err_set(err, "tensor '%s': data_offsets must be [begin, end]", name);
    int64_t b = json_uint(json_array_get(off, 0), INT64_MAX),
            e = json_uint(json_array_get(off, 1), INT64_MAX);
    if (b < 0 || e < 0 || b > e) return err_set(err, "tensor '%s': bad data_offsets", name);
    if ((uint64_t)e > f->data_size)
        return err_set(err,
                       "tensor '%s': data_offsets [%lld, %lld] past the end of the data "
                       "(%zu bytes; truncated file?)",
                       name, (long long)b, (long long)e, f->data_size);
    t->begin = (size_t)b;
    t->end = (size_t)e;
    if (t->end - t->begin != numel * (size_t)size)
        return err_set(err,
                       "tensor '%s': %zu bytes at data_offsets but shape and dtype %s need "
                       "%zu",
                       name, t->end - t->begin, t->dtype_name, numel * (size_t)size);
    t->name = strdup(name);
    return 0;
}

/* Copy the __metadata__ object m (string values only) into f->meta as
** key, value pairs; returns 0, or -1 with err. */
static int parse_metadata(st_file *f, json_t *m, char *err) {
    if (!json_is_object(m)) return err_set(err, "__metadata__ is not an object");
    f->meta = calloc(2 * json_object_size(m) + 1, sizeof *f->meta);
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
        if (!json_is_string(v)) return err_set(err, "__metadata__ '%s' is not a string", k);
        f->meta[2 * f->n_meta] = strdup(k);
        f->meta[2 * f->n_meta + 1] = strdup(json_string_value(v));
        f->n_meta++;
    }
    return 0;
}

/* Parse the header and check the tensors tile the data area. */
static int parse_header(st_file *f, const char *text, size_t len, char *err) {
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return err_set(err, "header is not valid JSON: %s (at byte %d)", je.text, je.position);
    int rc = -1;
    if (!json_is_object(root)) {
        err_set(err, "header is not a JSON object");
        goto out;
    }
    f->t = calloc(json_object_size(root) + 1, sizeof *f->t);
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (!strcmp(k, "__metadata__")) {
            if (parse_metadata(f, v, err)) goto out;
            continue;
        }
        if (parse_tensor(f, k, v, &f->t[f->n], err)) goto out;
        f->n++;
    }
    st_tensor **order = malloc((f->n + 1) * sizeof *order);
    for (int i = 0; i < f->n; i++)
        order[i] = &f->t[i];
    qsort(order, f->n, sizeof *order, by_begin);
    size_t at = 0;
    for (int i = 0; i < f->n; i++) {
        if (order[i]->begin != at) {
            err_set(err, "tensor '%s': data_offsets begin at %zu but %s at %zu", order[i]->name,
                    order[i]->begin,
                    order[i]->begin < at ? "it overlaps the previous tensor ending"
                                         : "the previous tensor ends",
                    at);
            free(order);
            goto out;
        }
        at = order[i]->end;
    }
    free(order);
    if (at != f->data_size) {
        err_set(err, "%zu bytes of data after the last tensor (the header lies about offsets)",
                f->data_size - at);
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int st_open(const char *path, st_file **out, char *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(err, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        close(fd);
        return err_set(err, "%s: not a regular file", path);
    }
    st_file *f = calloc(1, sizeof *f);
    f->path = strdup(path);
    f->map_size = (size_t)sb.st_size;
    if (f->map_size < 8) {
        close(fd);
        st_close(f);
        return err_set(err, "%s: %zu bytes is too short for a safetensors file", path,
                       (size_t)sb.st_size);
    }
    void *m = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        st_close(f);
        return err_set(err, "%s: mmap: %s", path, strerror(errno));
    }
    f->map = m;
    uint64_t hlen;
    memcpy(&hlen, f->map, 8);
    if (hlen > f->map_size - 8 || hlen > ST_MAX_HEADER) {
        err_set(err,
                "%s: header length %llu exceeds the file size %zu (truncated, or not "
                "safetensors)",
                path, (unsigned long long)hlen, f->map_size);
        st_close(f);
        return -1;
    }
    if (hlen < 2 || f->map[8] != '{') {
        st_close(f);
        return err_set(err, "%s: header does not start with '{'", path);
    }
    f->data = f->map + 8 + hlen;
    f->data_size = f->map_size - 8 - hlen;
    if (parse_header(f, (const char *)f->map + 8, hlen, err)) {
        err_prefix(err, "%s", path);
        st_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

/* The number of tensors in f. */
int st_count(const st_file *f) {
    return f->n;
}

/* Tensor i of f (in header order), or NULL when i is out of range. */
const st_tensor *st_at(const st_file *f, int i) {
    return i >= 0 && i < f->n ? &f->t[i] : NULL;
}

const st_tensor *st_find(const st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

const char *st_metadata(const st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta[2 * i], key)) return f->meta[2 * i + 1];
    return NULL;
}

float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* inf or NaN */
    } else if (exp) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (!man) {
        bits = sign;
    } else { /* subnormal: normalise */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* A bfloat16 as a float (exact: bf16 is the top half of an fp32). */
float st_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* f rounded to bfloat16, to nearest even; a NaN stays a (quiet) NaN. */
uint16_t st_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

void st_f32_to_bf16_n(uint16_t *dst, const float *src, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        dst[i] = st_f32_to_bf16(src[i]);
}

int st_read_f32(const st_file *f, const st_tensor *t, float *out, size_t n, char *err) {
    if (n != t->numel)
        return err_set(err, "%s: tensor '%s' has %zu elements, expected %zu", f->path, t->name,
                       t->numel, n);
    const unsigned char *p = f->data + t->begin;
    switch (t->dtype) {
    case ST_F32:
        memcpy(out, p, n * 4);
        return 0;
    case ST_F16:
    case ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = t->dtype == ST_F16 ? st_f16_to_f32(h) : st_bf16_to_f32(h);
        }
        return 0;
    default:
        return err_set(err, "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 are supported",
                       f->path, t->name, t->dtype_name);
    }
}

/* Write all n bytes of p to fp; 0 or -1. */
static int write_all(FILE *fp, const void *p, size_t n) {
    return fwrite(p, 1, n, fp) == n ? 0 : -1;
}

int st_write(const char *path, const st_entry *t, int n, int bf16, char *err) {
    const size_t esize = bf16 ? 2 : 4;
    json_t *root = jw_object(err, "__metadata__", jw_object(err, "format", json_string("pt")));
    size_t at = 0;
    for (int i = 0; i < n && root; i++) {
        size_t numel = (size_t)t[i].shape[0] * (t[i].ndim == 2 ? (size_t)t[i].shape[1] : 1);
        json_t *shape = json_array();
        for (int d = 0; d < t[i].ndim && shape; d++)
            jw_push(&shape, json_integer(t[i].shape[d]), "a shape", err);
        json_t *offsets = json_array();
        if (!jw_push(&offsets, json_integer((json_int_t)at), "data_offsets", err))
            jw_push(&offsets, json_integer((json_int_t)(at + numel * esize)), "data_offsets", err);
        if (jw_set(root, t[i].name,
                   jw_object(err, "dtype", json_string(bf16 ? "BF16" : "F32"), "shape", shape,
                             "data_offsets", offsets),
                   err)) {
            json_decref(root);
            root = NULL;
        }
        at += numel * esize;
    }
    char *hdr = root ? jw_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER, "the header", err) : NULL;
    if (!hdr) return err_prefix(err, "%s", path);
    size_t hlen = strlen(hdr), padded = (hlen + 7) & ~(size_t)7;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        free(hdr);
        return err_set(err, "%s: %s", tmp, strerror(errno));
    }
    uint64_t len64 = padded;
    int bad = write_all(fp, &len64, 8) || write_all(fp, hdr, hlen) ||
              write_all(fp, "        ", padded - hlen);
    free(hdr);
    uint16_t buf[4096];
    for (int i = 0; i < n && !bad; i++) {
        size_t numel = (size_t)t[i].shape[0] * (t[i].ndim == 2 ? (size_t)t[i].shape[1] : 1);
        if (!bf16) {
            bad = write_all(fp, t[i].data, numel * 4);
            continue;
        }
        for (size_t j = 0; j < numel && !bad; j += 4096) {
            size_t k = numel - j < 4096 ? numel - j : 4096;
            st_f32_to_bf16_n(buf, t[i].data + j, k);
            bad = write_all(fp, buf, k * 2);
        }
    }
    if (fclose(fp)) bad = 1;
    if (bad || rename(tmp, path)) {
        err_set(err, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

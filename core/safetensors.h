/*
** Strict reader and writer of the safetensors format
** (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
** length N, N bytes of JSON ({"name": {"dtype", "shape", "data_offsets"},
** optional "__metadata__": {string: string}}), then the tensor bytes.
**
** st_open() maps the file and validates everything before any tensor byte
** is touched: the header length against the file size, the JSON, every
** dtype, shape and data_offsets pair, that the tensors tile the data area
** exactly (no overlap, no gap, as the reference implementation requires),
** and that each tensor's byte size equals its element count times its
** dtype's size.  After a successful open no read can go out of bounds.
** Tensors of any standard dtype may be present; st_read_f32() converts F32,
** F16 and BF16 and refuses the others with an error naming the tensor.
*/
#ifndef QUILL_SAFETENSORS_H
#define QUILL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef enum st_dtype {
    ST_F32,
    ST_F16,
    ST_BF16,
    ST_OTHER /* a valid safetensors dtype quill does not compute with */
} st_dtype;

typedef struct st_tensor {
    char *name;
    char dtype_name[8]; /* as in the header: "F32", "I64", ... */
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel;
    size_t begin, end; /* byte offsets into the data area */
} st_tensor;

typedef struct st_file st_file;

/* Map and validate path.  err names the file and, where it applies, the
** tensor. */
int st_open(const char *path, st_file **out, char *err);
void st_close(st_file *f);

int st_count(const st_file *f);
const st_tensor *st_at(const st_file *f, int i);
/* The tensor with this exact name, or NULL. */
const st_tensor *st_find(const st_file *f, const char *name);
/* The __metadata__ value for key, or NULL. */
const char *st_metadata(const st_file *f, const char *key);

/* Convert tensor t (F32, F16 or BF16) to n == t->numel floats at out. */
int st_read_f32(const st_file *f, const st_tensor *t, float *out, size_t n, char *err);

/* fp32 <-> half conversions (BF16 rounds to nearest even, NaN stays NaN). */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t b);
uint16_t st_f32_to_bf16(float f);
void st_f32_to_bf16_n(uint16_t *dst, const float *src, size_t n); /* n of them, vectorised */

/* One tensor to write: fp32 data, ndim 1 or 2 (shape[1] ignored for 1). */
typedef struct st_entry {
    const char *name;
    int ndim;
    int64_t shape[2];
    const float *data;
} st_entry;

/* Write n tensors to path as F32 (or BF16 when bf16 != 0), header
** {"__metadata__": {"format": "pt"}, ...} padded with spaces so the data
** starts 8-byte aligned, tensors in the given order.  Writes path.tmp and
** renames it, so a failure never leaves a half-written file at path. */
int st_write(const char *path, const st_entry *t, int n, int bf16, char *err);

#endif

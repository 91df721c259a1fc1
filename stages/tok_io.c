/*
** Helpers of the tokenizer commands (see tok_io.h).
*/
#include "tok_io.h"

#include "err.h"

#include <stdlib.h>
#include <string.h>

int tokio_read_all(const char *path, char **data, size_t *n, char *err) {
    int use_stdin = !path || !strcmp(path, "-");
    const char *name = use_stdin ? "stdin" : path;
    FILE *f = use_stdin ? stdin : fopen(path, "rb");
    if (!f) return err_set(err, "%s: cannot open", name);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) break;
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap) break;
        char *nb = realloc(buf, 2 * cap + 1);
        if (!nb) free(buf);
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    if (!use_stdin) fclose(f);
    if (!buf) return err_set(err, "%s: out of memory", name);
    if (bad) {
        free(buf);
        return err_set(err, "%s: read error", name);
    }
    buf[len] = 0;
    *data = buf;
    *n = len;
    return 0;
}

void tokio_print_piece(FILE *f, int id, const unsigned char *bytes, size_t len) {
    fprintf(f, "%d \xe2\x86\x92 '", id);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = bytes[i];
        if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '\\') fputs("\\\\", f);
        else if (c < 0x20 || c == 0x7F) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    fputs("'\n", f);
}

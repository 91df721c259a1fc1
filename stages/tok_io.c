/*
** Helpers of the tokenizer commands (see tok_io.h).
*/
#include "tok_io.h"

#include "err.h"


void tokio_print_piece(FILE *f, int id, const unsigned char *bytes, size_t len) {
    fprintf(f, "%d \xe2\x86\x92 '", id);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = bytes[i];
        if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\\')
            fputs("\\\\", f);
        else if (c < 0x20 || c == 0x7F)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fputs("'\n", f);
}

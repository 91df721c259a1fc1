/*
** Helpers of the tokenizer commands (see tok_io.h).
*/
#include "tok_io.h"

#include "cli.h"
#include "err.h"
#include "slurp.h"

#include <errno.h>
#include <unistd.h>

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

int tokio_read_input(const char *cmd, const char *file, char **data, size_t *n) {
    char err[ERR_LEN];
    if (!slurp(file, data, n, err)) return 0;
    if (file && access(file, F_OK) && errno == ENOENT)
        return cli_error("%s: %s (FILE is a file to read; to give the text itself, pipe it: "
                         "echo TEXT | quill %s)",
                         cmd, err, cmd);
    return cli_error("%s: %s", cmd, err);
}

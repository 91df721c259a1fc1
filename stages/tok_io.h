/*
** Display helpers shared by the tokenizer commands (tokenize,
** detokenize, vocab).
*/
#ifndef QUILL_TOK_IO_H
#define QUILL_TOK_IO_H

#include <stddef.h>
#include <stdio.h>

/* Print "ID → 'piece'" and a newline, the piece's control bytes and
** backslash escaped (\n, \t, \xNN, \\) so every token fits one line. */
void tokio_print_piece(FILE *f, int id, const unsigned char *bytes, size_t len);

#endif

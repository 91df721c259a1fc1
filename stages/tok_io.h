/*
** Input and display helpers shared by the tokenizer commands (tokenize,
** detokenize, vocab).
*/
#ifndef QUILL_TOK_IO_H
#define QUILL_TOK_IO_H

#include <stddef.h>
#include <stdio.h>

/* Print "ID → 'piece'" and a newline, the piece's control bytes and
** backslash escaped (\n, \t, \xNN, \\) so every token fits one line. */
void tokio_print_piece(FILE *f, int id, const unsigned char *bytes, size_t len);

/* Read the input of tokenizer command CMD: all of FILE, or stdin when FILE
** is NULL, into a malloc'd NUL-terminated *DATA of *N bytes.  Returns 0, or
** 1 after printing the error; when FILE does not exist the message says
** that CMD reads a FILE or stdin (a text given in place of FILE is a common
** slip). */
int tokio_read_input(const char *cmd, const char *file, char **data, size_t *n);

#endif

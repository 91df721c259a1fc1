/*
** Reading a whole file (or stdin) into memory.
*/
#ifndef QUILL_SLURP_H
#define QUILL_SLURP_H

#include <stddef.h>

/* Read all of path (NULL or "-": stdin) into a malloc'd buffer with a
** trailing NUL after *n bytes.  Errors name the file ("stdin" for stdin). */
int slurp(const char *path, char **data, size_t *n, char *err);

#endif

/*
** What every command receives, and the helpers they share.
**
** A command is `int cmd_NAME(cli *c, int argc, char **argv)` registered in
** stages/commands.def; argv[0] is the command's name and the rest are its
** own arguments (parse them with getopt_long; `--help` prints its usage to
** stdout and returns 0).  It returns the process exit status: 0 on success,
** 1 on failure after printing "quill: <what failed>: <why>" with cli_error().
*/
#ifndef QUILL_CLI_H
#define QUILL_CLI_H

#include "store.h"

#define QUILL_VERSION "0.1.0"

typedef struct cli {
    const char *db_path; /* --db, else $QUILL_DB, else ./quill.db */
    store *st;           /* opened on first cli_store() */
} cli;

/* Open the store on first use; prints the error itself and returns NULL on
** failure. */
store *cli_store(cli *c);

/* Print "quill: " + message + newline to stderr; returns 1 (an exit status). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CMD(name, fn, summary) int fn(cli *c, int argc, char **argv);
#include "commands.def"
#undef CMD

#endif

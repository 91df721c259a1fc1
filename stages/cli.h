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

#include <jansson.h>

#define QUILL_VERSION "0.1.0"

typedef struct cli {
    const char *db_path;  /* --db, else $QUILL_DB, else ./quill.db */
    store *st;            /* opened on first cli_store() */
    store_mode open_mode; /* how st was opened (0, STORE_CREATE, for a store set by hand) */
} cli;

/* Open the store on first use, as MODE says (a stronger mode than the one it
** is open in reopens it); prints the error itself and returns NULL on
** failure.  Which command opens how:
**   STORE_CREATE: the commands that add data a new store can start from:
**     ingest (documents), import (a checkpoint), run (a recipe);
**   STORE_WRITE: the other commands that write: tokenize --docs, group,
**     train, generate (to record its outputs), review (TUI, approve, reject,
**     note, edit), publish (records the publication);
**   STORE_READ: the commands that only read: docs, review list/show,
**     checkpoints, export, status, next/score --checkpoint.
** Without STORE_CREATE a missing store is the error "no store at PATH
** (create one with quill ingest or quill run)" and no file is created;
** STORE_READ never writes or waits for a writer. */
store *cli_store(cli *c, store_mode mode);

/* Print "quill: " + message + newline to stderr; returns 1 (an exit status). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Report a mistake in how command CMD was called: prints
** "quill: CMD: <message> (see quill CMD --help)" to stderr and returns 2,
** the exit status of a usage error. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report what getopt_long() objected to, after it returned RET ('?' for an
** unknown option, ':' for a missing value: pass an optstring starting with
** ':') while parsing ARGV; uses optind/optopt.  Returns 2 via
** cli_usage_error(). */
int cli_bad_option(const char *cmd, int ret, char **argv);

/* s as a JSON string, for --json output: jansson refuses invalid UTF-8 (a
** file name in another encoding), so such bytes become U+FFFD; NULL gives
** JSON null.  Never returns NULL except when out of memory. */
json_t *cli_json_str(const char *s);

/* Parse S as a whole base-10 integer in [MIN, MAX] into *OUT.  Returns 0, or
** -1 (and leaves *OUT alone) when S is empty, has other characters,
** overflows or is out of range.  The caller reports the error. */
int cli_int(const char *s, long long min, long long max, long long *out);

#define CMD(name, fn, summary) int fn(cli *c, int argc, char **argv);
#include "commands.def"
#undef CMD

#endif

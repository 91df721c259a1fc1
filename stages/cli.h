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

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

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
**     note, edit, withdraw, rule), publish (records the publication),
**     reviewer add/remove, serve (the desk's reviews and sessions);
**   STORE_READ: the commands that only read: docs, review list/show,
**     reviewer list, checkpoints, export, status, next/score --checkpoint.
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

/* The same for n bytes of s (NULs included: they become \u0000). */
json_t *cli_json_strn(const char *s, size_t n);

/* Parse S as a whole base-10 integer in [MIN, MAX] into *OUT.  Returns 0, or
** -1 (and leaves *OUT alone) when S is empty, has other characters,
** overflows or is out of range.  The caller reports the error. */
int cli_int(const char *s, long long min, long long max, long long *out);

/* txt_put_clean(f, s, TXT_CLEAN_TEXT): s (NULL: nothing) with control
** characters other than newline and tab in caret notation (^[ for ESC) and
** C1 controls as \uHHHH, so untrusted text (a generated text, a
** reviewer's name or note) cannot send the terminal escape sequences. */
void cli_put_clean(FILE *f, const char *s);

/* Crash-test hook: when $QUILL_FAULT is point (e.g. "publish-rename"), the
** process kills itself with SIGKILL right there, as a crash would. */
void cli_fault(const char *point);

/* Parse S as a whole finite number (strtod's syntax, no "inf", "nan" or
** overflow such as 1e309) in [MIN, MAX], or (MIN, MAX] when OPEN_MIN, into
** *OUT.  Returns 0, or -1 (and leaves *OUT alone); the caller reports. */
#define CLI_UNBOUNDED 1e300 /* a MAX that means no upper limit (messages omit it) */
int cli_float(const char *s, double min, double max, int open_min, double *out);

/* cli_int() and cli_float() for the value S of option OPT (e.g.
** "--top-k") of command CMD: on a bad value they print one usage error
** naming the option, the value and the range, and return 2 (the exit
** status); 0 when *OUT was set. */
int cli_int_opt(const char *cmd, const char *opt, const char *s, long long min, long long max,
                long long *out);
int cli_float_opt(const char *cmd, const char *opt, const char *s, double min, double max,
                  int open_min, double *out);

/* The long name (without "--") of the option whose val is VAL in OPTS, a
** getopt_long table that has it. */
const char *cli_option_name(const struct option *opts, int val);

/* The value ARG of number option NAME (e.g. "top-k") of command CMD,
** checked as the recipe checks key top_k of SECTION ("train", "generate"):
** the same type and range.  Sets *IV for a whole number, else *V; returns
** 0, or 2 after a usage error as cli_int_opt(). */
int cli_recipe_opt(const char *cmd, const char *section, const char *name, const char *arg,
                   long long *iv, double *v);

#define CMD(name, fn, summary) int fn(cli *c, int argc, char **argv);
#include "commands.def"
#undef CMD

#endif

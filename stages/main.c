/*
** quill's entry point: global options, then dispatch to a command.
*/
#include "cli.h"

#include "dist.h"
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct command {
    const char *name;
    int (*fn)(cli *c, int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
#define CMD(name, fn, summary) {name, fn, summary},
#include "commands.def"
#undef CMD
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* Print quill's usage and the command list (from commands.def) to f. */
static void usage(FILE *f) {
    fprintf(f, "usage: quill [--db PATH] COMMAND [ARGS...]\n\n"
               "Fine-tune GPT-2-style models and generate text, with every output\n"
               "kept in one SQLite store for review before it is published.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nOptions:\n"
               "  --db PATH    the store (default $QUILL_DB, else ./quill.db)\n"
               "  --help       this help (`quill COMMAND --help`: a command's own)\n"
               "  --version    print the version\n");
}

/* Run command k.  Under mpirun only train (data-parallel training),
** generate (bulk generation) and run (a recipe's generate stage) make
** sense; an error there ends every process of the job. */
static int run_command(size_t k, cli *c, int argc, char **argv) {
    char err[ERR_LEN];
    if (dist_init(&argc, &argv, err)) {
        cli_error("%s", err);
        return 1;
    }
    int rc;
    if (dist_size() > 1 && strcmp(commands[k].name, "train") &&
        strcmp(commands[k].name, "generate") && strcmp(commands[k].name, "run")) {
        if (!dist_rank())
            cli_error("%s: only `quill train`, `quill generate` and `quill run` run on several "
                      "processes (mpirun)",
                      commands[k].name);
        rc = 2;
    } else {
        rc = commands[k].fn(c, argc, argv);
    }
    store_close(c->st);
    if (rc && dist_size() > 1) {
        fflush(NULL);
        dist_abort(rc);
    }
    dist_finalize();
    return rc;
}

/* Parse the global options (--db, --help, --version) and run the command;
** its return value is the exit status.  The store is closed on the way out. */
int main(int argc, char **argv) {
    cli c = {0};
    c.db_path = getenv("QUILL_DB");
    if (!c.db_path || !*c.db_path) c.db_path = "quill.db";
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            printf("quill %s\n", QUILL_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
            c.db_path = argv[++i];
        } else if (!strncmp(argv[i], "--db=", 5)) {
            c.db_path = argv[i] + 5;
        } else if (!strcmp(argv[i], "--db")) {
            cli_error("--db needs a PATH (see quill --help)");
            return 2;
        } else {
            cli_error("unknown option '%s' (see quill --help)", argv[i]);
            return 2;
        }
    }
    /* SQLite would open "" as a private temporary store, lost on exit */
    if (!*c.db_path) {
        cli_error("--db: the store's path is empty");
        return 2;
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    for (size_t k = 0; k < NCOMMANDS; k++)
        if (!strcmp(argv[i], commands[k].name)) return run_command(k, &c, argc - i, argv + i);
    cli_error("unknown command '%s' (see quill --help)", argv[i]);
    return 2;
}

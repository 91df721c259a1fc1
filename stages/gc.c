/*
** `quill gc`: give the store's unused space back to the file system
** (db/space.h's space_collect).
*/
#include "cli.h"
#include "err.h"
#include "space.h"

#include <stdio.h>
#include <string.h>

/* `quill gc`: drop the optimizer state the retention rule does not keep,
** delete unused blobs, VACUUM; prints what it did and the sizes. */
int cmd_gc(cli *c, int argc, char **argv) {
    static const char *usage =
        "usage: quill gc\n\n"
        "Reclaim the store's unused space: drop the optimizer state of checkpoints that\n"
        "are neither the latest of their run nor pinned (`quill checkpoints pin`),\n"
        "delete the blobs nothing references, then VACUUM the file.  Refused while\n"
        "another quill process writes to the store or a recipe run holds it.\n";
    if (argc == 2 && !strcmp(argv[1], "--help")) return fputs(usage, stdout), 0;
    if (argc > 1) return cli_usage_error("gc", "bad argument '%s'", argv[1]);
    store *st = cli_store(c, STORE_WRITE);
    if (!st) return 1;
    char err[ERR_LEN], before[16], after[16];
    space_collected r;
    if (space_collect(st, &r, err)) return cli_error("gc: %s", err);
    space_human(r.before, before);
    space_human(r.after, after);
    printf("gc: dropped the optimizer state of %lld checkpoints, deleted %lld other unused blobs\n",
           (long long)r.states, (long long)r.blobs);
    if (!r.vacuumed) {
        printf("gc: another process began writing, so the file was not compacted (%s): run "
               "quill gc again\n",
               before);
        return 1;
    }
    printf("gc: store %s -> %s (%lld -> %lld bytes)\n", before, after, (long long)r.before,
           (long long)r.after);
    return 0;
}

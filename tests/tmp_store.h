/*
** A scratch store for unit tests that need one: tmp_store_open() makes a
** fresh file under /tmp (named after tag and the pid), tmp_store_close()
** closes and removes it with its WAL files.
*/
#ifndef QUILL_TEST_TMP_STORE_H
#define QUILL_TEST_TMP_STORE_H

#include "err.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char tmp_store_path_[256];

static void tmp_store_unlink_(void) {
    const char *sfx[] = {"", "-wal", "-shm"};
    char p[300];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", tmp_store_path_, sfx[i]);
        unlink(p);
    }
}

static store *tmp_store_open(const char *tag) {
    char err[ERR_LEN];
    store *st;
    snprintf(tmp_store_path_, sizeof tmp_store_path_, "/tmp/quill-test-%s-%d.db", tag,
             (int)getpid());
    tmp_store_unlink_();
    if (store_open(tmp_store_path_, &st, err)) {
        printf("store_open: %s\n", err);
        exit(1);
    }
    return st;
}

static void tmp_store_close(store *st) {
    store_close(st);
    tmp_store_unlink_();
}

#endif

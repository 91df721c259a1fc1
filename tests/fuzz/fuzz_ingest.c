/*
** libFuzzer target for ingest: any file (text, archive or compressed file,
** by name or by content), named directly, through a symlink, or inside a
** folder beside a FIFO, a dangling symlink and a symlink loop, is stored
** or skipped without a crash, the store never fails, and every stored
** document is clean (valid UTF-8, no NUL, within --max-chars, its counts
** right).  Input: byte 0 picks the name and the options, byte 1 max_chars
** (0: unlimited), the rest is the file's content.  tests/test_fuzz.c
** replays the committed corpus (tests/fuzz/corpus_ingest) through
** fuzz_ingest_one under ASan/UBSan.
** Build and run: tests/fuzz/run.sh ingest [SECONDS] (or `make fuzz-ingest`).
*/
#include "err.h"
#include "ingest.h"
#include "store.h"
#include "text.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static store *fuzz_st;
static char fuzz_dir[256];

/* Write n bytes to path (replacing it); 0 or -1. */
static int fuzz_write(const char *path, const uint8_t *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* Check one stored document against the options; -1 with why when wrong. */
static int fuzz_check_doc(int64_t id, const ingest_opts *o, char *why) {
    char err[ERR_LEN];
    sqlite3_stmt *s;
    if (store_prepare(fuzz_st, "SELECT text_blob, bytes, chars FROM documents WHERE id = ?", &s,
                      err))
        return snprintf(why, ERR_LEN, "%s", err), -1;
    sqlite3_bind_int64(s, 1, id);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        return snprintf(why, ERR_LEN, "document %lld is not stored", (long long)id), -1;
    }
    int64_t blob = sqlite3_column_int64(s, 0), bytes = sqlite3_column_int64(s, 1),
            chars = sqlite3_column_int64(s, 2);
    sqlite3_finalize(s);
    void *text;
    size_t n, bad;
    if (store_get_blob(fuzz_st, blob, &text, &n, err)) return snprintf(why, ERR_LEN, "%s", err), -1;
    int rc = -1;
    if ((int64_t)n != bytes || n == 0)
        snprintf(why, ERR_LEN, "document %lld: %zu bytes, row says %lld", (long long)id, n,
                 (long long)bytes);
    else if (!txt_utf8_valid(text, n, &bad) || txt_has_nul(text, n))
        snprintf(why, ERR_LEN, "document %lld is not clean UTF-8", (long long)id);
    else if ((int64_t)txt_count_chars(text, n) != chars ||
             (o->max_chars >= 0 && chars > o->max_chars))
        snprintf(why, ERR_LEN, "document %lld: wrong char count", (long long)id);
    else
        rc = 0;
    free(text);
    return rc;
}

/* Ingest one input; returns 0, or -1 with a message in why when a property
** does not hold. */
static int fuzz_ingest_one(const uint8_t *data, size_t size, char *why) {
    static const char *names[8] = {"f",     "f.txt", "f.tar", "f.tgz",
                                   "f.zip", "f.gz",  "f.xz",  "f.tar.zst"};
    char err[ERR_LEN], path[512], link[512], sub[512], tmp[600];
    if (size < 2) return 0;
    if (!fuzz_st) {
        snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/quill-fuzz-ingest-%d", (int)getpid());
        mkdir(fuzz_dir, 0700);
        if (store_open(":memory:", &fuzz_st, err))
            return snprintf(why, ERR_LEN, "store_open: %s", err), -1;
    }
    ingest_opts o;
    ingest_opts_default(&o);
    o.replace_invalid = data[0] >> 3 & 1;
    o.strip_gutenberg = data[0] >> 4 & 1;
    o.normalize_newlines = data[0] >> 5 & 1;
    o.max_chars = data[1] ? data[1] : -1;
    if (data[1] & 0x80) o.max_member_bytes = data[1] & 0x7f;
    int how = data[0] >> 6;
    snprintf(sub, sizeof sub, "%s/d", fuzz_dir);
    snprintf(path, sizeof path, "%s/%s", how == 2 ? sub : fuzz_dir, names[data[0] & 7]);
    if (how == 2) mkdir(sub, 0700);
    if (fuzz_write(path, data + 2, size - 2))
        return snprintf(why, ERR_LEN, "cannot write %s", path), -1;
    char *arg = path;
    if (how == 1) { /* named through a symlink */
        snprintf(link, sizeof link, "%s/link", fuzz_dir);
        unlink(link);
        if (symlink(path, link)) return snprintf(why, ERR_LEN, "cannot link %s", link), -1;
        arg = link;
    } else if (how == 2) { /* a folder with the file and things to skip */
        snprintf(tmp, sizeof tmp, "%s/fifo", sub);
        mkfifo(tmp, 0600);
        snprintf(tmp, sizeof tmp, "%s/dangling", sub);
        if (symlink("nowhere", tmp) && errno != EEXIST)
            return snprintf(why, ERR_LEN, "cannot link %s", tmp), -1;
        snprintf(tmp, sizeof tmp, "%s/loop", sub);
        if (symlink(".", tmp) && errno != EEXIST)
            return snprintf(why, ERR_LEN, "cannot link %s", tmp), -1;
        arg = sub;
    }
    char *paths[2] = {arg, arg}; /* how == 3: the same path twice */
    ingest_result res;
    int rc = stage_ingest(fuzz_st, &o, paths, how == 3 ? 2 : 1, &res, err);
    unlink(path);
    if (rc) return snprintf(why, ERR_LEN, "stage_ingest failed: %s", err), -1;
    for (int i = 0; i < res.n_doc_ids && !rc; i++)
        rc = fuzz_check_doc(res.doc_ids[i], &o, why);
    if (!rc && res.n_doc_ids > res.added + res.duplicates)
        rc = -1, snprintf(why, ERR_LEN, "%d documents seen, %d added + %d duplicates",
                          res.n_doc_ids, res.added, res.duplicates);
    ingest_result_free(&res);
    return rc;
}

#ifndef FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char why[ERR_LEN];
    if (fuzz_ingest_one(data, size, why)) {
        fprintf(stderr, "fuzz_ingest: %s\n", why);
        abort();
    }
    return 0;
}
#endif

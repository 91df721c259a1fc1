/*
** `quill publish --out FILE [--format txt|md|jsonl] [--allow-empty]
** [--recipe RECIPE]`: write the approved outputs, and only those.
**
** The gate: an output is published only when outputs.status is 'approved'
** AND its reviews, recomputed now (review.h), make it approved; so an
** output marked approved by hand, never reviewed, rejected by anyone, or
** edited after its approvals is never written.  The file is written to a
** temp file beside FILE and renamed into place; the publication (ids,
** texts' hash, path, format, time) is recorded in the same step.
*/
#include "cli.h"
#include "err.h"
#include "fsutil.h"
#include "hash.h"
#include "recipe.h"
#include "review.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct item {
    int64_t id;
    char *text;
    int edited;
} item;

typedef struct items {
    item *v;
    size_t n;
} items;

/* Free the gathered outputs. */
static void items_free(items *it) {
    for (size_t i = 0; i < it->n; i++)
        free(it->v[i].text);
    free(it->v);
}

/* The outputs that pass the gate, in id order; recipe_name filters when
** not NULL.  Outputs marked approved without the reviews to show for it are
** reported on stderr and left out. */
static int gather(store *st, const char *recipe_name, items *out, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT id FROM outputs WHERE status = 'approved' "
                      "AND (?1 IS NULL OR recipe_name = ?1) ORDER BY id",
                      &s, err))
        return -1;
    if (recipe_name) sqlite3_bind_text(s, 1, recipe_name, -1, SQLITE_STATIC);
    size_t cap = 0;
    int rc = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        const char *status;
        if ((rc = review_verdict(st, id, &status, NULL, NULL, err))) break;
        if (strcmp(status, "approved")) {
            fprintf(stderr,
                    "quill: publish: output %lld is marked approved but its reviews say "
                    "%s; not published\n",
                    (long long)id, status);
            continue;
        }
        if (out->n == cap) {
            cap = cap ? 2 * cap : 64;
            item *nv = realloc(out->v, cap * sizeof *nv);
            if (!nv) {
                rc = err_set(err, "out of memory");
                break;
            }
            out->v = nv;
        }
        item *it = &out->v[out->n];
        if ((rc = review_text(st, id, &it->text, &it->edited, err))) break;
        it->id = id;
        out->n++;
    }
    sqlite3_finalize(s);
    return rc;
}

/* The provenance of one output as a JSON object (jsonl format). */
static json_t *provenance(store *st, const item *it, char *err) {
    sqlite3_stmt *s;
    if (review_fetch(st,
                     "SELECT recipe_name, recipe_run_id, checkpoint_id, model_source, prompt, "
                     "continuation, text, params_json, seed, finish_reason, created_at "
                     "FROM outputs WHERE id = ?",
                     it->id, &s, err))
        return NULL;
#define TXT(i)                                                                                     \
    (sqlite3_column_type(s, i) == SQLITE_NULL                                                      \
         ? json_null()                                                                             \
         : cli_json_str((const char *)sqlite3_column_text(s, i)))
#define INT(i)                                                                                     \
    (sqlite3_column_type(s, i) == SQLITE_NULL ? json_null()                                        \
                                              : json_integer(sqlite3_column_int64(s, i)))
    json_t *params = json_loads((const char *)sqlite3_column_text(s, 7), 0, NULL);
    json_t *o =
        json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)it->id,
                  "text", cli_json_str(it->text), "edited", json_boolean(it->edited), "recipe",
                  TXT(0), "recipe_run_id", INT(1), "checkpoint_id", INT(2), "model", TXT(3),
                  "prompt", TXT(4), "continuation", TXT(5), "original_text", TXT(6), "params",
                  params ? params : TXT(7), "seed", INT(8), "finish_reason", TXT(9));
    json_object_set_new(o, "created_at", TXT(10));
#undef TXT
#undef INT
    sqlite3_finalize(s);
    json_t *reviewers = json_array(), *notes = json_array();
    json_object_set_new(o, "reviewers", reviewers);
    json_object_set_new(o, "notes", notes);
    if (store_prepare(st,
                      "SELECT reviewer, verdict, note, created_at FROM reviews WHERE output_id = ? "
                      "ORDER BY id",
                      &s, err)) {
        json_decref(o);
        return NULL;
    }
    sqlite3_bind_int64(s, 1, it->id);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *who = (const char *)sqlite3_column_text(s, 0);
        const char *verdict = (const char *)sqlite3_column_text(s, 1);
        const char *when = (const char *)sqlite3_column_text(s, 3);
        if (!strcmp(verdict, "approve"))
            json_array_append_new(
                reviewers, json_pack("{s:o,s:s}", "reviewer", cli_json_str(who), "at", when));
        if (sqlite3_column_type(s, 2) != SQLITE_NULL)
            json_array_append_new(notes,
                                  json_pack("{s:o,s:o,s:s}", "reviewer", cli_json_str(who), "note",
                                            cli_json_str((const char *)sqlite3_column_text(s, 2)),
                                            "at", when));
    }
    sqlite3_finalize(s);
    return o;
}

/* Render the items in format into f. */
static int render(store *st, const items *it, const char *format, FILE *f, char *err) {
    for (size_t i = 0; i < it->n; i++) {
        const item *x = &it->v[i];
        if (!strcmp(format, "txt")) {
            fprintf(f, "%s%s\n", i ? "\n" : "", x->text);
        } else if (!strcmp(format, "md")) {
            fprintf(f, "%s## %zu\n\n%s\n", i ? "\n" : "", i + 1, x->text);
        } else {
            json_t *o = provenance(st, x, err);
            if (!o) return -1;
            char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
            json_decref(o);
            if (!line) return err_set(err, "output %lld: cannot encode", (long long)x->id);
            fprintf(f, "%s\n", line);
            free(line);
        }
    }
    return 0;
}

/* Write all n bytes of data to fd; 0, or -1 with errno set. */
static int write_fd(int fd, const char *data, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, data + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

/* Write data to path atomically: a temp file beside it, fsync, rename.
** Something other than a file or a folder (a pipe, /dev/stdout, a device)
** is written to directly: a rename would replace it. */
static int write_atomic(const char *path, const char *data, size_t n, char *err) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return err_set(err, "%s: is a folder", path);
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        int fd = open(path, O_WRONLY);
        int bad = fd < 0 || write_fd(fd, data, n);
        if (fd >= 0 && close(fd) && !bad) bad = 1;
        return bad ? err_set(err, "%s: %s", path, strerror(errno)) : 0;
    }
    if (fs_mkdirs_for(path, err)) return -1; /* a recipe's out/ folder, say */
    size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    if (!tmp) return err_set(err, "out of memory");
    snprintf(tmp, len + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        err_set(err, "%s: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    int bad = write_fd(fd, data, n) || fsync(fd) || fchmod(fd, 0644);
    bad |= close(fd) != 0;
    if (bad || rename(tmp, path)) {
        err_set(err, "%s: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

static const char *usage =
    "usage: quill publish --out FILE [--format txt|md|jsonl] [--allow-empty] [--recipe RECIPE]\n"
    "Writes the approved outputs (their edited text where there is one) to FILE.\n"
    "--format defaults to FILE's extension (.md, .jsonl, else txt); jsonl carries\n"
    "each output's provenance.  --recipe takes --out/--format from the recipe's\n"
    "publish section and publishes only that recipe's outputs.  With nothing\n"
    "approved it writes nothing and fails, unless --allow-empty.\n";

/* `quill publish --out FILE [--format F] [--allow-empty] [--recipe R]`:
** renders the approved outputs, records the publication and writes FILE
** in one transaction; nothing is written when anything fails. */
int cmd_publish(cli *c, int argc, char **argv) {
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},   {"format", required_argument, 0, 'f'},
        {"allow-empty", no_argument, 0, 'e'}, {"recipe", required_argument, 0, 'r'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *out = NULL, *format = NULL, *recipe_path = NULL;
    int allow_empty = 0, opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (opt) {
        case 'o':
            out = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'e':
            allow_empty = 1;
            break;
        case 'r':
            recipe_path = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return cli_bad_option("publish", opt, argv);
        }
    }
    if (optind != argc) return cli_usage_error("publish", "unexpected argument '%s'", argv[optind]);
    char err[ERR_LEN];
    rcp_recipe *r = NULL;
    if (recipe_path && rcp_load(recipe_path, &r, err)) return cli_error("%s", err);
    if (r && r->publish.present) {
        if (!out) out = r->publish.out;
        if (!format) format = r->publish.format;
    }
    int rc = 1;
    items it = {0};
    char *buf = NULL;
    size_t len = 0;
    store *st;
    if (!out) {
        rc = cli_usage_error("publish", "--out FILE is required");
        goto done;
    }
    if (!format) {
        const char *dot = strrchr(out, '.');
        format = dot && !strcmp(dot, ".jsonl") ? "jsonl"
                 : dot && !strcmp(dot, ".md")  ? "md"
                                               : "txt";
    }
    if (strcmp(format, "txt") && strcmp(format, "md") && strcmp(format, "jsonl")) {
        rc = cli_error("publish: --format must be txt, md or jsonl, not '%s'", format);
        goto done;
    }
    if (!(st = cli_store(c, STORE_WRITE))) goto done;
    /* read and record in one write transaction: nobody reviews in between */
    if (store_begin(st, err)) {
        rc = cli_error("publish: %s", err);
        goto done;
    }
    if (gather(st, r ? r->name : NULL, &it, err)) goto fail;
    if (!it.n && !allow_empty) {
        store_rollback(st);
        rc = cli_error("publish: no approved outputs%s%s; nothing written to %s (approve some "
                       "with quill review, or pass --allow-empty)",
                       r ? " for recipe " : "", r ? r->name : "", out);
        goto done;
    }
    FILE *mf = open_memstream(&buf, &len);
    if (!mf) {
        err_set(err, "out of memory");
        goto fail;
    }
    int bad = render(st, &it, format, mf, err);
    fclose(mf);
    if (bad) goto fail;
    /* the set: ids and published texts */
    json_t *ids = json_array();
    hash_state *h = hash_begin();
    for (size_t i = 0; i < it.n; i++) {
        json_array_append_new(ids, json_integer(it.v[i].id));
        char num[32];
        int k = snprintf(num, sizeof num, "%lld:", (long long)it.v[i].id);
        hash_update(h, num, (size_t)k);
        hash_update(h, it.v[i].text, strlen(it.v[i].text) + 1);
    }
    char set_hash[HASH_HEX_LEN];
    hash_end(h, set_hash);
    char *ids_json = json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT id, out_path, created_at FROM publications WHERE set_hash = ? "
                      "ORDER BY id DESC LIMIT 1",
                      &s, err)) {
        free(ids_json);
        goto fail;
    }
    sqlite3_bind_text(s, 1, set_hash, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW)
        printf("note: the same %zu output%s were already published as publication %lld to %s "
               "at %s\n",
               it.n, it.n == 1 ? "" : "s", (long long)sqlite3_column_int64(s, 0),
               sqlite3_column_text(s, 1), sqlite3_column_text(s, 2));
    sqlite3_finalize(s);
    if (store_prepare(st,
                      "INSERT INTO publications (out_path, format, set_hash, output_ids) "
                      "VALUES (?, ?, ?, ?)",
                      &s, err)) {
        free(ids_json);
        goto fail;
    }
    sqlite3_bind_text(s, 1, out, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, format, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, set_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, ids_json, -1, SQLITE_STATIC);
    int step = sqlite3_step(s);
    sqlite3_finalize(s);
    free(ids_json);
    if (step != SQLITE_DONE) {
        store_error(st, err, "cannot record the publication");
        goto fail;
    }
    int64_t pub = sqlite3_last_insert_rowid(store_db(st));
    if (write_atomic(out, buf, len, err)) goto fail;
    if (store_commit(st, err)) {
        rc = cli_error("publish: %s (the file was written)", err);
        goto done;
    }
    printf("published %zu output%s to %s (%s), publication %lld\n", it.n, it.n == 1 ? "" : "s", out,
           format, (long long)pub);
    rc = 0;
    goto done;
fail:
    store_rollback(st);
    rc = cli_error("publish: %s", err);
done:
    free(buf);
    items_free(&it);
    rcp_free(r);
    return rc;
}

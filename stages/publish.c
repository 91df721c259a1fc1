/*
** `quill publish --out FILE [--format txt|md|jsonl] [--allow-empty]
** [--recipe RECIPE] [--allow-constraint-breaks]`: write the approved
** outputs, and only those.
**
** The gate: an output is published only when outputs.status is 'approved'
** AND its reviews, recomputed now (db/reviews.h), make it approved; so an
** output marked approved by hand, never reviewed, rejected by anyone, or
** edited after its approvals is never written.  An output whose edited
** text breaks its constraints stops the publication unless
** --allow-constraint-breaks.  FILE may not be the store or one of its
** -wal/-shm/-journal files.
**
** Crash safety: the file is written to FILE.tmp.XXXXXX beside FILE; the
** publication is recorded 'pending' (with that temp file and the bytes'
** hash) and committed; the temp file is renamed into place; the
** publication is marked 'done'.  Every publish first repairs what a crash
** left: a pending publication whose process is gone becomes 'done' when
** FILE holds its bytes, else 'abandoned' (its temp file removed), and
** stale temp files of quill's naming beside FILE are removed.
*/
#include "cli.h"
#include "err.h"
#include "jw.h"
#include "fsutil.h"
#include "hash.h"
#include "publications.h"
#include "publish.h"
#include "recipe.h"
#include "review.h"
#include "slurp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void publish_items_free(publish_items *it) {
    for (size_t i = 0; i < it->n; i++)
        reviews_output_free(&it->v[i]);
    free(it->v);
}

int publish_gather(store *st, const char *recipe_name, int allow_breaks, publish_items *out,
                   char *err) {
    int64_t *ids;
    size_t n;
    if (reviews_list(st, "approved", recipe_name, &ids, &n, err)) return -1;
    int rc = 0;
    if (n && !(out->v = calloc(n, sizeof *out->v))) rc = err_set(err, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        reviews_output *o = &out->v[out->n];
        if ((rc = reviews_get(st, ids[i], o, err))) break;
        if (strcmp(o->status, "approved")) {
            fprintf(stderr,
                    "quill: publish: output %lld is marked approved but its reviews say "
                    "%s; not published\n",
                    (long long)o->id, o->status);
            reviews_output_free(o);
            continue;
        }
        out->n++;
        if (!o->breaks) continue;
        if (!allow_breaks) {
            rc = err_set(err,
                         "output %lld: its edited text breaks its constraints (it has the %s); "
                         "nothing published (edit it again, or pass --allow-constraint-breaks)",
                         (long long)o->id, o->breaks);
            break;
        }
        fprintf(stderr,
                "quill: publish: warning: output %lld breaks its constraints (it has the %s); "
                "published as --allow-constraint-breaks says\n",
                (long long)o->id, o->breaks);
    }
    free(ids);
    return rc;
}

/* The provenance of one output as a JSON object (jsonl format): NULL with
** err when it cannot be read or written. */
static json_t *provenance(store *st, const reviews_output *x, char *err) {
    json_t *params = json_loads(x->params_json, 0, NULL);
#define ID(v) ((v) ? json_integer(v) : json_null())
    json_t *o =
        jw_object(err, "id", json_integer(x->id), "text", cli_json_str(x->text), "edited",
                  json_boolean(x->edited), "version", json_integer(x->version), "constraint_breaks",
                  cli_json_str(x->breaks), "recipe", cli_json_str(x->recipe), "recipe_run_id",
                  ID(x->recipe_run_id), "checkpoint_id", ID(x->checkpoint_id), "model",
                  cli_json_str(x->model), "prompt", cli_json_str(x->prompt), "continuation",
                  cli_json_str(x->continuation), "original_text", cli_json_str(x->original),
                  "params", params ? params : cli_json_str(x->params_json), "seed",
                  json_integer(x->seed), "finish_reason", cli_json_str(x->finish), "created_at",
                  cli_json_str(x->created_at), "reviewers", json_array(), "notes", json_array());
#undef ID
    reviews_entry *v;
    size_t n;
    if (!o) return NULL;
    if (reviews_history(st, x->id, &v, &n, err)) {
        json_decref(o);
        return NULL;
    }
    json_t *reviewers = json_object_get(o, "reviewers"), *notes = json_object_get(o, "notes");
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        /* the approvals of the published version */
        if (!strcmp(v[i].verdict, "approve") && v[i].version == x->version)
            rc = jw_append(reviewers,
                           jw_object(err, "reviewer", cli_json_str(v[i].reviewer), "at",
                                     cli_json_str(v[i].created_at)),
                           "a reviewer", err);
        if (!rc && *v[i].note)
            rc = jw_append(notes,
                           jw_object(err, "reviewer", cli_json_str(v[i].reviewer), "note",
                                     cli_json_str(v[i].note), "at", cli_json_str(v[i].created_at)),
                           "a note", err);
    }
    reviews_history_free(v, n);
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int publish_render(store *st, const publish_items *it, const char *format, FILE *f, char *err) {
    for (size_t i = 0; i < it->n; i++) {
        const reviews_output *x = &it->v[i];
        if (!strcmp(format, "txt")) {
            fprintf(f, "%s%s\n", i ? "\n" : "", x->text);
        } else if (!strcmp(format, "md")) {
            fprintf(f, "%s## %lld\n\n%s\n", i ? "\n" : "", (long long)x->id, x->text);
        } else {
            json_t *o = provenance(st, x, err);
            if (!o || jw_print(f, o, JSON_COMPACT | JSON_ENSURE_ASCII, "the output", err))
                return err_prefix(err, "output %lld", (long long)x->id);
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

/* 1 when name is base + ".tmp." + six mkstemp characters: a temp file of
** ours for the output called base. */
static int our_temp(const char *name, const char *base) {
    size_t b = strlen(base);
    if (strncmp(name, base, b) || strncmp(name + b, ".tmp.", 5) || strlen(name + b + 5) != 6)
        return 0;
    for (const char *p = name + b + 5; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9'))
            return 0;
    return 1;
}

/* Remove the temp files of our naming beside out, except keep (a live
** publication's); says so on stdout. */
static void clean_temps(const char *out, const char *const *keep, size_t nkeep) {
    const char *slash = strrchr(out, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - out) + 1 : 1, slash ? out : ".");
    const char *base = slash ? slash + 1 : out;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!our_temp(e->d_name, base)) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s%s%s", slash ? "" : "./", slash ? dir : "", e->d_name);
        int kept = 0;
        for (size_t i = 0; i < nkeep; i++)
            kept |= fs_same_file(keep[i], path);
        struct stat sb;
        if (!kept && !lstat(path, &sb) && S_ISREG(sb.st_mode) && !unlink(path))
            printf("note: removed %s, a temp file left by an interrupted publish\n", path);
    }
    closedir(d);
}

/* Repair what crashed publishes left (see the top of this file) in its own
** transaction, then clean the temp files beside out. */
static int repair(store *st, const char *out, char *err) {
    publications_row *v;
    size_t n;
    if (store_begin(st, err)) return -1;
    if (publications_pending(st, &v, &n, err)) {
        store_rollback(st);
        return -1;
    }
    const char **keep = calloc(n + 1, sizeof *keep);
    size_t nkeep = 0;
    int rc = keep ? 0 : err_set(err, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        publications_row *r = &v[i];
        if (r->pid && r->pid != getpid() && (!kill((pid_t)r->pid, 0) || errno == EPERM)) {
            keep[nkeep++] = r->tmp_path; /* still publishing */
            continue;
        }
        char *data = NULL, hash[HASH_HEX_LEN] = "", e2[ERR_LEN];
        size_t len;
        int renamed = r->tmp_path && access(r->tmp_path, F_OK) && r->file_hash &&
                      !slurp(r->out_path, &data, &len, e2);
        if (renamed) hash_hex(data, len, hash);
        free(data);
        int done = renamed && !strcmp(hash, r->file_hash);
        if (!done && r->tmp_path) unlink(r->tmp_path);
        rc = publications_finish(st, r->id, done ? "done" : "abandoned", err);
        if (!rc)
            printf("note: publication %lld to %s was interrupted %s\n", (long long)r->id,
                   r->out_path,
                   done ? "after its file was put in place; now recorded as done"
                        : "before its file was put in place; recorded as abandoned");
    }
    if (rc || store_commit(st, err)) {
        store_rollback(st);
        rc = -1;
    } else {
        clean_temps(out, keep, nkeep);
    }
    free(keep);
    publications_rows_free(v, n);
    return rc;
}

/* Write data to a new temp file of our naming beside path (fsync'd,
** 0644); *tmp gets its malloc'd name. */
static int write_temp(const char *path, const char *data, size_t n, char **tmp, char *err) {
    if (fs_mkdirs_for(path, err)) return -1; /* a recipe's out/ folder, say */
    size_t len = strlen(path);
    if (!(*tmp = malloc(len + 16))) return err_set(err, "out of memory");
    snprintf(*tmp, len + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(*tmp);
    if (fd < 0) {
        err_set(err, "%s: %s", path, strerror(errno));
        free(*tmp);
        *tmp = NULL;
        return -1;
    }
    int bad = write_fd(fd, data, n) || fsync(fd) || fchmod(fd, 0644);
    bad |= close(fd) != 0;
    if (bad) {
        err_set(err, "%s: %s", path, strerror(errno));
        unlink(*tmp);
        free(*tmp);
        *tmp = NULL;
        return -1;
    }
    return 0;
}

/* Refuse an output path that is the store or one of its SQLite files. */
static int not_the_store(const char *out, const char *db, char *err) {
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
        char f[8192];
        snprintf(f, sizeof f, "%s%s", db, suffix[i]);
        if (fs_same_file(out, f))
            return err_set(err,
                           "--out %s is the store%s%s (%s): publishing there would destroy it; "
                           "choose another file",
                           out, *suffix[i] ? "'s " : "", *suffix[i] ? suffix[i] + 1 : "", f);
    }
    return 0;
}

static const char *usage =
    "usage: quill publish --out FILE [--format txt|md|jsonl] [--allow-empty]\n"
    "                     [--allow-constraint-breaks]\n"
    "       quill publish --recipe RECIPE.yaml [--out FILE] [...]\n"
    "Writes the approved outputs (their edited text where there is one) to FILE.\n"
    "--format defaults to FILE's extension (.md, .jsonl, else txt); jsonl carries\n"
    "each output's provenance; md headings are output ids.  --recipe takes\n"
    "--out/--format from the recipe's publish section and publishes only that\n"
    "recipe's outputs.  With nothing approved it writes nothing and fails, unless\n"
    "--allow-empty.  An output whose edited text breaks its constraints stops the\n"
    "publication unless --allow-constraint-breaks.  FILE cannot be the store.\n"
    "A publish interrupted by a crash is repaired (and reported) by the next.\n";

/* `quill publish`: renders the approved outputs, writes FILE and records
** the publication (see the top of this file); nothing is published when
** anything fails. */
int cmd_publish(cli *c, int argc, char **argv) {
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"format", required_argument, 0, 'f'},
                                         {"allow-empty", no_argument, 0, 'e'},
                                         {"recipe", required_argument, 0, 'r'},
                                         {"allow-constraint-breaks", no_argument, 0, 'b'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *out = NULL, *format = NULL, *recipe_path = NULL;
    int allow_empty = 0, allow_breaks = 0, opt;
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
        case 'b':
            allow_breaks = 1;
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
    int rc = 1, regular = 1;
    publish_items it = {0};
    char *buf = NULL, *tmp = NULL, *ids_json = NULL;
    size_t len = 0;
    store *st;
    struct stat sb;
    if (!out) {
        rc = cli_usage_error("publish",
                             "--out FILE is required (or --recipe RECIPE.yaml with a publish "
                             "section naming out)");
        goto done;
    }
    if (!*out) {
        rc = cli_usage_error("publish", "--out is empty; name a file");
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
    if (not_the_store(out, c->db_path, err)) {
        rc = cli_error("publish: %s", err);
        goto done;
    }
    if (stat(out, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        rc = cli_error("publish: %s: is a folder", out);
        goto done;
    }
    /* a pipe, /dev/stdout or a device is written to directly: a rename
    ** would replace it */
    regular = stat(out, &sb) || S_ISREG(sb.st_mode);
    if (!(st = cli_store(c, STORE_WRITE))) goto done;
    if (repair(st, out, err)) {
        rc = cli_error("publish: repairing an interrupted publication: %s", err);
        goto done;
    }
    /* read and record in one write transaction: nobody reviews in between */
    if (store_begin(st, err)) {
        rc = cli_error("publish: %s", err);
        goto done;
    }
    if (publish_gather(st, r ? r->name : NULL, allow_breaks, &it, err)) goto fail;
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
    int bad = publish_render(st, &it, format, mf, err);
    fclose(mf);
    if (bad) goto fail;
    /* the set: ids and published texts */
    json_t *ids = json_array();
    hash_state *h = hash_begin();
    for (size_t i = 0; i < it.n; i++) {
        if (ids) jw_push(&ids, json_integer(it.v[i].id), "the output ids", err);
        char num[32];
        int k = snprintf(num, sizeof num, "%lld:", (long long)it.v[i].id);
        hash_update(h, num, (size_t)k);
        hash_update(h, it.v[i].text, strlen(it.v[i].text) + 1);
    }
    char set_hash[HASH_HEX_LEN], file_hash[HASH_HEX_LEN];
    hash_end(h, set_hash);
    hash_hex(buf, len, file_hash);
    ids_json = jw_dumps(ids, JSON_COMPACT, "the output ids", err);
    if (!ids_json) goto fail;
    int64_t pub, same_id;
    char *same_path, *same_at;
    int same = publications_same(st, set_hash, &same_id, &same_path, &same_at, err);
    if (same < 0) goto fail;
    if (same)
        printf("note: the same %zu output%s were already published as publication %lld to %s "
               "at %s\n",
               it.n, it.n == 1 ? "" : "s", (long long)same_id, same_path ? same_path : "?",
               same_at ? same_at : "?");
    if (same) free(same_path), free(same_at);
    if (!regular) {
        /* written in place inside the transaction: recorded done or not at all */
        int fd = open(out, O_WRONLY);
        int wbad = fd < 0 || write_fd(fd, buf, len);
        if (fd >= 0 && close(fd) && !wbad) wbad = 1;
        if (wbad) {
            err_set(err, "%s: %s", out, strerror(errno));
            goto fail;
        }
        if (publications_add(st, out, format, set_hash, ids_json, NULL, NULL, &pub, err)) goto fail;
        if (store_commit(st, err)) {
            rc = cli_error("publish: %s (the file was written)", err);
            goto done;
        }
    } else {
        if (write_temp(out, buf, len, &tmp, err) ||
            publications_add(st, out, format, set_hash, ids_json, tmp, file_hash, &pub, err))
            goto fail;
        if (store_commit(st, err)) {
            rc = cli_error("publish: %s", err);
            goto done;
        }
        cli_fault("publish-rename");
        if (rename(tmp, out)) {
            rc = cli_error("publish: %s: %s", out, strerror(errno));
            if (!store_begin(st, err)) {
                if (publications_finish(st, pub, "abandoned", err) || store_commit(st, err))
                    store_rollback(st);
            }
            goto done;
        }
        free(tmp);
        tmp = NULL;
        cli_fault("publish-renamed");
        if (store_begin(st, err) || publications_finish(st, pub, "done", err) ||
            store_commit(st, err)) {
            store_rollback(st);
            rc = cli_error("publish: %s (%s was written; the next publish records it)", err, out);
            goto done;
        }
    }
    printf("published %zu output%s to %s (%s), publication %lld\n", it.n, it.n == 1 ? "" : "s", out,
           format, (long long)pub);
    rc = 0;
    goto done;
fail:
    store_rollback(st);
    rc = cli_error("publish: %s", err);
done:
    if (tmp) unlink(tmp);
    free(tmp);
    free(ids_json);
    free(buf);
    publish_items_free(&it);
    rcp_free(r);
    return rc;
}

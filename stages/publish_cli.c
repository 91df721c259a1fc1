/*
** `quill publish --out FILE [--format txt|md|jsonl] [--allow-empty]
** [--recipe RECIPE] [--allow-constraint-breaks]`: write the approved
** outputs (publish.c says which), and only those.  FILE may not be the
** store or one of its -wal/-shm/-journal files.
**
** Crash safety: the file is written to FILE.tmp.XXXXXX beside FILE; the
** publication is recorded 'pending' (with that temp file and the bytes'
** hash) and committed; the temp file is renamed into place; the
** publication is marked 'done'.  Every publish first repairs what a crash
** left (pubfile_repair).  A FILE that is not a regular file (a pipe,
** /dev/stdout) is written in place inside the transaction instead.
*/
#include "cli.h"
#include "err.h"
#include "hash.h"
#include "jw.h"
#include "publications.h"
#include "publish.h"
#include "pubfile.h"
#include "recipe.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* What `quill publish` was asked. */
typedef struct pub_opts {
    const char *out, *format, *recipe_path;
    int allow_empty, allow_breaks;
} pub_opts;

/* Parse argv into o: -1 to go on, else the exit status (after --help or a
** usage error). */
static int parse_opts(int argc, char **argv, pub_opts *o) {
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"format", required_argument, 0, 'f'},
                                         {"allow-empty", no_argument, 0, 'e'},
                                         {"recipe", required_argument, 0, 'r'},
                                         {"allow-constraint-breaks", no_argument, 0, 'b'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (opt) {
        case 'o':
            o->out = optarg;
            break;
        case 'f':
            o->format = optarg;
            break;
        case 'e':
            o->allow_empty = 1;
            break;
        case 'b':
            o->allow_breaks = 1;
            break;
        case 'r':
            o->recipe_path = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return cli_bad_option("publish", opt, argv);
        }
    }
    if (optind != argc) return cli_usage_error("publish", "unexpected argument '%s'", argv[optind]);
    return -1;
}

/* Check --out and settle --format (from out's extension when not given);
** *regular: out is (or will be) a regular file, not a pipe or device.
** Returns 0, or the exit status after saying what is wrong. */
static int check_out(pub_opts *o, const char *db_path, int *regular) {
    char err[ERR_LEN];
    if (!o->out)
        return cli_usage_error("publish", "--out FILE is required (or --recipe RECIPE.yaml with a "
                                          "publish section naming out)");
    if (!*o->out) return cli_usage_error("publish", "--out is empty; name a file");
    if (!o->format) {
        const char *dot = strrchr(o->out, '.');
        o->format = dot && !strcmp(dot, ".jsonl") ? "jsonl"
                    : dot && !strcmp(dot, ".md")  ? "md"
                                                  : "txt";
    }
    if (strcmp(o->format, "txt") && strcmp(o->format, "md") && strcmp(o->format, "jsonl"))
        return cli_error("publish: --format must be txt, md or jsonl, not '%s'", o->format);
    if (pubfile_not_the_store(o->out, db_path, err)) return cli_error("publish: %s", err);
    struct stat sb;
    if (stat(o->out, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cli_error("publish: %s: is a folder", o->out);
    /* a pipe, /dev/stdout or a device is written to directly: a rename
    ** would replace it */
    *regular = stat(o->out, &sb) || S_ISREG(sb.st_mode);
    return 0;
}

/* A publication being made: the rendered bytes and what identifies them. */
typedef struct pub_set {
    char *buf;
    size_t len;
    char *ids_json;               /* the output ids, a JSON array */
    char set_hash[HASH_HEX_LEN];  /* over the ids and published texts */
    char file_hash[HASH_HEX_LEN]; /* over buf */
} pub_set;

/* Render it into s (format: txt, md or jsonl); 0, or -1 with err. */
static int render_set(store *st, const publish_items *it, const char *format, pub_set *s,
                      char *err) {
    FILE *mf = open_memstream(&s->buf, &s->len);
    if (!mf) return err_set(err, "out of memory");
    int bad = publish_render(st, it, format, mf, err);
    fclose(mf);
    if (bad) return -1;
    json_t *ids = json_array();
    hash_state *h = hash_begin();
    for (size_t i = 0; i < it->n; i++) {
        if (ids) jw_push(&ids, json_integer(it->v[i].id), "the output ids", err);
        char num[32];
        int k = snprintf(num, sizeof num, "%lld:", (long long)it->v[i].id);
        hash_update(h, num, (size_t)k);
        hash_update(h, it->v[i].text, strlen(it->v[i].text) + 1);
    }
    hash_end(h, s->set_hash);
    hash_hex(s->buf, s->len, s->file_hash);
    s->ids_json = jw_dumps(ids, JSON_COMPACT, "the output ids", err);
    return s->ids_json ? 0 : -1;
}

/* Say so when the same n outputs were published before; -1 when the
** store fails. */
static int note_same(store *st, const pub_set *s, size_t n, char *err) {
    int64_t same_id;
    char *same_path, *same_at;
    int same = publications_same(st, s->set_hash, &same_id, &same_path, &same_at, err);
    if (same <= 0) return same;
    printf("note: the same %zu output%s were already published as publication %lld to %s at %s\n",
           n, n == 1 ? "" : "s", (long long)same_id, same_path ? same_path : "?",
           same_at ? same_at : "?");
    free(same_path);
    free(same_at);
    return 0;
}

/* A FILE that is not regular: written in place inside the transaction, so
** it is recorded done or not at all.  0 committed; -1 (err) to roll back;
** else the exit status after saying what failed. */
static int write_in_place(store *st, const pub_opts *o, const pub_set *s, int64_t *pub, char *err) {
    int fd = open(o->out, O_WRONLY);
    int bad = fd < 0 || pubfile_write_fd(fd, s->buf, s->len);
    if (fd >= 0 && close(fd) && !bad) bad = 1;
    if (bad) return err_set(err, "%s: %s", o->out, strerror(errno));
    if (publications_add(st, o->out, o->format, s->set_hash, s->ids_json, NULL, NULL, pub, err))
        return -1;
    if (store_commit(st, err)) return cli_error("publish: %s (the file was written)", err);
    return 0;
}

/* A regular FILE: a temp file recorded 'pending' and committed, renamed
** into place, then recorded 'done' (see the top of this file).  Returns as
** write_in_place. */
static int write_renamed(store *st, const pub_opts *o, const pub_set *s, int64_t *pub, char *err) {
    char *tmp = NULL;
    int rc = 0;
    if (pubfile_write_temp(o->out, s->buf, s->len, &tmp, err) ||
        publications_add(st, o->out, o->format, s->set_hash, s->ids_json, tmp, s->file_hash, pub,
                         err))
        rc = -1;
    else if (store_commit(st, err))
        rc = cli_error("publish: %s", err);
    if (!rc) cli_fault("publish-rename");
    if (!rc && rename(tmp, o->out)) {
        rc = cli_error("publish: %s: %s", o->out, strerror(errno));
        if (!store_begin(st, err) &&
            (publications_finish(st, *pub, "abandoned", err) || store_commit(st, err)))
            store_rollback(st);
    }
    if (tmp && rc) unlink(tmp);
    free(tmp);
    if (rc) return rc;
    cli_fault("publish-renamed");
    if (store_begin(st, err) || publications_finish(st, *pub, "done", err) ||
        store_commit(st, err)) {
        store_rollback(st);
        return cli_error("publish: %s (%s was written; the next publish records it)", err, o->out);
    }
    return 0;
}

/* Gather, render, write and record, reading and recording in one write
** transaction (nobody reviews in between); returns the exit status. */
static int publish(store *st, const pub_opts *o, const char *recipe, int regular) {
    char err[ERR_LEN];
    if (store_begin(st, err)) return cli_error("publish: %s", err);
    publish_items it = {0};
    pub_set s = {0};
    int64_t pub = 0;
    int rc = publish_gather(st, recipe, o->allow_breaks, &it, err) ? -1 : 0;
    if (!rc && !it.n && !o->allow_empty) {
        store_rollback(st);
        rc = cli_error("publish: no approved outputs%s%s; nothing written to %s (approve some "
                       "with quill review, or pass --allow-empty)",
                       recipe ? " for recipe " : "", recipe ? recipe : "", o->out);
    }
    if (!rc && (render_set(st, &it, o->format, &s, err) || note_same(st, &s, it.n, err))) rc = -1;
    if (!rc) rc = (regular ? write_renamed : write_in_place)(st, o, &s, &pub, err);
    if (rc < 0) {
        store_rollback(st);
        rc = cli_error("publish: %s", err);
    } else if (!rc) {
        printf("published %zu output%s to %s (%s), publication %lld\n", it.n, it.n == 1 ? "" : "s",
               o->out, o->format, (long long)pub);
    }
    free(s.buf);
    free(s.ids_json);
    publish_items_free(&it);
    return rc;
}

/* `quill publish`: renders the approved outputs, writes FILE and records
** the publication (see the top of this file); nothing is published when
** anything fails. */
int cmd_publish(cli *c, int argc, char **argv) {
    pub_opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0) return rc;
    char err[ERR_LEN];
    rcp_recipe *r = NULL;
    if (o.recipe_path && rcp_load(o.recipe_path, &r, err)) return cli_error("%s", err);
    if (r && r->publish.present) {
        if (!o.out) o.out = r->publish.out;
        if (!o.format) o.format = r->publish.format;
    }
    int regular = 1;
    store *st = NULL;
    rc = check_out(&o, c->db_path, &regular);
    if (!rc && !(st = cli_store(c, STORE_WRITE))) rc = 1;
    if (!rc && pubfile_repair(st, o.out, err))
        rc = cli_error("publish: repairing an interrupted publication: %s", err);
    if (!rc) rc = publish(st, &o, r ? r->name : NULL, regular);
    rcp_free(r);
    return rc;
}

/*
** `quill ingest [options] PATH...`: the ingest stage (ingest.c) from the
** command line, its result printed as text or JSON.
*/
#include "ingest.h"

#include "cli.h"
#include "err.h"
#include "jw.h"
#include "text.h"

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The skips or errors as a JSON list of {source, reason}; NULL with err
** when one cannot be written. */
static json_t *notes_json(const ingest_note *v, int n, char *err) {
    json_t *a = json_array();
    for (int i = 0; i < n && a; i++) {
        jw_push(&a,
                jw_object(err, "source", cli_json_str(v[i].source), "reason",
                          cli_json_str(v[i].reason)),
                "a skipped or failed path", err);
    }
    return a;
}

/* Print "added N, duplicates M, skipped K" and each skip and error, or
** the same as one JSON object.  When every PATH failed and nothing else
** happened, the text form prints only the errors (no "added 0" line that
** reads like success).  Returns -1 (after saying why) when the JSON cannot
** be written. */
static int print_result(const ingest_result *res, int json) {
    if (json) {
        char err[ERR_LEN];
        json_t *o = jw_object(err, "added", json_integer(res->added), "duplicates",
                              json_integer(res->duplicates), "skipped",
                              notes_json(res->skips, res->n_skips, err), "errors",
                              notes_json(res->errors, res->n_errors, err));
        if (!o || jw_print(stdout, o, JSON_COMPACT | JSON_ENSURE_ASCII, "the result", err))
            return cli_error("ingest: %s", err);
    } else if (!res->n_errors || res->added || res->duplicates || res->n_skips) {
        printf("added %d, duplicates %d, skipped %d\n", res->added, res->duplicates, res->n_skips);
        for (int i = 0; i < res->n_skips; i++) {
            /* names come from archives and folders: control characters shown, not obeyed */
            char *name = txt_escape_controls(res->skips[i].source);
            printf("  skipped %s: %s\n", name ? name : "?", res->skips[i].reason);
            free(name);
        }
    }
    for (int i = 0; i < res->n_errors; i++) {
        char *name = txt_escape_controls(res->errors[i].source);
        cli_error("ingest: %s: %s", name ? name : "?", res->errors[i].reason);
        free(name);
    }
    return 0;
}

static const char ingest_usage[] =
    "usage: quill ingest [options] PATH...\n"
    "Add text files, folders (recursively, in sorted order) and archives (tar,\n"
    "tar.gz/bz2/xz/zst, zip, and single .gz/.bz2/.xz/.zst files) to the store.\n"
    "The same content is stored once.\n\n"
    "  --max-chars N               keep the first N Unicode characters of each text\n"
    "  --strip-gutenberg           keep only the text between Project Gutenberg's\n"
    "                              *** START OF / *** END OF markers\n"
    "  --normalize-newlines        turn CRLF and CR into LF\n"
    "  --on-invalid-utf8 MODE      reject (default) or replace (with U+FFFD)\n"
    "  --max-member-bytes N        skip files and archive members larger than N\n"
    "                              (default 1073741824)\n"
    "  --json                      print the result as JSON\n";

/* Parse a non-negative integer option; returns -1 when it is not one. */
static long long parse_count(const char *s) {
    long long v;
    return cli_int(s, 0, LLONG_MAX, &v) ? -1 : v;
}

/* `quill ingest [options] PATH...`: exit status 1 when a PATH could not be
** read at all or the store failed. */
int cmd_ingest(cli *c, int argc, char **argv) {
    static const struct option opts[] = {{"max-chars", required_argument, 0, 'm'},
                                         {"strip-gutenberg", no_argument, 0, 'g'},
                                         {"normalize-newlines", no_argument, 0, 'n'},
                                         {"on-invalid-utf8", required_argument, 0, 'u'},
                                         {"max-member-bytes", required_argument, 0, 'b'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    ingest_opts o;
    ingest_opts_default(&o);
    int json = 0, ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            if ((o.max_chars = parse_count(optarg)) < 0)
                return cli_error("ingest: --max-chars: '%s' is not a non-negative integer", optarg);
            break;
        case 'g':
            o.strip_gutenberg = 1;
            break;
        case 'n':
            o.normalize_newlines = 1;
            break;
        case 'u':
            if (!strcmp(optarg, "reject"))
                o.replace_invalid = 0;
            else if (!strcmp(optarg, "replace"))
                o.replace_invalid = 1;
            else
                return cli_error("ingest: --on-invalid-utf8: '%s' is not reject or replace",
                                 optarg);
            break;
        case 'b':
            if ((o.max_member_bytes = parse_count(optarg)) < 0)
                return cli_error("ingest: --max-member-bytes: '%s' is not a non-negative "
                                 "integer",
                                 optarg);
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            fputs(ingest_usage, stdout);
            return 0;
        default:
            return cli_bad_option("ingest", ch, argv);
        }
    }
    if (optind >= argc) return cli_usage_error("ingest", "no PATH given");
    store *st = cli_store(c, STORE_CREATE);
    if (!st) return 1;
    ingest_result res;
    char err[ERR_LEN];
    if (stage_ingest(st, &o, argv + optind, argc - optind, &res, err))
        return cli_error("ingest: %s", err);
    int failed = print_result(&res, json) || res.n_errors > 0;
    ingest_result_free(&res);
    return failed;
}

/*
** What `quill publish` writes (see publish.h): the outputs that pass the
** gate, rendered as txt, md or jsonl.  The command, and how the file is
** written crash-safely, are publish_cli.c and pubfile.c.
**
** The gate: an output is published only when outputs.status is 'approved'
** AND its reviews, recomputed now (db/reviews.h), make it approved; so an
** output marked approved by hand, never reviewed, rejected by anyone, or
** edited after its approvals is never written.  An output whose edited
** text breaks its constraints stops the publication unless
** --allow-constraint-breaks.
*/
#include "publish.h"

#include "cli.h"
#include "err.h"
#include "jw.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/*
** Checkpoints in the store (see ckpt.h), and the `quill import` and
** `quill export` commands.
*/
#include "ckpt.h"

#include "checkpoints.h"
#include "cli.h"
#include "err.h"
#include "jw.h"
#include "hfmodel.h"
#include "mem.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ckpt_planes(const float *in, size_t n, unsigned char *out) {
    const unsigned char *b = (const unsigned char *)in;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            out[k * n + i] = b[4 * i + k];
}

/* Undo the byte planes: in holds n floats as 4 planes (byte k of each
** float in plane k); out gets the n floats back. */
void ckpt_unplanes(const unsigned char *in, size_t n, float *out) {
    unsigned char *b = (unsigned char *)out;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            b[4 * i + k] = in[k * n + i];
}

int ckpt_put(store *st, int64_t run_id, int64_t step, const gpt_config *cfg, const float *params,
             size_t n, const void *state, size_t state_n, int64_t *id, char *err) {
    if (gpt_config_check(cfg, err)) return err_prefix(err, "checkpoint");
    int n_t = gpt_layout_count(cfg);
    gpt_tensor *g = malloc(n_t * sizeof *g);
    size_t want = gpt_layout(cfg, g);
    free(g);
    if (n != want) return err_set(err, "checkpoint: %zu parameters, the config needs %zu", n, want);
    unsigned char *planes = malloc(4 * n);
    if (!planes) return err_set(err, "checkpoint: out of memory");
    ckpt_planes(params, n, planes);
    int64_t tblob, sblob = 0;
    int bad = store_put_blob(st, planes, 4 * n, &tblob, err);
    free(planes);
    if (bad || (state && store_put_blob(st, state, state_n, &sblob, err)))
        return err_prefix(err, "checkpoint");
    checkpoints_row row = {.run_id = run_id,
                           .step = step,
                           .config_json = hf_config_json(cfg, "float32"),
                           .n_params = (int64_t)n,
                           .tensors_blob = tblob,
                           .state_blob = sblob};
    if (!row.config_json) return err_set(err, "checkpoint: out of memory");
    bad = checkpoints_insert(st, &row, id, err);
    free(row.config_json);
    return bad ? -1 : 0;
}

int ckpt_get(store *st, int64_t id, gpt_config *cfg, float **params, size_t *n, void **state,
             size_t *state_n, int64_t *run_id, int64_t *step, char *err) {
    *params = NULL;
    if (state) *state = NULL;
    checkpoints_row row;
    int found;
    if (checkpoints_get(st, id, &row, &found, err)) return -1;
    if (!found) return err_set(err, "checkpoint %lld does not exist", (long long)id);
    char what[64];
    snprintf(what, sizeof what, "checkpoint %lld config", (long long)id);
    gpt_config c;
    size_t np = (size_t)row.n_params;
    int planar = row.planar;
    int64_t tblob = row.tensors_blob, sblob = row.state_blob;
    if (run_id) *run_id = row.run_id;
    if (step) *step = row.step;
    int bad = hf_config_parse(row.config_json, strlen(row.config_json), what, &c, err);
    free(row.config_json);
    snprintf(what, sizeof what, "checkpoint %lld", (long long)id);
    /* the tensors are stored in layout order without names: their count
    ** is what ties them to the config (checked before the config's sizes
    ** are used), then their values */
    if (bad || gpt_params_check(&c, NULL, np, what, err)) return -1;
    void *raw;
    size_t raw_n;
    if (store_get_blob(st, tblob, &raw, &raw_n, err))
        return err_prefix(err, "checkpoint %lld", (long long)id);
    if (raw_n != 4 * np) {
        free(raw);
        return err_set(err, "checkpoint %lld: tensors blob has %zu bytes, expected %zu",
                       (long long)id, raw_n, 4 * np);
    }
    float *p = raw;
    if (planar) {
        p = mem_huge_alloc(raw_n);
        if (p) ckpt_unplanes(raw, np, p);
        free(raw);
        if (!p) return err_set(err, "checkpoint %lld: out of memory", (long long)id);
    }
    if (gpt_params_check(&c, p, np, what, err)) {
        free(p);
        return -1;
    }
    if (state && sblob && store_get_blob(st, sblob, state, state_n, err)) {
        free(p);
        return err_prefix(err, "checkpoint %lld state", (long long)id);
    }
    if (state && !sblob && state_n) *state_n = 0;
    *cfg = c;
    *params = p;
    *n = np;
    return 0;
}

int ckpt_resolve(store *st, const char *spec, int64_t run_id, int64_t *id, char *err) {
    char *end;
    long long v = strtoll(spec, &end, 10);
    int latest = !strcmp(spec, "latest");
    if (!latest && (*end || end == spec || v <= 0))
        return err_set(err, "'%s' is not a checkpoint id or \"latest\"", spec);
    if (latest ? checkpoints_latest(st, run_id, id, err) : checkpoints_exists(st, v, id, err))
        return -1;
    if (*id) return 0;
    if (!latest) return err_set(err, "checkpoint %lld does not exist", v);
    if (run_id > 0) return err_set(err, "run %lld has no checkpoint", (long long)run_id);
    return err_set(err, "the store has no checkpoint");
}

int ckpt_prune(store *st, int64_t run_id, int keep, char *err) {
    if (keep < 1) return err_set(err, "save_total_limit %d must be at least 1", keep);
    return checkpoints_prune(st, run_id, keep, err);
}

int ckpt_import(store *st, const char *dir, int64_t *id, char *err) {
    gpt_config cfg;
    float *p;
    size_t n;
    if (hf_load(dir, &cfg, &p, &n, err)) return -1;
    if (store_begin(st, err)) {
        free(p);
        return -1;
    }
    int64_t fresh;
    int bad = ckpt_put(st, 0, 0, &cfg, p, n, NULL, 0, &fresh, err);
    free(p);
    /* The same model already imported (same tensors and config): keep that
    ** one, so importing is idempotent. */
    bad = bad || checkpoints_settle_import(st, fresh, dir, id, err);
    if (bad || store_commit(st, err)) {
        store_rollback(st);
        return err_prefix(err, "import %s", dir);
    }
    return 0;
}

/* `quill import DIR`: prints the checkpoint id. */
int cmd_import(cli *c, int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "--help")) {
        puts("usage: quill import DIR\n\n"
             "Store the Hugging Face GPT-2 model in DIR (config.json + model.safetensors)\n"
             "as a checkpoint, and print its id (for `quill export` and generation).");
        return 0;
    }
    if (argc == 2 && argv[1][0] == '-')
        return cli_usage_error("import", "unknown option '%s'", argv[1]);
    if (argc != 2) return cli_usage_error("import", "need one DIR");
    store *st = cli_store(c, STORE_CREATE);
    if (!st) return 1;
    char err[ERR_LEN];
    int64_t id;
    if (ckpt_import(st, argv[1], &id, err)) return cli_error("%s", err);
    printf("%lld\n", (long long)id);
    return 0;
}

/* `quill export CHECKPOINT DIR [--bf16] [--run RUN] [--tokenizer DIR]`. */
int cmd_export(cli *c, int argc, char **argv) {
    const char *usage =
        "usage: quill export CHECKPOINT DIR [--bf16] [--run RUN] [--tokenizer TOKDIR]\n\n"
        "Write checkpoint CHECKPOINT (an id, or `latest`: of run RUN when given) as a\n"
        "Hugging Face directory that transformers' from_pretrained() loads: config.json,\n"
        "model.safetensors (F32, or BF16 with --bf16), generation_config.json and the\n"
        "tokenizer files (from TOKDIR, default the bundled GPT-2 tokenizer).\n";
    static const struct option opts[] = {{"bf16", no_argument, 0, 'b'},
                                         {"run", required_argument, 0, 'r'},
                                         {"tokenizer", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int bf16 = 0, o;
    long long run = 0;
    const char *tok_dir = NULL;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (o == 'h') {
            fputs(usage, stdout);
            return 0;
        } else if (o == 'b') {
            bf16 = 1;
        } else if (o == 'r') {
            if (cli_int(optarg, 1, INT64_MAX, &run))
                return cli_error("export: --run '%s' is not a run id", optarg);
        } else if (o == 't') {
            tok_dir = optarg;
        } else {
            return cli_bad_option("export", o, argv);
        }
    }
    if (argc - optind != 2) return cli_usage_error("export", "need CHECKPOINT and DIR");
    store *st = cli_store(c, STORE_READ);
    if (!st) return 1;
    char err[ERR_LEN];
    int64_t id;
    gpt_config cfg;
    float *p;
    size_t n;
    if (ckpt_resolve(st, argv[optind], run, &id, err) ||
        ckpt_get(st, id, &cfg, &p, &n, NULL, NULL, NULL, NULL, err))
        return cli_error("export: %s", err);
    int bad = hf_save(argv[optind + 1], &cfg, p, bf16, tok_dir, err);
    free(p);
    if (bad) return cli_error("export: %s", err);
    fprintf(stderr, "exported checkpoint %lld to %s\n", (long long)id, argv[optind + 1]);
    return 0;
}

/* `quill checkpoints pin|unpin ID`: in one transaction; unpinning drops
** the state when the checkpoint is not its run's latest. */
static int checkpoints_pin(cli *c, int pin, int argc, char **argv) {
    const char *verb = pin ? "checkpoints pin" : "checkpoints unpin";
    long long id;
    if (argc != 3) return cli_usage_error(verb, "need one checkpoint ID");
    int bad = cli_int_opt(verb, "ID", argv[2], 1, INT64_MAX, &id);
    if (bad) return bad;
    store *st = cli_store(c, STORE_WRITE);
    if (!st) return 1;
    char err[ERR_LEN];
    int64_t run = -1;
    checkpoints_row row = {0};
    int found = 0;
    if (store_begin(st, err)) return cli_error("%s: %s", verb, err);
    bad = checkpoints_set_pinned(st, id, pin, &run, err) ||
          (run >= 0 && checkpoints_get(st, id, &row, &found, err)) ||
          (!pin && run > 0 && checkpoints_drop_state(st, run, NULL, err)) || store_commit(st, err);
    free(row.config_json);
    if (bad) store_rollback(st);
    if (bad) return cli_error("%s: %s", verb, err);
    if (run < 0) return cli_error("%s: checkpoint %lld does not exist", verb, id);
    if (pin && !row.state_blob)
        fprintf(stderr,
                "checkpoint %lld has no optimizer state (only the latest checkpoint of a run "
                "keeps it): pinned, it keeps its weights, but training cannot resume from it\n",
                id);
    return store_reclaim(st, err) ? cli_error("%s: %s", verb, err) : 0;
}

/* `quill checkpoints [--run RUN] [--json]`, or pin/unpin ID. */
int cmd_checkpoints(cli *c, int argc, char **argv) {
    const char *usage =
        "usage: quill checkpoints [--run RUN] [--json]\n"
        "       quill checkpoints pin|unpin ID\n\n"
        "List the checkpoints in the store (of run RUN): id, run (- for an\n"
        "imported model), step, parameters, stored bytes of the tensors and of the\n"
        "optimizer state (- when dropped), pinned (*), and where the model came from:\n"
        "the directory it was imported from, or \"train run N step S\".\n\n"
        "The optimizer state (needed only to resume training) is kept by the latest\n"
        "checkpoint of each run and by pinned ones; the others lose it when a newer\n"
        "checkpoint of their run is saved.  Pinned checkpoints are never pruned by\n"
        "save_total_limit.  `quill gc` returns the space to the file system.\n";
    if (argc >= 2 && (!strcmp(argv[1], "pin") || !strcmp(argv[1], "unpin")))
        return checkpoints_pin(c, !strcmp(argv[1], "pin"), argc, argv);
    long long run = 0;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--run") && i + 1 < argc) {
            int bad = cli_int_opt("checkpoints", "--run", argv[++i], 1, INT64_MAX, &run);
            if (bad) return bad;
        } else if (!strcmp(argv[i], "--run")) {
            return cli_usage_error("checkpoints", "option '--run' needs a value");
        } else {
            return cli_usage_error("checkpoints", "bad argument '%s'", argv[i]);
        }
    }
    store *st = cli_store(c, STORE_READ);
    if (!st) return 1;
    char err[ERR_LEN];
    checkpoints_info *v;
    size_t n;
    if (checkpoints_list(st, run, &v, &n, err)) return cli_error("checkpoints: %s", err);
    if (!json)
        printf("%6s  %6s  %8s  %12s  %12s  %12s  %3s  %-24s  %s\n", "id", "run", "step", "params",
               "stored", "state", "pin", "created", "source");
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const checkpoints_info *k = &v[i];
        long long id = k->id, r = k->run_id, step = k->step;
        const char *src = k->source;
        char trained[64]; /* a trained checkpoint has no directory: name its run and step */
        if (!*src && r) {
            snprintf(trained, sizeof trained, "train run %lld step %lld", r, step);
            src = trained;
        }
        if (json) {
            json_t *o = jw_object(err, "id", json_integer(id), "run",
                                  r ? json_integer(r) : json_null(), "step", json_integer(step),
                                  "params", json_integer(k->n_params), "stored_bytes",
                                  json_integer(k->stored_bytes), "source", cli_json_str(src),
                                  "created_at", cli_json_str(k->created_at), "state_bytes",
                                  json_integer(k->state_bytes), "pinned", json_boolean(k->pinned));
            if (!o || jw_print(stdout, o, JSON_COMPACT, "the checkpoint", err))
                rc = cli_error("checkpoints: checkpoint %lld: %s", id, err);
        } else {
            char rs[24] = "-", ss[24] = "-";
            if (r) snprintf(rs, sizeof rs, "%lld", r);
            if (k->state_bytes) snprintf(ss, sizeof ss, "%lld", (long long)k->state_bytes);
            printf("%6lld  %6s  %8lld  %12lld  %12lld  %12s  %3s  %-24s  %s\n", id, rs, step,
                   (long long)k->n_params, (long long)k->stored_bytes, ss, k->pinned ? "*" : "",
                   k->created_at, src);
        }
    }
    checkpoints_info_free(v, n);
    return rc;
}

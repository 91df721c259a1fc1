/*
** The recipe runner's stage adapters (see run.h: what a stage provides),
** their table, and `quill run`.
*/
#include "run_stages.h"

#include "blocks.h"
#include "ckpt.h"
#include "cli.h"
#include "dist.h"
#include "err.h"
#include "generate.h"
#include "group.h"
#include "hfmodel.h"
#include "ingest.h"
#include "run.h"
#include "tokenize.h"
#include "train.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ingest: the recipe's ingest section as ingest_opts; any unreadable path
** fails the stage (a recipe names its inputs, they must all be there). */
static int run_ingest(store *st, const rcp_recipe *r, stage_ctx *ctx, char *err) {
    ingest_opts o;
    ingest_opts_default(&o);
    o.max_chars = r->ingest.max_chars > 0 ? r->ingest.max_chars : -1;
    o.strip_gutenberg = r->ingest.strip_gutenberg;
    o.normalize_newlines = r->ingest.normalize_newlines;
    o.replace_invalid = !strcmp(r->ingest.on_invalid_utf8, "replace");
    ingest_result res;
    if (stage_ingest(st, &o, r->ingest.paths.v, (int)r->ingest.paths.n, &res, err)) return -1;
    int rc = 0;
    if (res.n_errors) rc = err_set(err, "%s: %s", res.errors[0].source, res.errors[0].reason);
    for (int i = 0; i < res.n_skips; i++)
        printf("  skipped %s: %s\n", res.skips[i].source, res.skips[i].reason);
    printf("  added %d, duplicates %d, skipped %d\n", res.added, res.duplicates, res.n_skips);
    run_ingest_out *out = &ctx->out.ingest;
    if (!rc) {
        out->added = res.added;
        out->duplicates = res.duplicates;
        out->skipped = res.n_skips;
        memcpy(out->content_hash, res.content_hash, HASH_HEX_LEN);
        out->doc_ids = malloc(((size_t)res.n_doc_ids + 1) * sizeof *out->doc_ids);
        if (!out->doc_ids) rc = err_set(err, "ingest: out of memory");
    }
    for (int i = 0; !rc && i < res.n_doc_ids; i++)
        out->doc_ids[i] = res.doc_ids[i];
    if (!rc) out->n_doc_ids = (size_t)res.n_doc_ids, out->has_doc_ids = 1;
    ingest_result_free(&res);
    return rc;
}

/* tokenize: every document without ids under the recipe's tokenizer. */
static int run_tokenize(store *st, const rcp_recipe *r, stage_ctx *ctx, char *err) {
    int n_done = 0;
    int64_t tokenizer_id = 0;
    if (stage_tokenize(st, run_tok_dir(r), &n_done, &tokenizer_id, err)) return -1;
    printf("  tokenized %d document%s\n", n_done, n_done == 1 ? "" : "s");
    ctx->out.tokenize = (run_tokenize_out){tokenizer_id, n_done};
    return 0;
}

/* group: the ingest stage's documents, in its order (every document when
** its result has none recorded), into blocks (stage_group_run tokenizes
** what it needs). */
static int run_group(store *st, const rcp_recipe *r, stage_ctx *ctx, char *err) {
    group_params p;
    group_defaults(&p);
    p.block_size = (int)r->group.block_size;
    p.mode = !strcmp(r->group.mode, "lines") ? GROUP_LINES : GROUP_DOCUMENT;
    p.eval_fraction = r->group.eval_fraction;
    p.seed = (uint64_t)r->seed;
    const run_result *in = ctx->in[RCP_INGEST];
    if (in && in->ingest.has_doc_ids) {
        p.n_doc_ids = in->ingest.n_doc_ids;
        p.doc_ids = in->ingest.doc_ids;
    }
    int64_t block_set_id = 0;
    int created = 0;
    if (stage_group_run(st, run_tok_dir(r), &p, &block_set_id, &created, err)) return -1;
    blocks_set b;
    if (blocks_get(st, block_set_id, 0, &b, err)) return -1;
    printf("  block set %lld: %zu train, %zu eval blocks of %d tokens%s\n", (long long)block_set_id,
           b.n_train, b.n_eval, p.block_size, created ? "" : " (already in the store)");
    ctx->out.group = (run_group_out){block_set_id, created, (int64_t)b.n_train, (int64_t)b.n_eval};
    blocks_free(&b);
    return 0;
}

/* train: the recipe's train section on the group stage's block set, from
** model.from or model.init; the final model written to train.export when
** set.  train_stop (SIGINT) makes an interrupted stage fail; the next
** `quill run` resumes it (same identity, stage_train resumes from its
** checkpoint). */
static int run_train(store *st, const rcp_recipe *r, stage_ctx *ctx, char *err) {
    const rcp_train *t = &r->train;
    trn_params p;
    trn_params_of_recipe(t, &p);
    p.verbose = 1;
    int64_t block_set = ctx->in[RCP_GROUP] ? ctx->in[RCP_GROUP]->group.block_set_id : 0;
    if (!block_set) return err_set(err, "train: no block set (enable the group stage)");
    gpt_config init;
    train_source src = {0};
    if (r->model.from) {
        src.model_dir = r->model.from;
    } else if (r->model.init.present) {
        gpt_config_default(&init);
        init.n_layer = (int)r->model.init.n_layer;
        init.n_head = (int)r->model.init.n_head;
        init.n_embd = (int)r->model.init.n_embd;
        init.n_positions = (int)r->model.init.n_positions;
        init.vocab_size = (int)r->model.init.vocab_size;
        src.init = &init;
    } else {
        return err_set(err, "train: no model (model.from or model.init)");
    }
    train_result res;
    if (stage_train(st, &p, block_set, &src, &res, err)) return -1;
    printf("  train run %lld: %lld steps%s, checkpoint %lld\n", (long long)res.run_id,
           (long long)res.steps, res.already_done ? " (already done)" : "",
           (long long)res.checkpoint);
    if (t->export) {
        gpt_config cfg;
        float *params;
        size_t n;
        if (ckpt_get(st, res.checkpoint, &cfg, &params, &n, NULL, NULL, NULL, NULL, err)) return -1;
        int bad = hf_save(t->export, &cfg, params, 0, r->tokenize.model, err);
        free(params);
        if (bad) return err_prefix(err, "train: export");
        printf("  exported to %s\n", t->export);
    }
    ctx->out.train =
        (run_train_out){res.checkpoint, res.run_id, res.steps, res.final_loss, res.eval_loss};
    return 0;
}

const run_stage_fn run_stages[RCP_N_STAGES] = {
    [RCP_INGEST] = run_ingest, [RCP_TOKENIZE] = run_tokenize, [RCP_GROUP] = run_group,
    [RCP_TRAIN] = run_train,   [RCP_GENERATE] = run_generate,
};

/* Parse the stage name v of option opt into *out; prints the error and
** returns non-zero when it is not a stage. */
static int stage_arg(const char *opt, const char *v, int *out) {
    *out = rcp_stage_index(v);
    if (*out < 0)
        return cli_error("run: %s '%s': expected ingest, tokenize, group, train or generate", opt,
                         v);
    return 0;
}

/* Under mpirun, a process other than 0: take part in the recipe's generate
** jobs (gen_recipe_worker), reading a checkpoint from the store when the
** recipe trains. */
static int run_worker(cli *c, const rcp_recipe *r, char *err) {
    store *st = r->enabled[RCP_TRAIN] ? run_store(c, r, STORE_READ) : NULL;
    if (r->enabled[RCP_TRAIN] && !st) return err_set(err, "generate: cannot read the store");
    return gen_recipe_worker(st, r, err);
}

/* `quill run RECIPE [--from S] [--until S] [--force S]`. */
int cmd_run(cli *c, int argc, char **argv) {
    static const char *usage =
        "usage: quill run RECIPE [--from STAGE] [--until STAGE] [--force STAGE]\n"
        "Runs the recipe's stages (ingest, tokenize, group, train, generate) in order;\n"
        "a stage whose parameters and inputs are unchanged since it last completed is\n"
        "skipped.  --force STAGE reruns STAGE and what follows; --from STAGE starts\n"
        "there (earlier stages must be done); --until STAGE stops after it.\n";
    static const struct option opts[] = {{"from", required_argument, 0, 'f'},
                                         {"until", required_argument, 0, 'u'},
                                         {"force", required_argument, 0, 'F'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    run_opts o = {-1, -1, -1};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (opt == 'h') return fputs(usage, stdout), 0;
        if (opt == 'f' && stage_arg("--from", optarg, &o.from)) return 2;
        if (opt == 'u' && stage_arg("--until", optarg, &o.until)) return 2;
        if (opt == 'F' && stage_arg("--force", optarg, &o.force)) return 2;
        if (opt == '?' || opt == ':') return cli_bad_option("run", opt, argv);
    }
    if (optind + 1 != argc)
        return cli_usage_error("run", optind == argc ? "no RECIPE given" : "one RECIPE at a time");
    char err[ERR_LEN];
    rcp_recipe *r;
    if (rcp_load(argv[optind], &r, err)) return cli_error("%s", err);
    if (dist_rank()) { /* under mpirun: process 0 runs the recipe, the others help generate */
        int rc = run_worker(c, r, err) ? cli_error("run %s: %s", r->name, err) : 0;
        rcp_free(r);
        return rc;
    }
    int rc = 1;
    store *st = run_store(c, r, STORE_CREATE);
    if (st) {
        if (run_recipe(st, r, run_stages, &o, err) || (dist_size() > 1 && gen_recipe_end(err)))
            rc = cli_error("run %s: %s", r->name, err);
        else
            rc = 0;
        if (!rc && r->enabled[RCP_GENERATE])
            printf("outputs wait for review: quill review (or quill review list)\n");
    }
    rcp_free(r);
    return rc;
}

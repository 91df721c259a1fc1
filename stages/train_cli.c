/*
** `quill train`: options to trn_params and a model source, then the train
** stage (train.h).
*/
#include "cli.h"
#include "dist.h"
#include "err.h"
#include "gpt_layout.h"
#include "recipe.h"
#include "train.h"

#include <assert.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Print quill train's usage, with the defaults of trn_params_default(). */
static void train_usage(FILE *f) {
    trn_params d;
    trn_params_default(&d);
    fprintf(f,
            "usage: quill train (--model DIR | --init KEY=V,... | --checkpoint ID) [options]\n\n"
            "Train on a block set (from `quill group`) with Hugging Face Trainer's semantics,\n"
            "checkpointing into the store.  Run the same command again after an interruption\n"
            "(Ctrl-C saves a checkpoint at the next step; a kill loses at most save_steps\n"
            "steps) to resume exactly; a finished run only prints its final checkpoint.\n\n"
            "model:\n"
            "  --model DIR                Hugging Face GPT-2 directory to fine-tune\n"
            "  --init n_layer=4,n_head=4,n_embd=128,n_positions=64[,vocab_size=50257]\n"
            "                             a new GPT-2-initialised model (from --seed)\n"
            "  --checkpoint ID            a checkpoint in the store (e.g. from quill import)\n"
            "  --block-set ID             block set to train on (default: the newest)\n"
            "training (Trainer's defaults, as in a recipe's train section):\n"
            "  --epochs N (%g)  --max-steps N (%lld)  --batch-size N (%d)\n"
            "  --gradient-accumulation-steps N (%d)  --learning-rate X (%g)\n"
            "  --lr-scheduler linear|constant|cosine (%s)  --warmup-steps N (%lld)\n"
            "  --weight-decay X (%g)  --adam-beta1 X (%g)  --adam-beta2 X (%g)\n"
            "  --adam-epsilon X (%g)  --max-grad-norm X (%g; 0 = off)  --seed N (%llu)\n"
            "  --no-shuffle  --dropout P (default: the model config's)\n"
            "  --bf16                     mixed precision (Trainer's bf16=True): matrix products\n"
            "                             in bfloat16 with fp32 sums; weights, gradients, AdamW,\n"
            "                             LayerNorm, softmax and the loss in fp32\n"
            "  --logging-steps N (%lld)  --save-steps N (%lld; 0 = only at the end)\n"
            "  --save-total-limit N (%d = keep all)  --quiet (no log lines on stderr)\n\n"
            "Prints the final checkpoint id on stdout (for quill export / generate).\n"
            "Under mpirun (mpirun -np W quill train ...) W processes train data-parallel:\n"
            "each takes --gradient-accumulation-steps micro-batches of every step.\n",
            d.epochs, (long long)d.max_steps, d.batch_size, d.grad_accum, d.learning_rate,
            trn_sched_name(d.scheduler), (long long)d.warmup_steps, d.weight_decay, d.adam_beta1,
            d.adam_beta2, d.adam_epsilon, d.max_grad_norm, (unsigned long long)d.seed,
            (long long)d.logging_steps, (long long)d.save_steps, d.save_total_limit);
}

/* Parse --init's KEY=V,... over GPT-2 small's defaults: the shape keys
** with the recipe's model.init ranges, the dropouts in [0, 1] and
** layer_norm_epsilon in (0, 1]; a key given twice is an error. */
static int parse_init(const char *spec, gpt_config *cfg, char *err) {
    static const char *const keys[] = {"n_layer",     "n_head",      "n_embd",
                                       "n_positions", "vocab_size",  "embd_pdrop",
                                       "attn_pdrop",  "resid_pdrop", "layer_norm_epsilon"};
    enum { NKEYS = sizeof keys / sizeof *keys, NINTS = 5 };
    gpt_config_default(cfg);
    int *iv[NINTS] = {&cfg->n_layer, &cfg->n_head, &cfg->n_embd, &cfg->n_positions,
                      &cfg->vocab_size};
    float *fv[NKEYS - NINTS] = {&cfg->embd_pdrop, &cfg->attn_pdrop, &cfg->resid_pdrop,
                                &cfg->layer_norm_epsilon};
    int seen[NKEYS] = {0};
    char *copy = strdup(spec), *save = NULL;
    if (!copy) return err_set(err, "--init: out of memory");
    int rc = 0;
    for (char *kv = strtok_r(copy, ",", &save); kv && !rc; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            rc = err_set(err, "--init: '%s' is not KEY=VALUE", kv);
            break;
        }
        *eq = 0;
        size_t k = 0;
        while (k < NKEYS && strcmp(kv, keys[k]))
            k++;
        if (k == NKEYS) {
            rc = err_set(err, "--init: unknown key '%s'", kv);
        } else if (seen[k]++) {
            rc = err_set(err, "--init: %s is given twice", kv);
        } else if (k < NINTS) {
            rcp_range r;
            long long v;
            int found = rcp_key_range("init", kv, &r);
            assert(found == 0); /* the recipe's model.init has every shape key */
            (void)found;
            if (cli_int(eq + 1, (long long)r.min, (long long)r.max, &v))
                rc = err_set(err, "--init: %s '%s' is not a whole number in [%.0f, %.0f]", kv,
                             eq + 1, r.min, r.max);
            else
                *iv[k] = (int)v;
        } else {
            double v;
            int eps = !strcmp(kv, "layer_norm_epsilon");
            if (cli_float(eq + 1, 0, 1, eps, &v))
                rc = err_set(err, "--init: %s '%s' is not a number in %s0, 1]", kv, eq + 1,
                             eps ? "(" : "[");
            else
                *fv[k - NINTS] = (float)v;
        }
    }
    free(copy);
    return rc ? rc : gpt_config_check(cfg, err) ? err_prefix(err, "--init") : 0;
}

/* Ctrl-C, or SIGTERM (what mpirun sends every process on Ctrl-C, and
** what a job scheduler sends): stop at the next step with a checkpoint. */
static void on_stop_signal(int sig) {
    train_stop = 1;
    signal(sig, SIG_DFL); /* a second one kills at once */
}

/* The options that set a number of trn_params, checked as the recipe's
** train section checks them (cli_recipe_opt); their getopt vals are
** O_NUM + index. */
typedef enum { N_REAL, N_I64, N_INT, N_U64 } num_type;
static const struct {
    const char *name;
    num_type type;
    size_t off;
} nums[] = {
    {"epochs", N_REAL, offsetof(trn_params, epochs)},
    {"max-steps", N_I64, offsetof(trn_params, max_steps)},
    {"batch-size", N_INT, offsetof(trn_params, batch_size)},
    {"gradient-accumulation-steps", N_INT, offsetof(trn_params, grad_accum)},
    {"learning-rate", N_REAL, offsetof(trn_params, learning_rate)},
    {"warmup-steps", N_I64, offsetof(trn_params, warmup_steps)},
    {"weight-decay", N_REAL, offsetof(trn_params, weight_decay)},
    {"adam-beta1", N_REAL, offsetof(trn_params, adam_beta1)},
    {"adam-beta2", N_REAL, offsetof(trn_params, adam_beta2)},
    {"adam-epsilon", N_REAL, offsetof(trn_params, adam_epsilon)},
    {"max-grad-norm", N_REAL, offsetof(trn_params, max_grad_norm)},
    {"seed", N_U64, offsetof(trn_params, seed)},
    {"dropout", N_REAL, offsetof(trn_params, dropout)},
    {"logging-steps", N_I64, offsetof(trn_params, logging_steps)},
    {"save-steps", N_I64, offsetof(trn_params, save_steps)},
    {"save-total-limit", N_INT, offsetof(trn_params, save_total_limit)},
};
enum { N_NUMS = sizeof nums / sizeof *nums };
enum { O_NOSHUF = 256, O_BF16, O_SCHED, O_MODEL, O_INIT, O_CKPT, O_BLOCKS, O_QUIET, O_HELP, O_NUM };

/* Set number option k of p from arg; 0, or an exit status after a usage
** error. */
static int set_num(trn_params *p, int k, const char *arg) {
    long long iv = 0;
    double v = 0;
    int rc = cli_recipe_opt("train", "train", nums[k].name, arg, &iv, &v);
    if (rc) return rc;
    char *f = (char *)p + nums[k].off;
    if (nums[k].type == N_REAL)
        *(double *)f = v;
    else if (nums[k].type == N_I64)
        *(int64_t *)f = iv;
    else if (nums[k].type == N_INT)
        *(int *)f = (int)iv;
    else
        *(uint64_t *)f = (uint64_t)iv;
    return 0;
}

/* What the command line asks for. */
typedef struct train_cli {
    trn_params p;
    train_source src;
    gpt_config init;
    int64_t block_set;
    int help;
} train_cli;

/* One option (getopt's o, its optarg arg) into a; 0, or an exit status. */
static int train_opt(train_cli *a, int o, const char *arg, char **argv) {
    char err[ERR_LEN];
    long long iv;
    int rc;
    switch (o) {
    case O_HELP:
        a->help = 1;
        return 0;
    case O_NOSHUF:
        a->p.shuffle = 0;
        return 0;
    case O_BF16:
        a->p.bf16 = 1;
        return 0;
    case O_QUIET:
        a->p.verbose = 0;
        return 0;
    case O_MODEL:
        a->src.model_dir = arg;
        return 0;
    case O_INIT:
        if (parse_init(arg, &a->init, err)) return cli_usage_error("train", "%s", err);
        a->src.init = &a->init;
        return 0;
    case O_SCHED:
        if (trn_sched_parse(arg, &a->p.scheduler))
            return cli_usage_error("train", "--lr-scheduler '%s': use linear, constant or cosine",
                                   arg);
        return 0;
    case O_CKPT:
    case O_BLOCKS:
        if ((rc = cli_int_opt("train", o == O_CKPT ? "--checkpoint" : "--block-set", arg, 1,
                              LLONG_MAX, &iv)))
            return rc;
        *(o == O_CKPT ? &a->src.checkpoint : &a->block_set) = iv;
        return 0;
    }
    if (o >= O_NUM && o < O_NUM + N_NUMS) return set_num(&a->p, o - O_NUM, arg);
    return cli_bad_option("train", o, argv);
}

/* Parse quill train's command line into a (defaults first); 0, or an
** exit status. */
static int train_parse(int argc, char **argv, train_cli *a) {
    static const struct option fixed[] = {{"no-shuffle", no_argument, 0, O_NOSHUF},
                                          {"bf16", no_argument, 0, O_BF16},
                                          {"lr-scheduler", required_argument, 0, O_SCHED},
                                          {"model", required_argument, 0, O_MODEL},
                                          {"init", required_argument, 0, O_INIT},
                                          {"checkpoint", required_argument, 0, O_CKPT},
                                          {"block-set", required_argument, 0, O_BLOCKS},
                                          {"quiet", no_argument, 0, O_QUIET},
                                          {"help", no_argument, 0, O_HELP}};
    enum { N_FIXED = sizeof fixed / sizeof *fixed };
    struct option opts[N_FIXED + N_NUMS + 1];
    memcpy(opts, fixed, sizeof fixed);
    for (int k = 0; k < N_NUMS; k++)
        opts[N_FIXED + k] = (struct option){nums[k].name, required_argument, 0, O_NUM + k};
    opts[N_FIXED + N_NUMS] = (struct option){0, 0, 0, 0};
    memset(a, 0, sizeof *a);
    trn_params_default(&a->p);
    a->p.verbose = 1;
    int o, rc;
    optind = 1;
    opterr = 0;
    while (!a->help && (o = getopt_long(argc, argv, ":", opts, NULL)) != -1)
        if ((rc = train_opt(a, o, optarg, argv))) return rc;
    if (a->help) return 0;
    if (optind < argc) return cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
    if (!!a->src.model_dir + (a->src.checkpoint > 0) + !!a->src.init != 1)
        return cli_usage_error("train", "give one of --model DIR, --init ... or --checkpoint ID");
    return 0;
}

int cmd_train(cli *c, int argc, char **argv) {
    train_cli a;
    int rc = train_parse(argc, argv, &a);
    if (rc) return rc;
    if (a.help) {
        train_usage(stdout);
        return 0;
    }
    /* data parallel: process 0 alone opens the store (see train.h) */
    a.p.processes = dist_size();
    store *st = dist_rank() ? NULL : cli_store(c, STORE_WRITE);
    if (!st && !dist_rank()) return 1;
    train_result res;
    char err[ERR_LEN];
    train_stop = 0;
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    int bad = stage_train(st, &a.p, a.block_set, &a.src, &res, err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (bad) {
        if (dist_size() > 1)
            cli_error("train (process %d of %d): %s", dist_rank(), dist_size(), err);
        else
            cli_error("train: %s", err);
        return train_stop ? 130 : 1;
    }
    if (dist_rank()) return 0; /* process 0 reports */
    if (res.already_done)
        fprintf(stderr, "run %lld already finished (%lld steps)\n", (long long)res.run_id,
                (long long)res.steps);
    else if (res.resumed_from)
        fprintf(stderr, "run %lld resumed at step %d and finished (%lld steps)\n",
                (long long)res.run_id, res.resumed_from, (long long)res.steps);
    printf("%lld\n", (long long)res.checkpoint);
    return 0;
}

/*
** `quill generate`: options -> the generate stage (generate.h) -> the
** outputs printed; the options are one table, GEN_OPTS.
*/
#include "gen_opts.h"
#include "generate.h"
#include "pfile.h"

#include "cli.h"
#include "dist.h"
#include "err.h"
#include "jw.h"

#include <getopt.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Print generate's usage, with the defaults of gen_request_defaults(). */
static void gen_usage(FILE *f) {
    gen_request d;
    gen_request_defaults(&d);
    fprintf(f,
            "usage: quill generate (--model DIR | --checkpoint ID|latest) (--prompt TEXT "
            "[--prompt TEXT ...]\n"
            "                      | --prompts FILE) [options]\n\n"
            "Generate continuations as transformers' generate() does (defaults of the\n"
            "text-generation pipeline for distilgpt2: sampling, top_k %d, max_length %d).\n"
            "  --prompts FILE          FILE.jsonl: a JSON object a line, \"prompt\" and its own\n"
            "                          num_return_sequences, max_new_tokens, temperature, top_k,\n"
            "                          top_p, seed, banned_words, forbid_chars, meta; else a\n"
            "                          prompt a line (blank: skipped).  Resumes: stored outputs\n"
            "                          are not made again\n"
            "  --max-new-tokens N      new tokens per output (overrides --max-length)\n"
            "  --max-length N          prompt + new tokens (default %d)\n"
            "  --min-new-tokens N      <|endoftext|> is masked before N new tokens\n"
            "  --temperature T         (default %g)      --top-k K (default %d, 0: off)\n"
            "  --top-p P  --min-p P  --typical-p P      (default off)\n"
            "  --repetition-penalty R  --no-repeat-ngram-size N\n"
            "  --num-return-sequences N  outputs per prompt (default %d)\n"
            "  --seed S                master seed (default %llu); output k gets its own seed\n"
            "  --raw-seed              use S itself as the seed of the single output (to\n"
            "                          regenerate a stored output exactly)\n"
            "  --greedy                argmax instead of sampling (do_sample false)\n"
            "  --ignore-eos            do not stop at <|endoftext|>\n"
            "  --stop-string S         stop when S appears (repeatable)\n"
            "  --banned-words a,b,c    words that never appear in the continuation, however\n"
            "                          tokenized (whole words, any case, by default)\n"
            "  --match word|substring  --case-sensitive   (for --banned-words)\n"
            "  --forbid-chars CHARS    characters that never appear (lipogram; any case)\n"
            "  --forbid-case-sensitive\n"
            "  --bad-words-ids JSON    token sequences, transformers' bad_words_ids\n"
            "  --suppress-tokens JSON  token ids never generated\n"
            "  --batch N               sequences decoded together (default %d)\n"
            "  --json                  one JSON line per output\n"
            "  --stats                 print speed and constraint cost to stderr\n"
            "  --dtype float32|bf16    bf16 as autocast (weights, keys, values; fp32 sums):\n"
            "                          faster, logits within about 1%% (default float32)\n"
            "  --syllables 5,7,5       poetic form: lines of exactly these syllable counts\n"
            "  --form haiku            (= --syllables 5,7,5)   --rhyme ABAB   --lines N\n"
            "  --acrostic WORD         line i begins with the i-th letter of WORD\n"
            "  --vocabulary FILE       every word is one of FILE's (one per line)\n"
            "  --no-store              do not record the outputs (they are recorded when the\n"
            "                          store exists or --checkpoint is used)\n",
            d.sp.top_k, d.sp.max_length, d.sp.max_length, d.sp.temperature, d.sp.top_k,
            d.num_return_sequences, (unsigned long long)d.seed, GEN_BATCH);
}

/* generate's options. */
typedef struct gen_args {
    gen_request r;
    const char *model, *checkpoint;
    const char **prompts, **stops;
    size_t n_prompts, n_stops;
    char **words;
    int32_t *bad_ids, *sup_ids;
    size_t *bad_off, *sup_off, n_sup;
    int json, no_store, stats;
    const char *prompts_file;
    pfile pf;
    const char *form[5]; /* syllables, form, rhyme, acrostic, vocabulary file */
    int lines;
    char **vocab;
} gen_args;

static void gen_args_free(gen_args *g) {
    if (g->words) form_words_free(g->words, g->r.co.n_words);
    free(g->prompts), free(g->stops);
    free(g->bad_ids), free(g->bad_off), free(g->sup_ids), free(g->sup_off);
    form_words_free(g->vocab, g->r.fo.n_vocabulary);
    pfile_free(&g->pf);
}

/* One option: its handler sets the field of gen_args at offset `field`
** from the argument (with `value`: what a flag sets, a number's maximum,
** an id list nested or not).  A handler returns 0, -1 after --help, or the
** exit status of an error it printed. */
typedef struct gen_opt gen_opt;
typedef int (*gen_opt_fn)(gen_args *g, const gen_opt *o, const char *arg);
struct gen_opt {
    const char *name;
    gen_opt_fn set;
    size_t field;
    long long value;
};

/* The int at o's field, o's value. */
static int set_flag(gen_args *g, const gen_opt *o, const char *arg) {
    *(int *)((char *)g + o->field) = (int)o->value;
    return 0;
}

/* The text itself, at o's field (const char *). */
static int set_text(gen_args *g, const gen_opt *o, const char *arg) {
    *(const char **)((char *)g + o->field) = arg;
    return 0;
}

/* An int in [1, o's value]. */
static int set_count(gen_args *g, const gen_opt *o, const char *arg) {
    char opt[64];
    long long iv;
    snprintf(opt, sizeof opt, "--%s", o->name);
    int rc = cli_int_opt("generate", opt, arg, 1, o->value, &iv);
    if (!rc) *(int *)((char *)g + o->field) = (int)iv;
    return rc;
}

/* A number checked as the recipe's generate key of the same name: an int,
** or with value 1 a float. */
static int set_recipe_number(gen_args *g, const gen_opt *o, const char *arg) {
    long long iv = 0;
    double v = 0;
    int rc = cli_recipe_opt("generate", "generate", o->name, arg, &iv, &v);
    if (rc) return rc;
    char *field = (char *)g + o->field;
    if (o->value)
        *(float *)field = (float)v;
    else
        *(int *)field = (int)iv;
    return 0;
}

/* --help: the usage, and stop. */
static int set_help(gen_args *g, const gen_opt *o, const char *arg) {
    gen_usage(stdout);
    return -1;
}

/* --prompt, repeatable. */
static int set_prompt(gen_args *g, const gen_opt *o, const char *arg) {
    return gen_opts_push(&g->prompts, &g->n_prompts, arg) ? cli_error("out of memory") : 0;
}

/* --stop-string, repeatable. */
static int set_stop(gen_args *g, const gen_opt *o, const char *arg) {
    return gen_opts_push(&g->stops, &g->n_stops, arg) ? cli_error("out of memory") : 0;
}

/* --temperature, as next's (gen_opts.h). */
static int set_temperature(gen_args *g, const gen_opt *o, const char *arg) {
    return gen_opts_temperature("generate", arg, &g->r.sp.temperature);
}

/* --dtype float32|bf16. */
static int set_dtype(gen_args *g, const gen_opt *o, const char *arg) {
    return gen_opts_dtype("generate", arg, &g->r.bf16);
}

/* A stored output's seed has 63 bits (see gen_output_seed). */
static int set_seed(gen_args *g, const gen_opt *o, const char *arg) {
    long long iv;
    int rc = cli_int_opt("generate", "--seed", arg, 0, INT64_MAX, &iv);
    if (!rc) g->r.seed = (uint64_t)iv;
    return rc;
}

/* --match word|substring (banned words as whole words or anywhere). */
static int set_match(gen_args *g, const gen_opt *o, const char *arg) {
    if (strcmp(arg, "word") && strcmp(arg, "substring"))
        return cli_usage_error("generate", "--match must be word or substring, not '%s'", arg);
    g->r.co.substring = !strcmp(arg, "substring");
    return 0;
}

/* --banned-words a,b,c (the last one given counts). */
static int set_banned(gen_args *g, const gen_opt *o, const char *arg) {
    if (g->words) form_words_free(g->words, g->r.co.n_words);
    g->words = gen_opts_words(arg, &g->r.co.n_words);
    return g->words ? 0 : cli_error("out of memory");
}

/* bad_words_ids (value 1: a list of lists) or suppress_tokens (a list). */
static int set_id_lists(gen_args *g, const gen_opt *o, const char *arg) {
    char err[ERR_LEN];
    int rc;
    if (o->value) {
        free(g->bad_ids), free(g->bad_off);
        rc = gen_opts_id_lists(arg, 1, &g->bad_ids, &g->bad_off, &g->r.sp.n_bad, err);
    } else {
        free(g->sup_ids), free(g->sup_off);
        rc = gen_opts_id_lists(arg, 0, &g->sup_ids, &g->sup_off, &g->n_sup, err);
    }
    if (rc == GEN_OPTS_NOMEM) return cli_error("out of memory");
    return rc ? cli_usage_error("generate", "--%s: %s", o->name, err) : 0;
}

#define F(x) offsetof(gen_args, x)
static const gen_opt GEN_OPTS[] = {
    {"model", set_text, F(model), 0},
    {"checkpoint", set_text, F(checkpoint), 0},
    {"prompt", set_prompt, 0, 0},
    {"prompts", set_text, F(prompts_file), 0},
    {"max-new-tokens", set_recipe_number, F(r.sp.max_new_tokens), 0},
    {"max-length", set_recipe_number, F(r.sp.max_length), 0},
    {"min-new-tokens", set_recipe_number, F(r.sp.min_new_tokens), 0},
    {"temperature", set_temperature, 0, 0},
    {"top-k", set_recipe_number, F(r.sp.top_k), 0},
    {"top-p", set_recipe_number, F(r.sp.top_p), 1},
    {"min-p", set_recipe_number, F(r.sp.min_p), 1},
    {"typical-p", set_recipe_number, F(r.sp.typical_p), 1},
    {"repetition-penalty", set_recipe_number, F(r.sp.repetition_penalty), 1},
    {"no-repeat-ngram-size", set_recipe_number, F(r.sp.no_repeat_ngram_size), 0},
    {"num-return-sequences", set_recipe_number, F(r.num_return_sequences), 0},
    {"seed", set_seed, 0, 0},
    {"raw-seed", set_flag, F(r.raw_seed), 1},
    {"greedy", set_flag, F(r.sp.do_sample), 0},
    {"do-sample", set_flag, F(r.sp.do_sample), 1},
    {"ignore-eos", set_flag, F(r.sp.ignore_eos), 1},
    {"stop-string", set_stop, 0, 0},
    {"stop-strings", set_stop, 0, 0},
    {"banned-words", set_banned, 0, 0},
    {"match", set_match, 0, 0},
    {"case-sensitive", set_flag, F(r.co.case_sensitive), 1},
    {"forbid-chars", set_text, F(r.co.forbid_chars), 0},
    {"forbid-case-sensitive", set_flag, F(r.co.forbid_case_sensitive), 1},
    {"bad-words-ids", set_id_lists, 0, 1},
    {"suppress-tokens", set_id_lists, 0, 0},
    {"batch", set_count, F(r.max_batch), 1 << 16},
    {"json", set_flag, F(json), 1},
    {"no-store", set_flag, F(no_store), 1},
    {"stats", set_flag, F(stats), 1},
    {"dtype", set_dtype, 0, 0},
    {"syllables", set_text, F(form[0]), 0},
    {"form", set_text, F(form[1]), 0},
    {"rhyme", set_text, F(form[2]), 0},
    {"acrostic", set_text, F(form[3]), 0},
    {"vocabulary", set_text, F(form[4]), 0},
    {"lines", set_count, F(lines), FORM_MAX_LINES},
    {"help", set_help, 0, 0},
};
#undef F
#define N_OPTS (sizeof GEN_OPTS / sizeof *GEN_OPTS)
#define OPT_VAL 256 /* getopt's value of GEN_OPTS[i]: OPT_VAL + i */

/* After the options: the checks and the request's lists.  0, or the exit
** status of a usage error. */
static int finish_args(gen_args *g, int argc, char **argv) {
    char err[ERR_LEN];
    int rc;
    if (optind < argc) return cli_usage_error("generate", "unexpected argument '%s'", argv[optind]);
    if (g->prompts_file && g->n_prompts)
        return cli_usage_error("generate", "give --prompt or --prompts FILE, not both");
    if (g->prompts_file &&
        gen_load_prompts(g->prompts_file, &g->pf, dist_rank() ? NULL : stderr, err))
        return cli_usage_error("generate", "--prompts %s", err);
    if ((rc = gen_opts_source("generate", g->model, g->checkpoint, g->n_prompts + g->pf.n)))
        return rc;
    for (size_t i = 0; i < g->n_prompts; i++)
        if (gen_check_prompt(g->prompts[i], strlen(g->prompts[i]), err))
            return cli_usage_error("generate", "--prompt %zu: %s", i + 1, err);
    if (form_opts_set(&g->r.fo, g->form[0], g->form[1], g->form[2], g->form[3], g->lines, err) ||
        (g->form[4] && form_load_vocabulary(g->form[4], &g->vocab, &g->r.fo.n_vocabulary, err)))
        return cli_usage_error("generate", "%s", err);
    g->r.fo.vocabulary = (const char *const *)g->vocab;
    g->r.prompts = g->prompts_file ? g->pf.prompts : g->prompts;
    g->r.n_prompts = g->prompts_file ? g->pf.n : g->n_prompts;
    g->r.rows = g->prompts_file ? g->pf.rows : NULL;
    g->r.co.words = (const char *const *)g->words;
    g->r.sp.stop = g->stops;
    g->r.sp.n_stop = g->n_stops;
    g->r.sp.bad_ids = g->bad_ids;
    g->r.sp.bad_off = g->bad_off;
    g->r.sp.suppress = g->sup_ids;
    g->r.sp.n_suppress = g->n_sup;
    return 0;
}

/* Parse generate's argv into g; returns 0 to go on, -1 when --help was
** printed, else the exit status of an error (printed). */
static int parse_args(int argc, char **argv, gen_args *g) {
    memset(g, 0, sizeof *g);
    gen_request_defaults(&g->r);
    struct option lo[N_OPTS + 1];
    for (size_t i = 0; i < N_OPTS; i++) {
        const gen_opt *o = &GEN_OPTS[i];
        int flag = o->set == set_flag || o->set == set_help;
        size_t first = 0; /* two names of one option share a value (--stop-str: not ambiguous) */
        while (GEN_OPTS[first].set != o->set || GEN_OPTS[first].field != o->field ||
               GEN_OPTS[first].value != o->value)
            first++;
        lo[i] = (struct option){o->name, flag ? no_argument : required_argument, NULL,
                                OPT_VAL + (int)first};
    }
    lo[N_OPTS] = (struct option){0, 0, 0, 0};
    int o, rc;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
        if (o < OPT_VAL) return cli_bad_option("generate", o, argv);
        const gen_opt *opt = &GEN_OPTS[o - OPT_VAL];
        if ((rc = opt->set(g, opt, optarg))) return rc;
    }
    return finish_args(g, argc, argv);
}

/* Print one output (ctx: &json) as text or as a JSON line (text that is
** not valid UTF-8 repaired, as stored text is on every --json output), with
** its row's meta.  Returns 0, or -1 with err when the line cannot be
** written. */
static int print_output(void *ctx, const gen_request *r, const gen_output *o, char *err) {
    const char *pr = r->prompts[o->prompt_index];
    const char *meta = r->rows ? r->rows[o->prompt_index].meta : NULL;
    if (*(const int *)ctx) {
        size_t pl = strlen(pr);
        char *text = malloc(pl + o->cont_len + 1);
        if (!text) return err_set(err, "out of memory");
        memcpy(text, pr, pl);
        memcpy(text + pl, o->continuation, o->cont_len + 1);
        json_t *j = jw_object(
            err, "prompt", cli_json_strn(pr, pl), "text", cli_json_strn(text, pl + o->cont_len),
            "continuation", cli_json_strn(o->continuation, o->cont_len), "ids",
            gen_ids_json(o->ids, o->n_ids, err), "seed", json_integer((json_int_t)o->seed),
            "finish_reason", json_string(o->finish));
        free(text);
        if (j && meta && jw_set(j, "meta", json_loads(meta, JSON_DECODE_ANY, NULL), err))
            j = NULL; /* jw_set released it */
        return j ? jw_print(stdout, j, JSON_COMPACT | JSON_ENSURE_ASCII, "the output", err) : -1;
    }
    printf("--- prompt %zu, output %d (seed %llu, ended: %s)\n%s%s\n", o->prompt_index + 1,
           o->seq_index + 1, (unsigned long long)o->seed, o->finish, pr, o->continuation);
    return 0;
}

/* --stats: the run's speed and the constraints' and form's cost. */
static void print_stats(size_t n, const gen_stats *s) {
    fprintf(stderr,
            "generate: %zu outputs, %ld tokens in %ld steps, %.3f s (forward %.3f s), "
            "%.1f tokens/s; constraints %.3f ms/step (%.1f%% of the time); "
            "form %.3f ms/step (%ld masks cached, %ld computed, set up in %.1f ms); "
            "%ld prompt tokens reused\n",
            n, s->tokens, s->steps, s->seconds, s->fwd_seconds,
            s->seconds > 0 ? s->tokens / s->seconds : 0,
            s->steps ? 1e3 * s->cons_seconds / s->steps : 0,
            s->seconds > 0 ? 100 * s->cons_seconds / s->seconds : 0,
            s->steps ? 1e3 * s->form_seconds / s->steps : 0, s->form_hits, s->form_misses,
            1e3 * s->form_setup_seconds, s->shared);
}

int cmd_generate(cli *c, int argc, char **argv) {
    gen_args g;
    int pr = parse_args(argc, argv, &g);
    if (pr) {
        gen_args_free(&g);
        return pr < 0 ? 0 : pr;
    }
    struct stat sb;
    store *st = NULL;
    /* under mpirun process 0 owns the store; the others read a checkpoint */
    int record = !dist_rank() && !g.no_store && (g.checkpoint || stat(c->db_path, &sb) == 0);
    if (record || g.checkpoint) {
        st = cli_store(c, record ? STORE_WRITE : STORE_READ);
        if (!st) {
            gen_args_free(&g);
            return 1;
        }
    }
    char err[ERR_LEN];
    gen_summary sum;
    const gen_job j = {.st = st,
                       .record = record,
                       .resume = g.prompts_file != NULL,
                       .bar = g.prompts_file != NULL,
                       .model_dir = g.model,
                       .checkpoint = g.checkpoint,
                       .r = &g.r,
                       .print = print_output,
                       .print_ctx = &g.json};
    int rc = 0;
    if (stage_generate(&j, &sum, err)) /* the engine's own errors already say "generate: " */
        rc = cli_error("%s%s", strncmp(err, "generate: ", 10) ? "generate: " : "", err);
    if (!rc && !dist_rank() && g.stats) print_stats(sum.written, &sum.stats);
    if (!rc && !dist_rank() && g.prompts_file) gen_print_summary(stderr, &sum, record);
    gen_args_free(&g);
    return rc;
}

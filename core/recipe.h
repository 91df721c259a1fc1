/*
** Recipes: a YAML file naming what to ingest, how to tokenize, group,
** train and generate, how many approvals an output needs and where the
** approved outputs are published.  Parsed with libyaml into rcp_recipe.
**
** Every key is checked.  A mistake is reported in err as
**   recipe.yaml:LINE:COL: what.is.wrong: message
** (LINE and COL 1-based, pointing at the offending key or value): unknown
** keys suggest the nearest known key, wrong types and out-of-range values
** name what was expected, missing required keys point at their mapping, and
** YAML syntax errors carry libyaml's position.
**
** Paths (store, model.from, model's tokenizer, ingest.paths, train.export,
** publish.out) are relative to the recipe file's directory; the struct
** holds them resolved, the parameter JSON holds them as written (so a
** recipe's stage identities do not depend on where the checkout lives).
**
** Which stages run: each stage whose section the recipe has (generate: a
** non-empty list), and tokenize and group also whenever it trains (their
** sections are optional and default as below).  review and publish are not run by `quill run`:
** review.min_approvals is recorded for the recipe's outputs and publish
** names the default --out/--format of `quill publish --recipe`.
**
** Defaults follow Hugging Face (Trainer / GenerationConfig / GPT2Config)
** unless noted in the field table in recipe.c.
*/
#ifndef QUILL_RECIPE_H
#define QUILL_RECIPE_H

#include "hash.h"

#include <stddef.h>
#include <stdint.h>

/* The stages `quill run` runs, in order. */
enum { RCP_INGEST, RCP_TOKENIZE, RCP_GROUP, RCP_TRAIN, RCP_GENERATE, RCP_N_STAGES };
extern const char *const rcp_stage_names[RCP_N_STAGES];

/* Index of a stage by name, or -1. */
int rcp_stage_index(const char *name);

typedef struct rcp_strv {
    char **v;
    size_t n;
} rcp_strv;

typedef struct rcp_intv {
    int64_t *v;
    size_t n;
} rcp_intv;

typedef struct rcp_intvv {
    rcp_intv *v;
    size_t n;
} rcp_intvv;

/* Every section starts with `present`: 1 when the recipe wrote it.  An
** absent section still holds its defaults. */
typedef struct rcp_init {
    int present;
    int64_t n_layer, n_head, n_embd, n_positions, vocab_size;
} rcp_init;

typedef struct rcp_model {
    int present;
    char *from;    /* a Hugging Face model directory (resolved), or NULL */
    rcp_init init; /* present when the model is made from scratch */
} rcp_model;

typedef struct rcp_ingest {
    int present;
    rcp_strv paths;    /* resolved */
    int64_t max_chars; /* 0: no limit */
    int strip_gutenberg, normalize_newlines;
    char *on_invalid_utf8; /* reject | replace */
} rcp_ingest;

typedef struct rcp_tokenize {
    int present;
    char *model; /* tokenizer directory (resolved); NULL: model.from if it has
                    vocab.json, else the bundled models/gpt2 */
} rcp_tokenize;

typedef struct rcp_group {
    int present;
    int64_t block_size;
    char *mode; /* document | lines */
    double eval_fraction;
} rcp_group;

typedef struct rcp_train {
    int present;
    double epochs;
    int64_t max_steps; /* -1: from epochs */
    int64_t batch_size, gradient_accumulation_steps;
    double learning_rate;
    char *lr_scheduler; /* linear | constant | cosine */
    int64_t warmup_steps;
    double weight_decay, adam_beta1, adam_beta2, adam_epsilon, max_grad_norm;
    int64_t seed; /* defaults to the recipe's seed */
    int shuffle;
    double dropout;                                      /* -1: unset, the model config's */
    int bf16;                                            /* mixed precision (default false) */
    int64_t logging_steps, save_steps, save_total_limit; /* limit 0: keep all */
    char *export; /* HF directory to write the final model to (resolved), or NULL */
} rcp_train;

typedef struct rcp_gen {
    int present;
    rcp_strv prompts;   /* or: */
    char *prompts_file; /* a prompts file (pfile.h; resolved), or NULL */
    int64_t num_return_sequences;
    int64_t max_new_tokens; /* 0: unset (max_length rules; it wins when both are set) */
    int64_t max_length;     /* 0: unset (the generator's default) */
    int64_t min_new_tokens;
    int do_sample;
    double temperature;
    int64_t top_k; /* 0: off */
    double top_p, min_p, typical_p, repetition_penalty;
    int64_t no_repeat_ngram_size;
    rcp_strv stop_strings;
    int ignore_eos;
    int64_t seed; /* defaults to the recipe's seed */
    rcp_strv banned_words;
    char *match; /* word | substring */
    int case_sensitive;
    char *forbid_chars; /* characters that may not appear ("" none) */
    rcp_intvv bad_words_ids;
    rcp_intv suppress_tokens;
    char *dtype;            /* float32 | bfloat16 | bf16: the weights' type during generation */
    rcp_intv syllables;     /* poetic form (form.h): per-line counts, [] none */
    char *form;             /* "haiku" or "" */
    char *rhyme, *acrostic; /* "" none */
    char *vocabulary;       /* word list file (resolved), or NULL */
    int64_t lines;          /* 0: from the others */
} rcp_gen;

typedef struct rcp_review {
    int present;
    int64_t min_approvals;
} rcp_review;

typedef struct rcp_publish {
    int present;
    char *out;    /* resolved */
    char *format; /* txt | md | jsonl; default from out's extension */
} rcp_publish;

typedef struct rcp_recipe {
    char *path;                   /* as given */
    char *dir;                    /* its directory */
    char file_hash[HASH_HEX_LEN]; /* hash of the file's bytes */
    char *name;
    int64_t seed;
    char *store; /* resolved, or NULL */
    rcp_model model;
    rcp_ingest ingest;
    rcp_tokenize tokenize;
    rcp_group group;
    rcp_train train;
    rcp_gen *generate;
    size_t n_generate;
    rcp_review review;
    rcp_publish publish;
    /* Canonical JSON (sorted keys, compact) of each stage's parameters and
    ** its hash; train and generate include the model section. */
    char *params_json[RCP_N_STAGES];
    char params_hash[RCP_N_STAGES][HASH_HEX_LEN];
    int enabled[RCP_N_STAGES]; /* which stages `quill run` runs (see above) */
} rcp_recipe;

/* Parse and validate the recipe file at path. */
int rcp_load(const char *path, rcp_recipe **out, char *err);

/* Parse n bytes of YAML; path names it in messages and anchors relative
** paths. */
int rcp_parse(const char *text, size_t n, const char *path, rcp_recipe **out, char *err);

void rcp_free(rcp_recipe *r);

/* The type and range of a number key in the field table. */
typedef struct rcp_range {
    int is_int;      /* a whole number */
    double min, max; /* inclusive, but min when open_min */
    int open_min;
} rcp_range;

/* Look up number key KEY of section SECTION ("train", "generate", "init",
** ...): fills *r and returns 0, or -1 when the section has no such number
** key.  The command line checks its options against the same ranges. */
int rcp_key_range(const char *section, const char *key, rcp_range *r);

/* The train section's defaults, as rcp_parse() leaves a train section that
** sets nothing (seed: the recipe's default seed; dropout -1: unset): the one
** definition quill train's defaults come from.  Free with rcp_train_free(). */
void rcp_train_defaults(rcp_train *t);
void rcp_train_free(rcp_train *t);

/* Levenshtein distance between two strings (for "did you mean"). */
size_t rcp_edit_distance(const char *a, const char *b);

#endif

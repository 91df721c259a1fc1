/*
** The batched generation engine: many prompts x num_return_sequences
** decoded together with the KV cache (one gpt_kv_step per step for every
** live sequence, a finished sequence's slot is refilled with the next
** waiting output), each output sampled with transformers' processors
** (sample.h) under quill's text constraints (constrain.h) and poetic form
** (form.h), each with its own seed rng_derive(seed, k) for output
** k = prompt_index * num_return_sequences + j, so any single output
** regenerates exactly (gen_request.raw_seed).
**
** Outputs that share a prompt share its computation: a fresh output whose
** prompt another slot holds (or steps now) copies that slot's keys and
** values instead of recomputing them (exact: a row's keys, values and
** logits do not depend on the rest of the step).
**
** No store here: stages/generate.c records what gen_run returns.
*/
#ifndef QUILL_GEN_H
#define QUILL_GEN_H

#include "constrain.h"
#include "form.h"
#include "gpt.h"
#include "sample.h"
#include "tok.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define GEN_BATCH 32 /* live sequences at once unless gen_request.max_batch says */

/* One prompt's own parameters (a --prompts jsonl row), each overriding the
** request's when set: the prompt's outputs are generated, stored and
** identified with them (gen_row_request). */
typedef struct gen_row {
    int num_return_sequences;  /* 0: the request's */
    int max_new_tokens;        /* -1: the request's */
    float temperature;         /* 0: the request's */
    int top_k;                 /* -1: the request's */
    float top_p;               /* 0: the request's */
    const char *const *banned; /* with has_banned: the banned words */
    size_t n_banned;
    int has_banned;
    const char *forbid_chars; /* NULL: the request's */
    int has_seed;             /* 1: output j's seed is derived from (seed, j) */
    uint64_t seed;
    const char *meta; /* free JSON kept with the outputs (NULL: none) */
} gen_row;

typedef struct gen_output gen_output;

/* Where gen_run hands each output as it finishes, instead of returning them
** all at the end: output(ctx, k, o) for output k (o is freed after it
** returns), and step(ctx) after every decoding step (may be NULL).  A
** non-zero return (err set) stops the run with that error. */
typedef struct gen_sink {
    int (*output)(void *ctx, size_t k, const gen_output *o, char *err);
    int (*step)(void *ctx, char *err);
    void *ctx;
} gen_sink;

typedef struct gen_request {
    const char *const *prompts;
    size_t n_prompts;
    int num_return_sequences; /* 1 */
    samp_params sp;           /* samp_defaults() */
    cons_opts co;             /* zero: no constraints */
    form_opts fo;             /* zero: no poetic form */
    uint64_t seed;            /* 42 */
    int raw_seed;             /* 1: seed is the seed of the single output itself */
    int max_batch;            /* live sequences at once (KV slots); 0: GEN_BATCH */
    int bf16;                 /* weights in bfloat16 (--dtype bf16; never the default) */
    const char *meta;         /* JSON for the parameters' "meta" key, or NULL */
    const gen_row *rows;      /* n_prompts rows of per-prompt parameters, or NULL */
    const uint8_t *skip;      /* per output (gen_n_outputs): 1 = do not generate it, or NULL */
    const gen_sink *sink;     /* NULL: gen_run returns the outputs */
} gen_request;

struct gen_output {
    size_t prompt_index;
    int seq_index;
    char *continuation; /* decoded generated tokens (EOS left out) */
    size_t cont_len;
    int32_t *ids; /* generated ids (EOS included when it ended the text) */
    size_t n_ids;
    uint64_t seed;
    const char *finish; /* length, eos, stop_string, all_masked, form, dead_end */
};

typedef struct gen_stats {
    long steps, tokens;          /* forward calls, generated tokens */
    long shared;                 /* prompt tokens copied from another output's cache */
    double seconds;              /* whole run */
    double fwd_seconds;          /* inside gpt_kv_step */
    double cons_seconds;         /* inside the constraint masks */
    double form_seconds;         /* inside the poetic form's masks */
    double form_setup_seconds;   /* the dictionary opened and the form built */
    long form_hits, form_misses; /* form masks from the cache, computed */
} gen_stats;

/* r's defaults: the ones the comments of gen_request give. */
void gen_request_defaults(gen_request *r);

/* How many outputs r asks for: each prompt's num_return_sequences (its
** row's, or the request's), summed. */
size_t gen_n_outputs(const gen_request *r);

/* The seed of output k of r (gen_run's order: prompt by prompt, output j
** of prompt i): 63 bits, so that it stores as a positive INTEGER; r->seed
** itself with raw_seed; derived from the row's seed and j when the row has
** one, else from r->seed and k. */
uint64_t gen_output_seed(const gen_request *r, size_t i, int j, size_t k);

/* Prompt i of r as a request of its own (one prompt, its row's parameters
** applied, no rows, no skip, no sink), for its stored parameters and
** identity: *q references r's arrays and the row's. */
void gen_row_request(const gen_request *r, size_t i, gen_request *q);

/* Check a prompt of n bytes: valid UTF-8 without NUL or U+FFFD (what
** generated text is, text.h); the error says what is wrong ("not valid
** UTF-8 (byte 4)") for the caller to prefix. */
int gen_check_prompt(const char *s, size_t n, char *err);

/* Encode prompt s (special tokens on) into *ids (malloc'd, the caller
** frees it on success and on failure) and *n; an empty prompt, with
** nothing to condition on, is the single token start (<|endoftext|>).
** 0, or -1 with err (out of memory: "out of memory", for the caller to
** prefix). */
int gen_encode_prompt(const tok *t, const char *s, int32_t start, int32_t **ids, size_t *n,
                      char *err);

/* Generate every output (gen_n_outputs, prompt by prompt, in that order;
** but the ones r->skip marks) with model m and tokenizer t; with a sink
** each goes to it as it finishes and *outs is NULL, else *outs is
** malloc'd (free with gen_outputs_free; a skipped output is empty).
** stats may be NULL.  Errors (err says "generate: ..."): a bad request
** (parameters, a prompt that is not text or too long for the model), and
** out of memory anywhere, the sampler's included (samp_seq_step's
** SAMP_NOMEM): then nothing is returned; an output never ends "in error". */
int gen_run(gpt_model *m, const tok *t, const gen_request *r, gen_output **outs, size_t *n,
            gen_stats *stats, char *err);
void gen_outputs_free(gen_output *o, size_t n);

/* Every parameter of r as a JSON object (malloc'd), or NULL with err
** naming the parameter that cannot be written (a non-finite number, text
** that is not UTF-8, meta that is not JSON): stored parameters never lack
** a key.  A row's meta (gen_row_request) is its "meta" key. */
char *gen_params_json(const gen_request *r, char *err);

/* ids[0..n) as a JSON list of integers (new reference), or NULL with err
** when out of memory. */
json_t *gen_ids_json(const int32_t *ids, size_t n, char *err);

#endif

/*
** Hugging Face generate()'s logits processing, sampling and stopping, on
** one float logits row of V entries.
**
** Order (transformers' _get_logits_processor): repetition_penalty,
** no_repeat_ngram_size, bad_words_ids, min_new_tokens (EOS masked),
** suppress_tokens, then quill's text constraints (constrain.h), then -- only
** when sampling -- the warpers temperature, top_k, top_p, min_p, typical_p
** (min_tokens_to_keep 1), then a multinomial draw from the per-output rng,
** or the argmax when greedy.  "ids" is always the whole sequence (prompt and
** generated tokens), as in transformers for decoder-only models.
**
** A samp_seq is one output being generated: its ids, rng, constraint state
** and continuation bytes; samp_seq_step takes the model's logits for it and
** appends a token or finishes it with a reason: "length", "eos",
** "stop_string" or "all_masked" (every token masked).
*/
#ifndef QUILL_SAMPLE_H
#define QUILL_SAMPLE_H

#include "constrain.h"
#include "rng.h"

#include <stddef.h>
#include <stdint.h>

typedef struct samp_params {
    int do_sample;            /* 1: multinomial sampling, 0: greedy */
    float temperature;        /* 1: off */
    int top_k;                /* 0: off */
    float top_p;              /* 1: off */
    float min_p;              /* 0: off */
    float typical_p;          /* 1: off */
    float repetition_penalty; /* 1: off */
    int no_repeat_ngram_size; /* 0: off */
    int min_new_tokens;
    int max_new_tokens; /* -1: use max_length */
    int max_length;     /* counts the prompt (transformers' max_length) */
    int ignore_eos;
    int32_t eos_id;
    const int32_t *suppress; /* suppress_tokens */
    size_t n_suppress;
    /* bad_words_ids: sequence i is bad_ids[bad_off[i] .. bad_off[i+1]) */
    const int32_t *bad_ids;
    const size_t *bad_off;
    size_t n_bad;
    const char *const *stop; /* stop_strings */
    size_t n_stop;
} samp_params;

/* transformers' defaults for distilgpt2 text generation: sampling on,
** top_k 50, max_length 50, temperature 1, EOS 50256. */
void samp_defaults(samp_params *p);

/* Check ranges (temperature > 0, 0 < top_p <= 1, token ids < V, ...). */
int samp_validate(const samp_params *p, int V, char *err);

/* How many new tokens a prompt of n_prompt tokens may get (>= 0). */
int samp_max_new(const samp_params *p, size_t n_prompt);

/* Scratch space for one row (one per thread). */
typedef struct samp_pair {
    float key;
    int32_t id;
} samp_pair;
typedef struct samp_work {
    int V;
    samp_pair *pairs;
    uint8_t *mark;
} samp_work;
int samp_work_init(samp_work *w, int V, char *err);
void samp_work_free(samp_work *w);

/* The logits processors, in place, for sequence ids[0..n) of which the first
** n_prompt are the prompt. */
void samp_process(const samp_params *p, const int32_t *ids, size_t n, size_t n_prompt,
                  float *logits, int V, samp_work *w);

/* The warpers (temperature, top_k, top_p, min_p, typical_p), in place. */
void samp_warp(const samp_params *p, float *logits, int V, samp_work *w);

/* Draw from softmax(logits) (sampling) or take the first argmax (greedy);
** -1 if every logit is -inf. */
int32_t samp_pick(const samp_params *p, const float *logits, int V, rng *r);

/* One output being generated. */
typedef struct samp_seq {
    int32_t *ids; /* prompt then generated */
    size_t n, cap, n_prompt;
    uint64_t seed;
    rng r;
    cons_state cs;
    cons_state *hist; /* with constraints: state and text length before ... */
    size_t *hist_len; /* ... each generated token (to back out of a dead end) */
    char *text;       /* continuation bytes so far (for stop strings) */
    size_t text_len, text_cap;
    int max_new;
    int stop_pending;   /* a stop string appeared but the text may not end yet */
    const char *finish; /* NULL while live */
} samp_seq;

/* Start an output: copies the prompt ids, seeds its rng, scans the prompt
** text for the constraints (c may be NULL). */
int samp_seq_init(samp_seq *s, const samp_params *p, const int32_t *prompt, size_t n,
                  const char *prompt_text, size_t prompt_len, const cons *c, uint64_t seed,
                  char *err);
void samp_seq_free(samp_seq *s);

/* One step: processes logits (modified in place), masks with c, warps,
** picks; appends the token (its bytes from v) or sets s->finish.  Returns the
** token appended or -1 when the output finished without one.  A stop string
** ends the output only where the constraints allow the text to end (else at
** the first token after which they do).  When every token is masked where
** the text may not end (a banned word would be completed by the end), the
** tokens since the last point where it may are dropped. */
int32_t samp_seq_step(const samp_params *p, cons *c, const cons_vocab *v, samp_seq *s,
                      float *logits, samp_work *w);

#endif

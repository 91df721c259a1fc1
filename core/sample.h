/*
** Hugging Face generate()'s logits processing, sampling and stopping, on
** one float logits row of V entries.
**
** Order (transformers' _get_logits_processor): repetition_penalty,
** no_repeat_ngram_size, bad_words_ids, min_new_tokens (EOS masked),
** suppress_tokens, then quill's masks -- valid UTF-8 (below) and the text
** constraints (constrain.h) -- then, only when sampling, the warpers
** temperature, top_k, top_p, min_p, typical_p (min_tokens_to_keep 1), then
** a multinomial draw from the per-output rng, or the argmax when greedy.
** quill's masks sit where transformers puts a LogitsProcessor passed to
** generate(logits_processor=...): after its own processors, before the
** warpers, so top_k/top_p choose among the allowed tokens (the model's
** distribution renormalised over them), never among tokens that cannot be
** used.  "ids" is always the whole sequence (prompt and generated tokens),
** as in transformers for decoder-only models.
**
** Valid UTF-8 by construction: a token is masked when the text (prompt
** bytes, a character possibly straddling the prompt/continuation boundary,
** and the bytes generated so far) followed by the token's bytes cannot be
** the start of valid UTF-8 without NUL, and when the character it leaves
** open cannot be completed within the tokens the length limit still allows
** (so the last token always leaves a whole character).  <|endoftext|> is
** masked inside a character and a stop string ends the output only at a
** character boundary.  If other processors (suppress_tokens, bad_words_ids,
** no_repeat_ngram_size) mask every completion, the output backs out to the
** last boundary where the text may end ("all_masked").
**
** A samp_seq is one output being generated: its ids, rng, constraint state
** and continuation bytes; samp_seq_step takes the model's logits for it and
** appends a token or finishes it with a reason: "length", "eos",
** "stop_string" or "all_masked" (every token masked).
**
** With a poetic form (form.h, samp_seq_set_form) its mask comes after the
** constraints', "form" is the finish reason when the form is complete, and
** a dead end (every token masked) backs out one token and bans it at that
** position (so the sampler's next choice is drawn, from the same rng:
** deterministic from the seed), at most SAMP_MAX_BACKOUT times per output;
** then the output ends as "dead_end".  The form is incomplete whenever the
** finish reason is not "form".
*/
#ifndef QUILL_SAMPLE_H
#define QUILL_SAMPLE_H

#include "constrain.h"
#include "form.h"
#include "rng.h"
#include "text.h"

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
    samp_pair *pairs; /* the warpers' sorts */
    float *cx;        /* samp_warp's result: the n_cand tokens left (cid), in */
    int32_t *cid;     /* id order, and their warped logits (cx); V + 16 */
    int n_cand;       /* entries (a vector store may pass the last by 15) */
    uint8_t *mark;
    uint64_t *ban; /* the constraints' bitset of banned tokens, (V + 63) / 64 words */
} samp_work;
int samp_work_init(samp_work *w, int V, char *err);
void samp_work_free(samp_work *w);

/* The vocabulary for sampling: each token's bytes (text, stop strings,
** constraints) and its UTF-8 effect, computed once per tokenizer so that a
** step's UTF-8 mask touches only the few hundred tokens that are not whole
** characters (at a boundary) or the few that can continue one (inside). */
typedef struct samp_vocab {
    cons_vocab v;                 /* bytes and lengths referenced, not copied */
    uint8_t *next;                /* next[t * TXT_U8_NSTATES + st]: state after t */
    uint8_t dist[TXT_U8_NSTATES]; /* fewest tokens from a state to a boundary
                                  ** (255: none) */
    int32_t *odd;                 /* tokens not going from a boundary to one */
    size_t n_odd;
    int32_t *cont; /* tokens that start with a continuation byte */
    size_t n_cont;
    int settle;          /* the longest way back to a boundary: with this */
    uint64_t *start_ban; /* many tokens to spare, the mask at a boundary */
} samp_vocab;

/* Build the tables for vocabulary v (its eos adds no text and is valid only
** at a boundary). */
int samp_vocab_init(samp_vocab *sv, const cons_vocab *v, char *err);
void samp_vocab_free(samp_vocab *sv);

/* The UTF-8 mask: -inf on every token that from text state st cannot keep
** the text valid, or leaves a character that needs more than `after`
** further tokens to complete (after = how many tokens may still follow
** this one). */
void samp_utf8_mask(const samp_vocab *sv, unsigned st, int after, float *logits, samp_work *w);

/* The logits processors, in place, for sequence ids[0..n) of which the first
** n_prompt are the prompt. */
void samp_process(const samp_params *p, const int32_t *ids, size_t n, size_t n_prompt,
                  float *logits, int V, samp_work *w);

/* The warpers (temperature, top_k, top_p, min_p, typical_p): the tokens
** they leave, in id order with their warped logits, into w->cid and w->cx
** [0 .. w->n_cand): the finite logits that masking the others with -inf would
** leave, divided by the temperature (the logits stay as they are).  ban
** (NULL: none; only with p->top_k > 0) is a bitset of tokens top_k removes
** too, as if their logits were -inf: the same result as masking them first,
** without a pass of its own over the logits. */
void samp_warp(const samp_params *p, const float *logits, int V, samp_work *w, const uint64_t *ban);

/* Draw from the softmax of the logits samp_warp left in w (summed in id
** order, one rng draw); -1 (no draw) if it left none. */
int32_t samp_draw(const samp_work *w, rng *r);

/* Greedy: the first largest finite logit; -1 if every logit is -inf. */
int32_t samp_argmax(const float *logits, int V);

#define SAMP_MAX_BACKOUT 16
#define SAMP_NOMEM (-2) /* samp_seq_step: out of memory */

/* One output being generated. */
typedef struct samp_seq {
    int32_t *ids; /* prompt then generated */
    size_t n, cap, n_prompt;
    uint64_t seed;
    rng r;
    cons_state cs;
    uint8_t u8;       /* UTF-8 state of prompt + continuation (text.h) */
    cons_state *hist; /* with constraints: their state; always the UTF-8 */
    uint8_t *hist_u8; /* state and the text length before each generated */
    size_t *hist_len; /* token (to back out of a dead end) */
    char *text;       /* continuation bytes so far (for stop strings) */
    size_t text_len, text_cap;
    int max_new;
    int stop_pending;  /* a stop string appeared but the text may not end yet */
    form *form;        /* or NULL */
    form_state fs;     /* the form's state ... */
    form_state *fhist; /* ... and before each generated token */
    int n_ban, n_backout;
    int ban_pos[SAMP_MAX_BACKOUT];     /* token ban_tok[i] is masked at generated */
    int32_t ban_tok[SAMP_MAX_BACKOUT]; /* position ban_pos[i] (backed out of) */
    const char *finish;                /* NULL while live */
} samp_seq;

/* Start an output: copies the prompt ids, seeds its rng, scans the prompt
** text for the constraints (c may be NULL) and for UTF-8: an error when it
** holds invalid bytes or NUL (an incomplete last character is allowed: the
** continuation completes it). */
int samp_seq_init(samp_seq *s, const samp_params *p, const int32_t *prompt, size_t n,
                  const char *prompt_text, size_t prompt_len, const cons *c, uint64_t seed,
                  char *err);
void samp_seq_free(samp_seq *s);

/* Generate s under form f (shared by every output; outlives s). */
int samp_seq_set_form(samp_seq *s, form *f, char *err);

/* One step: processes logits (scratch: modified in place), masks for UTF-8
** and with c, warps, picks; appends the token (its bytes from sv) or sets s->finish.
** Returns the token appended or -1 when the output finished without one;
** SAMP_NOMEM when out of memory (s->finish left NULL: the output is not
** finished but broken, and its caller fails; free s).
** A stop string ends the output only where the text may end (a whole
** character, and the constraints allow it), else at the first token after
** which it may.  When every token is masked, the tokens since the last
** point where the text may end are dropped. */
int32_t samp_seq_step(const samp_params *p, cons *c, const samp_vocab *sv, samp_seq *s,
                      float *logits, samp_work *w);

#endif

/*
** Text-level constraints on generation: banned words and forbidden
** characters (lipograms) that hold on the decoded text, however it is split
** into tokens.
**
** The module sees the vocabulary only as a table of raw byte strings (one
** per token id, e.g. from tok_token_bytes), so it does not depend on the
** tokenizer.  Text is scanned as a stream of Unicode characters (UTF-8
** decoded incrementally, so a character split across tokens is seen whole);
** case-insensitive matching uses utf8proc case folding.
**
** Banned words run through one Aho-Corasick automaton over the folded
** UTF-8 bytes plus a boundary symbol B that the scanner emits between a word
** character and a non-word character (letters, marks, numbers and '_' are
** word characters).  In whole-word mode "night" becomes the pattern
** B n i g h t B, so the final B (only known when the next character, or the
** end of the text, arrives) completes the match: the tokens that would
** complete it are masked.  The scanner state (automaton state, "previous
** char is a word char", pending bytes of a split character) carries across
** tokens and across the prompt boundary.
**
** Per step, cons_ban lists (cons_mask sets -inf on) every token that would
** break a constraint, from a bitset computed once per (automaton state,
** previous-is-word, is-last) and cached: the answers from the start state,
** redone only for the groups of tokens whose first symbol leads elsewhere
** from this state.  The few hundred tokens that are partial UTF-8 sequences
** are in it when no bytes are pending, else checked from the exact state.
**
** Definition of a violation (what the tests' independent checker checks):
** with F the case-folded full text (prompt + continuation) and P the folded
** length of the prompt, a banned word occurs at [s, e) of F (whole-word:
** at original-character boundaries, with a non-word character or the text
** edge on each side whose pattern character is a word character); it is a
** violation when e > P, or e == P in whole-word mode when the word ends with
** a word character (the continuation is what makes it a whole word).  A
** forbidden character is a character of the continuation whose case fold
** equals the case fold of a forbidden character (or equals it exactly when
** case-sensitive).  Bytes that are not valid UTF-8 are non-word characters
** that match nothing.
**
** A token that ends inside a character is allowed only if some completion
** of that character breaks no rule (lookahead): the constraints never mask
** every completion of a character they let start (sample.h keeps the bytes
** valid UTF-8).
**
** The end of the text is a boundary too: <|endoftext|> and the last token
** allowed by the length limit are masked when ending there would complete a
** word; sample.c also delays a stop string to the first point where the text
** may end, and backs out of a dead end (every token masked) to one.  Not
** covered: a prompt that itself ends with a banned whole word and gets no
** continuation at all.
*/
#ifndef QUILL_CONSTRAIN_H
#define QUILL_CONSTRAIN_H

#include <stddef.h>
#include <stdint.h>

/* The vocabulary as raw byte strings; eos (or -1) is the end-of-text token,
** which adds no text and is allowed iff ending the text here is. */
typedef struct cons_vocab {
    int n;
    const unsigned char *const *bytes;
    const size_t *len;
    int32_t eos;
} cons_vocab;

typedef struct cons_opts {
    const char *const *words; /* banned words (UTF-8) */
    size_t n_words;
    int substring;             /* 1: match anywhere, not only as whole words */
    int case_sensitive;        /* words: 1 = exact case */
    const char *forbid_chars;  /* UTF-8 characters that never appear, or NULL */
    int forbid_case_sensitive; /* chars: 1 = exact case ("e" does not ban "E") */
} cons_opts;

typedef struct cons cons;

/* Scanner state of one sequence (plain value, copy freely). */
typedef struct cons_state {
    int32_t ac;    /* automaton state */
    uint8_t pw;    /* previous character is a word character */
    uint8_t npend; /* bytes of an incomplete UTF-8 character ... */
    uint8_t need;  /* ... and how many continuation bytes it still needs */
    uint8_t pend[4];
} cons_state;

/* Build the constraints for a vocabulary (the table is referenced, not
** copied: it must outlive the cons).  Fails on an empty word or invalid
** UTF-8 in words or chars. */
int cons_new(const cons_vocab *v, const cons_opts *o, cons **out, char *err);
void cons_free(cons *c);

/* 1 when the constraints do nothing (no words, no characters). */
int cons_empty(const cons *c);

/* Start a sequence: scan the prompt text (matches inside it are not ours). */
void cons_start(const cons *c, cons_state *st, const char *prompt, size_t len);

/* The tokens that would break a constraint from state st, as a bitset: bit
** t % 64 of ban[t / 64] for token t (ban holds (n + 63) / 64 words for a
** vocabulary of n); is_last says the token will end the text (length
** limit), so the end of the text must be safe too.  Thread-safe (the cache
** is locked). */
void cons_ban(cons *c, const cons_state *st, int is_last, uint64_t *ban);

/* Set logits[id] = -inf for every token cons_ban bans. */
void cons_mask(cons *c, const cons_state *st, int is_last, float *logits);

/* Advance st over token id; returns 1 if that token breaks a constraint
** (never happens for a token cons_mask allowed), else 0. */
int cons_advance(const cons *c, cons_state *st, int32_t id);

/* 1 when the text may end in state st (no banned word completed by the end
** of the text). */
int cons_end_ok(const cons *c, const cons_state *st);

/* Check a finished text (an edit, say) against the constraints o, by the
** definition above with the prompt exempt when text starts with prompt
** (else the whole text counts as continuation).  Returns 0 when it keeps
** them, 1 when it breaks one (what gets "forbidden character 'e'" or
** "banned word 'night'"), -1 on bad constraints (err says why). */
int cons_check_text(const cons_opts *o, const char *prompt, const char *text, char *what,
                    size_t cap, char *err);

/* Statistics for reports: mask cache hits and misses, time in cons_ban and
** cons_mask. */
void cons_stats(const cons *c, long *hits, long *misses, double *seconds);

#endif

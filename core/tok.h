/*
** GPT-2's byte-level BPE tokenizer, giving exactly Hugging Face's ids.
**
** A tokenizer is loaded from a Hugging Face model directory (vocab.json +
** merges.txt, or tokenizer.json) or, with dir NULL, from the bundled
** models/gpt2.  Encoding follows GPT2TokenizerFast:
**   1. with `special` on, the literal text <|endoftext|> becomes its id
**      (50256) and the text between occurrences is encoded separately;
**   2. GPT-2's pre-tokenizer pattern
**        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
**      with Unicode letters (L*), numbers (N*) and the White_Space property;
**   3. each piece's bytes become byte tokens, merged by merge rank.
** Bytes that are not valid UTF-8 are treated, one byte each, as characters
** that are neither letters, numbers nor white space; so every byte string
** encodes, and tok_decode(tok_encode(x)) == x for every byte string x, valid
** UTF-8 or not.  Large inputs are encoded in parallel (OpenMP), split only
** where the pre-tokenizer splits anyway, so the result equals the serial one.
**
** A loaded tokenizer is immutable: any number of threads may use it at once.
*/
#ifndef QUILL_TOK_H
#define QUILL_TOK_H

#include <stddef.h>
#include <stdint.h>

typedef struct tok tok;

/* Load the tokenizer in dir (NULL: the bundled models/gpt2, searched next to
** the executable or up to two directories above it, then in
** $QUILL_HOME/models/gpt2, then ./models/gpt2; the error names each place). */
int tok_load(const char *dir, tok **out, char *err);

/* Whether dir holds tokenizer files of its own (vocab.json, merges.txt or
** tokenizer.json): then a model directory's tokenizer is tok_load(dir),
** which refuses an incomplete set, and never the bundled one in silence. */
int tok_dir_has(const char *dir);
void tok_free(tok *t);

/* Number of ids (largest id + 1). */
int tok_vocab_size(const tok *t);

/* Hash of the tokenizer's files (32 hex digits): its identity in the store. */
const char *tok_identity(const tok *t);

/* The directory the tokenizer was loaded from. */
const char *tok_source(const tok *t);

/* Id of <|endoftext|>, or -1 when the vocabulary has none. */
int32_t tok_special_id(const tok *t);

/* Encode n bytes of text; *ids is malloc'd (free it), *n_ids its length.
** With special on, <|endoftext|> in the text becomes tok_special_id(). */
int tok_encode(const tok *t, const char *text, size_t n, int special, int32_t **ids, size_t *n_ids,
               char *err);

/* tok_encode with an explicit thread count (0: OpenMP's default, 1: serial)
** and the smallest input encoded in parallel (0: the default, 256 KiB; such
** inputs are encoded in pieces of about min_split / 4 bytes).  The ids
** never depend on either. */
int tok_encode_ex(const tok *t, const char *text, size_t n, int special, int threads,
                  size_t min_split, int32_t **ids, size_t *n_ids, char *err);

/* The bytes of n ids, concatenated; *text is malloc'd with a trailing NUL
** after *len bytes.  An id outside the vocabulary is an error naming it. */
int tok_decode(const tok *t, const int32_t *ids, size_t n, char **text, size_t *len, char *err);

/* The raw bytes of one id (not NUL-terminated), or NULL if out of range. */
const unsigned char *tok_token_bytes(const tok *t, int32_t id, size_t *len);

/* The id whose bytes equal the C string text, or -1. */
int32_t tok_piece_id(const tok *t, const char *text);

#endif

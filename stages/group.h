/*
** The group stage: the corpus's token ids cut into fixed-size training
** blocks, as run_clm.py's group_texts() does (labels = inputs, so only the
** inputs are stored).
**
** Examples.  mode "document": each document (in id order) is one example,
** its ids as the tokenize stage stored them (doc_tokens), and every
** document after the first starts with <|endoftext|> (50256) so consecutive
** documents are separated.  mode "lines": what datasets.load_dataset('text')
** gives: each document's text split at line breaks (\n, \r\n and \r, as
** Python's universal newlines), breaks dropped, one example per line, each
** tokenized on its own (as tokenizer(x['text']) does); an empty line is an
** example with no ids, as in current datasets (datasets 1.x dropped it;
** the ids are the same either way).
**
** Grouping.  run_clm maps group_texts over batches of 1000 examples
** (Dataset.map's default batch_size), so it concatenates the examples of
** each batch and drops each batch's remainder of fewer than block_size ids;
** quill does exactly that with batch_examples = 1000 (the default), and
** batch_examples = 0 concatenates the whole corpus and drops one remainder.
**
** Held-out split.  eval_fraction > 0 moves ceil(eval_fraction * blocks)
** blocks, chosen by a permutation seeded with seed (rng.h), to the eval
** set; both sets keep the blocks' corpus order (Trainer shuffles the train
** set per epoch anyway).
**
** Result.  A block_sets row whose identity hashes the tokenizer, every
** document's content hash and every parameter; running the stage again
** with the same inputs finds it and changes nothing.  The blocks are u32
** little-endian ids, n_train * block_size in train_blob (eval_blob alike).
*/
#ifndef QUILL_STAGE_GROUP_H
#define QUILL_STAGE_GROUP_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define GROUP_EOS 50256

typedef enum { GROUP_DOCUMENT, GROUP_LINES } group_mode;

typedef struct group_params {
    int block_size;       /* 64 */
    group_mode mode;      /* GROUP_DOCUMENT */
    double eval_fraction; /* 0: no held-out split; else in (0, 1) */
    uint64_t seed;        /* 42 */
    int batch_examples;   /* 1000 (run_clm); 0: the whole corpus at once */
    /* The documents to group, in this order (a recipe's own, so recipes
    ** sharing a store do not mix corpora); NULL: every document by id. */
    const int64_t *doc_ids;
    size_t n_doc_ids;
} group_params;

/* Tokenizes one line for lines mode (with <|endoftext|> special), e.g. a
** wrapper of tok_encode(); *ids malloc'd. */
typedef int (*group_encode_fn)(void *ctx, const char *text, size_t n, int32_t **ids, size_t *n_ids,
                               char *err);

/* Fill *p with the defaults shown in group_params. */
void group_defaults(group_params *p);

#define GROUP_MAX_BLOCK (1 << 20) /* the largest block_size accepted */

/* Check p's ranges (block_size in [1, GROUP_MAX_BLOCK], eval_fraction in
** [0, 1), batch_examples >= 0); returns 0, or -1 with err naming the value. */
int group_check(const group_params *p, char *err);

/* Run the stage over every document in the store under tokenizer row
** tokenizer_id (document mode needs each document's doc_tokens; lines mode
** calls encode).  One transaction.  *block_set_id gets the block set,
** *created 1 when it was made now, 0 when it already existed. */
int stage_group(store *st, int64_t tokenizer_id, const group_params *p, group_encode_fn encode,
                void *encode_ctx, int64_t *block_set_id, int *created, char *err);

/* What `quill group` and the recipe runner do: run the tokenize stage
** (tokenizer tok_dir, NULL: bundled GPT-2; it gives the tokenizers row and,
** for document mode, every document's ids; a no-op when done), then
** stage_group() with tok_encode() for lines mode. */
int stage_group_run(store *st, const char *tok_dir, const group_params *p, int64_t *block_set_id,
                    int *created, char *err);

/* Read a block set: *train (n_train blocks of *block_size ids) and *eval
** (n_eval blocks, NULL when none) malloc'd. */
int group_get(store *st, int64_t block_set_id, int *block_size, int32_t **train, size_t *n_train,
              int32_t **eval, size_t *n_eval, char *err);

/* The grouping itself, without the store: the examples' ids (example k is
** ids[off[k] .. off[k+1]-1], n_examples of them) cut into blocks; returns
** the number of blocks, written to *blocks (malloc'd, n * block_size ids). */
size_t group_blocks(const int32_t *ids, const size_t *off, size_t n_examples, int block_size,
                    int batch_examples, int32_t **blocks);

#endif

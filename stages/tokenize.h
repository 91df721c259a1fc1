/*
** The tokenize stage: token ids for every document in the store.
*/
#ifndef QUILL_STAGE_TOKENIZE_H
#define QUILL_STAGE_TOKENIZE_H

#include "store.h"

/* Tokenize (with <|endoftext|> as its special id) every document that has no
** tokens yet under the tokenizer in model_dir (NULL: bundled GPT-2), in
** parallel across documents, storing each document's ids as a zstd blob of
** little-endian uint16 (uint32 when the vocabulary has more than 65536 ids)
** in doc_tokens.  It runs its own transaction (call it outside one): on
** failure the store is unchanged.
** *n_done gets the number of documents tokenized (0 when all had tokens);
** *tokenizer_id, if not NULL, the tokenizers row. */
int stage_tokenize(store *st, const char *model_dir, int *n_done, int64_t *tokenizer_id, char *err);

#endif

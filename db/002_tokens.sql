-- 002: tokenizers and the token ids of each document under each tokenizer.

CREATE TABLE tokenizers (
    id         INTEGER PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,  -- hash of the tokenizer's files
    source     TEXT NOT NULL,         -- the directory it was loaded from
    vocab_size INTEGER NOT NULL
) STRICT;

CREATE TABLE doc_tokens (
    doc_id       INTEGER NOT NULL REFERENCES documents(id),
    tokenizer_id INTEGER NOT NULL REFERENCES tokenizers(id),
    n_tokens     INTEGER NOT NULL,
    dtype        TEXT NOT NULL CHECK (dtype IN ('u16', 'u32')), -- little-endian
    ids_blob     INTEGER NOT NULL REFERENCES blobs(id),
    PRIMARY KEY (doc_id, tokenizer_id)
) STRICT;

-- 003: grouped blocks, model configurations, training runs, their logs and
-- checkpoints.

-- A grouping of token ids into fixed-size blocks (train and eval split).
CREATE TABLE block_sets (
    id           INTEGER PRIMARY KEY,
    identity     TEXT NOT NULL UNIQUE, -- hash of inputs and parameters
    tokenizer_id INTEGER NOT NULL REFERENCES tokenizers(id),
    block_size   INTEGER NOT NULL,
    mode         TEXT NOT NULL CHECK (mode IN ('document', 'lines')),
    n_train      INTEGER NOT NULL,
    n_eval       INTEGER NOT NULL,
    params_json  TEXT NOT NULL,
    train_blob   INTEGER NOT NULL REFERENCES blobs(id), -- u32 ids, n_train*block_size
    eval_blob    INTEGER REFERENCES blobs(id),
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE train_runs (
    id           INTEGER PRIMARY KEY,
    identity     TEXT NOT NULL UNIQUE,
    block_set_id INTEGER NOT NULL REFERENCES block_sets(id),
    model_source TEXT NOT NULL,       -- a directory, or "init"
    config_json  TEXT NOT NULL,       -- the model's config.json
    params_json  TEXT NOT NULL,       -- every training parameter
    status       TEXT NOT NULL CHECK (status IN ('running', 'done', 'interrupted', 'failed')),
    total_steps  INTEGER NOT NULL,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- One line of a run's log: kind 'train' every logging_steps (loss = mean
-- step loss since the previous line, the learning rate and gradient norm of
-- this step, tokens/s since the previous line), kind 'eval' at each epoch
-- end when the block set has eval blocks (loss = eval loss, perplexity).
CREATE TABLE train_logs (
    run_id        INTEGER NOT NULL REFERENCES train_runs(id),
    kind          TEXT NOT NULL CHECK (kind IN ('train', 'eval')),
    step          INTEGER NOT NULL,
    epoch         REAL NOT NULL,
    loss          REAL NOT NULL,
    learning_rate REAL,
    grad_norm     REAL,
    tokens_per_s  REAL,
    perplexity    REAL,
    PRIMARY KEY (run_id, kind, step)
) STRICT;

CREATE TABLE checkpoints (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER REFERENCES train_runs(id), -- NULL for an imported model
    step         INTEGER NOT NULL,
    source       TEXT,                 -- the directory an imported model came from
    config_json  TEXT NOT NULL,        -- the model's config.json
    n_params     INTEGER NOT NULL,     -- floats in the tensors blob
    -- fp32 params in gpt_layout order; 'f32-planes': byte-plane shuffled
    -- (all byte 0s, then all byte 1s, ...) so zstd sees the exponent bytes
    -- together; 'f32': plain little-endian.
    tensors_codec TEXT NOT NULL DEFAULT 'f32-planes' CHECK (tensors_codec IN ('f32', 'f32-planes')),
    tensors_blob INTEGER NOT NULL REFERENCES blobs(id),
    state_blob   INTEGER REFERENCES blobs(id), -- optimizer moments, RNG, data position
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX checkpoints_run ON checkpoints(run_id, step);

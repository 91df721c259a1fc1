-- 001: the store's foundation: metadata, compressed blobs, ingested
-- documents, and the record of recipe and stage runs.  Every table is
-- STRICT; large values live in blobs.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- A zstd-compressed value, deduplicated by the hash of its raw bytes.
CREATE TABLE blobs (
    id       INTEGER PRIMARY KEY,
    hash     TEXT NOT NULL UNIQUE,    -- XXH3-128 of the raw bytes
    raw_size INTEGER NOT NULL CHECK (raw_size >= 0),
    codec    TEXT NOT NULL DEFAULT 'zstd' CHECK (codec IN ('zstd')),
    data     BLOB NOT NULL
) STRICT;

-- One ingested text.  The same content (hash) is stored once.
CREATE TABLE documents (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,        -- path, or archive.tar.gz!inner/path.txt
    hash        TEXT NOT NULL UNIQUE, -- XXH3-128 of the stored text
    bytes       INTEGER NOT NULL,
    chars       INTEGER NOT NULL,     -- Unicode code points
    text_blob   INTEGER NOT NULL REFERENCES blobs(id),
    ingested_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- One `quill run RECIPE` invocation (commands run by hand have none).
CREATE TABLE recipe_runs (
    id          INTEGER PRIMARY KEY,
    recipe_name TEXT NOT NULL,
    recipe_path TEXT NOT NULL,
    recipe_hash TEXT NOT NULL,        -- hash of the recipe file's bytes
    started_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at TEXT,
    status      TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'done', 'failed', 'interrupted'))
) STRICT;

-- A stage that completed.  identity = hash(parameters, inputs' identities);
-- a stage whose identity is already here with status 'done' is skipped.
CREATE TABLE stage_runs (
    id            INTEGER PRIMARY KEY,
    recipe_run_id INTEGER REFERENCES recipe_runs(id),
    recipe_name   TEXT NOT NULL,
    stage         TEXT NOT NULL,      -- ingest, tokenize, group, train, generate, ...
    identity      TEXT NOT NULL,
    params_json   TEXT NOT NULL,
    result_json   TEXT NOT NULL DEFAULT '{}', -- what it made (ids, counts)
    status        TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    started_at    TEXT NOT NULL,
    finished_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX stage_runs_identity ON stage_runs(recipe_name, stage, identity);

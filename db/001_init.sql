-- 001: the store's foundation: key/value metadata, compressed blobs and
-- ingested documents.  Every table is STRICT; large values live in blobs.

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

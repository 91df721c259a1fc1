-- 005: reviews of outputs and publications.

CREATE TABLE reviews (
    id          INTEGER PRIMARY KEY,
    output_id   INTEGER NOT NULL REFERENCES outputs(id),
    reviewer    TEXT NOT NULL,
    verdict     TEXT NOT NULL CHECK (verdict IN ('approve', 'reject', 'edit', 'note')),
    note        TEXT,
    edited_text TEXT,                  -- for 'edit': kept beside the original
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX reviews_output ON reviews(output_id);

CREATE TABLE publications (
    id         INTEGER PRIMARY KEY,
    out_path   TEXT NOT NULL,
    format     TEXT NOT NULL CHECK (format IN ('txt', 'md', 'jsonl')),
    set_hash   TEXT NOT NULL,         -- hash of the published output ids and texts
    output_ids TEXT NOT NULL,         -- JSON array
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

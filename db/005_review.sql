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

-- How many different reviewers must approve a recipe's outputs; written by
-- `quill run` from the recipe's review.min_approvals.  Outputs with no row
-- here (made outside a recipe, or by a recipe without one) need 1.
CREATE TABLE review_rules (
    recipe_name   TEXT PRIMARY KEY,
    min_approvals INTEGER NOT NULL CHECK (min_approvals >= 1),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- Where each reviewer's interactive session stopped, to resume there.
CREATE TABLE review_cursor (
    reviewer  TEXT PRIMARY KEY,
    output_id INTEGER NOT NULL
) STRICT;

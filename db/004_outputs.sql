-- 004: every generated output with its full provenance.

CREATE TABLE outputs (
    id            INTEGER PRIMARY KEY,
    recipe_run_id INTEGER REFERENCES recipe_runs(id),
    recipe_name   TEXT,
    model_source  TEXT NOT NULL,       -- a directory, or checkpoint:ID
    checkpoint_id INTEGER REFERENCES checkpoints(id),
    prompt        TEXT NOT NULL,
    continuation  TEXT NOT NULL,
    text          TEXT NOT NULL,       -- prompt + continuation
    ids_json      TEXT NOT NULL,       -- generated token ids
    params_json   TEXT NOT NULL,       -- every generation parameter
    seed          INTEGER NOT NULL,    -- regenerates this output alone
    finish_reason TEXT NOT NULL,       -- length, eos, stop_string, all_masked
    status        TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'approved', 'rejected')),
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX outputs_status ON outputs(status);

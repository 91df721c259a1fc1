-- 007: idempotent runs.  An output is identified by what determines its
-- text; a recipe runs once at a time on a store; a failed run says why.

-- hash(model, prompt, generation parameters, output seed): see db/outputs.h.
-- Outputs stored before this migration start with NULL (a store may
-- already hold byte-identical copies, which a UNIQUE index would refuse;
-- SQLite lets NULLs repeat in a UNIQUE index).  Storing an output of a
-- checkpoint again adopts the oldest such copy (outputs_insert), found
-- through outputs_legacy.
ALTER TABLE outputs ADD COLUMN identity TEXT;
CREATE UNIQUE INDEX outputs_identity ON outputs(identity);
CREATE INDEX outputs_legacy ON outputs(checkpoint_id, seed) WHERE identity IS NULL;

-- Why a recipe run failed (NULL unless status is 'failed').
ALTER TABLE recipe_runs ADD COLUMN error TEXT;

-- The process running a recipe on this store (db/runs.h): a row whose
-- process is gone (pid not running, or running with another start time)
-- is stale and the next run takes it over.
CREATE TABLE run_locks (
    recipe_name   TEXT PRIMARY KEY,
    recipe_run_id INTEGER NOT NULL REFERENCES recipe_runs(id),
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    start_time    INTEGER NOT NULL,   -- field 22 of /proc/PID/stat (clock ticks since boot)
    acquired_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

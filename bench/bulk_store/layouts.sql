-- bench/bulk_store/layouts.sql: what the outputs of a bulk job would take
-- in more compact layouts (issue 14, "the store grows by no more than the
-- text and ids").  Run by run.sh on a scratch copy of the bench's store;
-- prints "layout|B/output" (tables and indexes, after VACUUM, per output).
--   today:    the outputs table and its indexes as they are.
--   params:   one row per distinct parameters JSON (referenced by id), no
--             `text` column (it is prompt || continuation), the ids as a
--             blob of LEB128 varints; everything else as today.
--   compact:  params, plus one row per distinct prompt, the identity as
--             16 raw bytes, finish reason, status and created_at as
--             integers, and an index of pending outputs only.
-- Blob contents are random bytes of the right length: SQLite stores them
-- uncompressed, so the sizes are those of the real layouts.
CREATE TABLE lay_params(id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE) STRICT;
INSERT OR IGNORE INTO lay_params(json) SELECT params_json FROM outputs ORDER BY id;
CREATE TABLE lay_a(id INTEGER PRIMARY KEY, recipe_run_id INT, recipe_name TEXT,
    model_source TEXT NOT NULL, checkpoint_id INT, prompt TEXT, continuation TEXT, ids BLOB,
    params_id INT, seed INT, finish_reason TEXT, status TEXT, created_at TEXT,
    min_approvals INT, identity TEXT) STRICT;
INSERT INTO lay_a SELECT id, recipe_run_id, recipe_name, model_source, checkpoint_id, prompt,
    continuation, randomblob((SELECT sum(CASE WHEN value < 128 THEN 1 WHEN value < 16384
    THEN 2 ELSE 3 END) FROM json_each(ids_json))), (SELECT p.id FROM lay_params p WHERE
    p.json = params_json), seed, finish_reason, status, created_at, min_approvals, identity
    FROM outputs;
CREATE UNIQUE INDEX lay_a_identity ON lay_a(identity);
CREATE INDEX lay_a_status ON lay_a(status);
CREATE TABLE lay_prompts(id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE) STRICT;
INSERT OR IGNORE INTO lay_prompts(text) SELECT prompt FROM outputs ORDER BY id;
CREATE TABLE lay_b(id INTEGER PRIMARY KEY, recipe_run_id INT, recipe_name TEXT,
    model_source TEXT NOT NULL, checkpoint_id INT, prompt_id INT, continuation TEXT, ids BLOB,
    params_id INT, seed INT, finish INT, status INT, created_at INT, min_approvals INT,
    identity BLOB) STRICT;
INSERT INTO lay_b SELECT a.id, a.recipe_run_id, a.recipe_name, a.model_source,
    a.checkpoint_id, (SELECT p.id FROM lay_prompts p WHERE p.text = a.prompt), a.continuation,
    a.ids, a.params_id, a.seed, 1, 0, 1764500000000 + a.id, a.min_approvals, randomblob(16)
    FROM lay_a a;
CREATE UNIQUE INDEX lay_b_identity ON lay_b(identity);
CREATE INDEX lay_b_pending ON lay_b(status) WHERE status = 0;
VACUUM;
CREATE TEMP TABLE lay_n AS SELECT count(*) AS n FROM outputs;
SELECT CASE WHEN name LIKE 'outputs%' THEN 'today'
            WHEN name LIKE 'lay_a%' THEN 'params'
            WHEN name LIKE 'lay_b%' OR name LIKE '%lay_prompts%' THEN 'compact' END AS layout,
       sum(pgsize) / (SELECT n FROM lay_n) AS b_per_output
  FROM dbstat WHERE layout IS NOT NULL GROUP BY layout
UNION ALL -- the shared parameters table is in both new layouts
SELECT 'parameters table (in both)', sum(pgsize) / (SELECT n FROM lay_n) FROM dbstat
 WHERE name LIKE '%lay_params%';

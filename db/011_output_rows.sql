-- 011: outputs take little more room than their text and ids (issue 14).
-- An output was one wide row (its prompt, text, parameters JSON and source
-- repeated on each, a 32-digit identity in a unique index); a bulk job's
-- 100,000 outputs took 8 times their text and ids.  Now:
--   output_params   one row per distinct parameters JSON;
--   output_batches  what outputs written together share: source (recipe
--                   run, recipe, model, checkpoint), prompt, parameters,
--                   created_at, and the identity key (db/outputs.h) that
--                   makes an output's identity with its seed;
--   output_rows     per output only its continuation, ids (two bytes an
--                   id, see OUTPUT_IDS below), seed, finish reason,
--                   status and review rule.
-- A batch's id is its first output's id and its outputs are the rows
-- between it and the next batch (db/outputs.c looks identities up in that
-- range; no index per output).  Identities of outputs stored before this
-- migration stay as they were (output_identities); those made before
-- identities existed (NULL) wait in output_legacy to be adopted.
-- The view `outputs` keeps the old columns for reading, inserting (one
-- batch per row), updating and deleting.
--
-- OUTPUT_IDS: a blob of two bytes an id, most significant first, when
-- every id is below 65,536 (db/outputs.c writes them), else the JSON list
-- as text (outputs stored before, or by hand: this SQLite cannot make
-- bytes); the view shows both as the JSON list.

DROP VIEW output_verdicts;
DROP TRIGGER outputs_review_rule;
DROP TRIGGER output_counts_insert;
DROP TRIGGER output_counts_delete;
DROP TRIGGER output_counts_update;

CREATE TABLE output_params (
    id   INTEGER PRIMARY KEY,
    json TEXT NOT NULL UNIQUE
) STRICT;

CREATE TABLE output_batches (
    id            INTEGER PRIMARY KEY,  -- its first output's id
    key           INTEGER,              -- identity key; NULL: none (old or hand-made)
    recipe_run_id INTEGER REFERENCES recipe_runs(id),
    recipe_name   TEXT,
    model_source  TEXT NOT NULL,        -- a directory, or checkpoint:ID
    checkpoint_id INTEGER REFERENCES checkpoints(id),
    prompt        TEXT NOT NULL,
    params        INTEGER NOT NULL REFERENCES output_params(id),
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX output_batches_key ON output_batches(key) WHERE key IS NOT NULL;

CREATE TABLE output_rows (
    id            INTEGER PRIMARY KEY,
    batch         INTEGER NOT NULL,     -- output_batches(id) (no index: see above)
    continuation  TEXT NOT NULL,
    ids           ANY NOT NULL,         -- OUTPUT_IDS
    seed          INTEGER NOT NULL,     -- regenerates this output alone
    finish        ANY NOT NULL,         -- 0 length, 1 eos, 2 stop_string, 3 all_masked,
                                        -- 4 form, 5 dead_end, else the reason's text
    status        INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2)),
                                        -- 0 pending, 1 approved, 2 rejected
    min_approvals INTEGER CHECK (min_approvals >= 1)
) STRICT;
-- the reviewed outputs (few; the pending ones are found by a scan in id
-- order, as the review desk's queue reads them: no index entry an output)
CREATE INDEX output_rows_reviewed ON output_rows(status) WHERE status <> 0;

CREATE TABLE output_identities (
    output_id INTEGER PRIMARY KEY REFERENCES output_rows(id),
    identity  TEXT NOT NULL UNIQUE
) STRICT;
CREATE TABLE output_legacy (
    seed      INTEGER NOT NULL,
    output_id INTEGER NOT NULL REFERENCES output_rows(id),
    PRIMARY KEY (seed, output_id)
) STRICT, WITHOUT ROWID;

INSERT INTO output_params (json) SELECT DISTINCT params_json FROM outputs ORDER BY id;
INSERT INTO output_batches (id, recipe_run_id, recipe_name, model_source, checkpoint_id, prompt,
                            params, created_at)
SELECT o.id, o.recipe_run_id, o.recipe_name, o.model_source, o.checkpoint_id, o.prompt, p.id,
       o.created_at
FROM outputs o JOIN output_params p ON p.json = o.params_json;
INSERT INTO output_rows (id, batch, continuation, ids, seed, finish, status, min_approvals)
SELECT id, id, continuation,
       ids_json, seed,
       CASE finish_reason WHEN 'length' THEN 0 WHEN 'eos' THEN 1 WHEN 'stop_string' THEN 2
            WHEN 'all_masked' THEN 3 WHEN 'form' THEN 4 WHEN 'dead_end' THEN 5
            ELSE finish_reason END,
       CASE status WHEN 'pending' THEN 0 WHEN 'approved' THEN 1 ELSE 2 END, min_approvals
FROM outputs;
INSERT INTO output_identities (output_id, identity)
SELECT id, identity FROM outputs WHERE identity IS NOT NULL;
INSERT INTO output_legacy (seed, output_id) SELECT seed, id FROM outputs WHERE identity IS NULL;

-- reviews referenced the table; now the rows
CREATE TABLE reviews_new (
    id          INTEGER PRIMARY KEY,
    output_id   INTEGER NOT NULL REFERENCES output_rows(id),
    reviewer    TEXT NOT NULL,
    verdict     TEXT NOT NULL
                CHECK (verdict IN ('approve', 'reject', 'withdraw', 'edit', 'note')),
    note        TEXT,
    edited_text TEXT,                  -- for 'edit': kept beside the original
    version     INTEGER NOT NULL,
    breaks      TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
INSERT INTO reviews_new SELECT id, output_id, reviewer, verdict, note, edited_text, version, breaks,
                               created_at FROM reviews;
DROP TABLE reviews;
ALTER TABLE reviews_new RENAME TO reviews;
CREATE INDEX reviews_output ON reviews(output_id);

DROP TABLE outputs;

CREATE VIEW outputs (id, recipe_run_id, recipe_name, model_source, checkpoint_id, prompt,
                     continuation, text, ids_json, params_json, seed, finish_reason, status,
                     created_at, min_approvals, identity) AS
SELECT o.id, b.recipe_run_id, b.recipe_name, b.model_source, b.checkpoint_id, b.prompt,
       o.continuation, b.prompt || o.continuation,
       CASE WHEN typeof(o.ids) = 'text' THEN o.ids ELSE
       (WITH RECURSIVE d(i) AS (SELECT 1 UNION ALL SELECT i + 4 FROM d
                                WHERE i + 4 <= length(hex(o.ids))),
             x(h) AS (SELECT hex(o.ids))
        SELECT '[' || COALESCE(group_concat(
                   (instr('0123456789ABCDEF', substr(h, i, 1)) - 1) * 4096
                 + (instr('0123456789ABCDEF', substr(h, i + 1, 1)) - 1) * 256
                 + (instr('0123456789ABCDEF', substr(h, i + 2, 1)) - 1) * 16
                 + instr('0123456789ABCDEF', substr(h, i + 3, 1)) - 1, ','), '') || ']'
        FROM d, x WHERE i < length(h)) END,
       p.json, o.seed,
       CASE o.finish WHEN 0 THEN 'length' WHEN 1 THEN 'eos' WHEN 2 THEN 'stop_string'
            WHEN 3 THEN 'all_masked' WHEN 4 THEN 'form' WHEN 5 THEN 'dead_end'
            ELSE o.finish END,
       CASE o.status WHEN 0 THEN 'pending' WHEN 1 THEN 'approved' ELSE 'rejected' END,
       b.created_at, o.min_approvals,
       CASE WHEN b.key IS NOT NULL THEN printf('%016x%016x', b.key, o.seed)
            ELSE (SELECT identity FROM output_identities WHERE output_id = o.id) END
FROM output_rows o JOIN output_batches b ON b.id = o.batch JOIN output_params p ON p.id = b.params;

-- A row inserted by hand is a batch of its own, at its id when that is
-- free (else after every batch and row).
CREATE TRIGGER outputs_insert INSTEAD OF INSERT ON outputs
BEGIN
    INSERT OR IGNORE INTO output_params (json) VALUES (NEW.params_json);
    INSERT INTO output_batches (id, recipe_run_id, recipe_name, model_source, checkpoint_id,
                                prompt, params, created_at)
    VALUES (CASE WHEN NEW.id IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM output_batches WHERE id = NEW.id) THEN NEW.id
                 ELSE max(COALESCE((SELECT MAX(id) FROM output_batches), 0),
                          COALESCE((SELECT MAX(id) FROM output_rows), 0)) + 1 END,
            NEW.recipe_run_id, NEW.recipe_name, NEW.model_source, NEW.checkpoint_id, NEW.prompt,
            (SELECT id FROM output_params WHERE json = NEW.params_json),
            COALESCE(NEW.created_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
    INSERT INTO output_rows (id, batch, continuation, ids, seed, finish, status, min_approvals)
    VALUES (COALESCE(NEW.id, last_insert_rowid()), last_insert_rowid(), NEW.continuation,
            NEW.ids_json, NEW.seed,
            CASE NEW.finish_reason WHEN 'length' THEN 0 WHEN 'eos' THEN 1 WHEN 'stop_string' THEN 2
                 WHEN 'all_masked' THEN 3 WHEN 'form' THEN 4 WHEN 'dead_end' THEN 5
                 ELSE NEW.finish_reason END,
            CASE COALESCE(NEW.status, 'pending') WHEN 'pending' THEN 0 WHEN 'approved' THEN 1
                 WHEN 'rejected' THEN 2 END,
            COALESCE(NEW.min_approvals,
                     (SELECT min_approvals FROM review_rules WHERE recipe_name = NEW.recipe_name),
                     1));
    INSERT INTO output_identities (output_id, identity)
    SELECT last_insert_rowid(), NEW.identity WHERE NEW.identity IS NOT NULL;
END;

-- An update changes the row; a change of what its batch holds (prompt,
-- source, parameters, created_at) moves it to a batch of its own.
CREATE TRIGGER outputs_update INSTEAD OF UPDATE ON outputs
BEGIN
    SELECT RAISE(ABORT, 'outputs: an output''s id and identity cannot be changed')
    WHERE NEW.id IS NOT OLD.id OR NEW.identity IS NOT OLD.identity;
    SELECT RAISE(ABORT, 'outputs: text must be prompt || continuation')
    WHERE NEW.text IS NOT NEW.prompt || NEW.continuation;
    INSERT OR IGNORE INTO output_params (json) VALUES (NEW.params_json);
    INSERT INTO output_batches (id, recipe_run_id, recipe_name, model_source, checkpoint_id,
                                prompt, params, created_at)
    SELECT max(COALESCE((SELECT MAX(id) FROM output_batches), 0),
               COALESCE((SELECT MAX(id) FROM output_rows), 0)) + 1,
           NEW.recipe_run_id, NEW.recipe_name, NEW.model_source, NEW.checkpoint_id, NEW.prompt,
           (SELECT id FROM output_params WHERE json = NEW.params_json), NEW.created_at
    WHERE NEW.prompt IS NOT OLD.prompt OR NEW.recipe_run_id IS NOT OLD.recipe_run_id
       OR NEW.recipe_name IS NOT OLD.recipe_name OR NEW.model_source IS NOT OLD.model_source
       OR NEW.checkpoint_id IS NOT OLD.checkpoint_id OR NEW.params_json IS NOT OLD.params_json
       OR NEW.created_at IS NOT OLD.created_at;
    UPDATE output_rows
    SET batch = CASE WHEN NEW.prompt IS NOT OLD.prompt OR NEW.recipe_run_id IS NOT OLD.recipe_run_id
                       OR NEW.recipe_name IS NOT OLD.recipe_name
                       OR NEW.model_source IS NOT OLD.model_source
                       OR NEW.checkpoint_id IS NOT OLD.checkpoint_id
                       OR NEW.params_json IS NOT OLD.params_json
                       OR NEW.created_at IS NOT OLD.created_at
                     THEN (SELECT MAX(id) FROM output_batches) ELSE batch END,
        continuation = NEW.continuation,
        ids = CASE WHEN NEW.ids_json IS OLD.ids_json THEN ids ELSE NEW.ids_json END,
        seed = NEW.seed,
        finish = CASE NEW.finish_reason WHEN 'length' THEN 0 WHEN 'eos' THEN 1
                      WHEN 'stop_string' THEN 2 WHEN 'all_masked' THEN 3 WHEN 'form' THEN 4
                      WHEN 'dead_end' THEN 5 ELSE NEW.finish_reason END,
        status = CASE NEW.status WHEN 'pending' THEN 0 WHEN 'approved' THEN 1
                      WHEN 'rejected' THEN 2 END,
        min_approvals = NEW.min_approvals
    WHERE id = OLD.id;
END;

CREATE TRIGGER outputs_delete INSTEAD OF DELETE ON outputs
BEGIN
    DELETE FROM output_identities WHERE output_id = OLD.id;
    DELETE FROM output_legacy WHERE output_id = OLD.id;
    DELETE FROM output_rows WHERE id = OLD.id;
END;

-- What each output's reviews say (the rules in db/reviews.h; as in 006).
CREATE VIEW output_verdicts (output_id, rejects, approvals, needed, status) AS
SELECT id, rejects, approvals, needed,
       CASE WHEN rejects > 0 THEN 'rejected' WHEN approvals >= needed THEN 'approved'
            ELSE 'pending' END
FROM (SELECT o.id,
             (SELECT COUNT(*) FROM reviews r WHERE r.output_id = o.id AND r.verdict = 'reject'
                AND r.id = (SELECT MAX(id) FROM reviews WHERE output_id = o.id
                            AND reviewer = r.reviewer
                            AND verdict IN ('approve', 'reject', 'withdraw'))) AS rejects,
             (SELECT COUNT(*) FROM reviews r WHERE r.output_id = o.id AND r.verdict = 'approve'
                AND r.version = 1 + (SELECT COUNT(*) FROM reviews WHERE output_id = o.id
                                     AND verdict = 'edit')
                AND r.id = (SELECT MAX(id) FROM reviews WHERE output_id = o.id
                            AND reviewer = r.reviewer
                            AND verdict IN ('approve', 'reject', 'withdraw'))) AS approvals,
             COALESCE(o.min_approvals, 1) AS needed
      FROM output_rows o);

-- output_counts (009) kept by triggers on the rows; the recipe is the batch's.
CREATE TRIGGER output_counts_insert AFTER INSERT ON output_rows
BEGIN
    INSERT INTO output_counts VALUES
        (COALESCE((SELECT recipe_name FROM output_batches WHERE id = NEW.batch), ''),
         CASE NEW.status WHEN 0 THEN 'pending' WHEN 1 THEN 'approved' ELSE 'rejected' END,
         COALESCE(NEW.min_approvals, 1), 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
-- and a batch goes with its last output (its others are in its range)
CREATE TRIGGER output_counts_delete AFTER DELETE ON output_rows
BEGIN
    INSERT INTO output_counts VALUES
        (COALESCE((SELECT recipe_name FROM output_batches WHERE id = OLD.batch), ''),
         CASE OLD.status WHEN 0 THEN 'pending' WHEN 1 THEN 'approved' ELSE 'rejected' END,
         COALESCE(OLD.min_approvals, 1), -1)
    ON CONFLICT DO UPDATE SET n = n - 1;
    DELETE FROM output_batches WHERE id = OLD.batch AND NOT EXISTS (
        SELECT 1 FROM output_rows r WHERE r.batch = OLD.batch AND r.id >= min(OLD.batch, OLD.id)
        AND r.id < COALESCE((SELECT MIN(n.id) FROM output_batches n WHERE n.id > OLD.batch),
                            9223372036854775807));
END;
CREATE TRIGGER output_counts_update AFTER UPDATE OF status, min_approvals, batch ON output_rows
WHEN OLD.status IS NOT NEW.status OR OLD.min_approvals IS NOT NEW.min_approvals
     OR OLD.batch IS NOT NEW.batch
BEGIN
    INSERT INTO output_counts VALUES
        (COALESCE((SELECT recipe_name FROM output_batches WHERE id = OLD.batch), ''),
         CASE OLD.status WHEN 0 THEN 'pending' WHEN 1 THEN 'approved' ELSE 'rejected' END,
         COALESCE(OLD.min_approvals, 1), -1)
    ON CONFLICT DO UPDATE SET n = n - 1;
    INSERT INTO output_counts VALUES
        (COALESCE((SELECT recipe_name FROM output_batches WHERE id = NEW.batch), ''),
         CASE NEW.status WHEN 0 THEN 'pending' WHEN 1 THEN 'approved' ELSE 'rejected' END,
         COALESCE(NEW.min_approvals, 1), 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

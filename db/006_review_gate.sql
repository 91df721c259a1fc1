-- 006: a review gate that cannot be fooled (issue #11).
--   * reviews.version: the text version a review judged (approve, reject,
--     withdraw) or created (edit).  An output's text version is 1 + its
--     number of edits; only approvals of the current version count.
--   * 'withdraw': a reviewer takes back their own rejection.
--   * reviews.breaks: for an edit kept against the output's constraints,
--     what it breaks ("forbidden character 'e'"), else NULL.
--   * outputs.min_approvals: the review rule an output was created under.
--   * review_rule_changes: every explicit change of a rule for existing
--     outputs (quill review rule).
--   * publications.state: 'pending' from before the file is renamed into
--     place until after; a crash in between leaves it for the next publish
--     to repair ('done' or 'abandoned').
-- Reviewer names are trimmed and case-folded on write; old rows are
-- folded here (ASCII only: SQLite's lower()).

CREATE TABLE reviews_new (
    id          INTEGER PRIMARY KEY,
    output_id   INTEGER NOT NULL REFERENCES outputs(id),
    reviewer    TEXT NOT NULL,
    verdict     TEXT NOT NULL
                CHECK (verdict IN ('approve', 'reject', 'withdraw', 'edit', 'note')),
    note        TEXT,
    edited_text TEXT,                  -- for 'edit': kept beside the original
    version     INTEGER NOT NULL,
    breaks      TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
INSERT INTO reviews_new (id, output_id, reviewer, verdict, note, edited_text, version, created_at)
SELECT id, output_id, lower(trim(reviewer)), verdict, note, edited_text,
       1 + (SELECT COUNT(*) FROM reviews e WHERE e.output_id = r.output_id
            AND e.verdict = 'edit' AND e.id <= r.id),
       created_at
FROM reviews r;
DROP TABLE reviews;
ALTER TABLE reviews_new RENAME TO reviews;
CREATE INDEX reviews_output ON reviews(output_id);

UPDATE review_cursor SET reviewer = lower(trim(reviewer))
WHERE NOT EXISTS (SELECT 1 FROM review_cursor c WHERE c.reviewer = lower(trim(review_cursor.reviewer))
                  AND c.rowid <> review_cursor.rowid);

ALTER TABLE outputs ADD COLUMN min_approvals INTEGER CHECK (min_approvals >= 1);
UPDATE outputs SET min_approvals = COALESCE(
    (SELECT min_approvals FROM review_rules WHERE recipe_name = outputs.recipe_name), 1);
-- a new output takes its recipe's rule as it is now
CREATE TRIGGER outputs_review_rule AFTER INSERT ON outputs WHEN NEW.min_approvals IS NULL
BEGIN
    UPDATE outputs SET min_approvals = COALESCE(
        (SELECT min_approvals FROM review_rules WHERE recipe_name = NEW.recipe_name), 1)
    WHERE id = NEW.id;
END;

CREATE TABLE review_rule_changes (
    id          INTEGER PRIMARY KEY,
    recipe_name TEXT NOT NULL,
    changed_by  TEXT NOT NULL,
    old_min     INTEGER,                -- the rule before (NULL: none)
    new_min     INTEGER NOT NULL,
    outputs     INTEGER NOT NULL,       -- existing outputs it changed
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- What each output's reviews say (the rules in db/reviews.h): a reviewer's
-- latest approve/reject/withdraw is what they say; any standing reject
-- rejects; approvals count when they are of the current text version.
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
      FROM outputs o);
-- the old rows, read by the new rules
UPDATE outputs SET status = (SELECT status FROM output_verdicts WHERE output_id = outputs.id);

ALTER TABLE publications ADD COLUMN state TEXT NOT NULL DEFAULT 'done'
    CHECK (state IN ('pending', 'done', 'abandoned'));
ALTER TABLE publications ADD COLUMN tmp_path TEXT;   -- the file renamed into place
ALTER TABLE publications ADD COLUMN file_hash TEXT;  -- hash of the bytes written
ALTER TABLE publications ADD COLUMN pid INTEGER;     -- the publishing process

-- 009: the review desk's progress counts, kept by triggers: how many
-- outputs of each recipe are in each status, by the approvals they need.
-- The queue's first page reads these few rows instead of counting 100,000
-- outputs per request (desk_counts).  recipe_name '' is "no recipe".
-- IF NOT EXISTS and the recount: a store whose schema version was set back
-- runs this again.

CREATE TABLE IF NOT EXISTS output_counts (
    recipe_name   TEXT NOT NULL,
    status        TEXT NOT NULL,
    min_approvals INTEGER NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (recipe_name, status, min_approvals)
) STRICT, WITHOUT ROWID;
DELETE FROM output_counts;
INSERT INTO output_counts (recipe_name, status, min_approvals, n)
SELECT COALESCE(recipe_name, ''), status, COALESCE(min_approvals, 1), COUNT(*)
FROM outputs GROUP BY 1, 2, 3;

-- every change is +1 or -1 by upsert, so the triggers may fire in any
-- order (outputs_review_rule updates a row its insert just counted)
CREATE TRIGGER IF NOT EXISTS output_counts_insert AFTER INSERT ON outputs
BEGIN
    INSERT INTO output_counts VALUES
        (COALESCE(NEW.recipe_name, ''), NEW.status, COALESCE(NEW.min_approvals, 1), 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS output_counts_delete AFTER DELETE ON outputs
BEGIN
    INSERT INTO output_counts VALUES
        (COALESCE(OLD.recipe_name, ''), OLD.status, COALESCE(OLD.min_approvals, 1), -1)
    ON CONFLICT DO UPDATE SET n = n - 1;
END;
CREATE TRIGGER IF NOT EXISTS output_counts_update
AFTER UPDATE OF recipe_name, status, min_approvals ON outputs
WHEN OLD.recipe_name IS NOT NEW.recipe_name OR OLD.status IS NOT NEW.status
     OR OLD.min_approvals IS NOT NEW.min_approvals
BEGIN
    INSERT INTO output_counts VALUES
        (COALESCE(OLD.recipe_name, ''), OLD.status, COALESCE(OLD.min_approvals, 1), -1)
    ON CONFLICT DO UPDATE SET n = n - 1;
    INSERT INTO output_counts VALUES
        (COALESCE(NEW.recipe_name, ''), NEW.status, COALESCE(NEW.min_approvals, 1), 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

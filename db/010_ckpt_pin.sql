-- 010: checkpoint retention (db/checkpoints.h).  The optimizer state of a
-- checkpoint (state_blob, needed only to resume) is kept for the latest
-- checkpoint of each run and for pinned ones (`quill checkpoints pin`);
-- the older ones lose it when a newer checkpoint of their run is saved.
ALTER TABLE checkpoints ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1));

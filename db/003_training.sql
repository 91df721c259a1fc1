-- 003: blocks, training runs, logs and checkpoints (owned by the training work).
SELECT 1;

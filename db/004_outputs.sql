-- 004: generated outputs with their provenance (owned by the generate work).
SELECT 1;

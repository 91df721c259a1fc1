-- 005: recipes, stage runs, reviews and publications (owned by the recipe work).
SELECT 1;

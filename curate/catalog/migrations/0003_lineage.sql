-- Version 3: corpus lineage. The recipe a corpus was read with (its name, where the
-- catalog name differs) and the corpora its audio derives from, as the recipe declares.
ALTER TABLE corpora ADD COLUMN IF NOT EXISTS recipe_name VARCHAR;
ALTER TABLE corpora ADD COLUMN IF NOT EXISTS sources VARCHAR[];

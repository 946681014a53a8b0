"""The benchmark stage's SQL, in one place; values bound."""

# Catalog corpora with the recipe each came from (recipe_name: catalogs of version 3+;
# older rows fall back to the recipe column).
CORPORA = """
SELECT name, coalesce(recipe_name, recipe) AS recipe_name
FROM corpora ORDER BY name
"""
CORPUS_FACTS = """
SELECT name, recipe, recipe_name, recipe_hash, CAST(built_at AS VARCHAR) AS built_at
FROM corpora WHERE list_contains(?, name) ORDER BY name
"""
CORPUS_SUBSETS = """
SELECT DISTINCT subset FROM utterances
WHERE list_contains(?, corpus) AND subset IS NOT NULL ORDER BY subset
"""
SELECTION_ROW = "SELECT spec_hash, n_items FROM selections WHERE name = ?"
RUN_ROW = "SELECT run_id, name, config, status, code_version FROM runs WHERE run_id = ?"
STORED_SCORES = """
SELECT utt_id, score FROM scores WHERE run_id = ? AND eval_set = ? ORDER BY utt_id
"""
# The training-overlap counts stored with an eval set's results (curate.train.overlap).
OVERLAP_RESULTS = """
SELECT metric, value FROM results
WHERE run_id = ? AND eval_set = ? AND eval_group = 'all'
  AND metric LIKE 'overlap\\_%' ESCAPE '\\'
ORDER BY metric
"""

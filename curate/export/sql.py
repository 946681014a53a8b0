"""The export stage's SQL, in one place. Every user value is a bound parameter.

One query reads a frozen selection joined with its utterance rows and the corpora
roots; column lists come from :mod:`curate.catalog.columns` (fixed identifiers).
The joins are LEFT joins so that an item whose utterance left the catalog (its
corpus was re-prepared without it) is reported, not silently lost.
"""

from __future__ import annotations

from curate.catalog.columns import PROBE_FACTS, RECIPE_COLUMNS

# Utterance columns an export carries (besides utt_id and the path, handled apart).
UTTERANCE_COLUMNS: tuple[str, ...] = tuple(
    c for c in RECIPE_COLUMNS if c not in ("utt_id", "path")
) + PROBE_FACTS + ("status", "error")

SELECTION_INFO = "SELECT name, spec_hash, n_items FROM selections WHERE name = $selection"

SELECTION_SPLIT_NAMES = """
SELECT DISTINCT split FROM selection_items WHERE selection = $selection ORDER BY split
"""

# Items of a selection (optionally some splits) with their facts and absolute paths.
SELECTION_EXPORT_ROWS = f"""
SELECT i.utt_id, i.split, i.weight,
       {", ".join("u." + c for c in UTTERANCE_COLUMNS)},
       u.path AS rel_path, c.root AS corpus_root,
       CASE WHEN c.root IS NULL OR u.path IS NULL THEN NULL
            ELSE rtrim(c.root, '/') || '/' || u.path END AS abspath,
       u.utt_id IS NOT NULL AS in_catalog
FROM selection_items i
LEFT JOIN utterances u ON u.utt_id = i.utt_id
LEFT JOIN corpora c ON c.name = u.corpus
WHERE i.selection = $selection
  AND (len($splits::VARCHAR[]) = 0 OR list_contains($splits::VARCHAR[], i.split))
ORDER BY i.split, i.utt_id
"""

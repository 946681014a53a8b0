"""The selection stage's SQL, in one place. Every user value is a bound parameter.

Split assignment is deterministic: each group (speaker, source utterance or
utterance) gets the key md5(seed:group); groups are ordered by key and cut into
splits at the cumulative item fractions, so the same spec, seed and catalog
always give the same items, and a group never crosses splits. With
``by = "subset"`` the corpus's own subsets are mapped to splits instead.
"""

from __future__ import annotations

# Grouping keys for [split] by; fixed SQL fragments chosen by a validated name.
GROUP_KEYS = {
    "speaker": "coalesce('spk:' || corpus || ':' || speaker, 'src:' || source_utt, "
               "'utt:' || utt_id)",
    "source_utt": "'src:' || coalesce(source_utt, utt_id)",
    "utt": "'utt:' || utt_id",
}


_FILTERED = """
filtered AS (
    SELECT utt_id, subset, {group_key} AS grp,
           (list_contains($h_generators::VARCHAR[], generator)
            OR list_contains($h_languages::VARCHAR[], language)
            OR list_contains($h_corpora::VARCHAR[], corpus)) IS TRUE AS holdout
    FROM utterances
    WHERE ($status = 'any' OR status = $status)
      AND (len($corpora::VARCHAR[]) = 0 OR list_contains($corpora::VARCHAR[], corpus))
      AND (len($languages::VARCHAR[]) = 0 OR list_contains($languages::VARCHAR[], language))
      AND (len($labels::VARCHAR[]) = 0 OR list_contains($labels::VARCHAR[], label))
      AND (len($generators::VARCHAR[]) = 0 OR list_contains($generators::VARCHAR[], generator))
      AND (len($subsets::VARCHAR[]) = 0 OR list_contains($subsets::VARCHAR[], subset))
      AND ($min_duration_s::DOUBLE IS NULL OR duration_s >= $min_duration_s::DOUBLE)
      AND ($max_duration_s::DOUBLE IS NULL OR duration_s <= $max_duration_s::DOUBLE)
)"""

# Groups ordered by md5(seed:group), cut at cumulative item fractions.
_BY_GROUP = """
groups AS (
    SELECT grp, count(*) AS n, md5(CAST($seed AS VARCHAR) || ':' || grp) AS key
    FROM filtered GROUP BY grp
),
placed AS (
    SELECT grp,
           (sum(n) OVER (ORDER BY key, grp ROWS UNBOUNDED PRECEDING) - n / 2.0)
               / sum(n) OVER () AS pos
    FROM groups
),
assigned AS (
    SELECT f.utt_id, f.holdout, ($split_names::VARCHAR[])[
               1 + len(list_filter($split_bounds::DOUBLE[], lambda b: b <= p.pos))] AS split
    FROM filtered f JOIN placed p USING (grp)
)"""

# The corpus's own subsets mapped to splits; unmapped subsets are left out.
_BY_SUBSET = """
assigned AS (
    SELECT utt_id, holdout,
           ($split_names::VARCHAR[])[list_position($subset_keys::VARCHAR[], subset)] AS split
    FROM filtered
)"""

_FINAL = """
SELECT utt_id,
       CASE WHEN NOT holdout THEN split
            WHEN split = 'test' OR $holdout_policy = 'test' THEN 'test' END AS split
FROM assigned
WHERE split IS NOT NULL
  AND NOT (holdout AND split <> 'test' AND $holdout_policy = 'drop')
ORDER BY utt_id
"""


def freeze_query(split_by: str) -> str:
    """Rows (utt_id, split) of a selection; parameters are named (see freeze.py)."""
    if split_by == "subset":
        return "WITH" + _FILTERED.format(group_key="NULL") + "," + _BY_SUBSET + _FINAL
    return ("WITH" + _FILTERED.format(group_key=GROUP_KEYS[split_by]) + "," + _BY_GROUP
            + _FINAL)


DELETE_SELECTION_ITEMS = "DELETE FROM selection_items WHERE selection = ?"
DELETE_SELECTION = "DELETE FROM selections WHERE name = ?"
INSERT_SELECTION = """
INSERT INTO selections (name, spec, spec_hash, seed, created_at, n_items)
VALUES (?, ?, ?, ?, now(), ?)
"""
INSERT_SELECTION_ITEMS = """
INSERT INTO selection_items (selection, utt_id, split, weight)
SELECT ?, utt_id, split, 1.0 FROM _frozen ORDER BY utt_id
"""
SELECTION_SPLITS = """
SELECT i.split, count(*) AS utterances, round(sum(u.duration_s) / 3600.0, 4) AS hours,
       count(*) FILTER (WHERE u.label = 'bonafide') AS bonafide,
       count(*) FILTER (WHERE u.label = 'spoof') AS spoof
FROM selection_items i JOIN utterances u USING (utt_id)
WHERE i.selection = ? GROUP BY i.split ORDER BY i.split
"""
SELECTION_ROWS = """
SELECT i.utt_id, i.split, i.weight, u.corpus, u.label, u.language, u.generator, u.speaker,
       u.duration_s, c.root || '/' || u.path AS abspath
FROM selection_items i JOIN utterances u USING (utt_id) JOIN corpora c ON c.name = u.corpus
WHERE i.selection = ? AND (? IS NULL OR i.split = ?)
ORDER BY i.utt_id
"""
SELECTION_EXISTS = "SELECT spec_hash FROM selections WHERE name = ?"

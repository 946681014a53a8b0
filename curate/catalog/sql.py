"""The catalog's SQL, in one place. Every value is a bound parameter.

Column lists are built from :mod:`curate.catalog.columns` (fixed identifiers,
never user input).
"""

from __future__ import annotations

from curate.catalog.columns import PROBE_FACTS, PROBE_STATE, RECIPE_COLUMNS

_FACTS_AND_STATE = PROBE_FACTS + tuple(c for c in PROBE_STATE if c not in ("status", "error"))

# --- the catalog's own facts (curate.catalog.db) ------------------------------------
# One value of schema_info (`schema_version`, `content_hash`) by its bound key.
SCHEMA_INFO_VALUE = "SELECT value FROM schema_info WHERE key = ?"

# --- recipe insert (curate.recipes.engine) -----------------------------------------
# Keep the probe results of rows whose utt_id and path survive a re-prepare.
CARRY_PROBES = f"""
CREATE OR REPLACE TEMP TABLE _carry AS
SELECT utt_id, path, status, error, {", ".join(_FACTS_AND_STATE)}
FROM utterances WHERE corpus = ?
"""

# Rows of the corpus that the new recipe output no longer has; `referenced` when a
# frozen selection holds them (those stay, with status 'removed': frozen means frozen).
FIND_GONE = """
CREATE OR REPLACE TEMP TABLE _gone AS
SELECT u.utt_id, u.status AS previous_status,
       u.utt_id IN (SELECT utt_id FROM selection_items) AS referenced
FROM utterances u ANTI JOIN _new_rows n ON n.utt_id = u.utt_id
WHERE u.corpus = ?
"""
GONE_COUNTS = """
SELECT count(*) FILTER (WHERE referenced AND previous_status <> 'removed') AS removed_now,
       count(*) FILTER (WHERE referenced) AS removed_total,
       count(*) FILTER (WHERE NOT referenced) AS deleted
FROM _gone
"""
# Selections holding rows that this re-prepare removed: name -> items removed now.
AFFECTED_SELECTIONS = """
SELECT i.selection, count(*) AS items
FROM selection_items i JOIN _gone g ON g.utt_id = i.utt_id
WHERE g.referenced AND g.previous_status <> 'removed'
GROUP BY i.selection ORDER BY i.selection
"""
MARK_REMOVED = """
UPDATE utterances SET status = 'removed',
       error = 'not found by the recipe when the corpus was re-prepared on '
               || strftime(now(), '%Y-%m-%d %H:%M')
WHERE utt_id IN (SELECT utt_id FROM _gone WHERE referenced AND previous_status <> 'removed')
"""
DELETE_CORPUS_ROWS = """
DELETE FROM utterances
WHERE corpus = ? AND utt_id NOT IN (SELECT utt_id FROM _gone WHERE referenced)
"""
DELETE_CORPUS_SEGMENTS = """
DELETE FROM segments
WHERE utt_id IN (SELECT utt_id FROM utterances WHERE corpus = ?)
  AND utt_id NOT IN (SELECT utt_id FROM _gone WHERE referenced)
"""
INSERT_SEGMENTS = """
INSERT INTO segments (utt_id, start_s, end_s, label)
SELECT utt_id, start_s, end_s, label FROM _new_segments
"""

INSERT_CORPUS_ROWS = f"""
INSERT INTO utterances ({", ".join(RECIPE_COLUMNS)}, status, error, {", ".join(_FACTS_AND_STATE)})
SELECT {", ".join("n." + c for c in RECIPE_COLUMNS)},
       CASE WHEN n.status = 'missing' THEN 'missing'
            WHEN c.utt_id IS NULL OR c.status = 'removed' THEN 'pending'
            ELSE c.status END,
       CASE WHEN n.status = 'missing' THEN n.error
            WHEN c.utt_id IS NULL OR c.status = 'removed' THEN NULL
            ELSE c.error END,
       {", ".join(f"CASE WHEN n.status = 'missing' THEN NULL ELSE c.{c} END" for c in _FACTS_AND_STATE)}
FROM _new_rows n LEFT JOIN _carry c ON c.utt_id = n.utt_id AND c.path = n.path
"""

UPSERT_CORPUS = """
INSERT OR REPLACE INTO corpora (name, root, recipe, recipe_hash, title, kind, n_utterances,
                                built_at, recipe_name, sources)
VALUES (?, ?, ?, ?, ?, ?, ?, now(), ?, ?::VARCHAR[])
"""
CORPUS_LINEAGE = "SELECT name, coalesce(recipe_name, recipe), coalesce(sources, []) FROM corpora"

CORPUS_ROOTS = "SELECT name, root FROM corpora ORDER BY name"
CORPUS_ROOT = "SELECT root FROM corpora WHERE name = ?"
SET_CORPUS_ROOT = "UPDATE corpora SET root = ? WHERE name = ?"

# --- probe (curate.audio.runner) ---------------------------------------------------
PROBE_CANDIDATES = """
SELECT utt_id, path, status, probe_level, file_size, file_mtime
FROM utterances WHERE corpus = ? AND status <> 'removed' ORDER BY utt_id
"""

PROBE_UPDATE = f"""
UPDATE utterances AS u SET
    {", ".join(f"{c} = b.{c}" for c in PROBE_FACTS)},
    status = b.status, error = b.error, probe_note = b.probe_note,
    probe_level = b.probe_level, file_size = b.file_size, file_mtime = b.file_mtime,
    probed_at = now()
FROM _probe_batch b
WHERE u.utt_id = b.utt_id
"""

# Files of a corpus whose clip_ratio (a fraction) is at or above a bound threshold.
HEAVY_CLIP_COUNT = "SELECT count(*) FROM utterances WHERE corpus = ? AND clip_ratio >= ?"
STATUS_COUNTS = """
SELECT status, count(*) AS n FROM utterances
WHERE corpus = ? OR ? IS NULL GROUP BY status ORDER BY n DESC, status
"""


def stats_query(by: tuple[str, ...]) -> str:
    """Counts and hours grouped by ``by`` (identifiers validated by the caller)."""
    cols = ", ".join(by)
    group = f"GROUP BY {cols} ORDER BY {cols}" if by else ""
    select = f"{cols}, " if by else ""
    return f"""
SELECT {select}count(*) AS utterances,
       round(coalesce(sum(duration_s), 0) / 3600.0, 4) AS hours,
       count(*) FILTER (WHERE status = 'ok') AS ok,
       count(*) FILTER (WHERE status <> 'ok') AS not_ok
FROM utterances
WHERE (? IS NULL OR corpus = ?)
{group}
"""

"""The augmentation stage's SQL, in one place. Every value is a bound parameter."""

from __future__ import annotations

# Rows of a registered frame ``_augment_rows(utt_id, steps)``; run_id and epoch bound.
INSERT_AUGMENT_LOG = """
INSERT INTO augment_log (run_id, epoch, utt_id, steps)
SELECT ?, ?, utt_id, steps FROM _augment_rows
"""

DELETE_AUGMENT_LOG = "DELETE FROM augment_log WHERE run_id = ? AND (? IS NULL OR epoch = ?)"

# Utterances of a run whose logged steps include ``step`` (and, when given, a parameter
# ``param`` equal to ``value``, compared as text).
UTTERANCES_WITH_STEP = """
SELECT DISTINCT l.utt_id
FROM augment_log l, unnest(CAST(json_extract(l.steps, '$[*]') AS JSON[])) AS s(step)
WHERE l.run_id = ? AND (? IS NULL OR l.epoch = ?)
  AND json_extract_string(s.step, '$.step') = ?
  AND (? IS NULL OR json_extract_string(s.step, '$.params.' || ?) = ?)
ORDER BY l.utt_id
"""

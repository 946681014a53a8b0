"""The shard writer's SQL, in one place. Every user value is a bound parameter.

The selection's rows themselves come from :func:`curate.select.freeze.selection_rows`
(the one reader of frozen selections); these queries add what sizing a shard needs and
what accounting every item needs.
"""

from __future__ import annotations

SPEC_HASH = "SELECT spec_hash FROM selections WHERE name = ?"

# Items of the selection per split, whatever their status (the total every item of the
# shards' accounting adds up to).
SELECTED_PER_SPLIT = """
SELECT split, count(*) AS n FROM selection_items WHERE selection = ? GROUP BY split
ORDER BY split
"""

# Probe facts that estimate an item's size in a shard (rate and channels of the file).
ITEM_FACTS = """
SELECT i.utt_id, u.sample_rate, u.channels
FROM selection_items i JOIN utterances u USING (utt_id)
WHERE i.selection = ?
"""

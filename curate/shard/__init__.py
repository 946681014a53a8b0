"""curate.shard: a frozen selection as WebDataset-layout tar shards, for streaming.

``shard_selection(catalog, "sel", "shards/sel")`` writes ``SPLIT/SPLIT-NNNNNN.tar``
(audio + a JSON per item), ``index.json`` (shard -> items, seconds, group counts; the
resume point) and ``manifest.json`` (the selection, its spec hash, every item
accounted for). Training streams them with :class:`curate.train.data.shards.ShardStream`
(``data.shards = "DIR"`` in an experiment). One job per module:

- :mod:`curate.shard.plan`: which item goes to which shard (pure);
- :mod:`curate.shard.writer`: writing shards, resuming, the index and manifest;
- :mod:`curate.shard.index`: the two JSON files and shard locations (folders, URLs);
- :mod:`curate.shard.selection`: reading the selection from the catalog.

See docs/exports.md ("curate shard") and docs/training.md ("Shards").
"""

from __future__ import annotations

from typing import Any

from curate.shard.index import ShardFolder, load_folder, shard_url
from curate.shard.plan import ShardSize, parse_shard_size, plan_shards

__all__ = ["ShardFolder", "ShardSize", "ShardSummary", "encode_item", "load_folder",
           "parse_shard_size", "plan_shards", "shard_selection", "shard_url",
           "write_folder"]

# The writer and the catalog reader load on first use: training imports the index
# module (through curate.train.data) without the catalog, pandas or the decoders.
_LAZY = {"shard_selection": "curate.shard.selection", "ShardSummary": "curate.shard.writer",
         "encode_item": "curate.shard.writer", "write_folder": "curate.shard.writer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'curate.shard' has no attribute {name!r}")

"""The shard writer on Ray Data: the same :func:`curate.shard.writer.write_shard` per
planned shard, run by Ray workers instead of a process pool.

What runs where (see :mod:`curate.scale.ray_engine`):

- **Driver** (``curate shard ... --engine ray``): reads the selection from the catalog
  (a short read-only session, as with the pool), plans the shards, skips the shards a
  previous run finished, and sends one task per remaining shard to Ray Data (the
  shard's planned items, pickled, about 300 bytes per item). As each task finishes it
  checks that the shard is there at the size the worker wrote, appends the shard's
  index entry to the journal and moves the progress bar; at the end it writes
  ``index.json`` and ``manifest.json``. Resuming, the journal and the files written
  are exactly those of the process pool (:func:`curate.shard.writer.write_folder`).
- **Workers**: decode, resample and encode the shard's items and write
  ``OUT/SPLIT/SPLIT-NNNNNN.tar`` (to ``.tmp`` first, renamed when complete) on storage
  every node shares, then return the shard's index entry. They never open the catalog
  and never write the index.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
from pathlib import Path
from typing import Iterator

import pyarrow as pa

from curate.errors import CurateError
from curate.scale import ray_engine
from curate.shard.writer import RunShards, init_worker, write_shard

__all__ = ["ray_runner", "write_shard_tasks"]

_TASK_SCHEMA = pa.schema([("name", pa.string()), ("task", pa.binary())])
_ENTRY_SCHEMA = pa.schema([("entry", pa.string())])


def write_shard_tasks(tasks: pa.Table) -> pa.Table:
    """Write the shards of one Ray task (runs on a worker).

    Args:
        tasks: rows of ``name`` (the shard) and ``task`` (the pickled argument of
            :func:`curate.shard.writer.write_shard`).

    Returns:
        one row per shard: ``entry``, its index entry as JSON.

    Raises:
        CurateError: the shard folder is not a folder on this worker (not on shared
            storage, or mounted at another path), rather than writing shards where the
            driver cannot see them.
    """
    init_worker()
    entries = []
    for blob in tasks.column("task").to_pylist():
        task = pickle.loads(blob)
        out = task[1]
        if not os.path.isdir(out):
            raise CurateError(f"shard folder {out} is not a folder on Ray worker "
                              f"{ray_engine.worker_name()}; put --out on storage every node "
                              f"shares, at the same path (see docs/scale.md)")
        entries.append(json.dumps(write_shard(task), separators=(",", ":")))
    return pa.table({"entry": entries}, schema=_ENTRY_SCHEMA)


def _run(tasks: list[tuple], jobs: int, *, address: str | None) -> Iterator[dict]:
    """:data:`curate.shard.writer.RunShards` on Ray Data: one Ray task per shard."""
    if not tasks:
        return
    table = pa.table({"name": [t[0].name for t in tasks],
                      "task": [pickle.dumps(t, protocol=pickle.HIGHEST_PROTOCOL)
                               for t in tasks]}, schema=_TASK_SCHEMA)
    with ray_engine.ray_session(address, num_cpus=jobs):
        for batch in ray_engine.map_tasks(table, write_shard_tasks, rows_per_task=1):
            for text in batch.column("entry").to_pylist():
                entry = json.loads(text)
                _check_visible(Path(tasks[0][1]), entry)
                yield entry


def _check_visible(out: Path, entry: dict) -> None:
    """The shard a worker wrote is here, at the size it wrote."""
    path = out / entry["name"]
    if not path.is_file() or path.stat().st_size != entry["bytes"]:
        raise CurateError(f"a Ray worker wrote {entry['name']} under {out}, which this "
                          f"machine does not see as written; put --out on storage every "
                          f"node and the driver share, at the same path")


def ray_runner(address: str | None = None) -> RunShards:
    """The shard writer's ``run`` on Ray Data: the cluster at ``address`` (default
    ``$RAY_ADDRESS``, else a local instance with ``jobs`` CPUs).

    Raises (when run):
        CurateError: Ray Data is not installed, the cluster cannot be reached, or a
            worker does not see the shard folder.
    """
    ray_engine.require_ray()
    return functools.partial(_run, address=address)

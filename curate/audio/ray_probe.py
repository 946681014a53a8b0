"""The probe on Ray Data: the same per-file function and skip rule as the process pool.

Flow (see :mod:`curate.scale.ray_engine` for what runs where):

1. The driver merges parts a previous, interrupted run left under the results location
   (one transaction), so their files count as probed.
2. It reads the catalog's content_hash algorithm (once) and the corpus's rows from the
   catalog and sends them to Ray Data as a table
   (``utt_id``, ``path``, ``status``, ``probe_level``, ``file_size``, ``file_mtime``:
   about 100 bytes per file), ``files_per_task`` rows per task (fewer when the corpus
   would give fewer than 16 tasks per CPU of the cluster); the algorithm goes with
   every task.
3. Each task, on a worker, applies :func:`curate.audio.runner.decide` to its rows (the
   ``stat`` happens there, next to the storage), probes what needs it with
   :func:`curate.audio.runner.run_task`, writes the results as one Parquet part named
   after its rows (a retried task rewrites the same part) and returns counts.
4. The driver moves the progress bar per finished task, then reads every part and
   merges them into the catalog in one transaction, and deletes them.

Killed anywhere, nothing is lost but the tasks in flight: parts already written are
merged by the next run (step 1), and the catalog is never half-written.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
from pathlib import Path

import pyarrow as pa

from curate.audio.runner import (RESULT_SCHEMA, ProbeSummary, Progress, catalog_hash_algorithm,
                                 commit_batch, corpus_root, decide, results_table, run_task,
                                 summarize)
from curate.catalog import sql
from curate.catalog.db import Catalog
from curate.errors import CurateError
from curate.scale import ray_engine

#: Columns of the task table sent to the workers.
TASK_COLUMNS = ("utt_id", "path", "status", "probe_level", "file_size", "file_mtime")
_TASK_SCHEMA = pa.schema([("utt_id", pa.string()), ("path", pa.string()),
                          ("status", pa.string()), ("probe_level", pa.string()),
                          ("file_size", pa.int64()), ("file_mtime", pa.float64())])
# Tasks per CPU of the cluster at least (smaller tasks than files_per_task when the
# corpus is small): keeps every CPU busy until the end and the progress moving.
_TASKS_PER_CPU = 16
_COUNTS_SCHEMA = pa.schema([("files", pa.int64()), ("probed", pa.int64()),
                            ("skipped", pa.int64()), ("part", pa.string())])


def default_results(catalog_path: Path | str, corpus: str) -> str:
    """Where the parts go by default: ``CATALOG.probe-parts/CORPUS/`` next to the catalog
    (right for a local Ray instance; a cluster needs shared storage, see docs/scale.md)."""
    path = Path(catalog_path)
    return str(path.with_name(path.name + ".probe-parts") / corpus)


def task_table(catalog: Catalog, corpus: str) -> pa.Table:
    """The corpus's rows a probe looks at (:data:`TASK_COLUMNS`), as the Arrow table sent
    to the workers (no pandas copy: a corpus may have millions of rows)."""
    with catalog.con.cursor() as cursor:  # its own result, whatever the catalog holds
        table = cursor.sql(sql.PROBE_CANDIDATES, params=[corpus]).to_arrow_table()
    return table.select(list(TASK_COLUMNS)).cast(_TASK_SCHEMA)


def probe_part(tasks: pa.Table, *, root: str, level: str, force: bool,
               min_duration_s: float, hash_algorithm: str, results: str) -> pa.Table:
    """Probe one task's rows on a worker; write their results as one Parquet part.

    Args:
        tasks: rows of :data:`TASK_COLUMNS`.
        root: the corpus root as the worker sees it.
        hash_algorithm: the catalog's content_hash algorithm, read by the driver.
        results: the results location (folder or object-storage URI).

    Returns:
        one row: ``files`` (rows looked at), ``probed``, ``skipped`` (fresh) and
        ``part`` (the part's name, empty when nothing needed writing).

    Raises:
        CurateError: the corpus root is not a folder on this worker (the storage is not
            mounted here, or at another path): rather than marking every file missing.
    """
    if not os.path.isdir(root):
        raise CurateError(f"corpus root {root} is not a folder on Ray worker "
                          f"{ray_engine.worker_name()}; mount the corpus at the same path "
                          f"on every node (see docs/scale.md)")
    out, probed, skipped = [], 0, 0
    for row in tasks.to_pylist():
        decision = decide(row, root, level=level, force=force, min_duration_s=min_duration_s,
                          hash_algorithm=hash_algorithm)
        if decision is None:
            skipped += 1
        elif isinstance(decision, dict):
            out.append(decision)
        else:
            out.append(run_task(decision))
            probed += 1
    name = ""
    if out:
        key = hashlib.blake2b("\n".join([level] + [r["utt_id"] for r in out]).encode(),
                              digest_size=16).hexdigest()
        name = ray_engine.write_part(results_table(out), results, f"part-{key}.parquet")
    return pa.table({"files": [tasks.num_rows], "probed": [probed], "skipped": [skipped],
                     "part": [name]}, schema=_COUNTS_SCHEMA)


def merge_parts(catalog: Catalog, results: str, names: list[str] | None = None) -> int:
    """Merge the parts ``names`` (default: all) under ``results`` into the catalog in one
    transaction, then delete them. Returns the number of result rows merged."""
    names = ray_engine.list_parts(results) if names is None else names
    if not names:
        return 0
    table = ray_engine.read_parts(results, RESULT_SCHEMA, names)
    commit_batch(catalog, _last_per_utt(table))
    ray_engine.remove_parts(results, names)
    return table.num_rows


def _last_per_utt(table: pa.Table) -> pa.Table:
    """One result per ``utt_id`` (parts from two interrupted runs may share files):
    the one read last."""
    ids = table.column("utt_id").to_pylist()
    if len(set(ids)) == len(ids):
        return table
    last = {utt: i for i, utt in enumerate(ids)}
    return table.take(sorted(last.values()))


def probe_corpus_ray(catalog: Catalog, corpus: str, *, level: str, jobs: int,
                     files_per_task: int, force: bool, min_duration_s: float,
                     progress: Progress | None, address: str | None,
                     results: str | None) -> ProbeSummary:
    """Probe ``corpus`` on Ray Data (see the module docstring); arguments as
    :func:`curate.audio.runner.probe_corpus`."""
    root = str(corpus_root(catalog, corpus))
    algorithm = catalog_hash_algorithm(catalog)
    results = results or default_results(catalog.path, corpus)
    merge_parts(catalog, results)  # what an interrupted run left
    tasks = task_table(catalog, corpus)
    total = tasks.num_rows
    work = functools.partial(probe_part, root=root, level=level, force=force,
                             min_duration_s=min_duration_s, hash_algorithm=algorithm,
                             results=results)
    done = probed = skipped = 0
    names: list[str] = []
    if progress:
        progress(done, total)
    with ray_engine.ray_session(address, num_cpus=jobs) as ray:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        per_task = max(1, min(files_per_task, math.ceil(total / (_TASKS_PER_CPU * cpus))))
        for counts in ray_engine.map_tasks(tasks, work, rows_per_task=per_task):
            for row in counts.to_pylist():
                done += row["files"]
                probed += row["probed"]
                skipped += row["skipped"]
                if row["part"]:
                    names.append(row["part"])
            if progress:
                progress(done, total)
    merge_parts(catalog, results, sorted(set(names)))
    if results == default_results(catalog.path, corpus):  # leave no empty folder behind
        with contextlib.suppress(OSError):
            os.rmdir(Path(results).parent)
    return summarize(catalog, corpus, total, probed, skipped)

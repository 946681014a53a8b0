"""Probe a corpus's files in parallel, resumably, writing results in batches.

The catalog is written by this process only; workers decode and measure
(:func:`curate.audio.probe.probe_file`) and send results back. Two engines run the
same per-file function (:func:`run_task`) under the same skip rule (:func:`decide`):

- ``pool`` (default): a process pool on this machine. Results are committed every
  ``batch_size`` files, so a killed probe keeps what it committed; the progress
  callback moves per file, as results arrive (files already probed but not yet
  committed count as done).
- ``ray``: Ray Data on a local instance or a cluster (:mod:`curate.audio.ray_probe`);
  workers write Parquet parts that this process merges in one transaction.

A file is probed again only when its size or mtime changed since its last probe, when
a deeper level is asked for, or with ``force``.

Every engine hashes with the algorithm the catalog records
(:meth:`curate.catalog.db.Catalog.content_hash_algorithm`, read once here in the
driver and passed to the workers in each task), so a catalog never mixes two kinds of
``content_hash``.

The summary counts statuses over the whole corpus after the probe and the files that
are heavily clipped (``clip_ratio >= HEAVY_CLIP_RATIO``, 1 % of samples, see
:mod:`curate.audio.probe`).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import pandas as pd
import pyarrow as pa

from curate.audio.probe import HASH_ALGORITHMS, HEAVY_CLIP_RATIO, MIN_DURATION_S, probe_file
from curate.catalog import sql
from curate.catalog.columns import PROBE_FACTS
from curate.catalog.db import Catalog
from curate.errors import CurateError
from curate.scale.ray_engine import ENGINES

LEVELS = ("header", "full")
Progress = Callable[[int, int], None]

#: Columns of a probe result (one row per file), as Arrow types: what workers return,
#: what Ray workers write as Parquet, and what :func:`commit_batch` merges.
RESULT_SCHEMA = pa.schema([
    ("utt_id", pa.string()), ("duration_s", pa.float64()), ("sample_rate", pa.int64()),
    ("channels", pa.int64()), ("num_samples", pa.int64()), ("format", pa.string()),
    ("loudness_lufs", pa.float64()), ("peak_dbfs", pa.float64()),
    ("clip_ratio", pa.float64()), ("silence_ratio", pa.float64()),
    ("content_hash", pa.string()), ("status", pa.string()), ("error", pa.string()),
    ("probe_note", pa.string()), ("probe_level", pa.string()), ("file_size", pa.int64()),
    ("file_mtime", pa.float64()),
])


@dataclass(frozen=True)
class ProbeTask:
    utt_id: str
    path: str  # absolute
    size: int
    mtime: float
    level: str
    min_duration_s: float
    hash_algorithm: str  # the catalog's content_hash algorithm


@dataclass(frozen=True)
class ProbeSummary:
    corpus: str
    checked: int  # rows looked at
    probed: int  # files decoded or read this time
    skipped: int  # unchanged since their last probe
    statuses: dict[str, int]  # status -> count over the corpus after the probe
    clipped: int = 0  # files of the corpus with clip_ratio >= HEAVY_CLIP_RATIO (any status)


def _level_rank(level: str | None) -> int:
    return LEVELS.index(level) if level in LEVELS else -1


def decide(row: Mapping, root: str | os.PathLike, *, level: str, force: bool,
           min_duration_s: float, hash_algorithm: str) -> ProbeTask | dict | None:
    """What to do with one catalog row: the skip rule of every engine.

    Args:
        row: the row's ``utt_id``, ``path`` (relative to ``root``), ``status``,
            ``probe_level``, ``file_size`` (bytes) and ``file_mtime`` (s) as stored.
        root: the corpus root.
        hash_algorithm: the catalog's content_hash algorithm
            (:func:`catalog_hash_algorithm`).

    Returns:
        None when the row is fresh (its last probe was at ``level`` or deeper and the
        file's size and mtime are unchanged; never with ``force``), a ``missing`` result
        (a dict of :data:`RESULT_SCHEMA`'s columns) when the file cannot be stat'ed,
        else the :class:`ProbeTask` to run.
    """
    absolute = os.path.join(root, row["path"])
    try:
        st = os.stat(absolute)
    except OSError:
        return _missing_result(row["utt_id"], row["path"])
    mtime = row["file_mtime"]
    fresh = (
        not force
        and row["status"] not in (None, "pending", "missing")
        and _level_rank(row["probe_level"]) >= _level_rank(level)
        and row["file_size"] == st.st_size
        and mtime is not None and mtime == mtime  # not None, not NaN
        and abs(float(mtime) - st.st_mtime) < 1e-6
    )
    if fresh:
        return None
    return ProbeTask(row["utt_id"], absolute, int(st.st_size), float(st.st_mtime), level,
                     min_duration_s, hash_algorithm)


def plan(rows: pd.DataFrame, root: Path, *, level: str, force: bool, min_duration_s: float,
         hash_algorithm: str) -> tuple[list[ProbeTask], list[dict], int]:
    """Split catalog rows into tasks to probe, rows found missing, and a skip count
    (the rule of :func:`decide`)."""
    tasks, missing, skipped = [], [], 0
    for row in rows.to_dict("records"):
        decision = decide(row, root, level=level, force=force, min_duration_s=min_duration_s,
                          hash_algorithm=hash_algorithm)
        if decision is None:
            skipped += 1
        elif isinstance(decision, dict):
            missing.append(decision)
        else:
            tasks.append(decision)
    return tasks, missing, skipped


def _missing_result(utt_id: str, path: str) -> dict:
    result = {c: None for c in PROBE_FACTS}
    result.update(utt_id=utt_id, status="missing", error=f"file not found: {path}",
                  probe_note=None, probe_level=None, file_size=None, file_mtime=None)
    return result


def run_task(task: ProbeTask) -> dict:
    """Probe one file (runs in a worker process); never raises for file problems."""
    try:
        facts = probe_file(task.path, level=task.level, min_duration_s=task.min_duration_s,
                           hash_algorithm=task.hash_algorithm)
    except Exception as exc:  # a defect in probing must not stop the batch job
        facts = {c: None for c in PROBE_FACTS}
        facts.update(status="unreadable", error=f"probe failed: {type(exc).__name__}: {exc}",
                     probe_note=None)
    result = {c: facts.get(c) for c in PROBE_FACTS}
    result.update(utt_id=task.utt_id, status=facts["status"], error=facts.get("error"),
                  probe_note=facts.get("probe_note"), probe_level=task.level,
                  file_size=task.size, file_mtime=task.mtime)
    return result


def results_table(results: list[dict]) -> pa.Table:
    """Probe results (dicts from :func:`run_task` or :func:`decide`) as an Arrow table of
    :data:`RESULT_SCHEMA`."""
    return pa.table([pa.array([r.get(field.name) for r in results], type=field.type)
                     for field in RESULT_SCHEMA], schema=RESULT_SCHEMA)


def commit_batch(catalog: Catalog, results: list[dict] | pa.Table) -> None:
    """Write probe results (dicts, or a table of :data:`RESULT_SCHEMA`) in one
    transaction."""
    table = results if isinstance(results, pa.Table) else results_table(results)
    if table.num_rows == 0:
        return
    with catalog.transaction() as con:
        con.register("_probe_batch", table)
        try:
            con.execute(sql.PROBE_UPDATE)
        finally:
            con.unregister("_probe_batch")


def _results(tasks: list[ProbeTask], jobs: int) -> Iterator[dict]:
    if jobs <= 1 or len(tasks) < 2:
        yield from map(run_task, tasks)
        return
    ctx = mp.get_context("spawn") if os.environ.get("CURATE_MP_SPAWN") else mp.get_context()
    chunk = max(1, min(64, len(tasks) // (jobs * 8) or 1))
    with ctx.Pool(processes=jobs) as pool:
        yield from pool.imap_unordered(run_task, tasks, chunksize=chunk)


def catalog_hash_algorithm(catalog: Catalog) -> str:
    """The content_hash algorithm ``catalog`` records (one of :data:`HASH_ALGORITHMS`):
    what every probe of it hashes with.

    Raises:
        CurateError: the catalog records none, or one this curate does not know.
    """
    algorithm = catalog.content_hash_algorithm()
    if algorithm not in HASH_ALGORITHMS:
        raise CurateError(f"catalog {catalog.path} records content_hash algorithm "
                          f"{algorithm!r} in schema_info, which this curate does not know "
                          f"(it knows {', '.join(HASH_ALGORITHMS)}); upgrade curate or pass "
                          f"another --db")
    return algorithm


def corpus_root(catalog: Catalog, corpus: str) -> Path:
    row = catalog.execute(sql.CORPUS_ROOT, [corpus]).fetchone()
    if row is None:
        known = [r[0] for r in catalog.execute(sql.CORPUS_ROOTS).fetchall()]
        raise CurateError(f"corpus {corpus!r} is not in catalog {catalog.path}; prepared: "
                          f"{', '.join(known) or 'none'} (run `curate prepare` first)")
    return Path(row[0])


def candidates(catalog: Catalog, corpus: str) -> pd.DataFrame:
    """The corpus's rows a probe looks at (``removed`` rows never), missing values None."""
    rows = catalog.df(sql.PROBE_CANDIDATES, [corpus])
    return rows.astype(object).where(rows.notna(), None)


def summarize(catalog: Catalog, corpus: str, checked: int, probed: int,
              skipped: int) -> ProbeSummary:
    """The :class:`ProbeSummary` of ``corpus`` as the catalog holds it now."""
    statuses = dict(catalog.execute(sql.STATUS_COUNTS, [corpus, corpus]).fetchall())
    clipped = int(catalog.execute(sql.HEAVY_CLIP_COUNT, [corpus, HEAVY_CLIP_RATIO]).fetchone()[0])
    return ProbeSummary(corpus, checked, probed, skipped, statuses, clipped)


def check_options(*, level: str, jobs: int, batch_size: int, engine: str) -> None:
    """The probe's options (ValueErrors that name the argument)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")


def probe_corpus(catalog: Catalog, corpus: str, *, level: str = "full", jobs: int = 1,
                 batch_size: int = 256, force: bool = False,
                 min_duration_s: float = MIN_DURATION_S,
                 progress: Progress | None = None, engine: str = "pool",
                 address: str | None = None, results: str | None = None) -> ProbeSummary:
    """Probe every file of ``corpus`` that needs it, hashing with the catalog's
    content_hash algorithm (:func:`catalog_hash_algorithm`); see the module docstring.

    Args:
        level: ``header`` or ``full`` (see :func:`curate.audio.probe.probe_file`).
        jobs: worker processes of the ``pool`` engine; with ``ray`` and no ``address``,
            the CPUs of the local Ray instance.
        batch_size: files per committed batch (``pool``); files per Ray task (``ray``).
        force: probe unchanged files too.
        min_duration_s: seconds; shorter files get status ``too_short``.
        progress: ``callback(done, total)`` in files.
        engine: ``pool`` or ``ray``.
        address: the Ray cluster (``ray`` only; default a local instance, or
            ``$RAY_ADDRESS``).
        results: where Ray workers write their Parquet parts (``ray`` only; default a
            folder next to the catalog; on a cluster, shared storage or an object-storage
            URI).
    """
    check_options(level=level, jobs=jobs, batch_size=batch_size, engine=engine)
    if engine == "ray":
        from curate.audio.ray_probe import probe_corpus_ray

        return probe_corpus_ray(catalog, corpus, level=level, jobs=jobs,
                                files_per_task=batch_size, force=force,
                                min_duration_s=min_duration_s, progress=progress,
                                address=address, results=results)
    root = corpus_root(catalog, corpus)
    algorithm = catalog_hash_algorithm(catalog)
    rows = candidates(catalog, corpus)
    tasks, missing, skipped = plan(rows, root, level=level, force=force,
                                   min_duration_s=min_duration_s, hash_algorithm=algorithm)
    total = len(tasks) + len(missing)
    commit_batch(catalog, missing)
    done = len(missing)
    if progress:
        progress(done, total)
    buffer: list[dict] = []
    for result in _results(tasks, jobs):
        buffer.append(result)
        done += 1
        if len(buffer) >= batch_size:
            commit_batch(catalog, buffer)
            buffer = []
        if progress:
            progress(done, total)
    commit_batch(catalog, buffer)
    return summarize(catalog, corpus, len(rows), len(tasks), skipped)


def probe_catalog(catalog: Catalog, corpora: Iterable[str] | None = None,
                  **kwargs) -> list[ProbeSummary]:
    """Probe the named corpora (default: all in the catalog); ``kwargs`` as
    :func:`probe_corpus`."""
    names = (list(corpora) if corpora
             else [r[0] for r in catalog.execute(sql.CORPUS_ROOTS).fetchall()])
    return [probe_corpus(catalog, name, **kwargs) for name in names]

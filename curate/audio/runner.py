"""Probe a corpus's files in parallel, resumably, writing results in batches.

The catalog is written by this process only; workers decode and measure
(:func:`curate.audio.probe.probe_file`) and send plain dicts back. Results are
committed every ``batch_size`` files, so a killed probe keeps what it committed; the
progress callback moves per file, as results arrive (files already probed but not yet
committed count as done). A file is probed again only when its size or mtime changed
since its last probe, when a deeper level is asked for, or with ``force``.

The summary counts statuses over the whole corpus after the probe and the files that
are heavily clipped (``clip_ratio >= HEAVY_CLIP_RATIO``, 1 % of samples, see
:mod:`curate.audio.probe`).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pandas as pd

from curate.audio.probe import HEAVY_CLIP_RATIO, MIN_DURATION_S, probe_file
from curate.catalog import sql
from curate.catalog.columns import PROBE_FACTS
from curate.catalog.db import Catalog
from curate.errors import CurateError

LEVELS = ("header", "full")
Progress = Callable[[int, int], None]

@dataclass(frozen=True)
class ProbeTask:
    utt_id: str
    path: str  # absolute
    size: int
    mtime: float
    level: str
    min_duration_s: float


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


def plan(rows: pd.DataFrame, root: Path, *, level: str, force: bool,
         min_duration_s: float) -> tuple[list[ProbeTask], list[dict], int]:
    """Split catalog rows into tasks to probe, rows found missing, and a skip count.

    A row is skipped when its last probe was at ``level`` or deeper and the file's
    size and mtime are unchanged.
    """
    tasks, missing, skipped = [], [], 0
    want = _level_rank(level)
    for row in rows.itertuples(index=False):
        absolute = os.path.join(root, row.path)
        try:
            st = os.stat(absolute)
        except OSError:
            missing.append(_missing_result(row.utt_id, row.path))
            continue
        fresh = (
            not force
            and row.status not in (None, "pending", "missing")
            and _level_rank(row.probe_level) >= want
            and row.file_size == st.st_size
            and row.file_mtime is not None
            and abs(float(row.file_mtime) - st.st_mtime) < 1e-6
        )
        if fresh:
            skipped += 1
        else:
            tasks.append(ProbeTask(row.utt_id, absolute, int(st.st_size), float(st.st_mtime),
                                   level, min_duration_s))
    return tasks, missing, skipped


def _missing_result(utt_id: str, path: str) -> dict:
    result = {c: None for c in PROBE_FACTS}
    result.update(utt_id=utt_id, status="missing", error=f"file not found: {path}",
                  probe_note=None, probe_level=None, file_size=None, file_mtime=None)
    return result


def run_task(task: ProbeTask) -> dict:
    """Probe one file (runs in a worker process); never raises for file problems."""
    try:
        facts = probe_file(task.path, level=task.level, min_duration_s=task.min_duration_s)
    except Exception as exc:  # a defect in probing must not stop the batch job
        facts = {c: None for c in PROBE_FACTS}
        facts.update(status="unreadable", error=f"probe failed: {type(exc).__name__}: {exc}",
                     probe_note=None)
    result = {c: facts.get(c) for c in PROBE_FACTS}
    result.update(utt_id=task.utt_id, status=facts["status"], error=facts.get("error"),
                  probe_note=facts.get("probe_note"), probe_level=task.level,
                  file_size=task.size, file_mtime=task.mtime)
    return result


_BATCH_DTYPES = {
    "duration_s": "float64", "sample_rate": "Int64", "channels": "Int64",
    "num_samples": "Int64", "format": "string", "loudness_lufs": "float64",
    "peak_dbfs": "float64", "clip_ratio": "float64", "silence_ratio": "float64",
    "content_hash": "string", "utt_id": "string", "status": "string", "error": "string",
    "probe_note": "string", "probe_level": "string", "file_size": "Int64",
    "file_mtime": "float64",
}


def commit_batch(catalog: Catalog, results: list[dict]) -> None:
    """Write one batch of probe results in one transaction."""
    if not results:
        return
    frame = pd.DataFrame(results).astype(_BATCH_DTYPES)
    with catalog.transaction() as con:
        con.register("_probe_batch", frame)
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


def corpus_root(catalog: Catalog, corpus: str) -> Path:
    row = catalog.execute(sql.CORPUS_ROOT, [corpus]).fetchone()
    if row is None:
        known = [r[0] for r in catalog.execute(sql.CORPUS_ROOTS).fetchall()]
        raise CurateError(f"corpus {corpus!r} is not in catalog {catalog.path}; prepared: "
                          f"{', '.join(known) or 'none'} (run `curate prepare` first)")
    return Path(row[0])


def probe_corpus(catalog: Catalog, corpus: str, *, level: str = "full", jobs: int = 1,
                 batch_size: int = 256, force: bool = False,
                 min_duration_s: float = MIN_DURATION_S,
                 progress: Progress | None = None) -> ProbeSummary:
    """Probe every file of ``corpus`` that needs it; see the module docstring."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    root = corpus_root(catalog, corpus)
    rows = catalog.df(sql.PROBE_CANDIDATES, [corpus])
    rows = rows.astype(object).where(rows.notna(), None)
    tasks, missing, skipped = plan(rows, root, level=level, force=force,
                                   min_duration_s=min_duration_s)
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
    statuses = dict(catalog.execute(sql.STATUS_COUNTS, [corpus, corpus]).fetchall())
    clipped = int(catalog.execute(sql.HEAVY_CLIP_COUNT, [corpus, HEAVY_CLIP_RATIO]).fetchone()[0])
    return ProbeSummary(corpus, len(rows), len(tasks), skipped, statuses, clipped)


def probe_catalog(catalog: Catalog, corpora: Iterable[str] | None = None,
                  **kwargs) -> list[ProbeSummary]:
    """Probe the named corpora (default: all in the catalog)."""
    names = (list(corpora) if corpora
             else [r[0] for r in catalog.execute(sql.CORPUS_ROOTS).fetchall()])
    return [probe_corpus(catalog, name, **kwargs) for name in names]

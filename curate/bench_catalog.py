"""`curate bench catalog`: the catalog's commands at scale, on a synthetic catalog.

A synthetic catalog of ``rows`` utterances (:mod:`curate.select.synthetic`: 5 corpora,
12 languages, rows only, no audio) is the source. Each step runs in a fresh process
(so its peak memory is its own, ``ru_maxrss``), with DuckDB's memory capped at
``memory_limit``, on a new catalog:

1. ``insert``: ``prepare``'s write of each corpus (:func:`curate.recipes.engine.
   insert_corpus`, one transaction per corpus, the rows as the recipe engine hands them
   over: a DataFrame of strings), timed without reading the source.
2. ``probe_merge``: the probe results of each corpus merged in one transaction
   (:func:`curate.audio.runner.commit_batch`, what the Ray engine's driver does with the
   workers' Parquet).
3. ``stats``: ``curate stats --by corpus,language,label``.
4. ``select``: ``curate select`` of a spec with a quota (hours per language and label)
   and a split by speaker.
5. ``export``: ``curate export --format parquet`` of that selection.

Figures: seconds, rows/s and peak RSS (MiB) of each step. Measured times are never
asserted by tests.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import shutil
import time
from pathlib import Path

from curate.catalog.columns import RECIPE_COLUMNS
from curate.catalog.db import _MEMORY_RE, open_catalog

__all__ = ["STEPS", "catalog_spec", "bench_catalog", "describe"]

#: The selection of the ``select`` step: a quota (hours per language and label, see
#: :func:`catalog_spec`) and a split by speaker.
SELECTION_NAME = "bench_catalog"
_MEAN_DURATION_S = 5.5  # of the synthetic rows (1-10 s, uniform)
_GROUPS = 12 * 2  # languages x labels of the synthetic rows


def catalog_spec(rows: int) -> dict:
    """The ``select`` step's spec for ``rows`` synthetic rows: each language and label gets
    a tenth of an average group's hours (about a tenth of the rows in all, so the quota
    binds at every size), split 80/10/10 by speaker."""
    hours = rows * _MEAN_DURATION_S / 3600 / _GROUPS / 10
    return {"name": SELECTION_NAME, "seed": 11,
            "quota": {"by": ["language", "label"], "hours": round(max(hours, 0.01), 2)},
            "split": {"by": "speaker",
                      "fractions": {"train": 0.8, "dev": 0.1, "test": 0.1}}}
#: Steps in the order they run.
STEPS = ("insert", "probe_merge", "stats", "select", "export")
#: Targets of the issue that asked for this benchmark (printed next to the figures).
TARGETS = {"insert_rows_per_s_min": 200_000, "stats_s_max": 5.0, "select_s_max": 30.0,
           "peak_mb_max": 4096}

_RECIPE = """
name = "synthetic"
title = "synthetic rows for curate bench catalog"
base = "folder"
[options]
pattern = "*.flac"
"""
# The source's rows of one corpus, as the recipe engine hands them to insert_corpus.
_RECIPE_ROWS = (f"SELECT {', '.join(RECIPE_COLUMNS)}, 'pending' AS status, "
                f"CAST(NULL AS VARCHAR) AS error FROM utterances WHERE corpus = ? "
                f"ORDER BY utt_id")
# The source's probe facts of one corpus, as probe results (curate.audio.runner).
_PROBE_RESULTS = """
SELECT utt_id, duration_s, CAST(sample_rate AS BIGINT) AS sample_rate,
       CAST(channels AS BIGINT) AS channels, num_samples, format, loudness_lufs, peak_dbfs,
       clip_ratio, silence_ratio, content_hash, status, error, probe_note,
       'full' AS probe_level, CAST(num_samples * 2 + 44 AS BIGINT) AS file_size,
       1.7e9 AS file_mtime
FROM utterances WHERE corpus = ?
"""
_CORPORA = "SELECT name FROM corpora ORDER BY name"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _step_insert(source: str, db: str, memory_limit: str | None, out) -> None:
    from curate.recipes.engine import insert_corpus
    from curate.recipes.spec import parse_recipe

    recipe = parse_recipe(_RECIPE, "synthetic.toml")
    seconds = rows = 0
    with open_catalog(source, read_only=True) as src, open_catalog(db) as catalog:
        catalog.set_memory_limit(memory_limit)
        for (corpus,) in src.execute(_CORPORA).fetchall():
            frame = src.df(_RECIPE_ROWS, [corpus]).astype("string")  # as validate_rows
            start = time.perf_counter()
            insert_corpus(catalog, frame, recipe, f"/synthetic/{corpus}", corpus=corpus)
            seconds += time.perf_counter() - start
            rows += len(frame)
            del frame
    out.put({"seconds": seconds, "rows": rows, "peak_mb": _peak_mb()})


def _step_probe_merge(source: str, db: str, memory_limit: str | None, out) -> None:
    from curate.audio.runner import RESULT_SCHEMA, commit_batch

    seconds = rows = 0
    with open_catalog(source, read_only=True) as src, open_catalog(db) as catalog:
        catalog.set_memory_limit(memory_limit)
        for (corpus,) in src.execute(_CORPORA).fetchall():
            with src.con.cursor() as cursor:
                table = cursor.sql(_PROBE_RESULTS, params=[corpus]).to_arrow_table()
            table = table.select(RESULT_SCHEMA.names).cast(RESULT_SCHEMA)
            start = time.perf_counter()
            commit_batch(catalog, table)
            seconds += time.perf_counter() - start
            rows += table.num_rows
            del table
    out.put({"seconds": seconds, "rows": rows, "peak_mb": _peak_mb()})


def _step_stats(db: str, memory_limit: str | None, out) -> None:
    from curate.catalog.ops import catalog_stats

    start = time.perf_counter()
    with open_catalog(db, read_only=True) as catalog:
        catalog.set_memory_limit(memory_limit)
        frame = catalog_stats(catalog, ("corpus", "language", "label"))
        rows = int(frame["utterances"].sum())
    out.put({"seconds": time.perf_counter() - start, "rows": rows, "groups": len(frame),
             "peak_mb": _peak_mb()})


def _step_select(db: str, rows: int, memory_limit: str | None, out) -> None:
    from curate.select.freeze import freeze
    from curate.select.spec import parse_selection

    spec = parse_selection(catalog_spec(rows), "bench catalog")
    start = time.perf_counter()
    with open_catalog(db) as catalog:
        catalog.set_memory_limit(memory_limit)
        frozen = freeze(catalog, spec)
    out.put({"seconds": time.perf_counter() - start, "rows": rows, "items": frozen.n_items,
             "peak_mb": _peak_mb()})


def _step_export(db: str, memory_limit: str | None, folder: str, out) -> None:
    from curate.export import export_selection

    start = time.perf_counter()
    with open_catalog(db, read_only=True) as catalog:
        catalog.set_memory_limit(memory_limit)
        summary = export_selection(catalog, SELECTION_NAME, "parquet", folder,
                                   overwrite=True)
    out.put({"seconds": time.perf_counter() - start, "rows": summary.n_items,
             "peak_mb": _peak_mb()})


def _child(target, args: tuple, out) -> None:
    try:
        target(*args, out)
    except BaseException as exc:  # reported to the parent, which raises it
        out.put({"error": f"{type(exc).__name__}: {exc}"})


def _in_fresh_process(target, *args) -> dict:
    """Run ``target(*args, queue)`` in a spawned process; its one result.

    Raises:
        RuntimeError: the step failed (its exception's type and message).
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, args, queue))
    proc.start()
    try:
        result = queue.get()
    finally:
        proc.join()
    if "error" in result:
        raise RuntimeError(f"bench catalog step {target.__name__} failed: {result['error']}")
    return result


def bench_catalog(rows: int = 10_000_000, *, workdir: Path | str = "manifests/bench",
                  memory_limit: str | None = "3GB", seed: int = 0) -> dict:
    """Run :data:`STEPS` over a synthetic catalog of ``rows`` utterances.

    The synthetic source is built once under ``workdir`` and reused (it is the one of
    ``curate bench select``); the benchmark's own catalog and export are made anew.

    Returns:
        dict: ``name`` ("catalog"), ``value`` (insert rows/s), ``unit``, ``rows``,
        ``memory_limit``, ``steps`` (per step: ``seconds``, ``rows`` it worked through
        (catalog rows; for ``export`` the items written), ``rows_per_s``, ``peak_mb``;
        ``select`` also ``items``), ``peak_mb`` (the largest), ``targets``,
        ``synthesize_s`` (building the source; about 0 when reused).

    Raises:
        ValueError: ``rows`` < 1000, or a malformed ``memory_limit``.
    """
    from curate.select.bench import prepare_bench_catalog

    if rows < 1000:
        raise ValueError(f"rows must be >= 1000 (a quota needs rows to choose from), got "
                         f"{rows}")
    if memory_limit is not None and not _MEMORY_RE.match(memory_limit):  # before any work
        raise ValueError(f"memory_limit must look like '3GB' or '512MB', got "
                         f"{memory_limit!r}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    source = str(prepare_bench_catalog(workdir / f"synthetic_{rows}.duckdb", rows, seed=seed))
    synthesize_s = time.perf_counter() - start
    db = workdir / f"catalog_bench_{rows}.duckdb"
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)
    folder = workdir / f"catalog_bench_{rows}_export"
    steps = {
        "insert": _in_fresh_process(_step_insert, source, str(db), memory_limit),
        "probe_merge": _in_fresh_process(_step_probe_merge, source, str(db), memory_limit),
        "stats": _in_fresh_process(_step_stats, str(db), memory_limit),
        "select": _in_fresh_process(_step_select, str(db), rows, memory_limit),
        "export": _in_fresh_process(_step_export, str(db), memory_limit, str(folder)),
    }
    shutil.rmtree(folder, ignore_errors=True)
    for step in steps.values():
        step["rows_per_s"] = round(step["rows"] / step["seconds"], 1) if step["seconds"] else 0
        step["seconds"] = round(step["seconds"], 3)
        step["peak_mb"] = round(step["peak_mb"], 1)
    return {"name": "catalog", "value": steps["insert"]["rows_per_s"], "unit": "rows/s",
            "rows": rows, "memory_limit": memory_limit, "steps": steps,
            "peak_mb": max(step["peak_mb"] for step in steps.values()),
            "synthesize_s": round(synthesize_s, 3), "cpu_count": os.cpu_count(),
            "targets": dict(TARGETS)}


def describe(result: dict) -> str:
    """One human line per step of :func:`bench_catalog`, with the targets."""
    targets, steps = result["targets"], result["steps"]
    lines = [f"synthetic catalog of {result['rows']:,} utterances (source built in "
             f"{result['synthesize_s']:.1f} s, reused when present), DuckDB memory limit "
             f"{result['memory_limit'] or 'none'}, {result['cpu_count']} CPU(s)",
             f"{'step':12s} {'seconds':>9s} {'rows':>12s} {'rows/s':>12s} {'peak MiB':>9s}"]
    for name in STEPS:
        step = steps[name]
        lines.append(f"{name:12s} {step['seconds']:9.2f} {step['rows']:12,d} "
                     f"{step['rows_per_s']:12,.0f} {step['peak_mb']:9.0f}"
                     + (f"   ({step['items']:,} items selected)" if "items" in step else ""))
    lines.append(f"targets: insert >= {targets['insert_rows_per_s_min']:,} rows/s, stats < "
                 f"{targets['stats_s_max']:g} s, select < {targets['select_s_max']:g} s, "
                 f"peak < {targets['peak_mb_max']:,} MiB")
    met = {
        "insert": steps["insert"]["rows_per_s"] >= targets["insert_rows_per_s_min"],
        "stats": steps["stats"]["seconds"] < targets["stats_s_max"],
        "select": steps["select"]["seconds"] < targets["select_s_max"],
        "peak": result["peak_mb"] < targets["peak_mb_max"],
    }
    lines.append("met: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in met.items()))
    return "\n".join(lines)

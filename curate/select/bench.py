"""`curate bench select`: freezing a selection in DuckDB vs plain pandas, same spec.

Each side runs in a fresh process (so peak memory is its own): DuckDB freezes the
spec into the catalog; pandas loads the columns it needs from the same catalog and
runs :func:`curate.select.reference.select_pandas`. Both must select the same
number of items. The result is one dict: time and peak RSS of each, and ratios.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from pathlib import Path

from curate.catalog.db import open_catalog
from curate.select.spec import parse_selection
from curate.select.synthetic import make_synthetic_catalog

BENCH_SPEC = {
    "name": "bench", "seed": 7,
    "filter": {"min_duration_s": 1.5},
    "dedup": {"content_hash": True},
    "quota": {"by": ["language", "label"], "hours": 1000.0},
    "balance": {"ratio": 1.0, "by": ["language"]},
    "holdout": {"generators": ["syn0:A07", "syn1:A07"]},
    "split": {"by": "speaker", "fractions": {"train": 0.8, "dev": 0.1, "test": 0.1}},
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _run_duckdb(db: str, spec_data: dict, memory_limit: str | None, out) -> None:
    from curate.select.freeze import freeze

    spec = parse_selection(spec_data, "bench")
    start = time.perf_counter()
    with open_catalog(db) as catalog:
        catalog.set_memory_limit(memory_limit)
        frozen = freeze(catalog, spec)
    out.put({"seconds": time.perf_counter() - start, "peak_mb": _peak_mb(),
             "items": frozen.n_items})


def _run_pandas(db: str, spec_data: dict, out) -> None:
    from curate.select.reference import NEEDED, select_pandas

    spec = parse_selection(spec_data, "bench")
    start = time.perf_counter()
    with open_catalog(db, read_only=True) as catalog:
        frame = catalog.df(f"SELECT {', '.join(NEEDED)} FROM utterances")
    items = select_pandas(frame, spec)
    out.put({"seconds": time.perf_counter() - start, "peak_mb": _peak_mb(),
             "items": len(items)})


def _in_fresh_process(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def prepare_bench_catalog(path: Path, rows: int, *, seed: int = 0) -> Path:
    """Create (or reuse, when it already has ``rows`` rows) the synthetic catalog."""
    path = Path(path)
    if path.exists():
        with open_catalog(path) as catalog:
            if catalog.execute("SELECT count(*) FROM utterances").fetchone()[0] == rows:
                return path
        path.unlink()
    with open_catalog(path) as catalog:
        make_synthetic_catalog(catalog, rows, seed=seed)
    return path


def bench_select(rows: int = 10_000_000, *, workdir: Path | str = "manifests/bench",
                 spec: dict | None = None, baseline: bool = True,
                 memory_limit: str | None = "3GB") -> dict:
    """Freeze ``spec`` (default :data:`BENCH_SPEC`) over ``rows`` synthetic rows.

    Returns a dict with ``name``, ``value`` (DuckDB seconds), ``unit``, ``baseline``
    (pandas seconds), ``ratio`` (pandas / DuckDB time), peak memory of both (MiB)
    and their ratio, and the item counts.
    """
    if rows < 100:
        raise ValueError(f"rows must be >= 100, got {rows}")
    spec_data = spec or BENCH_SPEC
    parse_selection(spec_data, "bench")  # validate before the long part
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db = prepare_bench_catalog(workdir / f"synthetic_{rows}.duckdb", rows)
    fast = _in_fresh_process(_run_duckdb, str(db), spec_data, memory_limit)
    result = {"name": "select", "value": round(fast["seconds"], 3), "unit": "s",
              "rows": rows, "items": fast["items"], "peak_mb": round(fast["peak_mb"], 1),
              "memory_limit": memory_limit}
    if baseline:
        slow = _in_fresh_process(_run_pandas, str(db), spec_data)
        if slow["items"] != fast["items"]:
            raise RuntimeError(f"pandas selected {slow['items']} items, DuckDB "
                               f"{fast['items']}: the implementations disagree")
        result.update(baseline=round(slow["seconds"], 3),
                      ratio=round(slow["seconds"] / fast["seconds"], 2),
                      baseline_peak_mb=round(slow["peak_mb"], 1),
                      memory_ratio=round(slow["peak_mb"] / fast["peak_mb"], 2))
    return result


def describe(result: dict) -> str:
    """One human line per figure of :func:`bench_select`."""
    lines = [f"rows {result['rows']:,}, items {result['items']:,}",
             f"duckdb: {result['value']:.2f} s, peak {result['peak_mb']:.0f} MiB"]
    if "baseline" in result:
        lines.append(f"pandas: {result['baseline']:.2f} s, peak "
                     f"{result['baseline_peak_mb']:.0f} MiB")
        lines.append(f"ratio: {result['ratio']:.1f}x faster, {result['memory_ratio']:.1f}x "
                     f"less memory")
    return "\n".join(lines)

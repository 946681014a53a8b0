"""`curate bench probe`: curate's probe against what people use instead, on the same files.

Every side reads the same synthetic 16 kHz FLAC files (a tone plus a little noise,
``seconds`` long), warmed on one file first, timed as the best of ``repeats`` rounds; the
per-file sides run one after another within each round, so a change in the machine's
load between rounds weighs on every side alike:

- ``decode``: soundfile decoding alone (``sf.read`` to float32): the floor of any
  full probe.
- ``probe_file``: :func:`curate.audio.probe.probe_file` in a plain loop, level ``full``
  (every fact from one decode, content hash ``xxh3-128``: a new catalog's), level
  ``full`` with ``blake2b-128`` (what a catalog migrated from schema version 3 or older
  hashes with) and level ``header`` (no decode).
- ``catalog_1`` / ``catalog_N``: ``curate probe`` as the command runs it
  (:func:`curate.audio.runner.probe_corpus`: plan, worker processes, batches committed
  to a catalog), with 1 and ``jobs`` worker processes.
- ``script``: what a one-off script does: soundfile decode + pyloudnorm's loudness +
  md5 of the samples, one file at a time.
- ``lhotse``: lhotse's ``Recording.from_file`` loop (header facts: rate, channels,
  length), when lhotse is installed.

Figures: files/s, hours of audio per hour per core (``files * seconds / time / cores``)
and ratios (the probe's cost over decoding's in CPU time of this process, so that other
jobs on a shared machine do not move it; in wall time too), and the cost of each fact of
the full probe per file (milliseconds, on samples already decoded: content hash with
either algorithm, peak and clipping, loudness and its K-weighting, silence). Measured
times are never asserted by tests.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

from curate.audio import loudness
from curate.audio.probe import (clip_ratio, content_hash, integrated_loudness, peak_dbfs,
                                probe_file, silence_ratio)
from curate.audio.runner import probe_corpus
from curate.catalog.db import open_catalog
from curate.recipes.engine import insert_corpus, read_corpus
from curate.recipes.spec import parse_recipe

__all__ = ["bench_probe", "describe"]

_RECIPE = """
name = "bench"
base = "folder"
[options]
pattern = "{speaker}/*.flac"
[options.constants]
label = "bonafide"
language = "eng"
"""

#: Targets of the issue that asked for this benchmark (printed next to the figures).
TARGET_PROBE_OVER_DECODE = 1.8
TARGET_HEADER_FILES_PER_S = 5000.0


def _write_files(folder: Path, files: int, seconds: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(16000 * seconds)
    for i in range(files):
        path = folder / f"s{i % 20:02d}" / f"f{i:05d}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        tone = 0.3 * np.sin(2 * np.pi * (150 + i) * np.arange(n) / 16000)
        sf.write(path, (tone + 0.01 * rng.standard_normal(n)).astype(np.float32), 16000)


def _best_of(repeats: int, run: Callable[[], object]) -> float:
    """Shortest wall time of ``repeats`` calls of ``run``, seconds."""
    return _best_of_rounds(repeats, {"run": run})["run"]


def _best_of_rounds(repeats: int, runs: dict[str, Callable[[], object]],
                    cpu: dict[str, float] | None = None) -> dict[str, float]:
    """Shortest wall time of each of ``runs``, seconds, over ``repeats`` rounds that call
    every run once, one after another; the shortest CPU time of this process (all its
    threads) goes into ``cpu`` when given."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
            if cpu is not None:
                cpu[name] = min(cpu.get(name, float("inf")), time.process_time() - start_cpu)
    return best


#: Facts of the full probe timed on decoded samples by :func:`_fact_costs`.
_FACTS = {
    "content_hash_xxh3": lambda x, rate: content_hash(x, rate, "xxh3-128"),
    "content_hash_blake2b": lambda x, rate: content_hash(x, rate, "blake2b-128"),
    "peak_and_clipping": lambda x, rate: (peak_dbfs(x), clip_ratio(x)),
    "loudness": integrated_loudness,
    "k_weighting": loudness.k_weight,
    "silence": silence_ratio,
}


def _fact_costs(paths: list[str], repeats: int) -> dict[str, float]:
    """Milliseconds per file of each fact of :data:`_FACTS` (``loudness`` includes its
    ``k_weighting``; the full probe computes one of the two content hashes), on the
    samples of ``paths`` decoded beforehand."""
    clips = [sf.read(p, dtype="float32", always_2d=True) for p in paths]
    runs = {name: _each(lambda clip, fact=fact: fact(*clip), clips)
            for name, fact in _FACTS.items()}
    return {name: round(t / len(clips) * 1000, 3)
            for name, t in _best_of_rounds(repeats, runs).items()}


def _script_facts(path: str) -> tuple:
    """A one-off script's probe: decode, pyloudnorm loudness, md5 of the samples."""
    import pyloudnorm

    x, rate = sf.read(path, dtype="float32", always_2d=True)
    lufs = pyloudnorm.Meter(rate).integrated_loudness(x.astype(np.float64))
    return rate, x.shape, float(np.max(np.abs(x))), lufs, hashlib.md5(x.tobytes()).hexdigest()


def _each(fn: Callable[[object], object], items: list) -> Callable[[], None]:
    """A loop calling ``fn`` on every item (a path), keeping nothing (no side holds its
    results in memory, so none pays for it)."""
    def loop() -> None:
        for item in items:
            fn(item)
    return loop


def _lhotse_loop(paths: list[str]) -> Callable[[], None] | None:
    try:
        from lhotse import Recording
    except ImportError:
        return None
    return _each(Recording.from_file, paths)


def bench_probe(files: int = 800, seconds: float = 4.0, *, jobs: int = 2, seed: int = 0,
                repeats: int = 3, workdir: Path | str | None = None) -> dict:
    """Time every side on the same ``files`` FLAC files of ``seconds`` s (see the module
    docstring).

    Returns:
        dict: ``name`` ("probe"), ``value`` (files/s of the catalog probe with ``jobs``
        processes), ``unit``, ``baseline`` (files/s of the one-off script), ``ratio``
        (value / baseline), ``audio_hours_per_hour`` (of ``value``), ``sides`` (per
        side: ``files_per_s``, ``cores``, ``audio_hours_per_hour_per_core``),
        ``ratios`` (named ratios of files/s, except ``probe_over_decode_cost``: the
        ratio of CPU times of ``probe_file`` and decoding, both in this process, their
        cost per core whatever else the machine runs, and
        ``probe_blake2b_over_decode_cost``, the same with the blake2b-128 content hash
        of catalogs migrated from schema version 3), ``probe_over_decode_wall`` (the
        same in wall time), ``cpu_ms`` (CPU ms per file of the in-process sides),
        ``decode_ms`` (decoding alone, wall ms per file), ``fact_ms`` (each fact's ms
        per file, see :func:`_fact_costs`) and ``targets``, plus ``files``,
        ``seconds``, ``jobs``, ``repeats``, ``cpu_count``.

    Raises:
        ValueError: ``files``, ``jobs`` or ``repeats`` < 1, or ``seconds`` <= 0.
    """
    if files < 1 or jobs < 1 or repeats < 1 or not seconds > 0:
        raise ValueError(f"files, jobs and repeats must be >= 1 and seconds > 0, got "
                         f"files={files}, jobs={jobs}, repeats={repeats}, seconds={seconds}")
    times: dict[str, float] = {}
    cores = {"catalog_n": jobs}
    with tempfile.TemporaryDirectory(prefix="curate-bench-probe-", dir=workdir) as tmp:
        root = Path(tmp) / "corpus"
        _write_files(root, files, seconds, seed)
        paths = sorted(str(p) for p in root.rglob("*.flac"))
        _script_facts(paths[0])  # imports and caches warm, so no side pays them
        probe_file(paths[0])
        loops = {
            "decode": _each(lambda p: sf.read(p, dtype="float32", always_2d=True), paths),
            "probe_file": _each(probe_file, paths),
            "probe_file_blake2b": _each(
                lambda p: probe_file(p, hash_algorithm="blake2b-128"), paths),
            "probe_file_header": _each(lambda p: probe_file(p, level="header"), paths),
            "script": _each(_script_facts, paths),
        }
        lhotse = _lhotse_loop(paths)
        if lhotse is not None:
            lhotse()  # warm
            loops["lhotse"] = lhotse
        cpu: dict[str, float] = {}  # the in-process sides' CPU time: their cost per core
        times.update(_best_of_rounds(repeats, loops, cpu))
        fact_ms = _fact_costs(paths[:100], repeats)
        checked = [probe_file(p) for p in paths]

        recipe = parse_recipe(_RECIPE, "bench.toml", base_dir=Path(tmp))
        with open_catalog(Path(tmp) / "bench.duckdb") as catalog:
            insert_corpus(catalog, read_corpus(recipe, root), recipe, root)
            for name, n_jobs, level in (("catalog_1", 1, "full"), ("catalog_n", jobs, "full"),
                                        ("catalog_header", 1, "header")):
                times[name] = _best_of(repeats, lambda: probe_corpus(
                    catalog, "bench", jobs=n_jobs, level=level, force=True))
            summary = probe_corpus(catalog, "bench", jobs=jobs, force=True)
    if summary.statuses.get("ok") != files or sum(f["status"] == "ok" for f in checked) != files:
        raise RuntimeError("the benchmark's files did not all probe ok")

    per_s = {name: files / t for name, t in times.items()}
    sides = {name: {"files_per_s": round(rate, 1), "cores": cores.get(name, 1),
                    "audio_hours_per_hour_per_core":
                        round(rate * seconds / cores.get(name, 1), 1)}
             for name, rate in per_s.items()}
    ratios = {
        "probe_over_decode_cost": round(cpu["probe_file"] / cpu["decode"], 2),
        "probe_blake2b_over_decode_cost": round(cpu["probe_file_blake2b"] / cpu["decode"], 2),
        "catalog_n_over_catalog_1": round(per_s["catalog_n"] / per_s["catalog_1"], 2),
        "catalog_1_over_script": round(per_s["catalog_1"] / per_s["script"], 2),
        "catalog_n_over_script": round(per_s["catalog_n"] / per_s["script"], 2),
    }
    if "lhotse" in per_s:
        ratios["header_over_lhotse"] = round(per_s["probe_file_header"] / per_s["lhotse"], 2)
    return {"name": "probe", "value": round(per_s["catalog_n"], 1), "unit": "files/s",
            "baseline": round(per_s["script"], 1),
            "ratio": round(per_s["catalog_n"] / per_s["script"], 2),
            "audio_hours_per_hour": round(per_s["catalog_n"] * seconds, 1),
            "files": files, "seconds": seconds, "jobs": jobs, "repeats": repeats,
            "cpu_count": os.cpu_count(), "sides": sides, "ratios": ratios,
            "fact_ms": fact_ms,
            "decode_ms": round(times["decode"] / files * 1000, 3),
            "probe_over_decode_wall": round(times["probe_file"] / times["decode"], 2),
            "cpu_ms": {name: round(t / files * 1000, 3) for name, t in cpu.items()},
            "targets": {"probe_over_decode_cost_max": TARGET_PROBE_OVER_DECODE,
                        "header_files_per_s_per_core_min": TARGET_HEADER_FILES_PER_S}}


_LABELS = {
    "decode": "decode only (sf.read)",
    "probe_file": "probe_file, full",
    "probe_file_blake2b": "probe_file, full, blake2b-128",
    "probe_file_header": "probe_file, header",
    "catalog_1": "curate probe, 1 job",
    "catalog_n": "curate probe, {jobs} jobs",
    "catalog_header": "curate probe --level header",
    "script": "script: sf + pyloudnorm + md5",
    "lhotse": "lhotse Recording.from_file",
}


def describe(result: dict) -> str:
    """The human report of :func:`bench_probe`: one line per side, then the ratios."""
    lines = [f"{result['files']} FLAC files of {result['seconds']:g} s at 16 kHz, best of "
             f"{result['repeats']}, {result['cpu_count']} CPU(s) on this machine",
             f"{'side':34s} {'files/s':>10s} {'cores':>5s} {'audio h/h/core':>15s}"]
    for name, side in result["sides"].items():
        label = _LABELS.get(name, name).format(jobs=result["jobs"])
        lines.append(f"{label:34s} {side['files_per_s']:10.1f} {side['cores']:5d} "
                     f"{side['audio_hours_per_hour_per_core']:15.0f}")
    ratios, targets = result["ratios"], result["targets"]
    header = result["sides"]["probe_file_header"]["files_per_s"]
    lines.append(
        f"full probe / decode, cost:     {ratios['probe_over_decode_cost']:.2f}x "
        f"(target <= {targets['probe_over_decode_cost_max']:g}x) in CPU time"
        + (f", {result['probe_over_decode_wall']:.2f}x in wall time"
           if "probe_over_decode_wall" in result else ""))
    if "probe_blake2b_over_decode_cost" in ratios:
        lines.append(f"  the same, blake2b-128 hash:  "
                     f"{ratios['probe_blake2b_over_decode_cost']:.2f}x in CPU time (catalogs "
                     f"migrated from schema version 3)")
    lines += [
        f"header level, one core:        {header:.0f} files/s "
        f"(target >= {targets['header_files_per_s_per_core_min']:.0f})",
        f"catalog {result['jobs']} jobs / 1 job:        "
        f"{ratios['catalog_n_over_catalog_1']:.2f}x",
        f"catalog 1 job / script:        {ratios['catalog_1_over_script']:.2f}x",
        f"catalog {result['jobs']} jobs / script:       {ratios['catalog_n_over_script']:.2f}x",
    ]
    if "header_over_lhotse" in ratios:
        lines.append(f"header level / lhotse:         {ratios['header_over_lhotse']:.2f}x")
    if "fact_ms" in result:
        facts = ", ".join(f"{name.replace('_', ' ')} {ms:.3f}"
                          for name, ms in result["fact_ms"].items())
        lines.append(f"per file, ms: decode {result['decode_ms']:.3f}; {facts} "
                     f"(loudness includes k weighting)")
    return "\n".join(lines)

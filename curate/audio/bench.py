"""`curate bench probe`: the catalog probe vs a plain one-file-at-a-time loop.

Both measure the same facts of the same synthetic FLAC files. The baseline is what a
one-off script does: a Python loop calling :func:`curate.audio.probe.probe_file` and
keeping the dicts in a list. curate's probe runs over ``jobs`` worker processes,
commits batches into the catalog and can resume; the ratio is files/s of the two.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from curate.audio.probe import probe_file
from curate.audio.runner import probe_corpus
from curate.catalog.db import open_catalog
from curate.recipes.engine import insert_corpus, read_corpus
from curate.recipes.spec import parse_recipe

_RECIPE = """
name = "bench"
base = "folder"
[options]
pattern = "{speaker}/*.flac"
[options.constants]
label = "bonafide"
language = "eng"
"""


def _write_files(folder: Path, files: int, seconds: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(16000 * seconds)
    for i in range(files):
        path = folder / f"s{i % 20:02d}" / f"f{i:05d}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        tone = 0.3 * np.sin(2 * np.pi * (150 + i) * np.arange(n) / 16000)
        sf.write(path, (tone + 0.01 * rng.standard_normal(n)).astype(np.float32), 16000)


def bench_probe(files: int = 400, seconds: float = 4.0, *, jobs: int = 2, seed: int = 0,
                workdir: Path | str | None = None) -> dict:
    """Files/s of ``curate probe`` (``jobs`` processes) and of a plain loop, and the ratio."""
    if files < 1 or seconds <= 0 or jobs < 1:
        raise ValueError("files and jobs must be >= 1 and seconds > 0")
    with tempfile.TemporaryDirectory(prefix="curate-bench-probe-", dir=workdir) as tmp:
        root = Path(tmp) / "corpus"
        _write_files(root, files, seconds, seed)
        paths = sorted(str(p) for p in root.rglob("*.flac"))
        probe_file(paths[0])  # imports and caches warm, so neither side pays them
        start = time.perf_counter()
        facts = [probe_file(p) for p in paths]
        baseline_s = time.perf_counter() - start
        recipe = parse_recipe(_RECIPE, "bench.toml", base_dir=Path(tmp))
        with open_catalog(Path(tmp) / "bench.duckdb") as catalog:
            insert_corpus(catalog, read_corpus(recipe, root), recipe, root)
            start = time.perf_counter()
            summary = probe_corpus(catalog, "bench", jobs=jobs)
            value_s = time.perf_counter() - start
    if summary.statuses.get("ok") != files or sum(f["status"] == "ok" for f in facts) != files:
        raise RuntimeError("the benchmark's files did not all probe ok")
    return {"name": "probe", "value": round(files / value_s, 1), "unit": "files/s",
            "baseline": round(files / baseline_s, 1), "ratio": round(baseline_s / value_s, 2),
            "files": files, "seconds": seconds, "jobs": jobs,
            "audio_hours_per_hour": round(files * seconds / value_s, 1)}

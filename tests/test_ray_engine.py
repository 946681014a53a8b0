"""The probe on Ray Data equals the process pool row for row, resumes, and never lets a
worker open the catalog. The test starts its own local Ray instance with 2 CPUs."""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import soundfile as sf

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from conftest import make_asvspoof2019  # noqa: E402
from curate.audio import ray_probe  # noqa: E402
from curate.audio.probe import content_hash  # noqa: E402
from curate.audio.runner import probe_corpus  # noqa: E402
from curate.catalog.db import open_catalog  # noqa: E402
from curate.errors import CurateError  # noqa: E402
from curate.scale import ray_engine  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")  # Ray Data

CORPUS = "asvspoof2019_la"
ROWS = "SELECT * EXCLUDE (probed_at) FROM utterances ORDER BY utt_id"


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def _lines(n: int) -> list[str]:
    return [f"LA_{i % 5:04d} LA_T_{1000000 + i} - {'-' if i % 3 else 'A01'} "
            f"{'bonafide' if i % 3 else 'spoof'}" for i in range(n)]


@pytest.fixture
def corpus(tmp_path, run_cli):
    """A corpus with ok, missing, corrupt and too-short files, prepared (not probed)
    into two catalogs."""
    root = make_asvspoof2019(tmp_path / "LA", {"train": _lines(23)}, seconds=0.5,
                             skip={"LA_T_1000003"}, corrupt={"LA_T_1000004"})
    short = root / "ASVspoof2019_LA_train" / "flac" / "LA_T_1000005.flac"
    sf.write(short, np.zeros(400, np.float32) + 0.1, 16000)
    dbs = {}
    for engine in ("pool", "ray"):
        dbs[engine] = tmp_path / f"{engine}.duckdb"
        assert run_cli("prepare", CORPUS, root, "--db", dbs[engine], "--no-probe")[0] == 0
    return root, dbs


def _rows(db: Path) -> list[tuple]:
    with open_catalog(db, read_only=True) as catalog:
        return catalog.execute(ROWS).fetchall()


def test_ray_equals_pool_row_for_row_and_resumes(local_ray, corpus, tmp_path):
    root, dbs = corpus
    with open_catalog(dbs["pool"]) as catalog:
        pool = probe_corpus(catalog, CORPUS, jobs=2, batch_size=4)
    calls: list[tuple[int, int]] = []
    with open_catalog(dbs["ray"]) as catalog:
        on_ray = probe_corpus(catalog, CORPUS, engine="ray", jobs=2, batch_size=4,
                              progress=lambda done, total: calls.append((done, total)))
    assert on_ray == pool
    assert on_ray.statuses == {"ok": 20, "missing": 1, "unreadable": 1, "too_short": 1}
    rows = _rows(dbs["ray"])
    assert rows == _rows(dbs["pool"]) and len(rows) == 23
    with open_catalog(dbs["ray"], read_only=True) as catalog:  # facts filled, not just equal
        assert catalog.execute("SELECT count(*) FROM utterances WHERE status = 'ok' AND "
                               "content_hash IS NOT NULL AND loudness_lufs IS NOT NULL AND "
                               "file_size > 0 AND probe_level = 'full'").fetchone()[0] == 20
    assert calls[0] == (0, 23) and calls[-1] == (23, 23)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and len(calls) >= 3
    assert not (tmp_path / "ray.duckdb.probe-parts").exists()  # parts merged and removed

    # a changed file, a removed one: only those are read again, same rule as the pool
    changed = root / "ASVspoof2019_LA_train" / "flac" / "LA_T_1000007.flac"
    sf.write(changed, np.zeros(800, np.float32), 16000)
    os.utime(changed, (time.time() + 5, time.time() + 5))
    (root / "ASVspoof2019_LA_train" / "flac" / "LA_T_1000008.flac").unlink()
    summaries = {}
    for engine, db in dbs.items():
        with open_catalog(db) as catalog:
            summaries[engine] = probe_corpus(catalog, CORPUS, engine=engine, jobs=2,
                                             batch_size=4)
    assert summaries["ray"] == summaries["pool"]
    assert summaries["ray"].probed == 1 and summaries["ray"].skipped == 20
    assert _rows(dbs["ray"]) == _rows(dbs["pool"])


def test_interrupted_run_is_merged_by_the_next(local_ray, corpus):
    """Parts a killed run left behind are merged first; their files are not read again."""
    root, dbs = corpus
    with open_catalog(dbs["ray"]) as catalog:
        tasks = ray_probe.task_table(catalog, CORPUS).slice(0, 9)
        results = ray_probe.default_results(catalog.path, CORPUS)
    left = ray_probe.probe_part(tasks, root=str(root), level="full", force=False,
                                min_duration_s=0.1, hash_algorithm="xxh3-128",
                                results=results)
    assert left.column("probed")[0].as_py() == 8 and ray_engine.list_parts(results)
    with open_catalog(dbs["ray"]) as catalog:
        summary = probe_corpus(catalog, CORPUS, engine="ray", jobs=2, batch_size=5)
    # the 9 left rows hold the missing file, which is looked at again (missing is never
    # fresh); the 8 probed ones are skipped; the other 14 are probed
    assert summary.skipped == 8 and summary.probed == 23 - 9
    assert ray_engine.list_parts(results) == []
    with open_catalog(dbs["pool"]) as catalog:
        probe_corpus(catalog, CORPUS, jobs=1)
    assert _rows(dbs["ray"]) == _rows(dbs["pool"])


def _hash_of(root: Path, utt_id: str, algorithm: str) -> str:
    x, rate = sf.read(root / "ASVspoof2019_LA_train" / "flac" / f"{utt_id}.flac",
                      dtype="float32", always_2d=True)
    return content_hash(x, rate, algorithm)


def test_ray_hashes_with_the_catalogs_algorithm(local_ray, corpus):
    """Both catalogs migrated from version 3 (blake2b-128): the driver reads the
    algorithm once and the workers hash with it, as the pool does."""
    root, dbs = corpus
    for db in dbs.values():
        with open_catalog(db) as catalog:
            catalog.execute("DELETE FROM schema_info WHERE key = 'content_hash'")
            catalog.execute("UPDATE schema_info SET value = '3' WHERE key = 'schema_version'")
    for engine, db in dbs.items():
        with open_catalog(db) as catalog:  # migrates to blake2b-128
            assert catalog.content_hash_algorithm() == "blake2b-128"
            probe_corpus(catalog, CORPUS, engine=engine, jobs=2, batch_size=4)
    assert _rows(dbs["ray"]) == _rows(dbs["pool"])
    with open_catalog(dbs["ray"], read_only=True) as catalog:
        stored = catalog.execute("SELECT content_hash FROM utterances WHERE utt_id = ?",
                                 [f"{CORPUS}:LA_T_1000000"]).fetchone()[0]
    assert stored == _hash_of(root, "LA_T_1000000", "blake2b-128")
    assert stored != _hash_of(root, "LA_T_1000000", "xxh3-128")


def test_cli_probe_on_ray_and_option_errors(local_ray, corpus, run_cli):
    root, dbs = corpus
    code, out, err = run_cli("probe", "--db", dbs["ray"], "--engine", "ray", "-j", "2",
                             "--batch-size", "6", "--results", str(root.parent / "parts"))
    assert code == 0, err
    assert "probed 22, unchanged 0" in out and "ok 20" in out
    assert not (root.parent / "parts").exists()  # merged, then removed
    code, out, err = run_cli("probe", "--db", dbs["ray"], "--engine", "ray")
    assert code == 0 and "probed 0, unchanged 22" in out
    fresh = root.parent / "prepared-on-ray.duckdb"  # prepare probes on Ray too
    code, out, err = run_cli("prepare", CORPUS, root, "--db", fresh, "--engine", "ray")
    assert code == 0, err
    assert "probed 22, unchanged 0" in out
    assert _rows(fresh) == _rows(dbs["ray"])
    with open_catalog(fresh, read_only=True) as catalog:  # a new catalog: xxh3-128
        stored = catalog.execute("SELECT content_hash FROM utterances WHERE utt_id = ?",
                                 [f"{CORPUS}:LA_T_1000000"]).fetchone()[0]
    assert stored == _hash_of(root, "LA_T_1000000", "xxh3-128")
    code, _, err = run_cli("probe", "--db", dbs["pool"], "--engine", "spark")
    assert code == 2 and "--engine is 'spark'; use pool" in err
    code, _, err = run_cli("probe", "--db", dbs["pool"], "--address", "auto")
    assert code == 2 and "--address only applies to --engine ray" in err


def test_an_address_nothing_listens_on_is_one_sentence_at_once():
    """No Ray session here: the check runs before ray.init (which retries for minutes)."""
    import socket

    with socket.socket() as probe:  # a loopback port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(CurateError, match=f"cannot reach the Ray cluster at {address} "
                                              f".*ray start --head"):
            ray_engine.check_reachable(address)
    assert time.monotonic() - start < 30
    ray_engine.check_reachable("auto")  # not a HOST:PORT: left to ray.init


def test_a_root_a_worker_cannot_see_is_one_sentence(local_ray, corpus, tmp_path):
    """Workers that do not see the corpus stop the run instead of marking files missing."""
    _root, dbs = corpus
    with open_catalog(dbs["ray"]) as catalog:
        catalog.execute("UPDATE corpora SET root = ?", [str(tmp_path / "not-mounted")])
        with pytest.raises(CurateError, match="is not a folder on Ray worker .*mount the "
                                              "corpus at the same path on every node"):
            probe_corpus(catalog, CORPUS, engine="ray", jobs=2)
        statuses = catalog.execute("SELECT DISTINCT status FROM utterances").fetchall()
    assert statuses == [("pending",)] or sorted(statuses) == [("missing",), ("pending",)]


def test_generic_engine_maps_slices_and_gathers_parts(local_ray, tmp_path):
    def _double(table: pa.Table, *, results: str) -> pa.Table:  # local: pickled by value
        values = table.column("x").to_pylist()
        if values[0] < 0:
            raise CurateError("a negative task, one sentence")
        name = ray_engine.write_part(pa.table({"y": [2 * v for v in values]}), results,
                                     f"part-{values[0]:04d}.parquet")
        return pa.table({"n": [len(values)], "part": [name]})

    results = str(tmp_path / "out")
    tasks = pa.table({"x": list(range(10))})
    work = functools.partial(_double, results=results)
    with ray_engine.ray_session():  # joins the running instance, leaves it running
        counts = [t for t in ray_engine.map_tasks(tasks, work, rows_per_task=3)]
    assert ray.is_initialized()
    assert sorted(c for t in counts for c in t.column("n").to_pylist()) == [1, 3, 3, 3]
    names = ray_engine.list_parts(results)
    assert names == ["part-0000.parquet", "part-0003.parquet", "part-0006.parquet",
                     "part-0009.parquet"]
    table = ray_engine.read_parts(results, pa.schema([("y", pa.int64())]))
    assert sorted(table.column("y").to_pylist()) == [2 * v for v in range(10)]
    with pytest.raises(CurateError, match="cannot see; put the results on storage"):
        ray_engine.read_parts(results, pa.schema([("y", pa.int64())]), ["part-9999.parquet"])
    ray_engine.remove_parts(results, names)
    assert not Path(results).exists()
    with pytest.raises(ValueError, match="rows_per_task must be >= 1"):
        list(ray_engine.map_tasks(tasks, work, rows_per_task=0))
    with pytest.raises(CurateError, match="^a negative task, one sentence$"):
        list(ray_engine.map_tasks(pa.table({"x": [-1, 2]}), work, rows_per_task=1))

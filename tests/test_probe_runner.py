"""The probe runner: parallel, incremental, resumable after a kill, nothing dropped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import make_asvspoof2019
from curate.audio.probe import content_hash
from curate.audio.runner import probe_corpus
from curate.catalog.db import open_catalog
from curate.errors import CurateError

FACTS = "utt_id, status, duration_s, content_hash, peak_dbfs, loudness_lufs, silence_ratio"


def _lines(n: int, subset: str = "train") -> list[str]:
    code = {"train": "T", "dev": "D", "eval": "E"}[subset]
    return [f"LA_{i % 7:04d} LA_{code}_{1000000 + i} - {'-' if i % 3 else 'A01'} "
            f"{'bonafide' if i % 3 else 'spoof'}" for i in range(n)]


def _prepare(tmp_path: Path, n: int, seconds: float = 0.3, **kw):
    root = make_asvspoof2019(tmp_path / "LA", {"train": _lines(n)}, seconds=seconds, **kw)
    db = tmp_path / "c.duckdb"
    return root, db


def _facts(db: Path):
    with open_catalog(db, read_only=True) as catalog:
        return catalog.execute(f"SELECT {FACTS} FROM utterances ORDER BY utt_id").fetchall()


def test_parallel_probe_equals_serial_and_rerun_touches_only_changed(tmp_path, run_cli):
    root, db = _prepare(tmp_path, 30)
    assert run_cli("prepare", "asvspoof2019_la", root, "--db", db, "--no-probe")[0] == 0
    with open_catalog(db) as catalog:
        summary = probe_corpus(catalog, "asvspoof2019_la", jobs=2, batch_size=4)
    assert summary.probed == 30 and summary.statuses == {"ok": 30}
    parallel = _facts(db)
    db2 = tmp_path / "serial.duckdb"
    assert run_cli("prepare", "asvspoof2019_la", root, "--db", db2, "--jobs", "1")[0] == 0
    assert _facts(db2) == parallel

    changed = root / "ASVspoof2019_LA_train" / "flac" / "LA_T_1000004.flac"
    sf.write(changed, np.zeros(800, dtype=np.float32), 16000)
    os.utime(changed, (time.time() + 5, time.time() + 5))
    (root / "ASVspoof2019_LA_train" / "flac" / "LA_T_1000005.flac").unlink()
    code, out, _ = run_cli("probe", "--db", db)
    assert code == 0
    assert "probed 1, unchanged 28" in out
    by_id = {row[0]: row for row in _facts(db)}
    assert by_id["asvspoof2019_la:LA_T_1000004"][1] == "too_short"
    assert by_id["asvspoof2019_la:LA_T_1000005"][1] == "missing"
    code, out, err = run_cli("probe", "--db", db, "--strict")
    assert code == 1 and "--strict: 2 file(s) are not ok" in err


def test_header_level_then_full_level(tmp_path, run_cli):
    root, db = _prepare(tmp_path, 6)
    assert run_cli("prepare", "asvspoof2019_la", root, "--db", db, "--level", "header")[0] == 0
    rows = _facts(db)
    assert all(r[1] == "ok" and r[2] is not None and r[3] is None for r in rows)
    code, out, _ = run_cli("probe", "--db", db, "--level", "header")
    assert "probed 0" in out
    code, out, _ = run_cli("probe", "--db", db)
    assert "probed 6" in out
    assert all(r[3] is not None for r in _facts(db))


def test_killed_probe_resumes_and_loses_no_row(tmp_path, run_cli):
    n = 1200
    root, db = _prepare(tmp_path, n, seconds=1.0, skip={"LA_T_1000010"},
                        corrupt={"LA_T_1000011"})
    assert run_cli("prepare", "asvspoof2019_la", root, "--db", db, "--no-probe")[0] == 0
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CURATE_PROGRESS_INTERVAL": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "curate.cli", "probe", "--db", str(db), "--batch-size", "25"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        for line in proc.stderr:
            done = int(line.rsplit(":", 1)[1].split("/")[0])
            if done >= 50:  # at least one batch of real probes has been committed
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    with open_catalog(db, read_only=True) as catalog:
        counts = dict(catalog.execute(
            "SELECT status = 'pending', count(*) FROM utterances GROUP BY ALL").fetchall())
        total = catalog.execute("SELECT count(*) FROM utterances").fetchone()[0]
    assert total == n
    assert 25 <= counts.get(False, 0) < n, counts  # some committed, some still to do
    code, out, _ = run_cli("probe", "--db", db)
    assert code == 0
    probed = int(out.split("probed ")[1].split(",")[0])
    assert probed == counts.get(True, 0)  # only the rest
    resumed = _facts(db)
    assert len(resumed) == n and not any(r[1] == "pending" for r in resumed)
    statuses = [r[1] for r in resumed]
    assert statuses.count("missing") == 1 and statuses.count("unreadable") == 1

    fresh_db = tmp_path / "fresh.duckdb"
    assert run_cli("prepare", "asvspoof2019_la", root, "--db", fresh_db, "-j", "2")[0] == 0
    assert _facts(fresh_db) == resumed


def _as_version_3(db: Path) -> None:
    """Make a catalog look like one written at schema version 3 (before content_hash)."""
    with open_catalog(db) as catalog:
        catalog.execute("DELETE FROM schema_info WHERE key = 'content_hash'")
        catalog.execute("UPDATE schema_info SET value = '3' WHERE key = 'schema_version'")


def _file_hashes(root: Path, db: Path, algorithm: str) -> dict[str, str]:
    """utt_id -> content_hash of the file's decoded samples, computed here."""
    with open_catalog(db, read_only=True) as catalog:
        paths = catalog.execute("SELECT utt_id, path FROM utterances").fetchall()
    hashes = {}
    for utt_id, path in paths:
        x, rate = sf.read(root / path, dtype="float32", always_2d=True)
        hashes[utt_id] = content_hash(x, rate, algorithm)
    return hashes


def _stored_hashes(db: Path) -> dict[str, str]:
    with open_catalog(db, read_only=True) as catalog:
        return dict(catalog.execute("SELECT utt_id, content_hash FROM utterances").fetchall())


def test_each_catalog_probes_with_its_own_hash_algorithm(tmp_path, run_cli):
    """A new catalog hashes with xxh3-128; one migrated from version 3 keeps blake2b-128,
    also for a file re-probed after it changed, so its hashes never mix."""
    root, new = _prepare(tmp_path, 9)
    old = tmp_path / "v3.duckdb"
    assert run_cli("prepare", "asvspoof2019_la", root, "--db", new, "--jobs", "2")[0] == 0
    assert run_cli("prepare", "asvspoof2019_la", root, "--db", old, "--no-probe")[0] == 0
    _as_version_3(old)
    code, out, err = run_cli("probe", "--db", old, "--jobs", "2")  # migrates, then probes
    assert code == 0 and "probed 9" in out, err
    with open_catalog(old, read_only=True) as catalog:
        assert catalog.content_hash_algorithm() == "blake2b-128"
    with open_catalog(new, read_only=True) as catalog:
        assert catalog.content_hash_algorithm() == "xxh3-128"
    assert _stored_hashes(new) == _file_hashes(root, new, "xxh3-128")
    assert _stored_hashes(old) == _file_hashes(root, old, "blake2b-128")
    assert not set(_stored_hashes(new).values()) & set(_stored_hashes(old).values())

    changed = root / "ASVspoof2019_LA_train" / "flac" / "LA_T_1000002.flac"
    sf.write(changed, np.full(3200, 0.25, dtype=np.float32), 16000)
    os.utime(changed, (time.time() + 5, time.time() + 5))
    with open_catalog(old) as catalog:
        assert probe_corpus(catalog, "asvspoof2019_la").probed == 1
    stored = _stored_hashes(old)
    assert stored == _file_hashes(root, old, "blake2b-128")
    x, rate = sf.read(changed, dtype="float32", always_2d=True)
    assert stored["asvspoof2019_la:LA_T_1000002"] == content_hash(x, rate, "blake2b-128")


def test_a_catalog_with_an_unknown_hash_algorithm_is_refused(tmp_path, run_cli):
    root, db = _prepare(tmp_path, 3)
    assert run_cli("prepare", "asvspoof2019_la", root, "--db", db, "--no-probe")[0] == 0
    with open_catalog(db) as catalog:
        catalog.execute("UPDATE schema_info SET value = 'sha3-256' WHERE key = 'content_hash'")
        with pytest.raises(CurateError, match="records content_hash algorithm 'sha3-256' in "
                                              "schema_info, which this curate does not know "
                                              r"\(it knows xxh3-128, blake2b-128\)"):
            probe_corpus(catalog, "asvspoof2019_la")
    code, _, err = run_cli("probe", "--db", db)
    assert code == CurateError.exit_code and "does not know" in err and "Traceback" not in err
    assert set(_stored_hashes(db).values()) == {None}  # nothing probed

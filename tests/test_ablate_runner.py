"""Running ablations: skip finished runs, resume after a kill, parallel jobs, dry run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from curate.catalog.db import open_catalog
from curate.errors import CurateError
from test_run import tone_catalog  # noqa: F401 - the fixture

ABLATION = """
name = "tones_ab"
seeds = [0]
[base]
name = "t"
device = "cpu"
[base.data]
selection = "sel"
train = "train"
test = ["test"]
[base.batching]
crop_seconds = 0.5
batch_size = 8
[base.train]
steps = {steps}
log_every = 5
[base.checkpoint]
every = 5
[sharpness]
m = 8
batches = 2
[[factor]]
name = "sam"
levels = [
  {{ label = "off", set = {{ "sam.enabled" = false }} }},
  {{ label = "on", set = {{ "sam.enabled" = true, "sam.rho" = 0.05 }} }},
]
"""


@pytest.fixture
def ablation_file(tone_catalog, tmp_path):  # noqa: F811
    tone_catalog.close()
    path = tmp_path / "ab.toml"
    path.write_text(ABLATION.format(steps=15))
    return path, tmp_path / "c.duckdb"


def _statuses(db):
    """Like :func:`_finished`, or [] in the moment a run writes the catalog."""
    try:
        with open_catalog(db, read_only=True, wait_s=0) as catalog:
            return catalog.execute("SELECT ar.cell, coalesce(r.status, 'new'), ar.run_id "
                                   "FROM ablation_runs ar LEFT JOIN runs r USING (run_id) "
                                   "ORDER BY 1").fetchall()
    except CurateError:
        return []


def _finished(db):
    with open_catalog(db, read_only=True) as catalog:
        return catalog.execute(
            "SELECT ar.cell, coalesce(r.status, 'new'), ar.run_id FROM ablation_runs ar "
            "LEFT JOIN runs r USING (run_id) ORDER BY 1").fetchall()


def test_dry_run_run_skip_and_report(ablation_file, run_cli):
    path, db = ablation_file
    code, out, err = run_cli("ablate", path, "--db", db, "--dry-run")
    assert code == 0, err
    assert "2 runs" in out and "new" in out and "train" in out
    code, out, err = run_cli("ablate", path, "--db", db)
    assert code == 0, err
    rows = _finished(db)
    assert [(c, s) for c, s, _ in rows] == [("sam=off", "finished"), ("sam=on", "finished")]
    with open_catalog(db, read_only=True) as catalog:
        sharp = catalog.execute("SELECT count(*) FROM results WHERE metric = 'sharpness' "
                                "AND eval_group = 'all'").fetchone()[0]
    assert sharp == 2
    code, out, _ = run_cli("ablate", path, "--db", db)
    assert code == 0 and "2 finished earlier, 0 finished now" in out
    assert _finished(db) == rows  # no duplicated grid rows
    report = path.parent / "report" / "report.md"
    report.unlink()
    code, out, _ = run_cli("ablate", path, "--db", db, "--report-only")
    assert code == 0 and "## Effect of each factor" in report.read_text()


def test_parallel_jobs_give_the_same_results(ablation_file, run_cli, tmp_path):
    path, db = ablation_file
    serial_db = tmp_path / "serial.duckdb"
    import shutil

    shutil.copy(db, serial_db)
    assert run_cli("ablate", path, "--db", db, "--jobs", "2", "--out", tmp_path / "p")[0] == 0
    assert run_cli("ablate", path, "--db", serial_db, "--out", tmp_path / "s")[0] == 0
    query = ("SELECT run_id, eval_set, eval_group, metric, round(value, 9) FROM results "
             "ORDER BY ALL")
    with open_catalog(db, read_only=True) as a, open_catalog(serial_db, read_only=True) as b:
        parallel, serial = a.execute(query).fetchall(), b.execute(query).fetchall()
        assert a.execute("SELECT count(*) FROM scores").fetchone()[0] == \
            b.execute("SELECT count(*) FROM scores").fetchone()[0] > 0
    assert parallel == serial and len(parallel) > 10


def test_killed_ablation_continues_where_it_stopped(ablation_file):
    path, db = ablation_file
    path.write_text(ABLATION.format(steps=600))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "curate.cli", "ablate", str(path), "--db",
                             str(db)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    try:
        for line in proc.stdout:
            if "[2/2]" in line:  # the first run finished, the second started
                break
        # the ablation does not hold the catalog while it trains: watch the second run
        # until it has a checkpoint, then kill it mid-run
        deadline = time.monotonic() + 300
        while not any(status == "running" and
                      (path.parent / "runs" / run_id / "checkpoints" / "last.pt").is_file()
                      for _, status, run_id in _statuses(db)):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    rows = _finished(db)
    assert [s for _, s, _ in rows] == ["finished", "running"]
    first = rows[0][2]
    again = subprocess.run([sys.executable, "-m", "curate.cli", "ablate", str(path), "--db",
                            str(db)], capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr
    assert "1 finished earlier, 1 finished now" in again.stdout
    rows = _finished(db)
    assert [s for _, s, _ in rows] == ["finished", "finished"] and rows[0][2] == first

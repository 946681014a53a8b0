"""A training run does not lock the catalog, keeps its data, and is not lost by a re-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import make_tone_selection, tiny_experiment, write_tone
from curate.catalog.db import open_catalog
from curate.errors import CurateError
from curate.train import snapshot



@pytest.fixture
def tone_db(tmp_path):
    make_tone_selection(tmp_path)
    return tmp_path / "c.duckdb"


def _experiment(tmp_path: Path, steps: int, test: str = '["test"]') -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_experiment(steps, test=test, log_every=1000))
    return path


def _run_status(db: Path) -> str | None:
    try:
        with open_catalog(db, read_only=True, wait_s=0) as catalog:
            row = catalog.execute("SELECT status FROM runs").fetchone()
    except CurateError:
        return None  # busy this instant
    return row[0] if row else None


@pytest.mark.slow
def test_other_commands_work_while_a_run_trains(tone_db, tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv("CURATE_DB_WAIT", "60")
    exp = _experiment(tmp_path, steps=1_000_000)
    # a second corpus to prepare while the run trains
    other = tmp_path / "other"
    for k in range(4):
        write_tone(other / f"o{k}.wav", seconds=0.4, freq=300 + 50 * k)
    (other / "meta.csv").write_text("file,label\n" + "".join(
        f"o{k}.wav,{'bonafide' if k < 2 else 'spoof'}\n" for k in range(4)))
    (tmp_path / "other.toml").write_text(
        'name = "other"\nbase = "table"\n[options]\nfile = "meta.csv"\npath = "{file}"\n'
        '[options.map]\nlabel_raw = "label"\n[options.constants]\nlanguage = "eng"\n')
    spec = tmp_path / "sel2.toml"
    spec.write_text('name = "sel2"\nseed = 3\n[split]\nby = "utt"\n'
                    'fractions = { train = 0.5, test = 0.5 }\n')
    env = dict(os.environ, CURATE_DB_WAIT="60")
    proc = subprocess.Popen([sys.executable, "-m", "curate.cli", "train", str(exp), "--db",
                             str(tone_db), "--out", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 180
        while _run_status(tone_db) != "running":
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.2)
        commands = [
            ("stats", "--db", tone_db),
            ("selections", "--db", tone_db),
            ("select", spec, "--db", tone_db),
            ("prepare", tmp_path / "other.toml", other, "--db", tone_db),
            ("leakage", "sel", "--db", tone_db),
            ("export", "sel", "--format", "kaldi", "--out", tmp_path / "kaldi", "--db", tone_db),
        ]
        for args in commands:
            code, out, err = run_cli(*args)
            assert code in (0, 3), (args, out, err)  # leakage exits 3 when it finds some
            assert "in use" not in err
        assert proc.poll() is None, "the run ended before the other commands were done"
        with open_catalog(tone_db, read_only=True) as catalog:
            corpora = {r[0] for r in catalog.execute("SELECT name FROM corpora").fetchall()}
            selections = {r[0] for r in catalog.execute("SELECT name FROM selections")
                          .fetchall()}
        assert corpora == {"tones", "other"} and selections == {"sel", "sel2"}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_a_plain_rerun_of_an_unfinished_run_refuses(tone_db, tmp_path, run_cli):
    exp = _experiment(tmp_path, steps=6)
    out = tmp_path / "out"
    code, stdout, err = run_cli("train", exp, "--db", tone_db, "--out", out, "--stop-at", "3")
    assert code == 0, err
    code, stdout, err = run_cli("train", exp, "--db", tone_db, "--out", out)
    text = " ".join(err.split())
    assert code == 2 and "Traceback" not in err
    assert "stopped at step 3; add --resume to continue or --force to start again" in text
    with open_catalog(tone_db, read_only=True) as catalog:
        assert catalog.execute("SELECT status FROM runs").fetchall() == [("stopped",)]
    code, stdout, err = run_cli("train", exp, "--db", tone_db, "--out", out, "--force")
    assert code == 0, err
    with open_catalog(tone_db, read_only=True) as catalog:
        assert catalog.execute("SELECT status FROM runs").fetchall() == [("finished",)]


def test_an_eval_split_that_does_not_exist_is_an_error(tone_db, tmp_path, run_cli):
    exp = _experiment(tmp_path, steps=2, test='["test", "eval"]')
    code, stdout, err = run_cli("train", exp, "--db", tone_db, "--out", tmp_path / "out")
    text = " ".join(err.split())
    assert code == 2 and "Traceback" not in err
    assert "eval set 'eval': selection 'sel' has no split 'eval'" in text
    assert "its splits are (closest first) test, train" in text
    with open_catalog(tone_db, read_only=True) as catalog:  # nothing was started
        assert catalog.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_a_resumed_run_reads_its_snapshot_from_a_moved_root(tone_db, tmp_path, run_cli):
    exp = _experiment(tmp_path, steps=6)
    out = tmp_path / "out"
    assert run_cli("train", exp, "--db", tone_db, "--out", out, "--stop-at", "3")[0] == 0
    (run_dir,) = (out / "runs").iterdir()
    data = run_dir / "data"
    assert snapshot.set_names(data) == ["train", "eval:test"]
    train_rows = snapshot.read_set(data, "train")
    with open_catalog(tone_db, read_only=True) as catalog:
        n_train = catalog.execute("SELECT count(*) FROM selection_items WHERE selection = 'sel' "
                                  "AND split = 'train'").fetchone()[0]
    assert len(train_rows) == n_train
    assert train_rows["abspath"].str.startswith(str(tmp_path / "tones")).all()

    # the corpus moves, and the catalog changes under the stopped run
    moved = tmp_path / "moved"
    (tmp_path / "tones").rename(moved)
    assert run_cli("relocate", "tones", moved, "--db", tone_db)[0] == 0
    with open_catalog(tone_db) as catalog:
        catalog.execute("DELETE FROM selection_items WHERE split = 'train' AND utt_id IN "
                        "(SELECT utt_id FROM selection_items WHERE split = 'train' LIMIT 3)")
    code, stdout, err = run_cli("train", exp, "--db", tone_db, "--out", out, "--resume")
    assert code == 0, err
    after = snapshot.read_set(data, "train")
    pd.testing.assert_series_equal(after["utt_id"], train_rows["utt_id"])  # the start's data
    assert after["abspath"].str.startswith(str(moved)).all()


def test_ranks_receive_a_path_to_the_snapshot_not_the_rows(tone_db, tmp_path):
    """What rank 0 broadcasts to the other ranks is small plain data: they read the run's
    snapshot (Parquet) from disk themselves."""
    import pickle

    from curate.catalog.db import CatalogRef
    from curate.train.experiment import load_experiment
    from curate.train.run import _prepare

    spec = load_experiment(_experiment(tmp_path, steps=2)).run_spec()
    plan = _prepare(CatalogRef(tone_db), spec, tmp_path / "out", force=False, resume=False,
                    skip_unavailable=False)
    assert not any(isinstance(v, pd.DataFrame) for v in plan.values())
    assert len(pickle.dumps(plan)) < 2000
    assert snapshot.has_snapshot(plan["data"])
    assert len(snapshot.read_set(plan["data"], "train")) > 0

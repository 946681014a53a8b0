"""`curate demo --quick` end to end (run by `make test`), and its reproducibility.

The quick demo runs twice: through the command line with 2 probe jobs and 2 torch
threads, and through the library with 1 job and 1 thread. Both must give the same
scores, and the results table must equal the committed expected file
(``tests/data/demo_quick_results.csv``) on the pinned dependency versions: a change of
results then shows up in review as a changed file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from curate.catalog.db import open_catalog
from curate.demo.evaluation import UNSEEN_SET
from curate.demo.run import run_demo
from curate.threads import torch_threads
from curate.train.overlap import METRICS as OVERLAP_METRICS
from curate.train.overlap import restriction

EXPECTED = Path(__file__).parent / "data" / "demo_quick_results.csv"


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    """Two quick demos: (cli output folder, its stdout), library output folder."""
    root = tmp_path_factory.mktemp("demo")
    env = dict(os.environ, OMP_NUM_THREADS="2")
    done = subprocess.run([sys.executable, "-c",
                           "import sys, torch; torch.set_num_threads(2); "
                           "from curate.cli import main; sys.argv = sys.argv[1:]; main()",
                           "curate", "demo", "--out", str(root / "cli"), "--quick", "--jobs",
                           "2"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    with torch_threads(1):
        outcome = run_demo(root / "lib", quick=True, jobs=1, say=lambda _m: None)
    return root / "cli", done.stdout, outcome


def _scores(db: Path) -> pd.DataFrame:
    with open_catalog(db, read_only=True) as catalog:
        return catalog.df("SELECT ar.cell, s.eval_set, s.utt_id, s.score FROM scores s "
                          "JOIN ablation_runs ar USING (run_id) ORDER BY ALL")


@pytest.mark.slow
def test_the_quick_demo_does_not_depend_on_jobs_or_threads(demo_runs):
    cli_out, _, outcome = demo_runs
    a, b = _scores(cli_out / "catalog.duckdb"), _scores(outcome.db)
    assert len(a) > 100
    pd.testing.assert_frame_equal(a, b)  # bit for bit: 2 jobs / 2 threads = 1 job / 1 thread


@pytest.mark.slow
def test_the_quick_demo_reproduces_the_committed_results(demo_runs):
    _, _, outcome = demo_runs
    got = outcome.results.to_csv(index=False, float_format="%.6g")
    assert got == EXPECTED.read_text(), (
        "the quick demo's results changed; if that is intended, rewrite "
        f"{EXPECTED} with the new table and say why in the commit:\n{got}")


@pytest.mark.slow
def test_quick_demo_end_to_end(demo_runs, run_cli):
    out, stdout, _ = demo_runs
    assert "demo_ablation: test split" in stdout and "eer_unseen_%" in stdout
    db = out / "catalog.duckdb"
    with open_catalog(db, read_only=True) as catalog:
        corpora = dict(catalog.execute("SELECT name, recipe FROM corpora").fetchall())
        assert corpora["demo_la"] == "asvspoof2019_la"
        assert corpora["demo_multi"].endswith("demo_multi.toml")
        languages = catalog.execute(
            "SELECT count(DISTINCT language) FROM utterances WHERE label = 'bonafide'"
        ).fetchone()[0]
        assert languages >= 8
        statuses = dict(catalog.execute(
            "SELECT status, count(*) FROM utterances GROUP BY ALL").fetchall())
        assert set(statuses) == {"ok"}
        generators = {r[0] for r in catalog.execute(
            "SELECT DISTINCT generator FROM utterances WHERE label = 'spoof'").fetchall()}
        assert len(generators) == 8  # four chains, in both layouts
        splits = {r[0] for r in catalog.execute(
            "SELECT DISTINCT i.split FROM selection_items i JOIN utterances u USING (utt_id) "
            "WHERE u.generator IN ('demo_la:A02', 'demo_multi:lpc')").fetchall()}
        assert splits == {"test"}  # the unseen generator is in test only
        cells = catalog.execute(
            "SELECT ar.cell, r.status FROM ablation_runs ar JOIN runs r USING (run_id) "
            "WHERE ar.ablation = 'demo_ablation' ORDER BY 1").fetchall()
        assert [c for c, _ in cells] == ["rawboost=algo5,sam=off", "rawboost=algo5,sam=rho0.05",
                                         "rawboost=off,sam=off", "rawboost=off,sam=rho0.05"]
        assert {s for _, s in cells} == {"finished"}
        metrics = {r[0] for r in catalog.execute(
            "SELECT DISTINCT metric FROM results JOIN ablation_runs USING (run_id) "
            "WHERE eval_set = 'test' AND eval_group = 'all'").fetchall()}
        assert {"eer", "min_dcf", "sharpness"} <= metrics
        augmented = catalog.execute(
            "SELECT json_extract_string(r.config, '$.train.augment') FROM runs r "
            "JOIN ablation_runs ar USING (run_id) WHERE ar.cell LIKE 'rawboost=algo5%'"
        ).fetchall()
        assert all(a and a.endswith("rawboost5.toml") for (a,) in augmented)
    report = (out / "report" / "report.md").read_text()
    for section in ("## Effect of each factor", "## EER (%) per generator", "## Sharpness",
                    "## DET curves"):
        assert section in report
    assert "data:image/png;base64," in (out / "report" / "report.html").read_text()

    # re-running the ablation it wrote skips every finished run
    code, stdout, _ = run_cli("ablate", out / "ablation.toml", "--db", db)
    assert code == 0 and "4 finished earlier, 0 finished now" in stdout


def _cell(value: float) -> str:
    """A float as the report's tables print it (rounded to 4 decimals, 4 digits)."""
    return "{:.4g}".format(round(value, 4))


@pytest.mark.slow
def test_quick_demo_report_has_intervals_calibration_and_overlap(demo_runs):
    _, _, outcome = demo_runs
    report = (outcome.out / "report" / "report.md").read_text()
    for section in ("## Bootstrap 95 % intervals", "## Calibration", "## Training overlap",
                    "## The unseen vocoder"):
        assert section in report
    with open_catalog(outcome.db, read_only=True) as catalog:
        long = catalog.df("SELECT ar.run_id, ar.cell, ar.repeat, res.eval_set, res.metric, "
                          "res.value FROM ablation_runs ar JOIN results res USING (run_id) "
                          "WHERE ar.ablation = 'demo_ablation' AND res.eval_group = 'all'")
        test_scores = catalog.df("SELECT s.run_id, s.utt_id, s.score, u.label, u.generator "
                                 "FROM scores s JOIN utterances u USING (utt_id) "
                                 "WHERE s.eval_set = 'test'")
        unseen_scores = catalog.df("SELECT run_id, utt_id, score FROM scores "
                                   "WHERE eval_set = ?", [UNSEEN_SET])
    wide = long.pivot_table(index=["run_id", "cell", "repeat", "eval_set"], columns="metric",
                            values="value").reset_index()
    assert len(wide[wide["eval_set"] == UNSEEN_SET]) == 4  # every run has the unseen set
    for row in wide.itertuples(index=False):
        r = row._asdict()
        head = f"| {r['cell']} | {r['repeat']} | {r['eval_set']} |"
        if r["eval_set"] in ("test", UNSEEN_SET):  # (a) intervals around the EER
            assert r["eer_ci_low"] <= r["eer"] <= r["eer_ci_high"]
            assert (f"{head} {100 * r['eer']:.2f} [{100 * r['eer_ci_low']:.2f}, "
                    f"{100 * r['eer_ci_high']:.2f}] | {r['min_dcf']:.4f} "
                    f"[{r['min_dcf_ci_low']:.4f}, {r['min_dcf_ci_high']:.4f}] |") in report
        if r["eval_set"].startswith("bench."):  # the leaderboard's sets: overlap only
            assert f"{head} {_cell(round(100 * r['eer'], 2))} |" in report
            continue
        # (b) calibration fitted on dev, applied to test and test_unseen
        assert (f"{head} {_cell(r['act_dcf'])} | {_cell(r['cal_act_dcf'])} | "
                f"{_cell(r['cllr'])} | {_cell(r['cal_cllr'])} | {_cell(r['min_cllr'])} |"
                ) in report
        # (c) the overlap restriction next to the EER
        label = restriction({m: r[m] for m in OVERLAP_METRICS})
        assert f"{head} {_cell(round(100 * r['eer'], 2))} | {label} |" in report
    scales = wide.groupby("run_id")["cal_scale"].nunique()
    assert (scales == 1).all()  # one calibration per run, applied to every set
    # the unseen set is the test scores of the bonafide and the LPC vocoder, no other
    keep = (test_scores["label"] == "bonafide") | test_scores["generator"].isin(
        ["demo_la:A02", "demo_multi:lpc"])
    expected = test_scores[keep][["run_id", "utt_id", "score"]]
    pd.testing.assert_frame_equal(
        unseen_scores.sort_values(["run_id", "utt_id"]).reset_index(drop=True),
        expected.sort_values(["run_id", "utt_id"]).reset_index(drop=True))


@pytest.mark.slow
def test_quick_demo_report_has_the_leaderboard(demo_runs):
    _, _, outcome = demo_runs
    report = (outcome.out / "report" / "report.md").read_text()
    board = json.loads((outcome.out / "benchmark" / "leaderboard.json").read_text())
    assert "## Leaderboard: " in report and "### Per set" in report
    assert [s["name"] for s in board["sets"]] == ["test", "la_eval", "multi_all"]
    assert all(s["status"] == "ready" for s in board["sets"])
    with open_catalog(outcome.db, read_only=True) as catalog:
        eer = dict(catalog.execute(
            "SELECT run_id, value FROM results WHERE eval_set = 'test' "
            "AND eval_group = 'all' AND metric = 'eer'").fetchall())
    assert len(board["runs"]) == len(eer) == 4
    for result in board["results"]:
        if result["set"] == "test":  # the runs' own test scores, reused, same EER
            assert result["provenance"]["scores"] == "reused"
            assert result["eer"] == pytest.approx(eer[result["run_id"]], abs=1e-12)
        # every row of the per-set table is in the report, with its overlap restriction
        assert (f"| {result['set']} | {result['run_id']} | {100 * result['eer']:.2f} |"
                in report)
    multi = [r for r in board["results"] if r["set"] == "multi_all"]
    assert all("speakers" in r["restriction"] for r in multi)  # it was trained on

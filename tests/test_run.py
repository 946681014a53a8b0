"""A run against the catalog: selection in, runs/scores/results out, report from SQL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import make_tone_catalog
from curate.ablate.report import markdown_table, results_table, write_run_report
from curate.select.freeze import freeze
from curate.select.spec import parse_selection
from curate.train.evaluate import group_results
from curate.train.loop import TrainConfig
from curate.train.run import RunSpec, run_experiment


def test_group_results_per_generator_language_corpus():
    scored = pd.DataFrame({
        "score": [3.0, 2.0, 1.0, -1.0, 0.5, 2.5],
        "label": ["bonafide", "bonafide", "bonafide", "spoof", "spoof", "spoof"],
        "generator": [None, None, None, "c:g1", "c:g1", "c:g2"],
        "language": ["eng", "deu", "eng", "eng", "deu", "eng"],
        "corpus": ["c"] * 6,
    })
    frame = group_results(scored).pivot(index="eval_group", columns="metric", values="value")
    assert frame.loc["generator=c:g1", "eer"] == 0.0  # g1 spoofs all below every bonafide
    assert frame.loc["generator=c:g1", "n_bonafide"] == 3
    assert frame.loc["generator=c:g2", "n_spoof"] == 1
    assert 0.0 < frame.loc["all", "eer"] < 0.5
    assert set(frame.index) == {"all", "generator=c:g1", "generator=c:g2", "language=eng",
                                "language=deu", "corpus=c"}


@pytest.fixture
def tone_catalog(tmp_path):
    """Bonafide = low tones, spoof = high tones + noise; 12 speakers, two generators."""
    catalog = make_tone_catalog(tmp_path, speakers=12, per_speaker=6, seconds=1.0)
    freeze(catalog, parse_selection({
        "name": "sel", "seed": 1, "holdout": {"generators": ["tones:g1"], "policy": "test"},
        "split": {"by": "speaker", "fractions": {"train": 0.6, "test": 0.4}}}))
    yield catalog
    catalog.close()


def test_run_writes_runs_scores_results_and_skips_when_finished(tone_catalog, tmp_path):
    config = TrainConfig(steps=30, batch_size=8, crop_seconds=0.5, seed=0, device="cpu",
                         warmup_steps=2, log_every=10)
    spec = RunSpec(name="t", selection="sel", eval_splits=("test",), config=config)
    outcome = run_experiment(tone_catalog, spec, tmp_path / "out")
    assert not outcome.skipped and outcome.checkpoint.exists()
    status = tone_catalog.execute("SELECT status, code_version FROM runs WHERE run_id = ?",
                                  [outcome.run_id]).fetchone()
    assert status[0] == "finished" and status[1]
    n_test = tone_catalog.execute("SELECT count(*) FROM selection_items WHERE split = 'test'"
                                  ).fetchone()[0]
    n_scores = tone_catalog.execute("SELECT count(*) FROM scores WHERE run_id = ?",
                                    [outcome.run_id]).fetchone()[0]
    assert n_scores == n_test
    table = results_table(tone_catalog, outcome.run_id)
    overall = table[(table.eval_set == "test") & (table.eval_group == "all")].iloc[0]
    assert overall["eer_%"] < 20  # separable tones: the detector learns them
    assert "generator=tones:g1" in set(table.eval_group)  # the held-out generator is scored

    again = run_experiment(tone_catalog, spec, tmp_path / "out")
    assert again.skipped and again.run_id == outcome.run_id
    pd.testing.assert_frame_equal(again.results, outcome.results)

    report = write_run_report(tone_catalog, [outcome.run_id], tmp_path / "report",
                              selection="sel")
    text = report.read_text()
    assert "composition.png" in text and f"Run `{outcome.run_id}`" in text
    assert (tmp_path / "report" / "composition.png").stat().st_size > 1000
    assert (tmp_path / "report" / f"det_{outcome.run_id}_test.png").stat().st_size > 1000


def test_markdown_table_escapes_and_formats():
    text = markdown_table(pd.DataFrame({"a": ["x|y"], "b": [0.123456], "c": [np.nan]}))
    assert text.splitlines()[2] == "| x\\|y | 0.1235 |  |"

"""Bootstrap intervals of EER and minDCF (curate.train.bootstrap)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from curate.train.bootstrap import bootstrap_ci, bootstrap_samples, interval_results
from curate.train.metrics import compute_eer, min_dcf


def _gauss(n_bona: int, n_spoof: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.normal(1.5, 1.0, n_bona), rng.normal(0.0, 1.0, n_spoof)


def test_resample_metric_matches_direct_computation_with_ties():
    """Each vectorised resample equals compute_eer / min_dcf on the drawn arrays."""
    rng = np.random.default_rng(3)
    bona = np.round(rng.normal(1.0, 1.0, 60), 1)  # rounded: many tied scores
    spoof = np.round(rng.normal(0.0, 1.0, 80), 1)
    for metric, direct in (("eer", lambda b, s: compute_eer(b, s)[0]),
                           ("min_dcf", lambda b, s: min_dcf(b, s)[0])):
        values = bootstrap_samples(bona, spoof, metric, 20, seed=7)
        # Replay the same draws: per resample, group (= trial) indices of each class.
        replay = np.random.default_rng(7)
        expected = []
        draws_b = replay.integers(0, bona.size, size=(20, bona.size))
        draws_s = replay.integers(0, spoof.size, size=(20, spoof.size))
        for r in range(20):  # without groups, group id = the trial's index
            rb = np.repeat(bona, np.bincount(draws_b[r], minlength=bona.size))
            rs = np.repeat(spoof, np.bincount(draws_s[r], minlength=spoof.size))
            expected.append(direct(rb, rs))
        np.testing.assert_allclose(values, expected, atol=1e-12)


def test_interval_contains_point_estimate_and_is_ordered():
    bona, spoof = _gauss(400, 600)
    eer = compute_eer(bona, spoof)[0]
    low, high = bootstrap_ci(bona, spoof, "eer", 500, seed=0)
    assert 0.0 <= low < eer < high <= 1.0
    dcf = min_dcf(bona, spoof)[0]
    low, high = bootstrap_ci(bona, spoof, "min_dcf", 500, seed=0)
    assert low < dcf < high


def test_interval_narrows_with_more_trials():
    small = bootstrap_ci(*_gauss(100, 100), "eer", 400, seed=0)
    large = bootstrap_ci(*_gauss(5000, 5000), "eer", 400, seed=0)
    assert (large[1] - large[0]) < 0.4 * (small[1] - small[0])


def test_deterministic_by_seed():
    bona, spoof = _gauss(300, 300)
    a = bootstrap_ci(bona, spoof, "eer", 200, seed=5)
    b = bootstrap_ci(bona, spoof, "eer", 200, seed=5)
    c = bootstrap_ci(bona, spoof, "eer", 200, seed=6)
    assert a == b
    assert a != c


def test_by_speaker_interval_is_wider_with_speaker_effects():
    """Scores shifted by a strong per-speaker offset: trials of a speaker are correlated,
    so resampling speakers gives a wider interval than resampling trials."""
    rng = np.random.default_rng(0)
    n_spk, per = 20, 50

    def make(mu):
        offsets = rng.normal(0.0, 1.5, n_spk)
        spk = np.repeat([f"s{i}" for i in range(n_spk)], per)
        return mu + np.repeat(offsets, per) + rng.normal(0.0, 0.3, n_spk * per), spk

    bona, b_spk = make(2.0)
    spoof, s_spk = make(0.0)
    trials = bootstrap_ci(bona, spoof, "eer", 400, seed=0)
    speakers = bootstrap_ci(bona, spoof, "eer", 400, seed=0, groups=(b_spk, s_spk))
    assert (speakers[1] - speakers[0]) > 2.0 * (trials[1] - trials[0])


def test_bad_arguments():
    bona, spoof = _gauss(10, 10)
    with pytest.raises(ValueError, match="metric"):
        bootstrap_ci(bona, spoof, "cllr")
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci(bona, spoof, "eer", 0)
    with pytest.raises(ValueError, match="groups"):
        bootstrap_ci(bona, spoof, "eer", 10, groups=(["a"] * 3, ["b"] * 10))


def test_interval_results_rows():
    bona, spoof = _gauss(200, 200)
    frame = pd.DataFrame({"score": np.r_[bona, spoof],
                          "label": ["bonafide"] * 200 + ["spoof"] * 200,
                          "speaker": [f"s{i % 10}" for i in range(400)]})
    rows = interval_results(frame, 100, by="speaker")
    assert set(rows["metric"]) == {"eer_ci_low", "eer_ci_high", "min_dcf_ci_low",
                                   "min_dcf_ci_high"}
    assert (rows["eval_group"] == "all").all()
    assert interval_results(frame[frame["label"] == "spoof"], 100).empty


def test_curate_eval_stores_bootstrap_intervals(tmp_path, run_cli):
    from conftest import make_tone_selection, tiny_experiment
    from curate.catalog.db import open_catalog

    make_tone_selection(tmp_path)
    db = tmp_path / "c.duckdb"
    exp = tmp_path / "tiny.toml"
    exp.write_text(tiny_experiment(2))
    assert run_cli("train", exp, "--db", db, "--out", tmp_path / "out")[0] == 0
    with open_catalog(db, read_only=True) as catalog:
        (run_id,), = catalog.execute("SELECT run_id FROM runs").fetchall()
    code, _, err = run_cli("eval", run_id, "--on", "sel", "--split", "all", "--db", db,
                           "--bootstrap", "50", "--by-speaker")
    assert code == 0, err
    with open_catalog(db, read_only=True) as catalog:
        values = dict(catalog.execute(
            "SELECT metric, value FROM results WHERE eval_set = 'sel' AND eval_group = 'all'"
        ).fetchall())
    assert values["eer_ci_low"] <= values["eer"] <= values["eer_ci_high"]
    assert values["min_dcf_ci_low"] <= values["min_dcf_ci_high"]

"""Bootstrap intervals computed from a run's stored scores (curate/ablate/intervals.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from curate.ablate.intervals import store_intervals
from curate.catalog.db import CatalogRef, open_catalog
from curate.errors import CurateError
from curate.train.bootstrap import bootstrap_ci


def _scored_run(db, rng):
    bona, spoof = rng.normal(1.0, 1.0, 30), rng.normal(0.0, 1.0, 50)
    with open_catalog(db) as catalog:
        utts = pd.DataFrame({"utt_id": [f"c:{i}" for i in range(80)], "corpus": "c",
                             "path": "x.wav", "label": ["bonafide"] * 30 + ["spoof"] * 50,
                             "status": "ok"})
        catalog.con.register("_u", utts)
        catalog.execute("INSERT INTO utterances BY NAME SELECT * FROM _u")
        catalog.execute("INSERT INTO runs VALUES ('r', 'x', '{}', 0, 'v', 'finished', now(), "
                        "now())")
        for utt, score in zip(utts["utt_id"], np.r_[bona, spoof]):
            catalog.execute("INSERT INTO scores VALUES ('r', 'test', ?, ?)", [utt, score])
    return bona, spoof


def test_store_intervals_matches_bootstrap_and_replaces(tmp_path):
    db = tmp_path / "c.duckdb"
    bona, spoof = _scored_run(db, np.random.default_rng(3))
    rows = store_intervals(CatalogRef(db), "r", "test", 300, seed=5)
    # the same resampling as interval_results over the stored trials (utt_id order):
    # one generator, EER then minDCF
    order = sorted(range(80), key=lambda i: f"c:{i}")
    scores = np.r_[bona, spoof][order]
    is_bona = np.array(order) < 30
    bona, spoof = scores[is_bona], scores[~is_bona]
    rng = np.random.default_rng(5)
    eer = bootstrap_ci(bona, spoof, "eer", 300, rng)
    dcf = bootstrap_ci(bona, spoof, "min_dcf", 300, rng)
    got = dict(zip(rows["metric"], rows["value"]))
    assert got["eer_ci_low"] == pytest.approx(eer[0]) and got["eer_ci_high"] == pytest.approx(
        eer[1])
    assert (got["min_dcf_ci_low"], got["min_dcf_ci_high"]) == pytest.approx(dcf)
    assert 0.0 <= eer[0] < eer[1] <= 1.0
    store_intervals(CatalogRef(db), "r", "test", 300, seed=5)  # again: replaced, not doubled
    with open_catalog(db, read_only=True) as catalog:
        stored = catalog.df("SELECT metric, value FROM results WHERE run_id = 'r' "
                            "ORDER BY metric")
    assert len(stored) == 4
    assert dict(zip(stored["metric"], stored["value"])) == pytest.approx(got)


def test_store_intervals_names_a_missing_eval_set(tmp_path):
    db = tmp_path / "c.duckdb"
    _scored_run(db, np.random.default_rng(0))
    with pytest.raises(CurateError, match="no scores on eval set 'dev'"):
        store_intervals(CatalogRef(db), "r", "dev", 10)

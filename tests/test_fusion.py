"""Fusion of runs (curate.train.fusion) and the calibrate / fuse commands on a catalog."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from curate.catalog.db import open_catalog
from curate.train.fusion import fit_fusion, join_scores
from curate.train.metrics import compute_eer


def _views(n: int, seed: int):
    """Two noisy views of the same signal: labels, view A, view B."""
    rng = np.random.default_rng(seed)
    is_bona = rng.random(n) < 0.5
    signal = np.where(is_bona, 1.0, -1.0)
    return is_bona, signal + rng.normal(0, 1.2, n), 3.0 * signal + rng.normal(0, 3.6, n) + 5


def test_fusion_of_two_noisy_views_beats_either():
    is_bona, a, b = _views(4000, 0)
    weights, offset = fit_fusion(np.c_[a, b], is_bona)
    assert (weights > 0).all()
    t_bona, t_a, t_b = _views(4000, 1)  # a fresh test set
    fused = np.c_[t_a, t_b] @ weights + offset
    eer = {k: compute_eer(v[t_bona], v[~t_bona])[0]
           for k, v in (("a", t_a), ("b", t_b), ("fused", fused))}
    assert eer["fused"] < 0.9 * min(eer["a"], eer["b"])


def test_join_scores_keeps_shared_trials_only():
    one = pd.DataFrame({"utt_id": ["x", "y", "z"], "score": [1.0, 2.0, 3.0],
                        "label": ["bonafide", "spoof", "spoof"]})
    two = pd.DataFrame({"utt_id": ["z", "x"], "score": [30.0, 10.0]})
    joined = join_scores([one, two])
    assert joined["utt_id"].tolist() == ["x", "z"]
    assert joined["score_1"].tolist() == [10.0, 30.0]
    assert "label" in joined


@pytest.fixture
def scored_catalog(tmp_path):
    """A catalog with 2 runs scored on eval sets 'dev' and 'eval' (two views each)."""
    db = tmp_path / "cat.duckdb"
    catalog = open_catalog(db)
    utts, scores = [], []
    for eval_set, seed in (("dev", 0), ("eval", 1)):
        is_bona, a, b = _views(1500, seed)
        ids = [f"c:{eval_set}{i:05d}" for i in range(len(a))]
        utts.append(pd.DataFrame({"utt_id": ids, "corpus": "c", "path": ids,
                                  "label": np.where(is_bona, "bonafide", "spoof"),
                                  "generator": np.where(is_bona, None, "c:A01"),
                                  "language": "eng"}))
        for run, view in (("ra", a), ("rb", b)):
            scores.append(pd.DataFrame({"run_id": run, "eval_set": eval_set,
                                        "utt_id": ids, "score": view}))
    catalog.con.register("_u", pd.concat(utts))
    catalog.con.execute("INSERT INTO utterances (utt_id, corpus, path, label, generator, "
                        "language) SELECT utt_id, corpus, path, label, generator, language "
                        "FROM _u")
    catalog.con.register("_s", pd.concat(scores))
    catalog.con.execute("INSERT INTO scores SELECT run_id, eval_set, utt_id, score FROM _s")
    for run in ("ra", "rb"):
        catalog.con.execute("INSERT INTO runs (run_id, name, config, status) VALUES "
                            "(?, ?, '{}', 'finished')", [run, run])
    catalog.close()
    return db


def test_fuse_command_stores_a_run(scored_catalog, run_cli):
    code, out, err = run_cli("fuse", "ra", "rb", "--on", "dev", "--name", "duo",
                             "--db", scored_catalog)
    assert code == 0, err
    with open_catalog(scored_catalog, read_only=True) as catalog:
        (run_id, status, config), = catalog.execute(
            "SELECT run_id, status, config FROM runs WHERE name = 'duo'").fetchall()
        res = catalog.df("SELECT * FROM results WHERE run_id = ? AND eval_group = 'all' "
                         "AND metric = 'eer'", [run_id])
        n_scores = catalog.execute("SELECT count(*) FROM scores WHERE run_id = ?",
                                   [run_id]).fetchone()[0]
        groups = set(catalog.df("SELECT DISTINCT eval_group FROM results WHERE run_id = ?",
                                [run_id])["eval_group"])
    assert status == "finished" and run_id in out
    config = json.loads(config)
    assert config["members"] == ["ra", "rb"] and set(config["weights"]) == {"ra", "rb"}
    assert set(res["eval_set"]) == {"dev", "eval"} and n_scores == 3000
    assert "generator=c:A01" in groups  # results by the same function as a trained run
    eval_eer = float(res.loc[res["eval_set"] == "eval", "value"].iloc[0])
    with open_catalog(scored_catalog, read_only=True) as catalog:
        single = [compute_eer(*(lambda f: (f.loc[f.label == "bonafide", "score"],
                                           f.loc[f.label == "spoof", "score"]))(
            catalog.df("SELECT s.score, u.label FROM scores s JOIN utterances u "
                       "USING (utt_id) WHERE run_id = ? AND eval_set = 'eval'", [r])))[0]
                  for r in ("ra", "rb")]
    assert eval_eer < min(single)
    # fusing again replaces the run, not duplicates it
    assert run_cli("fuse", "ra", "rb", "--on", "dev", "--name", "duo",
                   "--db", scored_catalog)[0] == 0
    with open_catalog(scored_catalog, read_only=True) as catalog:
        assert catalog.execute("SELECT count(*) FROM scores WHERE run_id = ?",
                               [run_id]).fetchone()[0] == 3000


def test_fuse_errors_are_one_sentence(scored_catalog, run_cli):
    code, _, err = run_cli("fuse", "ra", "--on", "dev", "--db", scored_catalog)
    assert code == 2 and "at least two runs" in err
    code, _, err = run_cli("fuse", "ra", "rb", "--on", "test", "--db", scored_catalog)
    assert code == 2 and "--on" in err and "'test'" in err
    code, _, err = run_cli("fuse", "ra", "nope", "--on", "dev", "--db", scored_catalog)
    assert code == 2 and "no run 'nope'" in err


def test_calibrate_command_stores_before_and_after(scored_catalog, run_cli):
    code, out, err = run_cli("calibrate", "rb", "--on", "dev", "--db", scored_catalog)
    assert code == 0, err
    with open_catalog(scored_catalog, read_only=True) as catalog:
        res = catalog.df("SELECT eval_set, metric, value FROM results WHERE run_id = 'rb'")
    wide = res.pivot_table(index="eval_set", columns="metric", values="value")
    assert set(wide.index) == {"dev", "eval"}
    assert {"cal_act_dcf", "cal_cllr", "min_cllr", "cal_scale", "cal_offset"} <= set(wide)
    # rb's scores are offset by +5: raw Cllr is poor, calibrated is close to minCllr
    with open_catalog(scored_catalog, read_only=True) as catalog:
        frame = catalog.df("SELECT s.score, u.label FROM scores s JOIN utterances u "
                           "USING (utt_id) WHERE run_id = 'rb' AND eval_set = 'eval'")
    from curate.train.metrics import cllr

    raw = cllr(frame.loc[frame.label == "bonafide", "score"],
               frame.loc[frame.label == "spoof", "score"])
    assert wide.loc["eval", "cal_cllr"] < 0.5 * raw
    assert wide.loc["eval", "min_cllr"] <= wide.loc["eval", "cal_cllr"] + 0.02
    code, _, err = run_cli("calibrate", "rb", "--on", "dev", "--apply", "nope",
                           "--db", scored_catalog)
    assert code == 2 and "--apply" in err

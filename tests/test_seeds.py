"""Multi-seed summaries: grouping runs that differ only in seed, mean ± std (best)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from curate.ablate.seeds import (mean_std_best, runs_seed_summary, seed_groups, seed_key,
                                 seed_summary, shown_summary)
from curate.catalog.db import open_catalog


def _config(seed: int, lr: float = 1e-3, name: str = "exp-r0") -> dict:
    return {"name": name, "selection": "sel", "train_split": "train",
            "eval_splits": ["test"], "run_dir": f"/runs/{name}-{seed}",
            "train": {"seed": seed, "lr": lr, "model": "small_cnn"}}


def test_seed_key_ignores_only_seed_name_and_folder():
    assert seed_key(_config(0)) == seed_key(json.dumps(_config(7, name="exp-r3")))
    assert seed_key(_config(0)) != seed_key(_config(0, lr=2e-3))
    changed = _config(0)
    changed["train"]["model"] = "ssl"
    assert seed_key(changed) != seed_key(_config(0))
    # "seed" is only ignored where a run keeps its seed, not under other keys
    nested = _config(0)
    nested["train"]["model_kwargs"] = {"seed": 1}
    other = _config(0)
    other["train"]["model_kwargs"] = {"seed": 2}
    assert seed_key(nested) != seed_key(other)


def test_seed_groups_and_labels():
    runs = pd.DataFrame({
        "run_id": ["a-1", "a-2", "a-3", "b-1"],
        "name": ["cnn-r0", "cnn-r1", "cnn-r2", "cnn_lr-r0"],
        "config": [json.dumps(_config(s, name=n)) for s, n in
                   [(0, "cnn-r0"), (1, "cnn-r1"), (2, "cnn-r2")]]
        + [json.dumps(_config(0, lr=5e-3, name="cnn_lr-r0"))]})
    groups = seed_groups(runs).set_index("run_id")
    group = groups["group"]
    assert group["a-1"] == group["a-3"] != group["b-1"]
    assert groups.loc["a-2", "label"] == "cnn" and groups.loc["b-1", "label"] == "cnn_lr"
    assert groups["n_runs"].to_dict() == {"a-1": 3, "a-2": 3, "a-3": 3, "b-1": 1}


def _results() -> pd.DataFrame:
    rows = []
    for run, group, eer in [("r0", "g", 0.10), ("r1", "g", 0.14), ("r2", "g", 0.12),
                            ("s0", "h", 0.30)]:
        rows += [{"run_id": run, "group": group, "eval_set": "test", "eval_group": "all",
                  "metric": "eer", "value": eer},
                 {"run_id": run, "group": group, "eval_set": "test", "eval_group": "all",
                  "metric": "min_dcf", "value": 1 - eer}]
    return pd.DataFrame(rows)


def test_seed_summary_mean_std_best():
    summary = seed_summary(_results()).set_index(["group", "metric"])
    g = summary.loc[("g", "eer")]
    assert g["n"] == 3 and g["mean"] == pytest.approx(0.12)
    assert g["std"] == pytest.approx(np.std([0.10, 0.14, 0.12], ddof=1))
    assert g["best"] == pytest.approx(0.10) and g["best_run"] == "r0"
    # the best of each metric is its own minimum (here another run than the best EER)
    assert summary.loc[("g", "min_dcf"), "best_run"] == "r1"
    one = summary.loc[("h", "eer")]
    assert one["n"] == 1 and np.isnan(one["std"]) and one["best_run"] == "s0"
    with pytest.raises(ValueError, match="lower-is-better"):
        seed_summary(_results(), metrics=("sharpness",))


def test_mean_std_best_format():
    assert mean_std_best(0.12, 0.02, 3, 0.10) == "12.00 ± 2.00 (10.00)"
    assert mean_std_best(0.3, float("nan"), 1, 0.3) == "30.00"
    assert mean_std_best(0.5, 0.1, 2, 0.4, scale=1, digits=4) == "0.5000 ± 0.1000 (0.4000)"


def _catalog_with_runs(db):
    with open_catalog(db) as catalog:
        for i, (name, seed, lr, eer) in enumerate([("cnn-r0", 0, 1e-3, 0.2),
                                                    ("cnn-r1", 1, 1e-3, 0.3),
                                                    ("cnn-r2", 2, 1e-3, 0.1),
                                                    ("big-r0", 0, 1e-2, 0.4)]):
            run_id = f"run{i}"
            catalog.execute("INSERT INTO runs VALUES (?, ?, ?, ?, 'v', 'finished', now(), "
                            "now())",
                            [run_id, name, json.dumps(_config(seed, lr, name)), seed])
            for metric, value in [("eer", eer), ("min_dcf", eer / 2), ("sharpness", 9.0)]:
                catalog.execute("INSERT INTO results VALUES (?, 'test', 'all', ?, ?)",
                                [run_id, metric, value])
            catalog.execute("INSERT INTO results VALUES (?, 'test', 'language=eng', 'eer', ?)",
                            [run_id, eer + 0.01])


def test_runs_seed_summary_from_the_catalog(tmp_path):
    db = tmp_path / "c.duckdb"
    _catalog_with_runs(db)
    with open_catalog(db, read_only=True) as catalog:
        summary = runs_seed_summary(catalog)
        only = runs_seed_summary(catalog, name="cnn-*", metrics=("eer",),
                                 eval_group="language=eng")
    cnn = summary[(summary["label"] == "cnn") & (summary["metric"] == "eer")].iloc[0]
    assert cnn["n"] == 3 and cnn["mean"] == pytest.approx(0.2)
    assert cnn["std"] == pytest.approx(0.1) and cnn["best_run"] == "run2"
    assert set(summary["label"]) == {"cnn", "big"}
    assert "sharpness" not in set(summary["metric"])
    assert list(only["label"]) == ["cnn"] and only.iloc[0]["mean"] == pytest.approx(0.21)
    shown = shown_summary(summary)
    assert "20.00 ± 10.00 (10.00)" in set(shown["mean ± std (best)"])


def test_curate_runs_seeds_cli(tmp_path, run_cli):
    db = tmp_path / "c.duckdb"
    _catalog_with_runs(db)
    code, out, err = run_cli("runs", "--seeds", "--db", db)
    assert code == 0, err
    assert "2 seed groups" in out and "20.00 ± 10.00 (10.00)" in out and "run2" in out
    code, out, err = run_cli("runs", "--db", db, "--name", "big*")
    assert code == 0, err
    assert "1 runs" in out and "run3" in out and "run0" not in out


def test_groups_of_one_name_are_told_apart_by_their_differing_keys():
    def config(augment, sam, seed):
        return json.dumps({"name": "ab", "train": {"seed": seed, "augment": augment,
                                                   "sam": sam, "lr": 0.1}})

    runs = pd.DataFrame({"run_id": ["a", "b", "c", "d"], "name": ["ab"] * 4,
                         "config": [config("/x/rawboost5.toml", False, 0),
                                    config("/x/rawboost5.toml", False, 1),
                                    config(None, True, 0), config(None, False, 0)]})
    labels = seed_groups(runs).set_index("run_id")["label"]
    assert labels["a"] == labels["b"] == "ab [train.augment=rawboost5.toml, train.sam=False]"
    assert labels["c"] == "ab [train.augment=None, train.sam=True]"
    assert labels["d"] == "ab [train.augment=None, train.sam=False]"

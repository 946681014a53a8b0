"""The demo's evaluation and report sections, from a catalog alone (no training)."""

from __future__ import annotations

import json

import pandas as pd

from curate.ablate import sql as ablate_sql
from curate.catalog.db import open_catalog
from curate.demo.evaluation import UNSEEN_SET, unseen_rows
from curate.demo.report import unseen_vocoder_table, write_demo_report


def test_unseen_rows_keep_bonafide_and_the_unseen_vocoder():
    scored = pd.DataFrame({"utt_id": list("abcdef"),
                           "label": ["bonafide", "spoof", "spoof", "spoof", "bonafide",
                                     "spoof"],
                           "generator": [None, "demo_la:A02", "demo_la:A01", "demo_multi:lpc",
                                         None, "demo_multi:codec"],
                           "score": [1.0, 0.0, 0.5, 0.2, 0.9, 0.1]})
    assert unseen_rows(scored)["utt_id"].tolist() == ["a", "b", "d", "e"]


def _long(run_id: str, cell: str, values: dict[tuple[str, str], float]) -> pd.DataFrame:
    return pd.DataFrame([{"run_id": run_id, "cell": cell, "repeat": 0, "eval_set": s,
                          "eval_group": "all", "metric": m, "value": v}
                         for (s, m), v in values.items()])


def test_unseen_vocoder_table():
    results = pd.concat([
        _long("r1", "sam=off", {("test", "eer"): 0.2, (UNSEEN_SET, "eer"): 0.1,
                                (UNSEEN_SET, "eer_ci_low"): 0.05,
                                (UNSEEN_SET, "eer_ci_high"): 0.2,
                                (UNSEEN_SET, "min_dcf"): 0.3,
                                (UNSEEN_SET, "min_dcf_ci_low"): 0.25,
                                (UNSEEN_SET, "min_dcf_ci_high"): 0.5,
                                (UNSEEN_SET, "act_dcf"): 0.61234,
                                (UNSEEN_SET, "cal_act_dcf"): 0.4,
                                (UNSEEN_SET, "overlap_corpora"): 2.0,
                                (UNSEEN_SET, "overlap_speakers"): 0.0}),
        _long("r2", "sam=on", {("test", "eer"): 0.3, (UNSEEN_SET, "eer"): 0.25,
                               (UNSEEN_SET, "min_dcf"): 0.4, (UNSEEN_SET, "act_dcf"): 0.5,
                               (UNSEEN_SET, "overlap_corpora"): 0.0})])
    table = unseen_vocoder_table(results).set_index("cell")
    assert table.loc["sam=off", "EER % test"] == 20.0
    assert table.loc["sam=off", "EER % unseen [95 % CI]"] == "10.00 [5.00, 20.00]"
    assert table.loc["sam=off", "minDCF unseen [95 % CI]"] == "0.3000 [0.2500, 0.5000]"
    assert table.loc["sam=off", "actDCF unseen"] == 0.6123
    assert table.loc["sam=off", "actDCF calibrated"] == 0.4
    assert table.loc["sam=off", "overlap"] == "corpora 2"
    # without intervals or calibration: the value alone, nothing invented
    assert table.loc["sam=on", "EER % unseen [95 % CI]"] == "25.00"
    assert pd.isna(table.loc["sam=on", "actDCF calibrated"])
    assert table.loc["sam=on", "overlap"] == "none"


def test_demo_report_adds_its_sections_after_the_ablation(tmp_path):
    db = tmp_path / "c.duckdb"
    with open_catalog(db) as catalog:
        catalog.execute(ablate_sql.UPSERT_ABLATION, ["demo_ablation", "spec", "h" * 32])
        for run_id, sam, eer in (("r1", "off", 0.2), ("r2", "on", 0.3)):
            catalog.execute("INSERT INTO runs VALUES (?, 'x', '{}', 0, 'v', 'finished', now(),"
                            " now())", [run_id])
            catalog.execute(ablate_sql.INSERT_ABLATION_RUN,
                            ["demo_ablation", run_id, f"sam={sam}", json.dumps({"sam": sam}),
                             0, 0])
            for eval_set, metric, value in [("test", "eer", eer), (UNSEEN_SET, "eer", eer / 2),
                                            (UNSEEN_SET, "min_dcf", 0.4),
                                            (UNSEEN_SET, "act_dcf", 0.5),
                                            (UNSEEN_SET, "overlap_corpora", 2.0)]:
                catalog.execute("INSERT INTO results VALUES (?, ?, 'all', ?, ?)",
                                [run_id, eval_set, metric, value])
    with open_catalog(db, read_only=True) as catalog:
        text = write_demo_report(catalog, "demo_ablation", tmp_path / "report",
                                 sections=[["## Leaderboard", "", "later"]]).read_text()
    assert "## EER (%) per cell and eval set" in text and "## Training overlap" in text
    unseen = text.index("## The unseen vocoder")
    assert text.index("## Training overlap") < unseen < text.index("## Leaderboard")
    assert "| sam=off | 0 | 20 | 10.00 | 0.4000 | 0.5 |  | corpora 2 |" in text

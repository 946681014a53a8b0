"""The ablation report is built from the catalog alone (no training needed here)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd

from curate.ablate import sql as ablate_sql
from curate.ablate.ablation_report import markdown_to_html, write_ablation_report
from curate.catalog.db import open_catalog


def _fake_ablation(catalog, rng):
    """Two factors x two seeds with scores, results and sharpness, as runs would leave."""
    utts = pd.DataFrame({
        "utt_id": [f"c:{i}" for i in range(40)], "corpus": "c", "path": "x.wav",
        "label": ["bonafide"] * 20 + ["spoof"] * 20, "duration_s": 2.0, "status": "ok",
        "language": ["eng", "deu"] * 20,
        "generator": [None] * 20 + ["c:g1", "c:g2"] * 10})
    catalog.con.register("_u", utts)
    catalog.execute("INSERT INTO utterances BY NAME SELECT * FROM _u")
    catalog.execute("INSERT INTO selection_items SELECT 'sel', utt_id, 'train', 1.0 FROM _u")
    catalog.execute(ablate_sql.UPSERT_ABLATION, ["ab", "spec text", "h" * 32])
    for rb, sam, repeat in itertools.product(["off", "on"], ["off", "on"], [0, 1]):
        run_id = f"run-{rb}-{sam}-{repeat}"
        levels = {"rawboost": rb, "sam": sam}
        catalog.execute("INSERT INTO runs VALUES (?, 'x', ?, ?, 'v', 'finished', now(), now())",
                        [run_id, json.dumps({"selection": "sel", "train_split": "train"}),
                         repeat])
        catalog.execute(ablate_sql.INSERT_ABLATION_RUN,
                        [("ab"), run_id, f"rawboost={rb},sam={sam}", json.dumps(levels),
                         repeat, repeat])
        shift = 1.0 + (rb == "on") + 0.5 * (sam == "on")
        scores = np.r_[rng.normal(shift, 1, 20), rng.normal(0, 1, 20)]
        for utt, score in zip(utts.utt_id, scores):
            catalog.execute("INSERT INTO scores VALUES (?, 'test', ?, ?)", [run_id, utt, score])
        eer = 0.3 - 0.1 * (rb == "on") - 0.02 * (sam == "on") + 0.01 * repeat
        sharp = 0.5 - 0.2 * (sam == "on") + 0.05 * repeat
        for group, metric, value in [("all", "eer", eer), ("generator=c:g1", "eer", eer + .05),
                                     ("language=eng", "eer", eer - .01),
                                     ("all", "sharpness", sharp)]:
            catalog.execute("INSERT INTO results VALUES (?, 'test', ?, ?, ?)",
                            [run_id, group, metric, value])


def test_report_from_the_catalog_alone(tmp_path):
    db = tmp_path / "c.duckdb"
    with open_catalog(db) as catalog:
        _fake_ablation(catalog, np.random.default_rng(0))
    with open_catalog(db, read_only=True) as catalog:
        report = write_ablation_report(catalog, "ab", tmp_path / "report")
    text = report.read_text()
    assert "## Effect of each factor" in text
    # rawboost on lowers EER by 10 points in every pair
    assert "| test | rawboost | on | off | 19.50 ± 1.29 | -10.00 ± 0.00 (n=4) |" in text
    assert "## EER (%) per generator" in text and "## EER (%) per language" in text
    assert "## Sharpness and EER" in text and "## Training data" in text
    for png in ("eer_by_factor.png", "det_test.png", "sharpness_vs_eer.png",
                "composition_sel_train.png"):
        assert (tmp_path / "report" / png).stat().st_size > 2000, png
    page = (tmp_path / "report" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and "<table>" in page
    # regenerating gives the same markdown
    with open_catalog(db, read_only=True) as catalog:
        again = write_ablation_report(catalog, "ab", tmp_path / "report2").read_text()
    assert again == text


def test_markdown_to_html_escapes(tmp_path):
    page = markdown_to_html("# T <x>\n\n| a | b\\|c |\n| --- | --- |\n| 1 | `x` |\n",
                            tmp_path, title="t")
    assert "<h1>T &lt;x&gt;</h1>" in page and "<th>b|c</th>" in page


def _add_evaluation(catalog):
    """Intervals, calibration and overlap counts of two runs, as the demo stores them."""
    rows = []
    for run_id, eer in (("run-off-off-0", 0.30), ("run-on-on-1", 0.19)):
        rows += [(run_id, "test", "all", "eer_ci_low", eer - 0.05),
                 (run_id, "test", "all", "eer_ci_high", eer + 0.07),
                 (run_id, "test", "all", "min_dcf", 0.5),
                 (run_id, "test", "all", "min_dcf_ci_low", 0.41),
                 (run_id, "test", "all", "min_dcf_ci_high", 0.6),
                 (run_id, "test", "all", "act_dcf", 0.7),
                 (run_id, "test", "all", "cal_act_dcf", 0.55),
                 (run_id, "test", "all", "cllr", 0.9),
                 (run_id, "test", "all", "cal_cllr", 0.8),
                 (run_id, "test", "all", "min_cllr", 0.6),
                 (run_id, "test", "all", "cal_scale", 1.5),
                 (run_id, "test", "all", "cal_offset", -0.25),
                 (run_id, "test", "all", "overlap_corpora", 1.0),
                 (run_id, "test", "all", "overlap_speakers", 0.0)]
    for row in rows:
        catalog.execute("INSERT INTO results VALUES (?, ?, ?, ?, ?)", list(row))


def test_report_shows_seeds_intervals_calibration_and_overlap(tmp_path):
    db = tmp_path / "c.duckdb"
    with open_catalog(db) as catalog:
        _fake_ablation(catalog, np.random.default_rng(0))
        _add_evaluation(catalog)
    extra = ["## Leaderboard", "", "| model | eer |", "| --- | --- |", "| x | 1 |"]
    with open_catalog(db, read_only=True) as catalog:
        text = write_ablation_report(catalog, "ab", tmp_path / "report",
                                     sections=[extra]).read_text()
    # two seeds per cell: mean ± std (ddof 1) and the best seed in brackets
    assert "| off | off | 2 | 30.50 ± 0.71 (30.00) |" in text
    assert "| on | on | 2 | 18.50 ± 0.71 (18.00) |" in text
    assert "## Bootstrap 95 % intervals" in text
    assert ("| rawboost=off,sam=off | 0 | test | 30.00 [25.00, 37.00] | "
            "0.5000 [0.4100, 0.6000] |") in text
    assert "| rawboost=on,sam=on | 1 | test | 19.00 [14.00, 26.00] |" in text
    assert "## Calibration" in text
    assert "| rawboost=off,sam=off | 0 | test | 0.7 | 0.55 | 0.9 | 0.8 | 0.6 | 1.5 | -0.25 |" \
        in text
    assert "## Training overlap" in text
    assert "| rawboost=off,sam=off | 0 | test | 30 | corpora 1 |" in text
    # runs without stored overlap counts are not listed as unseen
    assert "rawboost=off,sam=on | 0 | test | 28" not in text.split("## Training overlap")[1]
    assert text.rstrip().endswith("| x | 1 |")
    assert "<h2>Leaderboard</h2>" in (tmp_path / "report" / "report.html").read_text()


def test_a_single_seed_cell_shows_its_interval(tmp_path):
    db = tmp_path / "c.duckdb"
    with open_catalog(db) as catalog:
        _fake_ablation(catalog, np.random.default_rng(0))
        _add_evaluation(catalog)
        catalog.execute("DELETE FROM ablation_runs WHERE run_id IN ('run-off-off-1', "
                        "'run-off-on-1')")
    with open_catalog(db, read_only=True) as catalog:
        text = write_ablation_report(catalog, "ab", tmp_path / "report").read_text()
    cells = text.split("## EER (%) per cell")[1].split("## Effect")[0]
    assert "| off | off | 1 | 30.00 [25.00, 37.00] |" in cells
    # without a stored interval a single seed shows its EER alone; two seeds their spread
    assert "| off | on | 1 | 28.00 |" in cells
    assert "| on | on | 2 | 18.50 ± 0.71 (18.00) |" in cells


def test_results_table_shows_intervals_where_stored(tmp_path):
    from curate.ablate.report import results_table

    db = tmp_path / "c.duckdb"
    with open_catalog(db) as catalog:
        _fake_ablation(catalog, np.random.default_rng(0))
        _add_evaluation(catalog)
        with_ci = results_table(catalog, "run-off-off-0").set_index("eval_group")
        without = results_table(catalog, "run-off-on-0")
    assert with_ci.loc["all", "eer_95%_ci"] == "[25.00, 37.00]"
    assert with_ci.loc["all", "min_dcf_95%_ci"] == "[0.4100, 0.6000]"
    assert with_ci.loc["all", "eer_%"] == 30.0 and with_ci.loc["all", "overlap"] == "corpora 1"
    assert with_ci.loc["language=eng", "eer_95%_ci"] == ""
    assert "eer_95%_ci" not in without.columns

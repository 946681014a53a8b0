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

"""`curate demo --quick` end to end, through the command line (run by `make test`)."""

from __future__ import annotations

import pytest

from curate.catalog.db import open_catalog


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path, run_cli):
    out = tmp_path / "demo"
    code, stdout, stderr = run_cli("demo", "--out", out, "--quick")
    assert code == 0, stderr
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

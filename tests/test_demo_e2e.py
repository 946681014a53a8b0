"""`curate demo --quick` end to end, through the command line (run by `make test`)."""

from __future__ import annotations

import pytest

from curate.catalog.db import open_catalog


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path, run_cli):
    out = tmp_path / "demo"
    code, stdout, stderr = run_cli("demo", "--out", out, "--quick")
    assert code == 0, stderr
    assert "results of run demo-" in stdout and "generator=demo_multi:lpc" in stdout
    with open_catalog(out / "catalog.duckdb", read_only=True) as catalog:
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
        # the unseen generator is in test only
        splits = {r[0] for r in catalog.execute(
            "SELECT DISTINCT i.split FROM selection_items i JOIN utterances u USING (utt_id) "
            "WHERE u.generator IN ('demo_la:A02', 'demo_multi:lpc')").fetchall()}
        assert splits == {"test"}
        run = catalog.execute("SELECT run_id, status FROM runs").fetchall()
        assert len(run) == 1 and run[0][1] == "finished"
        eer = catalog.execute(
            "SELECT value FROM results WHERE run_id = ? AND eval_set = 'test' AND "
            "eval_group = 'all' AND metric = 'eer'", [run[0][0]]).fetchone()[0]
        assert 0.0 <= eer < 0.5  # better than chance on the demo's test split
    report = (out / "report" / "report.md").read_text()
    assert "![composition](composition.png)" in report and "DET test" in report
    assert (out / "report" / "composition.png").stat().st_size > 1000
    assert (out / "selection.toml").is_file() and (out / "demo_multi.toml").is_file()

    # the files the demo wrote drive the same CLI steps by hand
    code, stdout, _ = run_cli("stats", "--db", out / "catalog.duckdb", "--by", "language,label",
                              "--json")
    assert code == 0 and '"language":"hin"' in stdout

"""Leakage checks between splits and against other sets; CLI exit codes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from curate.catalog.db import open_catalog
from curate.errors import CurateError
from curate.select.freeze import freeze
from curate.select.leakage import leakage_report
from curate.select.spec import parse_selection


def _catalog(path):
    """Speakers s0..s9 with one genuine utterance each and two artifacts made from it."""
    rows = []
    for s in range(10):
        rows.append({"utt_id": f"c:b{s}", "corpus": "c", "path": f"b{s}.wav",
                     "label": "bonafide", "speaker": f"s{s}", "content_hash": f"h{s}",
                     "duration_s": 1.0, "status": "ok"})
        for k in range(2):
            rows.append({"utt_id": f"c:a{s}_{k}", "corpus": "c", "path": f"a{s}_{k}.wav",
                         "label": "spoof", "speaker": None, "source_utt": f"c:b{s}",
                         "content_hash": f"h{s}_{k}", "duration_s": 1.0, "status": "ok",
                         "generator": "c:g"})
    rows.append({"utt_id": "d:copy", "corpus": "d", "path": "x.wav", "label": "bonafide",
                 "speaker": "other", "content_hash": "h3", "duration_s": 1.0, "status": "ok"})
    catalog = open_catalog(path)
    catalog.con.register("_rows", pd.DataFrame(rows))
    catalog.execute("INSERT INTO utterances BY NAME SELECT * FROM _rows")
    catalog.execute("INSERT INTO corpora (name, root, recipe, recipe_hash) VALUES "
                    "('c', '/c', 'x', 'h'), ('d', '/d', 'x', 'h')")
    return catalog


def _freeze(catalog, name, by, corpora=("c",)):
    return freeze(catalog, parse_selection({
        "name": name, "seed": 1, "filter": {"corpora": list(corpora)},
        "split": {"by": by, "fractions": {"train": 0.5, "test": 0.5}}}))


def _counts(report):
    return report.table.groupby("check")["n"].sum().to_dict()


def test_split_by_source_is_clean_and_by_utt_leaks(tmp_path):
    with _catalog(tmp_path / "c.duckdb") as catalog:
        _freeze(catalog, "by_source", "source_utt")
        report = leakage_report(catalog, "by_source")
        assert report.clean, report.table
        assert set(report.table["check"]) == {"utterances", "speakers", "sources", "content",
                                              "source_in_other", "lineage"}
        _freeze(catalog, "by_utt", "utt")
        counts = _counts(leakage_report(catalog, "by_utt"))
        assert counts["source_in_other"] > 0 and counts["sources"] > 0
        assert counts["utterances"] == 0 and counts["speakers"] == 0


def test_against_a_corpus_and_a_selection(tmp_path):
    with _catalog(tmp_path / "c.duckdb") as catalog:
        _freeze(catalog, "main", "source_utt")
        report = leakage_report(catalog, "main", ["d"])
        content = report.table[(report.table.check == "content") & (report.table.n > 0)]
        assert len(content) == 1 and content.iloc[0]["examples"] == ["h3"]
        assert "d (against)" in set(content[["a", "b"]].to_numpy().ravel())
        _freeze(catalog, "copy", "source_utt")  # the same items: everything is shared
        counts = _counts(leakage_report(catalog, "main", ["copy"]))
        assert counts["utterances"] == 30 and counts["speakers"] == 10
        with pytest.raises(CurateError, match="neither a selection nor a corpus"):
            leakage_report(catalog, "main", ["nothing"])


def test_cli_exit_codes_and_json(tmp_path, run_cli):
    db = tmp_path / "c.duckdb"
    with _catalog(db) as catalog:
        _freeze(catalog, "clean", "source_utt")
        _freeze(catalog, "leaky", "utt")
    code, out, _ = run_cli("leakage", "clean", "--db", db)
    assert code == 0 and "clean" in out
    code, out, _ = run_cli("leakage", "leaky", "--db", db, "--json")
    assert code == 3
    records = json.loads(out)
    assert any(r["check"] == "source_in_other" and r["n"] > 0 for r in records)
    # examples is a JSON list of strings: up to three shared keys, [] when none
    assert all(isinstance(r["examples"], list) for r in records)
    assert all(all(isinstance(x, str) for x in r["examples"]) for r in records)
    assert all(len(r["examples"]) == min(3, r["n"]) for r in records)
    sources = next(r for r in records if r["check"] == "sources" and r["n"] > 0)
    assert all(x.startswith("c:b") for x in sources["examples"])  # source_utt ids
    assert all(r["examples"] == [] for r in records if r["n"] == 0)
    code, out, _ = run_cli("leakage", "leaky", "--db", db)  # the table joins them
    assert code == 3 and "leakage found" in out and "['" not in out
    code, out, _ = run_cli("selections", "--db", db, "--json")
    listed = pd.DataFrame(json.loads(out))
    assert set(listed["name"]) == {"clean", "leaky"}
    assert listed.groupby("name")["utterances"].sum().to_dict() == {"clean": 30, "leaky": 30}
    code, out, _ = run_cli("stats", "--db", db, "--selection", "clean", "--json")
    stats = pd.DataFrame(json.loads(out))
    assert {"corpus", "language", "label", "generator", "split", "hours"} <= set(stats.columns)
    assert stats["utterances"].sum() == 30

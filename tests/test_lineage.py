"""Corpus lineage: stored with each corpus, followed across derived corpora by leakage."""

from __future__ import annotations

import pandas as pd

from curate.catalog.db import open_catalog
from curate.select.freeze import freeze
from curate.select.leakage import leakage_report
from curate.select.lineage import families, relations
from curate.select.spec import parse_selection


def test_families_follow_sources_transitively():
    declared = {"la": ("asvspoof2019_la", ("vctk",)), "mine": (None, ("la",)),
                "other": (None, ())}
    known = {"asvspoof2019_la": ("vctk",), "vctk": (), "libritts_r": ("libritts",),
             "libritts": ("librispeech",)}
    fam = families(declared, known)
    assert fam["la"] == {"la", "asvspoof2019_la", "vctk"}
    assert fam["mine"] == {"mine", "la", "vctk"}  # through a catalog corpus's own sources
    assert fam["other"] == {"other"}
    deep = families({"r": ("libritts_r", ("libritts",)), "s": ("librispeech", ())}, known)
    assert deep["r"] & deep["s"] == {"librispeech"}


def _catalog(path):
    """Three corpora: 'vctk' (genuine), 'la' derived from it (recipe asvspoof2019_la's
    lineage), 'itw' unrelated; rows with distinct speakers and hashes."""
    rows = []
    for corpus, label in (("vctk", "bonafide"), ("la", "spoof"), ("itw", "spoof")):
        for k in range(4):
            rows.append({"utt_id": f"{corpus}:{k}", "corpus": corpus, "path": f"{k}.wav",
                         "label": label, "speaker": f"{corpus}{k}", "subset": corpus,
                         "content_hash": f"{corpus}{k}", "duration_s": 1.0, "status": "ok"})
    catalog = open_catalog(path)
    catalog.con.register("_rows", pd.DataFrame(rows))
    catalog.execute("INSERT INTO utterances BY NAME SELECT * FROM _rows")
    catalog.execute(
        "INSERT INTO corpora (name, root, recipe, recipe_hash, recipe_name, sources) VALUES "
        "('vctk', '/v', 'vctk', 'h', 'vctk', []), "
        "('la', '/l', 'asvspoof2019_la', 'h', 'asvspoof2019_la', ['vctk']), "
        "('itw', '/i', 'in_the_wild', 'h', 'in_the_wild', [])")
    return catalog


def test_leakage_reports_related_corpora_across_splits(tmp_path):
    with _catalog(tmp_path / "c.duckdb") as catalog:
        assert set(relations(catalog)) == {("la", "vctk")}
        freeze(catalog, parse_selection({
            "name": "s", "seed": 0, "split": {"by": "subset", "subsets": {
                "vctk": "train", "la": "test", "itw": "test"}}}))
        report = leakage_report(catalog, "s")
        row = report.table[report.table.check == "lineage"].iloc[0]
        assert row["n"] == 1 and row["examples"] == ["la~vctk (via vctk)"]
        assert not report.clean
        # every other check is clean: only lineage sees it
        others = report.table[report.table.check != "lineage"]
        assert (others["n"] == 0).all()
        freeze(catalog, parse_selection({
            "name": "t", "seed": 0, "split": {"by": "subset", "subsets": {
                "vctk": "train", "itw": "test"}}}))
        assert leakage_report(catalog, "t").clean


def test_prepare_stores_the_recipe_and_its_sources(tmp_path, run_cli):
    from conftest import make_asvspoof2019

    root = make_asvspoof2019(tmp_path / "LA", {"train": ["LA_0079 LA_T_1 - - bonafide"]})
    db = tmp_path / "c.duckdb"
    code, _, err = run_cli("prepare", "asvspoof2019_la", root, "--db", db, "--no-probe",
                           "--name", "my_la")
    assert code == 0, err
    with open_catalog(db, read_only=True) as catalog:
        assert catalog.execute("SELECT recipe_name, sources FROM corpora").fetchall() == [
            ("asvspoof2019_la", ["vctk"])]


def test_each_result_carries_its_training_overlap_restriction(tmp_path, run_cli):
    from conftest import make_tone_selection, tiny_experiment
    from curate.ablate.report import results_table

    make_tone_selection(tmp_path)
    db = tmp_path / "c.duckdb"
    exp = tmp_path / "tiny.toml"
    exp.write_text(tiny_experiment(2))
    code, out, err = run_cli("train", exp, "--db", db, "--out", tmp_path / "out")
    assert code == 0, err
    with open_catalog(db, read_only=True) as catalog:
        (run_id,), = catalog.execute("SELECT run_id FROM runs").fetchall()
    code, _, err = run_cli("eval", run_id, "--on", "sel", "--split", "all", "--db", db)
    assert code == 0, err
    with open_catalog(db, read_only=True) as catalog:
        values = {(s, m): v for s, m, v in catalog.execute(
            "SELECT eval_set, metric, value FROM results WHERE metric LIKE 'overlap_%'"
        ).fetchall()}
        table = results_table(catalog, run_id)
    # the speaker-disjoint test split shares only the corpus with training
    assert values[("test", "overlap_corpora")] == 1
    assert values[("test", "overlap_speakers")] == 0 == values[("test", "overlap_content")]
    # the whole selection holds the training items themselves
    assert values[("sel", "overlap_speakers")] == 4 and values[("sel", "overlap_content")] > 0
    labels = dict(zip(table[table.eval_group == "all"].eval_set,
                      table[table.eval_group == "all"].overlap))
    assert labels["test"] == "corpora 1"
    assert labels["sel"].startswith("corpora 1, speakers 4")
    assert "overlap" in out  # printed next to the EER by curate train

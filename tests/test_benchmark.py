"""Benchmark suites (curate.benchmark) and `curate benchmark` on tiny tone data."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_tone_catalog, make_tone_selection, tiny_experiment

from curate.benchmark.board import build_board
from curate.benchmark.provenance import read_trials, sha256_of
from curate.benchmark.runner import load_suite_for, run_benchmark
from curate.benchmark.sets import known_corpora, resolve_corpora, resolve_sets
from curate.benchmark.spec import builtin_suites, load_suite, parse_suite
from curate.catalog.db import CatalogRef, open_catalog
from curate.errors import CurateError
from curate.recipes.spec import builtin_corpus_recipes
from curate.train.metrics import compute_eer, min_dcf

RECIPES = frozenset(builtin_corpus_recipes())


def _suite(sets: list[dict], **top) -> dict:
    return {"name": "mini", **top, "set": sets}


# --- suite files -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["arena", "sam_paper"])
def test_shipped_suites_parse_against_the_recipes(name):
    suite = load_suite(name, known_corpora=RECIPES)
    assert suite.name == name and len(suite.sets) >= 7
    assert all(c in RECIPES for s in suite.sets for c in s.corpora)
    assert len(suite.text_hash) == 64


def test_shipped_suites_cover_the_public_lists():
    arena = {c for s in load_suite("arena", known_corpora=RECIPES).sets for c in s.corpora}
    assert {"in_the_wild", "asvspoof2019_la", "asvspoof2021_la", "asvspoof2021_df",
            "asvspoof5", "fakeorreal", "codecfake", "add2023", "dfadd", "librisevoc",
            "sonar"} <= arena
    sam = {s.name: s for s in load_suite("sam_paper", known_corpora=RECIPES).sets}
    assert sam["fakeorreal"].filter("subsets") == ("validation", "testing")
    assert sam["spoofceleb"].filter("subsets") == ("evaluation",)


def test_suites_ship_in_the_wheel():
    """The wheel carries recipes/ (benchmarks/ included) as curate/_recipes."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    include = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert include["recipes"] == "curate/_recipes"
    assert set(builtin_suites()) >= {"arena", "sam_paper"}


@pytest.mark.parametrize("data, pattern", [
    (_suite([{"name": "a", "corpus": "in_the_wild"}], colour="red"),
     r"unknown key\(s\) colour"),
    (_suite([{"name": "a", "corpus": "in_the_wild", "subset": ["eval"]}]),
     r"\[\[set\]\] 'a': unknown key\(s\) subset; allowed \(closest first\): subsets"),
    (_suite([{"name": "a", "corpus": "in_the_wlid"}]),
     r"corpus 'in_the_wlid' is no corpus recipe .*closest first\): in_the_wild"),
    (_suite([{"name": "a", "corpus": "asvspoof2019"}]),
     r"closest first\): asvspoof2019_la"),
    (_suite([{"name": "a", "corpus": "sonar", "selection": "x:test"}]), r"not both"),
    (_suite([{"name": "a"}]), r"not neither"),
    (_suite([{"name": "a", "selection": "x:test", "subsets": ["eval"]}]),
     r"subsets only apply to corpus sets"),
    (_suite([{"name": "a", "selection": "x:"}]), r"selection must be NAME:SPLIT"),
    (_suite([{"name": "a", "corpus": "sonar"}, {"name": "a", "corpus": "dfadd"}]),
     r"two \[\[set\]\] tables are named 'a'"),
    (_suite([{"name": "A b", "corpus": "sonar"}]), r"lowercase identifier"),
    (_suite([{"name": "a", "corpus": "sonar", "labels": ["fake"]}]), r"labels has fake"),
    (_suite([]), r"at least one \[\[set\]\]"),
    (_suite([{"name": "a", "corpus": []}]),
     r'corpus must be .* e\.g\. corpus = \["in_the_wild"\]'),
    (_suite([{"name": "a", "corpus": "sonar", "subsets": []}]),
     r'e\.g\. subsets = \["eval"\]'),
])
def test_suite_errors_name_file_and_key(data, pattern):
    with pytest.raises(CurateError, match=pattern) as info:
        parse_suite(data, "my_suite.toml", known_corpora=RECIPES)
    assert str(info.value).startswith("my_suite.toml")


def test_unknown_suite_name_lists_the_shipped_ones(tmp_path):
    with pytest.raises(CurateError, match=r"shipped suite: arena, sam_paper"):
        load_suite(tmp_path / "nope.toml")


def test_recipe_names_resolve_to_catalog_corpora():
    rows = [("add2023_testr1", "add2023"), ("add2023_testr2", "add2023"), ("sonar", "sonar"),
            ("my_la", "asvspoof2019_la")]
    assert resolve_corpora(rows, ("add2023", "sonar", "asvspoof2019_la", "dfadd")) == {
        "add2023": ("add2023_testr1", "add2023_testr2"), "sonar": ("sonar",),
        "asvspoof2019_la": ("my_la",), "dfadd": ()}


# --- sets as frozen selections ---------------------------------------------------------

@pytest.fixture
def tones(tmp_path):
    """A probed tone catalog (2 speakers x 4 files, corpus 'tones'); returns its path."""
    make_tone_catalog(tmp_path, speakers=2, per_speaker=4, seconds=0.3).close()
    return tmp_path / "c.duckdb"


def test_a_corpus_set_is_frozen_once_then_reused(tones):
    data = _suite([{"name": "all", "corpus": "tones"},
                   {"name": "wild", "corpus": "in_the_wild"}])
    with open_catalog(tones) as catalog:
        suite = parse_suite(data, "s.toml", known_corpora=known_corpora(catalog))
        first = resolve_sets(catalog, suite)
        row = catalog.execute("SELECT spec_hash, created_at, n_items FROM selections "
                              "WHERE name = 'bench.mini.all'").fetchone()
        again = resolve_sets(catalog, suite)
        assert catalog.execute("SELECT spec_hash, created_at, n_items FROM selections "
                               "WHERE name = 'bench.mini.all'").fetchone() == row
        splits = catalog.execute("SELECT DISTINCT split FROM selection_items WHERE "
                                 "selection = 'bench.mini.all'").fetchall()
    assert (first[0].frozen, again[0].frozen) == ("new", "reused")
    assert first[0].spec_hash == again[0].spec_hash == row[0] and row[2] == 8
    assert splits == [("test",)]
    assert (first[1].status, first[1].selection) == ("not prepared", "bench.mini.wild")
    assert "curate prepare in_the_wild ROOT" in first[1].reason


def test_a_changed_query_is_an_error_until_refrozen(tones):
    with open_catalog(tones) as catalog:
        known = known_corpora(catalog)
        resolve_sets(catalog, parse_suite(_suite([{"name": "all", "corpus": "tones"}]),
                                          "s.toml", known_corpora=known))
        changed = parse_suite(_suite([{"name": "all", "corpus": "tones",
                                       "labels": ["spoof"]}]), "s.toml",
                              known_corpora=known)
        with pytest.raises(CurateError, match=r"s.toml: \[\[set\]\] 'all': selection "
                                              r"'bench.mini.all' .*another query.*"
                                              r"--refreeze"):
            resolve_sets(catalog, changed)
        (redone,) = resolve_sets(catalog, changed, refreeze=True)
        n_items = catalog.execute("SELECT n_items FROM selections WHERE name = "
                                  "'bench.mini.all'").fetchone()[0]
    assert redone.frozen == "refrozen" and n_items == 4


def test_missing_subsets_and_selections_are_not_prepared(tones):
    with open_catalog(tones) as catalog:
        suite = parse_suite(_suite([{"name": "ev", "corpus": "tones", "subsets": ["eval"]},
                                    {"name": "sel", "selection": "nope:test"}]),
                            "s.toml", known_corpora=known_corpora(catalog))
        ev, sel = resolve_sets(catalog, suite)
    assert ev.status == sel.status == "not prepared"
    assert "subset eval is not in the catalog's tones" in ev.reason
    assert "no selection named 'nope'" in sel.reason


# --- runs on a suite -------------------------------------------------------------------

def _train(tmp_path, run_cli, steps: int) -> str:
    exp = tmp_path / f"tiny{steps}.toml"
    exp.write_text(tiny_experiment(steps))
    code, _, err = run_cli("train", exp, "--db", tmp_path / "c.duckdb", "--out",
                           tmp_path / "out")
    assert code == 0, err
    with open_catalog(tmp_path / "c.duckdb", read_only=True) as catalog:
        return catalog.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1"
                               ).fetchone()[0]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two tiny runs on the tone selection 'sel'; one train item made unreadable after."""
    from _pytest.monkeypatch import MonkeyPatch

    from curate import cli

    tmp_path = tmp_path_factory.mktemp("bench")
    make_tone_selection(tmp_path)
    patch = MonkeyPatch()

    def run_cli(*args):
        patch.setattr("sys.argv", ["curate", *map(str, args)])
        try:
            cli.main()
        except SystemExit as exc:
            return (exc.code or 0), "", ""
        return 0, "", ""

    runs = [_train(tmp_path, run_cli, 2), _train(tmp_path, run_cli, 4)]
    patch.undo()
    db = tmp_path / "c.duckdb"
    with open_catalog(db) as catalog:
        broken = catalog.execute("SELECT utt_id FROM selection_items WHERE selection = "
                                 "'sel' AND split = 'train' ORDER BY utt_id LIMIT 1"
                                 ).fetchone()[0]
        catalog.execute("UPDATE utterances SET status = 'unreadable' WHERE utt_id = ?",
                        [broken])
        # seeded scores for the second run's test split, so its EERs are not all 0 or 1
        ids = [r[0] for r in catalog.execute(
            "SELECT utt_id FROM scores WHERE run_id = ? AND eval_set = 'test' ORDER BY "
            "utt_id", [runs[1]]).fetchall()]
        noise = np.random.default_rng(7).normal(size=len(ids))
        catalog.con.register("_noise", pd.DataFrame({"utt_id": ids, "score": noise}))
        catalog.execute("UPDATE scores SET score = n.score FROM _noise n WHERE "
                        "scores.utt_id = n.utt_id AND scores.run_id = ? AND "
                        "scores.eval_set = 'test'", [runs[1]])
    suite = tmp_path / "mini.toml"
    suite.write_text('name = "mini"\n'
                     '[[set]]\nname = "tones"\ncorpus = "tones"\n'
                     '[[set]]\nname = "held_out"\nselection = "sel:test"\n'
                     '[[set]]\nname = "spoofs"\ncorpus = "tones"\nlabels = ["spoof"]\n'
                     '[[set]]\nname = "wild"\ncorpus = "in_the_wild"\n')
    return tmp_path, db, runs, suite


def _stored_scores(db: Path, run_id: str, eval_set: str) -> pd.DataFrame:
    with open_catalog(db, read_only=True) as catalog:
        return catalog.df("SELECT s.utt_id, s.score, u.label FROM scores s JOIN utterances "
                          "u USING (utt_id) WHERE s.run_id = ? AND s.eval_set = ? AND "
                          "u.status = 'ok' ORDER BY utt_id", [run_id, eval_set])


def _eer(frame: pd.DataFrame) -> float:
    is_bona = (frame["label"] == "bonafide").to_numpy()
    score = frame["score"].to_numpy()
    return compute_eer(score[is_bona], score[~is_bona])[0]


def test_benchmark_writes_a_leaderboard_with_checked_numbers(two_runs, run_cli):
    tmp_path, db, runs, suite = two_runs
    out = tmp_path / "board"
    before = {r: not _stored_scores(db, r, "bench.mini.tones:test").empty for r in runs}
    code, stdout, err = run_cli("benchmark", *runs, "--suite", suite, "--out", out,
                                "--db", db)
    assert code == 0, err
    assert "not prepared: wild" in stdout
    for name in ("leaderboard.md", "leaderboard.html", "leaderboard.json"):
        assert (out / name).is_file()
    board = json.loads((out / "leaderboard.json").read_text())
    results = {(r["run_id"], r["set"]): r for r in board["results"]}
    assert {s["name"]: s["status"] for s in board["sets"]} == {
        "tones": "ready", "held_out": "ready", "spoofs": "ready", "wild": "not prepared"}
    assert set(results) == {(r, s) for r in runs for s in ("tones", "held_out", "spoofs")}
    for run_id in runs:
        tones = _stored_scores(db, run_id, "bench.mini.tones:test")
        held = _stored_scores(db, run_id, "test")  # the run's own test split
        for name, frame in (("tones", tones), ("held_out", held)):
            entry = results[(run_id, name)]
            assert entry["eer"] == pytest.approx(_eer(frame), abs=1e-12)
            is_bona = (frame["label"] == "bonafide").to_numpy()
            score = frame["score"].to_numpy()
            assert entry["min_dcf"] == pytest.approx(
                min_dcf(score[is_bona], score[~is_bona])[0], abs=1e-12)
            assert entry["n_trials"] == len(frame)
        assert (results[(run_id, "tones")]["n_trials"],
                results[(run_id, "tones")]["n_skipped"]) == (23, 1)
        assert results[(run_id, "held_out")]["n_skipped"] == 0
        # the held-out split was scored by training: reused, not scored again
        assert results[(run_id, "held_out")]["provenance"]["scores"] == "reused"
        assert results[(run_id, "tones")]["provenance"]["scores"] == (
            "reused" if before[run_id] else "scored")
        # the overlap restriction of each (run, set)
        assert results[(run_id, "held_out")]["restriction"] == "corpora 1"
        assert "speakers" in results[(run_id, "tones")]["restriction"]
        # a spoof-only set has no EER of its own but its trials count in the pool
        spoofs = _stored_scores(db, run_id, "bench.mini.spoofs:test")
        entry = results[(run_id, "spoofs")]
        assert len(spoofs) == entry["n_trials"] == 12 - entry["n_skipped"]
        assert results[(run_id, "spoofs")]["eer"] is None
        assert results[(run_id, "spoofs")]["note"] == "one class only"
        # pooled: one EER over the union of all sets' trials
        summary = next(r for r in board["runs"] if r["run_id"] == run_id)
        assert summary["pooled_eer"] == pytest.approx(
            _eer(pd.concat([tones, held, spoofs], ignore_index=True)), abs=1e-12)
        assert summary["average_eer"] == pytest.approx(
            np.mean([_eer(tones), _eer(held)]), abs=1e-12)
        assert summary["n_trials"] == len(tones) + len(held) + len(spoofs)
        assert summary["n_sets"] == 2
    assert sorted(r["rank"] for r in board["runs"]) == [1, 2]
    assert 0.0 < results[(runs[1], "held_out")]["eer"] < 1.0  # the seeded scores
    text = (out / "leaderboard.md").read_text()
    assert "## Sets not prepared" in text and "wild: corpus in_the_wild" in text
    assert "tones EER %" in text and "held_out EER %" in text
    assert "<table>" in (out / "leaderboard.html").read_text()


def test_provenance_lets_a_reader_recompute_the_eer(two_runs):
    tmp_path, db, runs, suite_file = two_runs
    out = tmp_path / "prov"
    source = CatalogRef(db)
    suite = load_suite_for(source, str(suite_file))
    board = build_board(run_benchmark(source, runs, suite, out))
    with open_catalog(db, read_only=True) as catalog:
        spec_hash = catalog.execute("SELECT spec_hash FROM selections WHERE name = "
                                    "'bench.mini.tones'").fetchone()[0]
        recipe_hash = catalog.execute("SELECT recipe_hash FROM corpora WHERE name = "
                                      "'tones'").fetchone()[0]
    for entry in board["results"]:
        record = entry["provenance"]
        path = out / record["score_file"]
        assert sha256_of(path) == record["score_file_sha256"]
        trials = read_trials(path)
        assert len(trials) == record["n_trials"] == entry["n_trials"]
        if entry["eer"] is not None:
            assert _eer(trials) == entry["eer"]  # exact: the file holds the doubles
        assert [c["recipe_hash"] for c in record["corpora"]] == [recipe_hash]
        if entry["set"] == "tones":
            assert record["spec_hash"] == spec_hash
            assert record["selection"] == "bench.mini.tones" and record["split"] == "test"
            assert record["skipped_by_status"] == {"unreadable": 1}
    assert board["suite"]["sha256"] == sha256_of(suite_file)


def test_a_second_benchmark_scores_nothing(two_runs, run_cli, monkeypatch):
    tmp_path, db, runs, suite = two_runs
    assert run_cli("benchmark", *runs, "--suite", suite, "--out", tmp_path / "b1",
                   "--db", db)[0] == 0

    def refuse(*args, **kwargs):
        raise AssertionError("stored scores should have been reused")

    monkeypatch.setattr("curate.benchmark.runner.evaluate_run", refuse)
    outcome = run_benchmark(CatalogRef(db), runs, load_suite_for(CatalogRef(db),
                                                                 str(suite)),
                            tmp_path / "b2")
    assert outcome.scored == 0
    assert {o.provenance["scores"] for o in outcome.outcomes} == {"reused"}
    code, stdout, err = run_cli("benchmark", *runs, "--suite", suite, "--out",
                                tmp_path / "b3", "--db", db)
    assert code == 0, err
    assert "0 scored now" in stdout


def test_strict_refuses_sets_that_are_not_prepared(two_runs, run_cli):
    tmp_path, db, runs, suite = two_runs
    code, _, err = run_cli("benchmark", runs[0], "--suite", suite, "--out",
                           tmp_path / "strict", "--db", db, "--strict")
    assert code == 2
    assert "--strict: benchmark set 'wild'" in err and "not prepared" in err


def test_unknown_and_repeated_runs_are_errors(two_runs, run_cli):
    tmp_path, db, runs, suite = two_runs
    code, _, err = run_cli("benchmark", "nope-123", "--suite", suite, "--db", db,
                           "--out", tmp_path / "x")
    assert code == 2 and "no run 'nope-123'" in err
    code, _, err = run_cli("benchmark", runs[0], runs[0], "--suite", suite, "--db", db,
                           "--out", tmp_path / "x")
    assert code == 2 and "given twice" in err


def test_a_set_with_no_readable_item_is_listed_with_its_skipped_count(tones, tmp_path):
    from curate.benchmark.leaderboard import to_markdown

    with open_catalog(tones) as catalog:
        catalog.execute("UPDATE utterances SET status = 'unreadable'")
        catalog.execute("INSERT INTO runs (run_id, name, config, status) VALUES "
                        "('r1', 'r1', '{}', 'finished')")
    source = CatalogRef(tones)
    suite = parse_suite(_suite([{"name": "all", "corpus": "tones"}]), "s.toml",
                        known_corpora={"tones"})
    board = build_board(run_benchmark(source, ["r1"], suite, tmp_path / "out"))
    (entry,) = board["results"]
    assert (entry["n_trials"], entry["n_skipped"], entry["eer"], entry["note"]) == (
        0, 8, None, "no usable items")
    assert entry["provenance"]["skipped_by_status"] == {"unreadable": 8}
    assert entry["provenance"]["scores"] == "none"
    assert board["runs"][0]["average_eer"] is None
    assert "no usable items" in to_markdown(board)

"""Selections (first cut): filters, deterministic disjoint splits, holdout, errors."""

from __future__ import annotations

import pandas as pd
import pytest

from curate.catalog.db import open_catalog
from curate.errors import CurateError
from curate.select.freeze import compute_items, freeze, selection_rows
from curate.select.spec import parse_selection


def _catalog(tmp_path):
    """A catalog with 40 speakers x 5 utterances, 3 generators, 2 languages (no audio)."""
    rows = []
    for s in range(40):
        for k in range(5):
            spoof = k >= 2
            rows.append({
                "utt_id": f"c:{s}_{k}", "corpus": "c", "subset": "train", "path": f"{s}/{k}.wav",
                "label": "spoof" if spoof else "bonafide",
                "generator": f"c:g{k - 2}" if spoof else None,
                "language": "eng" if s % 2 else "deu", "speaker": f"s{s}",
                "duration_s": 1.0 + 0.1 * k, "status": "ok" if (s, k) != (0, 0) else "missing",
            })
    frame = pd.DataFrame(rows)
    catalog = open_catalog(tmp_path / "c.duckdb")
    catalog.con.register("_rows", frame)
    catalog.execute("INSERT INTO utterances BY NAME SELECT * FROM _rows")
    catalog.execute("INSERT INTO corpora (name, root, recipe, recipe_hash) "
                    "VALUES ('c', '/data/c', 'x', 'h')")
    return catalog


def _spec(**sections):
    return parse_selection({"name": "s", "seed": 7, **sections})


def test_filters_select_exactly_the_matching_rows(tmp_path):
    with _catalog(tmp_path) as catalog:
        items = compute_items(catalog, _spec(filter={"languages": ["deu"], "labels": ["spoof"],
                                                     "min_duration_s": 1.25}))
        rows = catalog.df("SELECT * FROM utterances").set_index("utt_id").loc[items.utt_id]
        assert len(items) == 20 * 2  # k in {3, 4} (1.3 s, 1.4 s) of 20 German speakers
        assert (rows.language == "deu").all() and (rows.label == "spoof").all()
        everything = compute_items(catalog, _spec())
        assert len(everything) == 199  # the missing file is left out (status = ok)
        assert len(compute_items(catalog, _spec(filter={"status": "any"}))) == 200


def test_splits_are_deterministic_disjoint_and_near_the_fractions(tmp_path):
    split = {"by": "speaker", "fractions": {"train": 0.6, "dev": 0.2, "test": 0.2}}
    with _catalog(tmp_path) as catalog:
        first = compute_items(catalog, _spec(split=split))
        second = compute_items(catalog, _spec(split=split))
        pd.testing.assert_frame_equal(first, second)
        other_seed = compute_items(catalog, parse_selection({"name": "s", "seed": 8,
                                                             "split": split}))
        assert not first.equals(other_seed)
        speakers = first.assign(spk=first.utt_id.str.split("_").str[0])
        assert speakers.groupby("spk")["split"].nunique().max() == 1
        shares = first["split"].value_counts(normalize=True)
        assert abs(shares["train"] - 0.6) < 0.05 and abs(shares["test"] - 0.2) < 0.05


def test_holdout_generators_only_in_test(tmp_path):
    split = {"by": "speaker", "fractions": {"train": 0.7, "test": 0.3}}
    with _catalog(tmp_path) as catalog:
        items = compute_items(catalog, _spec(split=split, holdout={"generators": ["c:g2"]}))
        rows = items.assign(gen=items.utt_id.str.endswith("_4"))
        assert set(rows[rows.gen]["split"]) == {"test"}
        assert rows[~rows.gen]["split"].isin(["train", "test"]).all()
        spk = rows.utt_id.str.split("_").str[0]
        assert rows.groupby(spk)["split"].nunique().max() == 1  # policy drop keeps disjoint
        moved = compute_items(catalog, _spec(split=split, holdout={"generators": ["c:g2"],
                                                                  "policy": "test"}))
        assert (moved.utt_id.str.endswith("_4")).sum() == 40


def test_freeze_stores_selection_and_rows_resolve_paths(tmp_path):
    with _catalog(tmp_path) as catalog:
        spec = _spec(split={"fractions": {"train": 0.5, "test": 0.5}})
        frozen = freeze(catalog, spec)
        assert frozen.n_items == 199
        stored = catalog.execute("SELECT name, spec_hash, seed, n_items FROM selections").fetchall()
        assert stored == [("s", spec.spec_hash, 7, 199)]
        assert set(frozen.splits["split"]) == {"train", "test"}
        rows = selection_rows(catalog, "s", "test")
        assert (rows["split"] == "test").all()
        assert rows["abspath"].str.startswith("/data/c/").all()
        freeze(catalog, spec)  # re-freezing replaces, never duplicates
        assert catalog.execute("SELECT count(*) FROM selection_items").fetchone()[0] == 199
        with pytest.raises(CurateError, match="no selection named 'nope'"):
            selection_rows(catalog, "nope")
        with pytest.raises(CurateError, match="selects no utterances"):
            freeze(catalog, _spec(filter={"corpora": ["absent"]}))


@pytest.mark.parametrize("data, message", [
    ({"name": "s", "colour": 1}, r"unknown key\(s\) colour in the top level"),
    ({"name": "s", "filter": {"langs": ["x"]}}, r"unknown key\(s\) langs in \[filter\]"),
    ({"name": "s", "split": {"fractions": {"train": 0.5}}}, "sum to 0.5"),
    ({"name": "s", "split": {"by": "book"}}, "split.by must be one of"),
    ({"name": "s", "holdout": {"generators": ["g"]}}, "needs a 'test' split"),
    ({"name": "s", "filter": {"labels": ["fake"]}}, "filter.labels has fake"),
    ({"name": "1bad"}, "name must be an identifier"),
])
def test_bad_specs_are_named(data, message):
    with pytest.raises(CurateError, match=message):
        parse_selection(data, "spec.toml")


def test_split_by_the_corpus_subsets(tmp_path):
    with _catalog(tmp_path) as catalog:
        catalog.execute("UPDATE utterances SET subset = CASE WHEN speaker IN ('s1', 's2') "
                        "THEN 'eval' WHEN speaker = 's3' THEN 'dev' ELSE subset END")
        spec = _spec(split={"by": "subset", "subsets": {"train": "train", "eval": "test"}},
                     holdout={"generators": ["c:g2"]})
        items = compute_items(catalog, spec).set_index("utt_id")["split"]
        assert items["c:1_0"] == "test" and items["c:5_1"] == "train"
        assert "c:3_0" not in items.index  # dev subset is not mapped: left out
        assert "c:5_4" not in items.index  # held-out generator outside test: dropped
        assert items["c:1_4"] == "test"
        with pytest.raises(CurateError, match="takes split.subsets, not fractions"):
            _spec(split={"by": "subset", "fractions": {"train": 1.0}})


def test_shipped_selection_specs_parse():
    from curate.recipes.spec import builtin_recipes_dir
    from curate.select.spec import load_selection

    specs = sorted((builtin_recipes_dir() / "selections").glob("*.toml"))
    assert specs
    for path in specs:
        assert load_selection(path).name == path.stem

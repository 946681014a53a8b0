"""Selections (first cut): filters, deterministic disjoint splits, holdout, errors."""

from __future__ import annotations

import numpy as np
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
            freeze(catalog, _spec(filter={"min_duration_s": 100.0}))
        with pytest.raises(CurateError, match="filter.corpora value 'absent' matches nothing"):
            freeze(catalog, _spec(filter={"corpora": ["absent"]}))  # tests/test_select_check.py
        assert catalog.execute("SELECT count(*) FROM selection_items").fetchone()[0] == 199


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


# --- quota, temperature, balance, dedup, where; agreement with the pandas reference ---

from curate.select.reference import NEEDED, select_pandas  # noqa: E402
from curate.select.synthetic import make_synthetic_catalog  # noqa: E402


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    catalog = open_catalog(tmp_path_factory.mktemp("syn") / "c.duckdb")
    make_synthetic_catalog(catalog, 6000, seed=3)
    yield catalog
    catalog.close()


def _rows(catalog, items):
    table = catalog.df("SELECT * FROM utterances").set_index("utt_id")
    return table.loc[items["utt_id"]].assign(split=items["split"].to_numpy(),
                                             weight=items["weight"].to_numpy())


def test_quota_caps_hours_per_group_within_one_utterance(synthetic):
    spec = _spec(quota={"by": ["language", "label"], "hours": 0.5,
                        "caps": {"language": {"eng": 0.2}}})
    rows = _rows(synthetic, compute_items(synthetic, spec))
    hours = rows.groupby(["language", "label"])["duration_s"].sum() / 3600
    available = (synthetic.df("SELECT language, label, sum(duration_s) / 3600 AS h FROM "
                              "utterances WHERE status = 'ok' GROUP BY ALL")
                 .set_index(["language", "label"])["h"])
    longest = 10.0 / 3600
    for (language, label), value in hours.items():
        cap = 0.2 if language == "eng" else 0.5
        assert value <= cap + 1e-9
        assert value >= min(cap, available[(language, label)]) - longest  # within one utterance
    counted = compute_items(synthetic, _spec(quota={"by": ["corpus"], "count": 100}))
    per_corpus = counted["utt_id"].str.split(":").str[0].value_counts()
    assert (per_corpus == 100).all()


def test_temperature_flattens_the_language_distribution(synthetic):
    # make languages unequal: drop 3/4 of every language but English
    base = _spec(filter={"where": "language = 'eng' OR hash(utt_id) % 4 = 0"})
    natural = _rows(synthetic, compute_items(synthetic, base))
    share = natural.groupby("language")["duration_s"].sum()
    share /= share.sum()
    hot = _rows(synthetic, compute_items(synthetic, _spec(
        filter={"where": "language = 'eng' OR hash(utt_id) % 4 = 0"},
        quota={"temperature": 5.0, "temperature_by": "language"})))
    flat = hot.groupby("language")["duration_s"].sum()
    flat /= flat.sum()
    assert share["eng"] > 0.2 and flat["eng"] < share["eng"] - 0.05
    assert flat.max() / flat.min() < share.max() / share.min()


def test_balance_downsample_and_weight(synthetic):
    rows = _rows(synthetic, compute_items(synthetic, _spec(balance={"ratio": 1.0})))
    counts = rows["label"].value_counts()
    assert abs(counts["bonafide"] - counts["spoof"]) <= 1
    rows = _rows(synthetic, compute_items(synthetic, _spec(balance={"ratio": 0.5,
                                                                    "by": ["language"]})))
    per = rows.groupby(["language", "label"]).size().unstack()
    assert ((per["bonafide"] - 0.5 * per["spoof"]).abs() <= 1).all()
    weighted = _rows(synthetic, compute_items(synthetic, _spec(
        balance={"ratio": 1.0, "method": "weight"})))
    mass = weighted.groupby("label")["weight"].sum()
    assert abs(mass["bonafide"] - mass["spoof"]) < 1e-6 * len(weighted)
    assert len(weighted) == len(compute_items(synthetic, _spec()))


def test_dedup_content_hash_and_source(synthetic):
    plain = _rows(synthetic, compute_items(synthetic, _spec()))
    assert plain["content_hash"].duplicated().any()
    rows = _rows(synthetic, compute_items(synthetic, _spec(dedup={"content_hash": True})))
    assert not rows["content_hash"].duplicated().any()
    kept = plain.sort_index().drop_duplicates("content_hash").index
    assert set(rows.index) == set(kept)  # the smallest utt_id of each hash is kept
    rows = _rows(synthetic, compute_items(synthetic, _spec(dedup={"source_utt": True})))
    spoof = rows[rows.label == "spoof"]
    assert not spoof["source_utt"].duplicated().any()


def test_where_escape_hatch_is_checked_and_applied(synthetic):
    rows = _rows(synthetic, compute_items(synthetic, _spec(
        filter={"where": "duration_s BETWEEN 2 AND 3 AND language IN ('deu', 'pol')"})))
    assert rows["duration_s"].between(2, 3).all()
    assert set(rows["language"]) == {"deu", "pol"}
    with pytest.raises(CurateError, match="not a column of utterances"):
        _spec(filter={"where": "colour = 'red'"})
    with pytest.raises(CurateError, match="may not contain ';'"):
        _spec(filter={"where": "label = 'spoof'; DROP TABLE utterances"})
    with pytest.raises(CurateError, match="'SELECT' is not a column"):
        _spec(filter={"where": "utt_id IN (SELECT utt_id FROM selection_items)"})


@pytest.mark.parametrize("sections", [
    {},
    {"split": {"by": "speaker", "fractions": {"train": 0.7, "dev": 0.1, "test": 0.2}},
     "holdout": {"generators": ["syn1:A03"]}},
    {"dedup": {"content_hash": True, "source_utt": True},
     "quota": {"by": ["language", "label"], "hours": 0.4, "caps": {"label": {"spoof": 0.3}}},
     "balance": {"ratio": 1.0, "by": ["corpus"]},
     "split": {"by": "source_utt", "fractions": {"train": 0.8, "test": 0.2}}},
    {"quota": {"temperature": 2.0, "temperature_by": "corpus"},
     "balance": {"ratio": 2.0, "method": "weight"},
     "split": {"by": "subset", "subsets": {"train": "train", "eval": "test"}}},
])
def test_sql_freeze_equals_the_pandas_reference(synthetic, sections):
    spec = _spec(**sections)
    sql_items = compute_items(synthetic, spec)
    frame = synthetic.df(f"SELECT {', '.join(NEEDED)} FROM utterances")
    pandas_items = select_pandas(frame, spec)
    assert len(sql_items) > 100
    pd.testing.assert_frame_equal(sql_items[["utt_id", "split"]],
                                  pandas_items[["utt_id", "split"]])
    np.testing.assert_allclose(sql_items["weight"], pandas_items["weight"], rtol=1e-9)

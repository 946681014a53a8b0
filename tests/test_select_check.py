"""Ids in a selection spec that match nothing in the catalog are errors, not no-ops.

The scenario the check exists for: an "unseen attack" test set whose holdout names
the attack without its corpus (``A05`` for ``asvspoof2019_la:A05``). Silently
ignored, the held-out attack would be in training as well as in test.
"""

from __future__ import annotations

import pandas as pd
import pytest

from curate.catalog.db import open_catalog
from curate.errors import CurateError
from curate.select.check import KnownIds, check_ids, closest_first
from curate.select.freeze import compute_items, freeze
from curate.select.spec import SEED_MAX, SEED_MIN, parse_selection

LA = "asvspoof2019_la"


def _catalog(path):
    """ASVspoof-2019-LA-like rows: 8 speakers x (2 bonafide + A01..A06) in train and dev,
    A07..A09 only in eval; plus a German corpus 'mls_deu' whose rows are all pending."""
    rows = []
    for subset, attacks in (("train", range(1, 7)), ("dev", range(1, 7)),
                            ("eval", range(7, 10))):
        for s in range(8):
            speaker = f"{subset}{s}"
            for k in range(2):
                rows.append({"utt_id": f"{LA}:{speaker}_b{k}", "corpus": LA,
                             "subset": subset, "path": f"{speaker}_b{k}.flac",
                             "label": "bonafide", "language": "eng", "speaker": speaker,
                             "duration_s": 2.0, "status": "ok"})
            for a in attacks:
                rows.append({"utt_id": f"{LA}:{speaker}_A{a:02d}", "corpus": LA,
                             "subset": subset, "path": f"{speaker}_A{a:02d}.flac",
                             "label": "spoof", "generator": f"{LA}:A{a:02d}",
                             "language": "eng", "speaker": speaker, "duration_s": 2.0,
                             "status": "ok"})
    for s in range(3):
        rows.append({"utt_id": f"mls_deu:{s}", "corpus": "mls_deu", "subset": "train",
                     "path": f"{s}.flac", "label": "bonafide", "language": "deu",
                     "speaker": f"d{s}", "status": "pending"})
    catalog = open_catalog(path)
    catalog.con.register("_rows", pd.DataFrame(rows))
    catalog.execute("INSERT INTO utterances BY NAME SELECT * FROM _rows")
    catalog.execute("INSERT INTO corpora (name, root, recipe, recipe_hash) VALUES "
                    f"('{LA}', '/la', 'x', 'h'), ('mls_deu', '/mls', 'x', 'h')")
    return catalog


@pytest.fixture
def catalog(tmp_path):
    with _catalog(tmp_path / "c.duckdb") as cat:
        yield cat


UNSEEN = {"name": "unseen", "seed": 0,
          "filter": {"corpora": [LA], "subsets": ["train", "dev"]},
          "holdout": {"generators": ["A05", "A06"], "policy": "drop"},
          "split": {"by": "speaker", "fractions": {"train": 0.7, "dev": 0.1, "test": 0.2}}}


def _with(base: dict, section: str, **values) -> dict:
    return {**base, section: {**base.get(section, {}), **values}}


def test_unseen_test_set_with_unnamespaced_holdout_is_refused(catalog):
    spec = parse_selection(UNSEEN, "unseen.toml")
    with pytest.raises(CurateError) as err:
        freeze(catalog, spec)
    message = str(err.value)
    assert message == ("unseen.toml: holdout.generators value 'A05' is not namespaced "
                       "(generators are corpus:ID); write 'asvspoof2019_la:A05'")
    assert catalog.execute("SELECT count(*) FROM selections").fetchone()[0] == 0
    with pytest.raises(CurateError, match="not namespaced"):
        compute_items(catalog, spec)
    # namespaced, the attacks are held out: never in train or dev, all in test
    fixed = parse_selection(_with(UNSEEN, "holdout", generators=[f"{LA}:A05", f"{LA}:A06"]))
    items = compute_items(catalog, fixed)
    held = items["utt_id"].str.endswith(("_A05", "_A06"))
    assert held.any() and set(items.loc[held, "split"]) == {"test"}
    assert not items.loc[~items["split"].eq("test"), "utt_id"].str.endswith(
        ("_A05", "_A06")).any()


def test_holdout_generator_outside_the_filtered_rows_is_refused(catalog):
    """A07 exists, but only in eval, which [filter] leaves out: holding it out is a no-op."""
    data = _with(UNSEEN, "holdout", generators=[f"{LA}:A07"])
    with pytest.raises(CurateError) as err:
        compute_items(catalog, parse_selection(data, "unseen.toml"))
    assert str(err.value).startswith(
        "unseen.toml: holdout.generators value 'asvspoof2019_la:A07' matches nothing in the "
        "rows [filter] keeps; use generators that exist there (closest first): ")
    assert "asvspoof2019_la:A09" not in str(err.value)  # eval-only attacks are not offered


@pytest.mark.parametrize("section, values, message", [
    ("filter", {"corpora": ["asvspoof2019"]},
     "filter.corpora value 'asvspoof2019' matches nothing in the catalog; use corpora that "
     "exist there (closest first): asvspoof2019_la, mls_deu"),
    ("filter", {"generators": ["A01"]},
     "filter.generators value 'A01' is not namespaced (generators are corpus:ID); write "
     "'asvspoof2019_la:A01'"),
    ("filter", {"languages": ["en"]},
     "filter.languages value 'en' matches nothing in corpora asvspoof2019_la; use languages "
     "that exist there (closest first): eng"),
    ("filter", {"subsets": ["train", "test"]},
     "filter.subsets value 'test' matches nothing in corpora asvspoof2019_la; use subsets "
     "that exist there (closest first): dev, eval, train"),
    ("holdout", {"corpora": ["mls_deu"]},
     "holdout.corpora value 'mls_deu' matches nothing in the rows [filter] keeps; use "
     "corpora that exist there (closest first): asvspoof2019_la"),
    ("holdout", {"languages": ["deu", "fra"]},
     "holdout.languages values 'deu', 'fra' match nothing in the rows [filter] keeps; use "
     "languages that exist there (closest first): eng"),
])
def test_unknown_ids_name_key_value_and_what_exists(catalog, section, values, message):
    data = _with(_with(UNSEEN, "holdout", generators=[f"{LA}:A05"]), section, **values)
    with pytest.raises(CurateError) as err:
        compute_items(catalog, parse_selection(data, "unseen.toml"))
    assert str(err.value) == "unseen.toml: " + message


def test_split_subsets_keys_must_exist_in_the_corpora(catalog):
    data = {"name": "proto", "filter": {"corpora": [LA]},
            "split": {"by": "subset", "subsets": {"train": "train", "evaluation": "test"}}}
    with pytest.raises(CurateError, match="split.subsets value 'evaluation' matches nothing "
                                          "in corpora asvspoof2019_la; .*: eval, "):
        freeze(catalog, parse_selection(data, "proto.toml"))
    data["split"]["subsets"] = {"train": "train", "dev": "dev", "eval": "test"}
    frozen = freeze(catalog, parse_selection(data, "proto.toml"))
    assert set(frozen.splits["split"]) == {"train", "dev", "test"}


def test_existing_ids_pass_and_unprobed_corpora_still_exist(catalog):
    spec = parse_selection({"name": "all", "filter": {
        "corpora": [LA, "mls_deu"], "languages": ["eng", "deu"],
        "generators": [f"{LA}:A01"], "labels": ["spoof"]}})
    assert len(compute_items(catalog, spec)) == 16  # A01 in train and dev
    pending = parse_selection({"name": "de", "filter": {"corpora": ["mls_deu"]}})
    with pytest.raises(CurateError, match="selects no utterances"):  # exists, not probed
        freeze(catalog, pending)


def test_a_refused_freeze_keeps_the_earlier_selection(catalog):
    good = parse_selection({"name": "x", "filter": {"corpora": [LA]}})
    assert freeze(catalog, good).n_items > 0
    before = catalog.execute("SELECT count(*) FROM selection_items").fetchone()[0]
    with pytest.raises(CurateError, match="filter.corpora"):
        freeze(catalog, parse_selection({"name": "x", "filter": {"corpora": ["la"]}}))
    assert catalog.execute("SELECT count(*) FROM selection_items").fetchone()[0] == before


# ------------------------------------------------------------------ the pure function

def _spec(**sections):
    return parse_selection({"name": "s", "split": {"fractions": {"train": 0.5, "test": 0.5}},
                            **sections}, "s.toml")


def test_closest_first_then_the_rest_capped():
    existing = [f"c:A{i:02d}" for i in range(1, 20)]
    shown, more = closest_first(["c:A17"], existing + ["c:A17x"])
    assert shown[:2] == ["c:A17", "c:A17x"] or shown[0] == "c:A17x"
    assert len(shown) == 8 and more == 20 - 8
    assert closest_first(["zzz"], ["b", "a"]) == (["a", "b"], 0)


def test_long_lists_are_cut_with_a_count():
    known = KnownIds(corpora=("c",), generators=tuple(f"c:g{i:02d}" for i in range(30)),
                     kept_generators=tuple(f"c:g{i:02d}" for i in range(30)))
    with pytest.raises(CurateError) as err:
        check_ids(_spec(holdout={"generators": ["c:g7"]}), known)
    message = str(err.value)
    assert message.startswith("s.toml: holdout.generators value 'c:g7' matches nothing in the "
                              "catalog; use generators that exist there (closest first): ")
    assert message.endswith("(and 22 more)") and message.count("c:g") == 1 + 8


def test_several_namespaced_matches_are_all_offered():
    known = KnownIds(corpora=("a", "b"), generators=("a:A05", "b:A05", "b:A06"),
                     kept_generators=("a:A05", "b:A05", "b:A06"))
    with pytest.raises(CurateError, match="write one of 'a:A05', 'b:A05'$"):
        check_ids(_spec(holdout={"generators": ["A05"]}), known)
    with pytest.raises(CurateError) as err:
        check_ids(_spec(filter={"generators": ["A07"]}), known)  # no namespaced match
    head, listed = str(err.value).split(" (closest first): ")
    assert head == ("s.toml: filter.generators value 'A07' matches nothing in the catalog; "
                    "use generators (written corpus:ID) that exist there")
    assert sorted(listed.split(", ")) == ["a:A05", "b:A05", "b:A06"]


def test_a_scope_without_any_values_says_so():
    known = KnownIds(corpora=("c",), generators=(), kept_generators=())
    with pytest.raises(CurateError, match="matches nothing in the rows \\[filter\\] keeps, "
                                          "which has no generators at all; remove it"):
        check_ids(_spec(filter={"labels": ["bonafide"]}, holdout={"generators": ["c:g"]}),
                  known)
    check_ids(_spec(), KnownIds())  # nothing named, nothing to check


# ----------------------------------------------------------------------------- seed

@pytest.mark.parametrize("seed", [SEED_MAX + 1, SEED_MIN - 1, 2 ** 64, -(2 ** 64), 10 ** 40])
def test_seed_outside_int64_is_refused(seed):
    with pytest.raises(CurateError) as err:
        parse_selection({"name": "s", "seed": seed}, "s.toml")
    assert str(err.value) == ("s.toml: seed is outside the signed 64-bit range the catalog "
                              "stores; use an integer from -9223372036854775808 to "
                              "9223372036854775807")


@pytest.mark.parametrize("seed", [SEED_MAX, SEED_MIN, 0, -1])
def test_seed_at_the_int64_bounds_freezes(catalog, seed):
    frozen = freeze(catalog, parse_selection({"name": "s", "seed": seed,
                                              "filter": {"corpora": [LA]}}))
    assert frozen.n_items > 0
    assert catalog.execute("SELECT seed FROM selections").fetchone()[0] == seed


def test_curate_select_names_the_spec_file_and_exits_2(tmp_path, run_cli):
    db = tmp_path / "c.duckdb"
    _catalog(db).close()
    spec = tmp_path / "unseen.toml"
    spec.write_text('name = "unseen"\n[filter]\ncorpora = ["asvspoof2019_la"]\n'
                    '[holdout]\ngenerators = ["A05"]\n'
                    '[split]\nfractions = { train = 0.8, test = 0.2 }\n')
    code, out, err = run_cli("select", spec, "--db", db)
    assert code == 2 and "Traceback" not in err
    assert f"{spec}: holdout.generators value 'A05' is not namespaced" in " ".join(err.split())
    assert "'asvspoof2019_la:A05'" in err

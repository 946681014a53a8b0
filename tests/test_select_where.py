"""``[filter] where`` narrows a selection and can never widen it.

The catalog holds two corpora, and rows whose status is not ``ok`` (missing,
pending). A ``where`` is checked (balanced parentheses outside string literals, no
comments, no statements) and then applied only to the rows every other filter keeps,
so even a balanced ``(...) OR (1=1)`` reaches nothing outside them.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from curate.catalog.db import open_catalog
from curate.errors import CurateError
from curate.select.freeze import compute_items, freeze
from curate.select.spec import parse_selection
from curate.select.where import check_where

LA = "asvspoof2019_la"


def _catalog(path):
    """Two corpora of 6 speakers x 4 utterances; per corpus one row is missing and one
    pending (not probed). Languages: eng in LA, deu in the other one."""
    rows = []
    for corpus, language in ((LA, "eng"), ("wavefake", "deu")):
        for s in range(6):
            for k in range(4):
                status = {(0, 0): "missing", (1, 1): "pending"}.get((s, k), "ok")
                rows.append({
                    "utt_id": f"{corpus}:{s}_{k}", "corpus": corpus, "subset": "train",
                    "path": f"{s}/{k}.wav", "label": "spoof" if k >= 2 else "bonafide",
                    "generator": f"{corpus}:A0{k}" if k >= 2 else None,
                    "language": language, "speaker": f"s{s}", "duration_s": 0.5 + k,
                    "status": status})
    catalog = open_catalog(path)
    catalog.con.register("_rows", pd.DataFrame(rows))
    catalog.execute("INSERT INTO utterances BY NAME SELECT * FROM _rows")
    catalog.execute("INSERT INTO corpora (name, root, recipe, recipe_hash) VALUES "
                    f"('{LA}', '/la', 'x', 'h'), ('wavefake', '/wf', 'x', 'h')")
    return catalog


@pytest.fixture
def catalog(tmp_path):
    with _catalog(tmp_path / "c.duckdb") as cat:
        yield cat


def _spec(where=None, **flt):
    data = {"name": "s", "seed": 3, "filter": {"corpora": [LA], **flt}}
    if where is not None:
        data["filter"]["where"] = where
    return parse_selection(data, "sel.toml")


def _rows(catalog, items):
    table = catalog.df("SELECT * FROM utterances").set_index("utt_id")
    return table.loc[items["utt_id"]]


def test_the_widening_string_is_refused_as_unbalanced(catalog):
    with pytest.raises(CurateError) as err:
        _spec("duration_s > 1) OR (1=1")
    message = str(err.value)
    assert message.startswith("sel.toml: filter.where has unbalanced parentheses")
    assert "character 14" in message and "\n" not in message


def test_a_balanced_widening_reaches_no_other_corpus_and_no_other_status(catalog):
    plain = compute_items(catalog, _spec())
    widened = compute_items(catalog, _spec("(duration_s > 1) OR (1=1)"))
    pd.testing.assert_frame_equal(plain, widened)  # true everywhere: the same rows
    rows = _rows(catalog, widened)
    assert set(rows["corpus"]) == {LA} and set(rows["status"]) == {"ok"}
    assert len(rows) == 6 * 4 - 2  # LA minus its missing and pending rows
    # every other filter holds as well: labels, durations, status = any
    spoof = _rows(catalog, compute_items(catalog, _spec(
        "(label = 'bonafide') OR (1=1)", labels=["spoof"], max_duration_s=3.0)))
    assert set(spoof["label"]) == {"spoof"} and spoof["duration_s"].max() <= 3.0
    assert set(spoof["corpus"]) == {LA}
    every = _rows(catalog, compute_items(catalog, _spec("(1=1) OR (status <> 'ok')",
                                                        status="any")))
    assert set(every["corpus"]) == {LA} and len(every) == 24


def test_structurally_even_unchecked_text_stays_inside_the_other_filters(catalog):
    """The guarantee does not rest on the checker: text that slipped past it (here set
    on the spec directly) is still applied to the restricted rows only."""
    base = _spec()
    for text in ("duration_s > 1) OR (1=1", "1=1) OR (corpus = 'wavefake'",
                 "status = 'missing') OR (status = 'pending'"):
        raw = dataclasses.replace(base, filter=dataclasses.replace(base.filter, where=text))
        rows = _rows(catalog, compute_items(catalog, raw))
        assert set(rows["corpus"]) <= {LA} and set(rows["status"]) <= {"ok"}


def test_narrowing_still_works_and_freezes(catalog):
    frozen = freeze(catalog, _spec("duration_s > 2 AND speaker IN ('s2', 's3')"))
    assert frozen.n_items == 4  # k in {2, 3} of two speakers
    stored = catalog.df("SELECT u.* FROM selection_items i JOIN utterances u USING (utt_id)")
    assert set(stored["corpus"]) == {LA} and (stored["duration_s"] > 2).all()


@pytest.mark.parametrize("text, message", [
    (") OR (", "the '\\)' at character 0 closes nothing"),
    ("label = 'spoof') OR (label = 'bonafide'", "closes nothing"),
    ("(duration_s > 1", "1 '\\(' never closed"),
    ("((duration_s > 1) OR (speaker = 'x')", "1 '\\(' never closed"),
    (")(", "closes nothing"),
    ("lower(speaker) = 'a' )", "closes nothing"),
    ("speaker = ')' OR (1=1", "never closed"),
])
def test_unbalanced_parentheses_are_one_sentence_naming_the_key(text, message):
    with pytest.raises(CurateError, match=message) as err:
        check_where(text, "spec.toml")
    assert str(err.value).startswith("spec.toml: filter.where has unbalanced parentheses")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text, message", [
    ("label = 'spoof' -- ) OR (1=1", "may not contain '--'"),
    ("label = 'spoof' /* x */", "may not contain '/\\*'"),
    ("label = 'spoof'; DELETE FROM utterances", "may not contain ';'"),
    ("utt_id IN (SELECT utt_id FROM utterances)", "'SELECT' is not a column"),
    ('speaker = "a)b"', "unexpected"),
    ("label = 'spoof", "unexpected"),
])
def test_comments_statements_and_other_quotes_are_refused(text, message):
    with pytest.raises(CurateError, match=message):
        check_where(text, "spec.toml")


@pytest.mark.parametrize("text", [
    "speaker = 'a)b'",
    "speaker = '(('",
    "speaker = 'it''s)' OR speaker = ')'",
    "speaker = '--' OR speaker = ';'",
    "(lower(speaker) = 's1') AND (duration_s BETWEEN 1 AND 3)",
])
def test_parentheses_and_markers_inside_string_literals_are_text(text):
    assert check_where(text, "spec.toml") == text


def test_string_literal_with_a_paren_selects_by_its_text(catalog):
    catalog.execute(f"UPDATE utterances SET speaker = 'a)b' WHERE utt_id = '{LA}:2_3'")
    items = compute_items(catalog, _spec("speaker = 'a)b'"))
    assert list(items["utt_id"]) == [f"{LA}:2_3"]

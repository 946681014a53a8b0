"""Property-based tests (Hypothesis): user input never crashes, it parses or is refused
with one sentence.

- selection specs (``curate.select.spec``), from dicts and from TOML text, with keys
  and values mangled: a :class:`SelectionSpec` whose freeze runs, or a CurateError;
- ``[filter] where`` token soups: accepted (balanced, bound, and a freeze with it
  never selects a row outside the other filters) or a one-line CurateError;
- the metadata readers (``read_table`` for delimited files, ``read_fields`` for
  whitespace protocols): the documented table, or a CurateError naming ``file:line``.

Examples are derandomized and few, so the file is deterministic and quick.
"""

from __future__ import annotations

import copy
import json
import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from curate.catalog.columns import UTTERANCE_COLUMNS
from curate.catalog.db import open_catalog
from curate.errors import CurateError
from curate.recipes.corpora._common import read_fields
from curate.recipes.readers import read_table
from curate.select.freeze import compute_items
from curate.select.spec import SelectionSpec, load_selection, parse_selection
from curate.select.sql import freeze_query
from curate.select.where import FUNCTIONS, KEYWORDS, check_where

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _one_sentence(exc: CurateError, name: str | None = None) -> str:
    message = str(exc)
    assert message and "\n" not in message and "Traceback" not in message
    if name is not None:
        assert name in message, message
    return message


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """Two corpora, both labels, three statuses, a few languages and subsets."""
    rows = []
    for corpus in ("c", "d"):
        for s in range(5):
            for k in range(4):
                rows.append({
                    "utt_id": f"{corpus}:{s}_{k}", "corpus": corpus,
                    "subset": ("train", "dev", "eval")[s % 3], "path": f"{s}_{k}.wav",
                    "label": "spoof" if k >= 2 else "bonafide",
                    "generator": f"{corpus}:g{k}" if k >= 2 else None,
                    "language": ("eng", "deu")[s % 2], "speaker": f"s{s}",
                    "source_utt": f"{corpus}:{s}_0" if k >= 2 else None,
                    "content_hash": f"h{s}{k % 3}", "duration_s": 0.5 + k + s / 10,
                    "status": {0: "missing", 7: "pending"}.get(5 * k + s, "ok")})
    cat = open_catalog(tmp_path_factory.mktemp("props") / "c.duckdb")
    cat.con.register("_rows", pd.DataFrame(rows))
    cat.execute("INSERT INTO utterances BY NAME SELECT * FROM _rows")
    cat.execute("INSERT INTO corpora (name, root, recipe, recipe_hash) VALUES "
                "('c', '/c', 'x', 'h'), ('d', '/d', 'x', 'h')")
    yield cat
    cat.close()


# ------------------------------------------------------------------- selection specs

VALID = {
    "name": "prop", "seed": 5,
    "filter": {"corpora": ["c"], "languages": ["eng", "deu"], "labels": ["bonafide", "spoof"],
               "subsets": ["train", "dev", "eval"], "min_duration_s": 0.1,
               "max_duration_s": 30.0, "status": "ok", "where": "duration_s > 0.2"},
    "holdout": {"generators": ["c:g3"], "policy": "drop"},
    "split": {"by": "speaker", "fractions": {"train": 0.6, "dev": 0.2, "test": 0.2}},
    "quota": {"by": ["language", "label"], "hours": 1.0, "caps": {"language": {"eng": 0.5}},
              "temperature": 2.0, "temperature_by": "language"},
    "balance": {"ratio": 1.0, "by": ["language"], "method": "downsample"},
    "dedup": {"content_hash": True, "source_utt": False},
}

KEYS = sorted({"name", "seed", "filter", "holdout", "split", "quota", "balance", "dedup",
               "corpora", "languages", "labels", "generators", "subsets", "status", "where",
               "min_duration_s", "max_duration_s", "policy", "by", "fractions", "hours",
               "count", "caps", "temperature", "temperature_by", "total_hours", "ratio",
               "method", "content_hash", "source_utt", "train", "dev", "test", "eval",
               "language", "corpus", "speaker", "utt", "subset", "colour", ""})
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-2 ** 70, max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(KEYS),
    st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=8)
# Values a spec could well hold: ids of the test catalog (and near misses), split and
# column names, small numbers; most mutations with these still parse.
WORDS = ["c", "d", "x", "eng", "deu", "fra", "train", "dev", "test", "eval", "speaker",
         "subset", "utt", "source_utt", "c:g2", "c:g3", "d:g3", "g3", "drop", "weight",
         "downsample", "language", "corpus", "label", "any", "missing", "spoof", "bonafide"]
plausible = st.one_of(
    st.sampled_from(WORDS), st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
    st.floats(min_value=0, max_value=3), st.integers(-2, 40), st.booleans(),
    st.dictionaries(st.sampled_from(WORDS), st.one_of(st.floats(0, 1), st.sampled_from(WORDS)),
                    min_size=1, max_size=3))


def _paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, prefix + (key,))


@st.composite
def mangled_specs(draw):
    """The valid spec with a few keys deleted, renamed, or given other values."""
    data = copy.deepcopy(VALID)
    for _ in range(draw(st.sampled_from((1, 1, 2, 3)))):
        path = draw(st.sampled_from(list(_paths(data))[1:]))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(("value", "value", "delete", "rename", "add")))
        if action == "value":
            parent[path[-1]] = draw(st.one_of(plausible, plausible, values))
        elif action == "delete":
            del parent[path[-1]]
        elif action == "rename":
            parent[draw(st.sampled_from(KEYS))] = parent.pop(path[-1])
        else:
            parent[draw(st.sampled_from(KEYS))] = draw(values)
    return data


def _accepted_spec_runs(catalog, spec: SelectionSpec) -> None:
    assert isinstance(spec, SelectionSpec)
    assert json.loads(spec.to_json())["name"] == spec.name and len(spec.spec_hash) == 32
    assert freeze_query(spec).startswith("WITH restricted AS")
    try:
        items = compute_items(catalog, spec)
    except CurateError as exc:
        message = _one_sentence(exc)
        # an id the catalog lacks, or a where that binds but fails on the data (a cast)
        assert ("matches nothing" in message or "is not namespaced" in message
                or (spec.filter.where and "failed in the catalog" in message)), message
        return
    assert set(items.columns) == {"utt_id", "split", "weight"}
    assert items["utt_id"].is_unique


@settings(max_examples=200, **SETTINGS)
@given(data=mangled_specs())
def test_mangled_spec_dicts_parse_or_are_refused_by_name(catalog, data):
    try:
        spec = parse_selection(data, "spec.toml")
    except CurateError as exc:
        assert _one_sentence(exc, "spec.toml").startswith("spec.toml: ")
        event("refused")
        return
    event("accepted")
    _accepted_spec_runs(catalog, spec)


@settings(max_examples=60, **SETTINGS)
@given(data=st.one_of(values, st.dictionaries(st.sampled_from(KEYS), values, max_size=6)))
def test_arbitrary_values_as_a_spec_never_crash(data):
    try:
        spec = parse_selection(data if isinstance(data, dict) else {"name": data}, "spec.toml")
    except CurateError as exc:
        _one_sentence(exc, "spec.toml")
        return
    assert isinstance(spec, SelectionSpec)


VALID_TOML = """\
name = "prop"
seed = 5
[filter]
corpora = ["c"]
languages = ["eng", "deu"]
min_duration_s = 0.1
where = "duration_s > 0.2 AND speaker <> 's1'"
[holdout]
generators = ["c:g3"]
[split]
by = "speaker"
fractions = { train = 0.7, test = 0.3 }
[quota]
by = ["language"]
count = 10
[balance]
ratio = 1.0
"""


@st.composite
def mangled_toml(draw):
    """The valid TOML text with a few characters deleted, replaced or inserted."""
    text = VALID_TOML
    alphabet = st.sampled_from(list("=[]{}\"',.#\n 0123456789-+_abcxyzAB()e") + ["\t", "\\"])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(("delete", "replace", "insert")))
        char = draw(alphabet)
        if action == "delete":
            text = text[:at] + text[at + 1:]
        elif action == "replace":
            text = text[:at] + char + text[at + 1:]
        else:
            text = text[:at] + char + text[at:]
    return text


@settings(max_examples=80, **SETTINGS)
@given(text=mangled_toml())
def test_mangled_spec_toml_loads_or_is_refused_by_file(catalog, tmp_path_factory, text):
    path = tmp_path_factory.getbasetemp() / "mangled.toml"
    path.write_text(text, encoding="utf-8")
    try:
        spec = load_selection(path)
    except CurateError as exc:
        _one_sentence(exc, str(path))
        event("refused")
        return
    event("accepted")
    _accepted_spec_runs(catalog, spec)


# ----------------------------------------------------------------------- where soups

WHERE_TOKENS = (
    sorted(UTTERANCE_COLUMNS) + sorted(KEYWORDS) + [f + "(" for f in sorted(FUNCTIONS)]
    + ["(", ")", ")", "(", ",", "=", "<>", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/",
       "%", "||", "::", "1", "0", "2.5", ".5", "1e3", "9999999999999999999999",
       "'x'", "'a)b'", "'(('", "'it''s'", "'--'", "';'", "'eng'", "'c'", "'spoof'",
       ";", "--", "/*", "\"", "'", "SELECT", "utterances", "colour", "\n", "é", "?", "$1",
       "@", "[", "]", "{", "}", "\\", "OR 1=1", ") OR (", "1=1", "label = 'spoof'",
       "duration_s > 1"])


# Pieces of well-formed expressions, drawn as often as all the others together.
COMMON_TOKENS = ["(", ")", "AND", "OR", "NOT", "duration_s > 1", "label = 'spoof'",
                 "speaker = 'a)b'", "1=1", ") OR (", "corpus = 'd'", "status <> 'ok'",
                 "lower(speaker) = 's1'", "CAST(speaker AS INTEGER) > 0"]


@st.composite
def token_soups(draw):
    token = st.one_of(st.sampled_from(COMMON_TOKENS), st.sampled_from(WHERE_TOKENS))
    tokens = draw(st.lists(token, min_size=1, max_size=7))
    seps = draw(st.lists(st.sampled_from([" ", "", "  "]), min_size=len(tokens),
                         max_size=len(tokens)))
    return "".join(t + s for t, s in zip(tokens, seps))


def _balanced_outside_strings(text: str) -> bool:
    depth = 0
    for char in re.sub(r"'(?:[^']|'')*'", "''", text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


@settings(max_examples=150, **SETTINGS)
@given(text=token_soups())
def test_where_soups_are_checked_bound_and_never_widen(catalog, text):
    try:
        checked = check_where(text, "soup.toml")
    except CurateError as exc:
        assert _one_sentence(exc, "filter.where").startswith("soup.toml: ")
        event("refused")
        return
    event("accepted")
    assert checked == text and _balanced_outside_strings(text)
    base = {"name": "soup", "filter": {"corpora": ["c"], "labels": ["spoof"]}}
    inside = set(compute_items(catalog, parse_selection(base))["utt_id"])
    spec = parse_selection({**base, "filter": {**base["filter"], "where": text}})
    try:
        items = compute_items(catalog, spec)
    except CurateError as exc:  # bound at spec time, but failed on the data (a cast)
        _one_sentence(exc, "failed in the catalog")
        event("failed on the data")
        return
    event("selected some" if len(items) else "selected none")
    assert set(items["utt_id"]) <= inside  # narrows, never widens


ATOMS = st.sampled_from([
    "duration_s > 1", "label = 'spoof'", "corpus = 'd'", "status <> 'ok'", "1=1", "TRUE",
    "speaker = 'a)b'", "language IN ('eng', 'x)')", "generator IS NULL", "speaker = 's1'",
    "subset = 'dev'", "lower(speaker) LIKE 's%'", "duration_s BETWEEN 1 AND 3"])
expressions = st.recursive(ATOMS, lambda inner: st.one_of(
    st.tuples(inner, inner).map(lambda t: f"({t[0]}) OR ({t[1]})"),
    st.tuples(inner, inner).map(lambda t: f"{t[0]} AND {t[1]}"),
    inner.map(lambda e: f"NOT ({e})")), max_leaves=5)


@settings(max_examples=60, **SETTINGS)
@given(expression=expressions, widen=st.sampled_from(["", ") OR (1=1", "1=1) OR (", ")"]))
def test_well_formed_where_selects_exactly_its_rows_inside_the_filters(catalog, expression,
                                                                       widen):
    base = {"name": "w", "filter": {"corpora": ["c"], "labels": ["spoof"]}}
    text = f"{expression} {widen}" if widen.startswith(")") else f"{widen}{expression}"
    try:
        spec = parse_selection({**base, "filter": {**base["filter"], "where": text}}, "w.toml")
    except CurateError as exc:
        assert widen and "unbalanced parentheses" in _one_sentence(exc, "filter.where")
        return
    assert not widen
    inside = compute_items(catalog, parse_selection(base))["utt_id"]
    expected = set(catalog.df(
        f"SELECT utt_id FROM utterances WHERE list_contains($ids, utt_id) AND ({text})",
        {"ids": list(inside)})["utt_id"])
    assert set(compute_items(catalog, spec)["utt_id"]) == expected


# -------------------------------------------------------------------- table readers

SAFE = st.text(alphabet=st.sampled_from(list("abcXYZ019 _-.:é/")), max_size=6)


@st.composite
def clean_tables(draw):
    """Rows of a delimited file with no quote, delimiter or line break in any field."""
    delimiter = draw(st.sampled_from([",", "\t", "|", ";"]))
    width = draw(st.integers(2, 4))
    header = draw(st.lists(SAFE.filter(lambda s: s.strip() != ""), min_size=width,
                           max_size=width))
    rows = draw(st.lists(st.lists(SAFE, min_size=width, max_size=width), max_size=5))
    return delimiter, header, rows


@settings(max_examples=60, **SETTINGS)
@given(table=clean_tables(), crlf=st.booleans(), bom=st.booleans())
def test_read_table_reads_clean_files_as_documented(tmp_path_factory, table, crlf, bom):
    delimiter, header, rows = table
    end = "\r\n" if crlf else "\n"
    text = end.join(delimiter.join(r) for r in [header] + rows) + end
    path = tmp_path_factory.getbasetemp() / "clean.txt"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    for quoting in (True, False):
        frame = read_table(path, delimiter=delimiter, quoting=quoting)
        assert list(frame.columns) == [h.strip() for h in header]
        assert frame.fillna("<NA>").values.tolist() == rows


LINE_PIECES = st.sampled_from(["a", "b c", "x", "", " ", "\"", "\"q\"", "''", ",", "\t",
                               "|", "\r", "é", "\\", "#", "\x00", "  "])
NOT_TEXT = "\udcff"  # written as the byte 0xff (not UTF-8): a file that is not text


@st.composite
def mangled_lines(draw, pieces):
    """1-6 lines of random pieces; one example in six holds a byte that is not UTF-8."""
    lines = draw(st.lists(st.lists(pieces, max_size=6).map("".join), min_size=1, max_size=6))
    if draw(st.sampled_from([False] * 5 + [True])):
        at = draw(st.integers(0, len(lines) - 1))
        lines[at] += NOT_TEXT
    return lines


@st.composite
def mangled_files(draw):
    """A header and lines of random pieces: quotes, delimiters, CRs, blanks, NULs."""
    lines = draw(mangled_lines(LINE_PIECES))
    options = {
        "delimiter": draw(st.sampled_from([",", "\t", "|", " "])),
        "quoting": draw(st.booleans()),
        "extra": draw(st.sampled_from(["error", "merge", "drop"])),
        "comment": draw(st.sampled_from([None, "#"])),
    }
    options["skip_blank"] = draw(st.booleans())
    if draw(st.booleans()):
        options.update(header=False, names=["a", "b", "c"])
    if draw(st.booleans()):
        options["min_fields"] = draw(st.integers(0, 3))
    return "a,b,c\n" + "\n".join(lines) + "\n", options


@settings(max_examples=150, **SETTINGS)
@given(case=mangled_files())
def test_read_table_on_mangled_lines_reads_or_names_the_line(tmp_path_factory, case):
    text, options = case
    path = tmp_path_factory.getbasetemp() / "mangled.csv"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    try:
        frame = read_table(path, **options)
    except CurateError as exc:
        message = _one_sentence(exc)
        assert re.match(re.escape(str(path)) + r"(:\d+: |: not utf-8-sig text)", message), \
            message
        event("refused")
        return
    event("read")
    assert isinstance(frame, pd.DataFrame)
    assert NOT_TEXT not in text
    named = options.get("header", True) is False or options["delimiter"] == ","
    assert len(frame.columns) == (3 if named else 1)  # the header line "a,b,c" or names
    assert all(str(dtype) == "string" for dtype in frame.dtypes)
    assert not frame.isna().any().any()  # empty fields are "", never missing


def _reference_fields(text: str, min_fields: int, max_fields: int | None):
    """What read_fields documents: (line number, blank-separated fields) of non-blank,
    non-comment lines; None and the first bad line number when one is out of range."""
    out = []
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text.removesuffix("\n")), 1):
        fields = line.split()
        if not fields or line.strip().startswith("#"):
            continue
        if len(fields) < min_fields or (max_fields and len(fields) > max_fields):
            return None, number
        out.append((number, fields))
    return out, None


WS_PIECES = st.sampled_from(["S1", "LA_T_1", "-", "A01", "spoof", "bonafide", " ", "  ",
                             "\t", "# c", "\r", "\r\n", "é", "\x0c", "\u00a0", "x y"])


@settings(max_examples=150, **SETTINGS)
@given(lines=mangled_lines(WS_PIECES),
       bounds=st.sampled_from([(1, None), (2, 2), (3, 5), (5, 5), (1, 3)]))
def test_read_fields_on_mangled_lines_reads_or_names_the_line(tmp_path_factory, lines,
                                                              bounds):
    text = "\n".join(lines) + "\n"
    path = tmp_path_factory.getbasetemp() / "protocol.txt"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    min_fields, max_fields = bounds
    expected, bad_line = _reference_fields(text, min_fields, max_fields)
    try:
        got = read_fields(path, min_fields=min_fields, max_fields=max_fields, comment="#")
    except CurateError as exc:
        message = _one_sentence(exc)
        if NOT_TEXT in text:  # decoding fails on the first read, before any line
            assert message.startswith(f"{path}: not utf-8-sig text ("), message
            event("not text")
            return
        assert bad_line is not None, message
        assert message.startswith(f"{path}:{bad_line}: expected "), message
        event("refused")
        return
    event("read")
    assert bad_line is None and got == expected


def test_the_properties_can_fail():
    """The checks the properties rest on do fire on known-bad input."""
    assert not _balanced_outside_strings("duration_s > 1) OR (1=1")
    assert _balanced_outside_strings("speaker = 'a)b'")
    assert _reference_fields("a b\nc\n", 2, None) == (None, 2)
    with pytest.raises(CurateError):
        check_where("duration_s > 1) OR (1=1")

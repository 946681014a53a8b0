"""Benchmark suite files: which eval sets a leaderboard holds.

::

    name = "arena"                      # a lowercase identifier
    title = "Speech DF Arena protocols"  # optional: title, url, notes
    url = "https://..."

    [[set]]
    name = "in_the_wild"                # a lowercase identifier, unique in the suite
    corpus = "in_the_wild"              # a corpus recipe name, or a list of them

    [[set]]
    name = "asvspoof2019_la_eval"
    corpus = "asvspoof2019_la"
    subsets = ["eval"]                  # optional filters, as in a selection's [filter]:
                                        # subsets, labels, languages, generators,
                                        # min_duration_s, max_duration_s

    [[set]]
    name = "my_test"
    selection = "sel:test"              # or a frozen selection: NAME:SPLIT, or NAME

A corpus-query set is frozen as selection ``bench.<suite>.<set>`` (see
:mod:`curate.benchmark.sets`). ``corpus`` names a corpus recipe (``curate corpora``) or
a corpus the catalog holds; a recipe matches the catalog corpus of that name, else every
catalog corpus prepared from that recipe (``curate prepare add2023 ROOT --name
add2023_testr2``). Every key is documented in docs/evaluation.md; unknown keys are
rejected by name.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from curate.errors import CurateError
from curate.names import IDENTIFIER_RE, NAME_RE
from curate.select.check import closest_first
from curate.tomlfile import read_toml

__all__ = ["BenchmarkSet", "Suite", "parse_suite", "load_suite", "builtin_suites",
           "TOP_KEYS", "SET_KEYS"]

TOP_KEYS = frozenset({"name", "title", "url", "notes", "set"})
FILTER_LISTS = ("subsets", "labels", "languages", "generators")
FILTER_NUMBERS = ("min_duration_s", "max_duration_s")
SET_KEYS = frozenset({"name", "title", "notes", "selection", "corpus", *FILTER_LISTS,
                      *FILTER_NUMBERS})


@dataclass(frozen=True)
class BenchmarkSet:
    """One eval set of a suite: a frozen selection (split), or a corpus query.

    Attributes:
        name: unique in the suite (a lowercase identifier).
        title: shown in the leaderboard (default: the name).
        selection: a frozen selection's name (selection sets), else None.
        split: its split (None: the whole selection).
        corpora: corpus recipe (or catalog corpus) names (corpus-query sets).
        filters: ``(key, value)`` of the selection-[filter] keys the set gives
            (subsets, labels, languages, generators as tuples; durations in seconds).
        notes: free text.
    """

    name: str
    title: str = ""
    selection: str | None = None
    split: str | None = None
    corpora: tuple[str, ...] = ()
    filters: tuple[tuple[str, object], ...] = ()
    notes: str = ""

    @property
    def is_query(self) -> bool:
        return self.selection is None

    def filter(self, key: str, default=None):
        return dict(self.filters).get(key, default)


@dataclass(frozen=True)
class Suite:
    name: str
    sets: tuple[BenchmarkSet, ...]
    title: str = ""
    url: str = ""
    notes: str = ""
    source: str = "suite"  # the file it came from (errors, provenance)
    text_hash: str = ""  # sha256 of the file's text


def _text(value, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise CurateError(f"{where}: {key} must be a string")
    return value


# An example value per list key, for the error that asks for one.
_EXAMPLES = {"corpus": "in_the_wild", "subsets": "eval", "labels": "bonafide",
             "languages": "en", "generators": "A07"}


def _strings(value, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v
                                                           for v in value):
        raise CurateError(f"{where}: {key} must be a non-empty list of strings, e.g. "
                          f"{key} = [\"{_EXAMPLES.get(key, 'eval')}\"]")
    return tuple(value)


def _seconds(value, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(float(value)) or value < 0:
        raise CurateError(f"{where}: {key} must be a finite number of seconds >= 0")
    return float(value)


def _unknown_keys(table: dict, allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        shown, _ = closest_first(unknown, sorted(allowed), limit=len(allowed))
        raise CurateError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed (closest "
                          f"first): {', '.join(shown)}")


def _check_corpora(names: tuple[str, ...], known: frozenset[str] | None, where: str) -> None:
    if known is None:
        return
    unknown = [n for n in names if n not in known]
    if unknown:
        shown, more = closest_first(unknown, sorted(known))
        listed = ", ".join(shown) + (f" (and {more} more)" if more else "")
        raise CurateError(f"{where}: corpus {', '.join(map(repr, unknown))} is no corpus "
                          f"recipe nor a corpus of the catalog; use a recipe name (closest "
                          f"first): {listed} (`curate corpora` lists them)")


def _parse_set(raw: object, index: int, source: str,
               known: frozenset[str] | None) -> BenchmarkSet:
    where = f"{source}: [[set]] #{index + 1}"
    if not isinstance(raw, dict):
        raise CurateError(f"{where} must be a table ([[set]] with name = ...)")
    name = raw.get("name")
    if not isinstance(name, str) or not IDENTIFIER_RE.match(name):
        raise CurateError(f"{where}: name must be a lowercase identifier like "
                          f"'in_the_wild' (a-z, 0-9, _; a letter first)")
    where = f"{source}: [[set]] {name!r}"
    _unknown_keys(raw, SET_KEYS, where)
    title = _text(raw.get("title", name), where, "title")
    notes = _text(raw.get("notes", ""), where, "notes")
    has_selection, has_corpus = "selection" in raw, "corpus" in raw
    if has_selection == has_corpus:
        raise CurateError(f"{where}: give either corpus = \"RECIPE\" (a catalog query) or "
                          f"selection = \"NAME:SPLIT\" (a frozen selection), not "
                          f"{'both' if has_selection else 'neither'}")
    if has_selection:
        extra = sorted(set(raw) & (set(FILTER_LISTS) | set(FILTER_NUMBERS)))
        if extra:
            raise CurateError(f"{where}: {', '.join(extra)} only apply to corpus sets; a "
                              f"selection set is the frozen selection as it is")
        ref = _text(raw["selection"], where, "selection").strip()
        selection, _, split = ref.partition(":")
        if not NAME_RE.match(selection) or (":" in ref and not split):
            raise CurateError(f"{where}: selection must be NAME:SPLIT or NAME (a frozen "
                              f"selection, see `curate selections`), not {ref!r}")
        return BenchmarkSet(name, title, selection=selection, split=split or None,
                            notes=notes)
    corpora = _strings(raw["corpus"], where, "corpus")
    _check_corpora(corpora, known, where)
    filters: list[tuple[str, object]] = []
    for key in FILTER_LISTS:
        if key in raw:
            filters.append((key, _strings(raw[key], where, key)))
    bad = sorted(set(dict(filters).get("labels", ())) - {"bonafide", "spoof"})
    if bad:
        raise CurateError(f"{where}: labels has {', '.join(bad)}; use 'bonafide' and/or "
                          f"'spoof'")
    for key in FILTER_NUMBERS:
        if key in raw:
            filters.append((key, _seconds(raw[key], where, key)))
    low, high = dict(filters).get("min_duration_s"), dict(filters).get("max_duration_s")
    if low is not None and high is not None and low > high:
        raise CurateError(f"{where}: min_duration_s is above max_duration_s")
    return BenchmarkSet(name, title, corpora=corpora, filters=tuple(filters), notes=notes)


def parse_suite(data: dict, source: str = "suite", *,
                known_corpora: frozenset[str] | set[str] | None = None,
                text_hash: str = "") -> Suite:
    """Validate a suite given as a dict (parsed TOML).

    Args:
        data: the parsed file.
        source: names the file in errors.
        known_corpora: the corpus names ``corpus`` may use (recipe names plus the
            catalog's corpora); None: not checked.
        text_hash: sha256 of the file's text (kept for provenance).
    """
    _unknown_keys(data, TOP_KEYS, f"{source}: the top level")
    name = data.get("name")
    if not isinstance(name, str) or not IDENTIFIER_RE.match(name):
        raise CurateError(f"{source}: name must be a lowercase identifier like 'arena' "
                          f"(a-z, 0-9, _; a letter first)")
    raw_sets = data.get("set")
    if not isinstance(raw_sets, list) or not raw_sets:
        raise CurateError(f"{source}: a suite needs at least one [[set]] table")
    known = frozenset(known_corpora) if known_corpora is not None else None
    sets = tuple(_parse_set(raw, i, source, known) for i, raw in enumerate(raw_sets))
    seen: set[str] = set()
    for bset in sets:
        if bset.name in seen:
            raise CurateError(f"{source}: two [[set]] tables are named {bset.name!r}; give "
                              f"each set its own name")
        seen.add(bset.name)
    return Suite(name, sets, title=_text(data.get("title", name), source, "title"),
                 url=_text(data.get("url", ""), source, "url"),
                 notes=_text(data.get("notes", ""), source, "notes"), source=source,
                 text_hash=text_hash)


def builtin_suites() -> dict[str, Path]:
    """Shipped suite names -> files (``recipes/benchmarks/*.toml``), sorted by name."""
    from curate.recipes.spec import builtin_recipes_dir

    folder = builtin_recipes_dir() / "benchmarks"
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def load_suite(name_or_path: str | Path, *,
               known_corpora: frozenset[str] | set[str] | None = None) -> Suite:
    """A shipped suite by name (``arena``) or a suite file by path."""
    builtin = builtin_suites()
    path = builtin.get(str(name_or_path), Path(name_or_path))
    if not path.is_file():
        raise CurateError(f"--suite: no suite file {str(name_or_path)!r}; give the path of "
                          f"a suite .toml file or a shipped suite: {', '.join(builtin)}")
    text_hash = hashlib.sha256(path.read_bytes()).hexdigest()
    return parse_suite(read_toml(path, "benchmark suite"), str(path),
                       known_corpora=known_corpora, text_hash=text_hash)

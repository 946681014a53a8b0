"""Ids in a selection spec that match nothing are errors, not silent no-ops.

A spec names corpora, generators, languages and subsets by value. A typo, or a
generator written without its corpus (``A05`` where the catalog says
``asvspoof2019_la:A05``), would otherwise match no row: a filter would keep nothing
of it and, worse, a ``[holdout]`` would hold nothing out, so an "unseen" test set
could hold the very attack that is in training. Before a freeze, every such value
is checked against the catalog, within the scope where it can match:

- ``filter.corpora``: the corpora of the catalog;
- ``filter.generators`` / ``languages`` / ``subsets`` and the keys of
  ``split.subsets`` (``by = "subset"``): the values of the corpora ``filter.corpora``
  names (all corpora when it is empty);
- ``holdout.generators`` / ``languages`` / ``corpora``: the values of the rows the
  ``[filter]`` lists keep.

Every status counts (an unprobed row still exists); durations, status and ``where``
are not applied, so an empty result of those stays the freeze's own error.

:func:`check_ids` is pure (it takes the distinct values); :func:`check_catalog_ids`
queries them with :data:`curate.select.sql.ID_VALUES` and calls it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from curate.catalog.db import Catalog
from curate.errors import CurateError
from curate.select import sql
from curate.select.spec import SelectionSpec

MAX_SHOWN = 8  # existing values listed in one error


@dataclass(frozen=True)
class KnownIds:
    """Distinct values of the catalog, per scope (see the module docstring)."""

    corpora: tuple[str, ...] = ()  # the whole catalog
    generators: tuple[str, ...] = ()  # within filter.corpora
    languages: tuple[str, ...] = ()
    subsets: tuple[str, ...] = ()
    kept_corpora: tuple[str, ...] = ()  # within every [filter] list
    kept_generators: tuple[str, ...] = ()
    kept_languages: tuple[str, ...] = ()


def closest_first(values: list[str] | tuple[str, ...], existing: list[str] | tuple[str, ...],
                  limit: int = MAX_SHOWN) -> tuple[list[str], int]:
    """``existing`` ordered by closeness to ``values`` (close matches first, then the
    rest sorted), cut at ``limit``; returns ``(shown, number left out)``."""
    pool = sorted(set(existing))
    ordered: list[str] = []
    for value in values:
        for match in difflib.get_close_matches(value, pool, n=limit, cutoff=0.5):
            if match not in ordered:
                ordered.append(match)
    ordered += [v for v in pool if v not in ordered]
    return ordered[:limit], max(0, len(ordered) - limit)


def unknown_message(source: str, key: str, unknown: list[str], existing: tuple[str, ...],
                    scope: str, noun: str) -> str:
    """One sentence: ``key`` in ``source`` has ``unknown`` values, and what does exist."""
    values = ", ".join(repr(v) for v in unknown)
    what = (f"{key} value {values} matches" if len(unknown) == 1
            else f"{key} values {values} match")
    if noun == "generators" and any(":" not in v for v in unknown):
        noun = "generators (written corpus:ID)"
    if not existing:
        return f"{source}: {what} nothing {scope}, which has no {noun} at all; remove it"
    shown, more = closest_first(unknown, existing)
    listed = ", ".join(shown) + (f" (and {more} more)" if more else "")
    return (f"{source}: {what} nothing {scope}; use {noun} that exist there "
            f"(closest first): {listed}")


def _namespaced_message(source: str, key: str, value: str, existing: tuple[str, ...]
                        ) -> str | None:
    """For a generator written without ``corpus:``, the sentence naming the namespaced
    ids it may mean; None when no generator there ends in ``:value``."""
    matches = sorted(g for g in existing if g.split(":", 1)[-1].lower() == value.lower()
                     and ":" in g)
    if not matches:
        return None
    if len(matches) == 1:
        fix = f"write {matches[0]!r}"
    else:
        more = max(0, len(matches) - MAX_SHOWN)
        fix = "write one of " + ", ".join(repr(m) for m in matches[:MAX_SHOWN]) + (
            f" (and {more} more)" if more else "")
    return (f"{source}: {key} value {value!r} is not namespaced (generators are "
            f"corpus:ID); {fix}")


def _check(source: str, key: str, values: tuple[str, ...], existing: tuple[str, ...],
           scope: str, noun: str) -> None:
    present = set(existing)
    unknown = [v for v in dict.fromkeys(values) if v not in present]
    if not unknown:
        return
    if noun == "generators":
        for value in unknown:
            if ":" not in value:
                message = _namespaced_message(source, key, value, existing)
                if message:
                    raise CurateError(message)
    raise CurateError(unknown_message(source, key, unknown, existing, scope, noun))


def _any_list(spec: SelectionSpec) -> bool:
    f = spec.filter
    return bool(f.corpora or f.languages or f.labels or f.generators or f.subsets)


def check_ids(spec: SelectionSpec, known: KnownIds, source: str | None = None) -> None:
    """Raise :class:`CurateError` for the first key of ``spec`` holding a value that
    matches nothing in its scope of ``known``; return None when every value exists.

    Args:
        spec: the parsed selection spec.
        known: the catalog's distinct values per scope (:func:`known_ids`).
        source: names the spec in errors (default: ``spec.source``).
    """
    source = source or spec.source
    flt, hold = spec.filter, spec.holdout
    _check(source, "filter.corpora", flt.corpora, known.corpora, "in the catalog", "corpora")
    within = (f"in corpora {', '.join(flt.corpora)}" if flt.corpora else "in the catalog")
    _check(source, "filter.generators", flt.generators, known.generators, within,
           "generators")
    _check(source, "filter.languages", flt.languages, known.languages, within, "languages")
    _check(source, "filter.subsets", flt.subsets, known.subsets, within, "subsets")
    if spec.split.by == "subset":
        keys = tuple(subset for subset, _ in spec.split.subsets)
        _check(source, "split.subsets", keys, known.subsets, within, "subsets")
    kept = "in the rows [filter] keeps" if _any_list(spec) else "in the catalog"
    _check(source, "holdout.generators", hold.generators, known.kept_generators, kept,
           "generators")
    _check(source, "holdout.languages", hold.languages, known.kept_languages, kept,
           "languages")
    _check(source, "holdout.corpora", hold.corpora, known.kept_corpora, kept, "corpora")


def known_ids(catalog: Catalog, spec: SelectionSpec) -> KnownIds:
    """The distinct values ``spec``'s ids are checked against, from the catalog."""
    flt = spec.filter
    cursor = catalog.execute(sql.ID_VALUES, {
        "corpora": list(flt.corpora), "languages": list(flt.languages),
        "labels": list(flt.labels), "generators": list(flt.generators),
        "subsets": list(flt.subsets)})
    names = [column[0] for column in cursor.description]
    row = cursor.fetchone()
    return KnownIds(**{name: tuple(sorted(values or ())) for name, values in zip(names, row)})


def check_catalog_ids(catalog: Catalog, spec: SelectionSpec) -> None:
    """Check ``spec``'s ids against ``catalog`` (:func:`check_ids`); raises CurateError."""
    if spec.filter.corpora or spec.filter.generators or spec.filter.languages or \
            spec.filter.subsets or spec.holdout.active or spec.split.by == "subset":
        check_ids(spec, known_ids(catalog, spec))

"""A suite's sets as frozen selections of the catalog.

A corpus-query set becomes selection ``bench.<suite>.<set>`` through the ordinary
selection machinery (:func:`curate.select.freeze.freeze`): filter ``corpora`` = the
catalog corpora the set's recipes resolve to, the set's other filters, ``status =
"any"`` (so the frozen set is the whole protocol list and an unreadable item counts as
*skipped* when scoring, never silently disappears), one split ``test`` holding every
item. So it has a ``spec_hash`` and never changes silently: an existing selection with
the same spec is reused; one with another spec (the set's query changed, or another
corpus of the recipe was prepared since) is an error unless ``refreeze``.

A set whose corpus is not in the catalog, or lacks a subset the set names, or whose
selection does not exist, is *not prepared*: it is listed, not scored.
"""

from __future__ import annotations

from dataclasses import dataclass

from curate.benchmark import sql
from curate.benchmark.spec import BenchmarkSet, Suite
from curate.catalog.db import Catalog
from curate.errors import CurateError
from curate.select.freeze import freeze
from curate.select.spec import SelectionSpec, parse_selection
from curate.train.run import check_split

__all__ = ["ResolvedSet", "SPLIT", "selection_name", "known_corpora", "resolve_corpora",
           "query_spec", "resolve_sets"]

SPLIT = "test"  # the one split of a corpus-query set's selection
READY, NOT_PREPARED = "ready", "not prepared"


@dataclass(frozen=True)
class ResolvedSet:
    """A suite set against one catalog.

    Attributes:
        name, title: the set's.
        status: ``ready`` or ``not prepared``.
        reason: why not prepared (one sentence), else empty.
        selection, split: what to score (split None: the whole selection).
        spec_hash: the selection's spec hash.
        corpora: the catalog corpora a corpus-query set reads.
        frozen: ``new`` (frozen now), ``reused`` or ``refrozen``; empty for selection sets.
    """

    name: str
    title: str
    status: str
    reason: str = ""
    selection: str | None = None
    split: str | None = None
    spec_hash: str | None = None
    corpora: tuple[str, ...] = ()
    frozen: str = ""

    @property
    def ready(self) -> bool:
        return self.status == READY


def selection_name(suite: Suite, bset: BenchmarkSet) -> str:
    """The selection a corpus-query set is frozen as."""
    return f"bench.{suite.name}.{bset.name}"


def known_corpora(catalog: Catalog) -> frozenset[str]:
    """Names a suite's ``corpus`` may use: built-in recipes, the catalog's corpora and
    the recipes they came from."""
    from curate.recipes.spec import builtin_corpus_recipes

    names = set(builtin_corpus_recipes())
    for name, recipe in catalog.execute(sql.CORPORA).fetchall():
        names.add(name)
        if recipe:
            names.add(recipe)
    return frozenset(names)


def resolve_corpora(rows: list[tuple[str, str | None]], wanted: tuple[str, ...]
                    ) -> dict[str, tuple[str, ...]]:
    """Each wanted name -> the catalog corpora it means: the corpus of that name if the
    catalog has one, else every corpus prepared from the recipe of that name (pure).

    Args:
        rows: ``(catalog name, recipe name)`` of every catalog corpus.
        wanted: recipe or corpus names of a set.
    """
    names = {name for name, _ in rows}
    out: dict[str, tuple[str, ...]] = {}
    for want in wanted:
        if want in names:
            out[want] = (want,)
        else:
            out[want] = tuple(sorted(name for name, recipe in rows if recipe == want))
    return out


def query_spec(suite: Suite, bset: BenchmarkSet, corpora: tuple[str, ...]) -> SelectionSpec:
    """The selection spec of a corpus-query set over the catalog corpora ``corpora``."""
    flt: dict = {"corpora": sorted(corpora), "status": "any"}
    for key, value in bset.filters:
        flt[key] = list(value) if isinstance(value, tuple) else value
    return parse_selection({"name": selection_name(suite, bset), "seed": 0, "filter": flt,
                            "split": {"by": "utt", "fractions": {SPLIT: 1.0}}},
                           f"{suite.source}: [[set]] {bset.name!r}")


def _selection_set(catalog: Catalog, bset: BenchmarkSet) -> ResolvedSet:
    row = catalog.execute(sql.SELECTION_ROW, [bset.selection]).fetchone()
    if row is None:
        return ResolvedSet(bset.name, bset.title, NOT_PREPARED,
                           f"no selection named {bset.selection!r} in the catalog; freeze "
                           f"it with `curate select SPEC.toml`", bset.selection, bset.split)
    check_split(catalog, bset.selection, bset.split, f"[[set]] {bset.name!r}: selection")
    return ResolvedSet(bset.name, bset.title, READY, "", bset.selection, bset.split, row[0])


def _missing_subsets(catalog: Catalog, bset: BenchmarkSet, corpora: tuple[str, ...]
                     ) -> tuple[list[str], list[str]]:
    wanted = bset.filter("subsets", ())
    if not wanted:
        return [], []
    have = [r[0] for r in catalog.execute(sql.CORPUS_SUBSETS, [list(corpora)]).fetchall()]
    return [s for s in wanted if s not in have], have


def _query_set(catalog: Catalog, suite: Suite, bset: BenchmarkSet,
               rows: list[tuple[str, str | None]], refreeze: bool) -> ResolvedSet:
    resolved = resolve_corpora(rows, bset.corpora)
    absent = [want for want, names in resolved.items() if not names]
    name = selection_name(suite, bset)
    if absent:
        return ResolvedSet(bset.name, bset.title, NOT_PREPARED,
                           f"corpus {', '.join(absent)} is not in the catalog; prepare it "
                           f"with `curate prepare {absent[0]} ROOT`", name, SPLIT)
    corpora = tuple(sorted({c for names in resolved.values() for c in names}))
    missing, have = _missing_subsets(catalog, bset, corpora)
    if missing:
        return ResolvedSet(bset.name, bset.title, NOT_PREPARED,
                           f"subset {', '.join(missing)} is not in the catalog's "
                           f"{', '.join(corpora)} (it has {', '.join(have) or 'none'}); "
                           f"prepare the corpus with that subset", name, SPLIT,
                           corpora=corpora)
    spec = query_spec(suite, bset, corpora)
    row = catalog.execute(sql.SELECTION_ROW, [name]).fetchone()
    if row is not None and row[0] == spec.spec_hash:
        frozen = "reused"
    elif row is not None and not refreeze:
        raise CurateError(f"{suite.source}: [[set]] {bset.name!r}: selection {name!r} in the "
                          f"catalog was frozen from another query (spec hash {row[0][:12]}, "
                          f"now {spec.spec_hash[:12]}: the set or the catalog's "
                          f"{', '.join(corpora)} changed); pass --refreeze to freeze it "
                          f"again from the suite")
    else:
        freeze(catalog, spec)
        frozen = "new" if row is None else "refrozen"
    return ResolvedSet(bset.name, bset.title, READY, "", name, SPLIT, spec.spec_hash,
                       corpora, frozen)


def resolve_sets(catalog: Catalog, suite: Suite, *, refreeze: bool = False
                 ) -> list[ResolvedSet]:
    """Every set of ``suite`` against ``catalog`` (writable: new sets are frozen).

    Raises:
        CurateError: a set's selection was frozen from another query (without
            ``refreeze``), a selection set names a split its selection lacks, or a
            set's filters match nothing the catalog holds.
    """
    rows = [(n, r) for n, r in catalog.execute(sql.CORPORA).fetchall()]
    return [_selection_set(catalog, bset) if not bset.is_query
            else _query_set(catalog, suite, bset, rows, refreeze) for bset in suite.sets]

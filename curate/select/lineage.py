"""Corpus lineage: which corpora share audio, speakers or sources by construction.

Each corpus recipe declares the corpora its audio derives from (``sources = ["vctk"]``:
ASVspoof 2019 LA from VCTK, WaveFake from LJSpeech, MLAAD from M-AILABS, ...); the
catalog stores them with each prepared corpus (``corpora.recipe_name``,
``corpora.sources``). A corpus's *family* is its recipe and every corpus it derives
from, transitively, following the built-in recipes' declarations where a source is
not in the catalog itself. Two different corpora are *related* when their families
meet: one derives from the other, or both from a common source. Speakers and source
recordings of related corpora may be the same people and recordings under other ids,
so a test set related to its training data is not "unseen".
"""

from __future__ import annotations

from dataclasses import dataclass

from curate.catalog import sql as catalog_sql
from curate.catalog.db import Catalog

__all__ = ["Relation", "families", "relations"]


@dataclass(frozen=True)
class Relation:
    """Two corpora whose families meet, and the corpora they share."""

    a: str
    b: str
    shared: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.a}~{self.b} (via {', '.join(self.shared)})"


def _builtin_sources() -> dict[str, tuple[str, ...]]:
    from curate.recipes.spec import builtin_corpus_recipes, load_recipe

    return {name: tuple(load_recipe(name).sources) for name in builtin_corpus_recipes()}


def families(declared: dict[str, tuple[str | None, tuple[str, ...]]],
             known: dict[str, tuple[str, ...]]) -> dict[str, frozenset[str]]:
    """The family of each corpus (pure): its catalog name, its recipe's name when that is
    a named corpus recipe (two catalog names read with the generic ``table`` recipe are
    not thereby related), and every corpus it derives from, transitively.

    Args:
        declared: catalog corpus -> (its built-in recipe's name or None, the sources it
            declares).
        known: built-in recipe name -> declared sources, for sources not in the catalog.
    """
    by_name: dict[str, tuple[str, ...]] = dict(known)
    for corpus, (recipe, sources) in declared.items():
        by_name[corpus] = tuple(sources)
        if recipe is not None:
            by_name[recipe] = tuple(sources)
    out = {}
    for corpus, (recipe, sources) in declared.items():
        seen = {corpus} | ({recipe} if recipe is not None else set())
        todo = list(sources)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            todo.extend(by_name.get(name, ()))
        out[corpus] = frozenset(seen)
    return out


def relations(catalog: Catalog) -> dict[tuple[str, str], Relation]:
    """Every pair of different catalog corpora whose families meet, keyed ``(a, b)``
    with ``a < b``."""
    known = _builtin_sources()
    declared = {name: (recipe if recipe in known else None, tuple(sources or ()))
                for name, recipe, sources in
                catalog.execute(catalog_sql.CORPUS_LINEAGE).fetchall()}
    fam = families(declared, known)
    names = sorted(fam)
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = fam[a] & fam[b]
            if shared:
                out[(a, b)] = Relation(a, b, tuple(sorted(shared)))
    return out

"""Leakage checks: what a selection's splits share with each other and with test sets.

Checks, per pair of sets (two splits of the selection, or one split and an
``--against`` set: another selection's items or a whole corpus):

- ``utterances``: the same utt_id in both;
- ``speakers``: the same (corpus, speaker);
- ``sources``: artifacts made from the same genuine utterance (``source_utt``);
- ``content``: the same decoded audio (``content_hash``);
- ``source_in_other``: an artifact in one set whose genuine source is in the other;
- ``lineage``: different corpora, one in each set, that derive from each other or from a
  common source (:mod:`curate.select.lineage`): ASVspoof 2019 LA in test and VCTK in
  training share VCTK's speakers under other ids, which the checks above cannot see.

A clean selection has zero everywhere; ``curate leakage`` exits 3 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from curate.catalog.db import Catalog
from curate.errors import CurateError
from curate.select import sql as select_sql
from curate.select.lineage import relations

CHECKS = ("utterances", "speakers", "sources", "content", "source_in_other", "lineage")

# key expression per check over utterances `u` (fixed SQL, no user input)
_KEYS = {
    "utterances": "u.utt_id",
    "speakers": "CASE WHEN u.speaker IS NOT NULL THEN u.corpus || ':' || u.speaker END",
    "sources": "u.source_utt",
    "content": "u.content_hash",
}

_SETS_FROM_SELECTION = """
INSERT INTO _leak_sets SELECT split, utt_id FROM selection_items WHERE selection = ?
"""
_SETS_FROM_AGAINST_SELECTION = """
INSERT INTO _leak_sets SELECT ?, utt_id FROM selection_items WHERE selection = ?
"""
_SETS_FROM_CORPUS = "INSERT INTO _leak_sets SELECT ?, utt_id FROM utterances WHERE corpus = ?"
_IS_CORPUS = "SELECT count(*) FROM corpora WHERE name = ?"
_SET_CORPORA = """
SELECT DISTINCT s.set_name, u.corpus FROM _leak_sets s JOIN utterances u USING (utt_id)
"""


def _lineage_rows(set_corpora: list[tuple[str, str]], related: dict) -> pd.DataFrame:
    """Per pair of sets: the related corpus pairs across them (different corpora)."""
    corpora: dict[str, set[str]] = {}
    for set_name, corpus in set_corpora:
        corpora.setdefault(set_name, set()).add(corpus)
    rows = []
    names = sorted(corpora)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            found = sorted({related[tuple(sorted((x, y)))].describe()
                            for x in corpora[a] for y in corpora[b]
                            if x != y and tuple(sorted((x, y))) in related})
            if found:
                rows.append({"a": a, "b": b, "n": len(found), "examples": found[:3],
                             "check": "lineage"})
    return pd.DataFrame(rows, columns=["a", "b", "n", "examples", "check"])


def _shared_query(key: str) -> str:
    return f"""
WITH k AS (
    SELECT DISTINCT s.set_name, {key} AS key
    FROM _leak_sets s JOIN utterances u USING (utt_id) WHERE {key} IS NOT NULL
)
SELECT a.set_name AS a, b.set_name AS b, count(*) AS n,
       list(a.key ORDER BY a.key)[1:3] AS examples
FROM k a JOIN k b ON a.key = b.key AND a.set_name < b.set_name
GROUP BY ALL
"""


_SOURCE_IN_OTHER = """
WITH art AS (
    SELECT DISTINCT s.set_name, u.utt_id, u.source_utt
    FROM _leak_sets s JOIN utterances u USING (utt_id) WHERE u.source_utt IS NOT NULL
)
SELECT least(a.set_name, g.set_name) AS a, greatest(a.set_name, g.set_name) AS b,
       count(DISTINCT a.utt_id) AS n, list(DISTINCT a.utt_id ORDER BY a.utt_id)[1:3] AS examples
FROM art a JOIN _leak_sets g ON g.utt_id = a.source_utt AND g.set_name <> a.set_name
GROUP BY ALL
"""


def _example_list(value) -> list[str]:
    """Up to three shared keys as a list of strings ([] where nothing is shared)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


@dataclass(frozen=True)
class LeakageReport:
    """Leakage of one selection: one row per pair of sets and check.

    ``table`` has columns ``a``, ``b`` (set names), ``check`` (one of :data:`CHECKS`),
    ``n`` (shared keys) and ``examples`` (a list of up to three shared keys).
    """

    selection: str
    table: pd.DataFrame

    @property
    def clean(self) -> bool:
        return bool((self.table["n"] == 0).all())


def leakage_report(catalog: Catalog, selection: str, against: list[str] | tuple = ()
                   ) -> LeakageReport:
    """Compare the splits of ``selection`` pairwise and with each ``against`` set."""
    if catalog.execute(select_sql.SELECTION_EXISTS, [selection]).fetchone() is None:
        raise CurateError(f"no selection named {selection!r}; freeze it with `curate select`")
    con = catalog.con
    con.execute("CREATE OR REPLACE TEMP TABLE _leak_sets (set_name VARCHAR, utt_id VARCHAR)")
    try:
        con.execute(_SETS_FROM_SELECTION, [selection])
        splits = [r[0] for r in con.execute(
            "SELECT DISTINCT set_name FROM _leak_sets ORDER BY 1").fetchall()]
        others = []
        for name in against:
            label = f"{name} (against)"
            if catalog.execute(select_sql.SELECTION_EXISTS, [name]).fetchone() is not None:
                con.execute(_SETS_FROM_AGAINST_SELECTION, [label, name])
            elif con.execute(_IS_CORPUS, [name]).fetchone()[0]:
                con.execute(_SETS_FROM_CORPUS, [label, name])
            else:
                raise CurateError(f"--against {name!r} is neither a selection nor a corpus "
                                  f"in {catalog.path}")
            others.append(label)
        frames = []
        for check, key in _KEYS.items():
            frames.append(con.execute(_shared_query(key)).df().assign(check=check))
        frames.append(con.execute(_SOURCE_IN_OTHER).df().assign(check="source_in_other"))
        frames.append(_lineage_rows(con.execute(_SET_CORPORA).fetchall(), relations(catalog)))
    finally:
        con.execute("DROP TABLE IF EXISTS _leak_sets")
    found = pd.concat(frames, ignore_index=True)
    pairs = [(a, b) for i, a in enumerate(splits) for b in splits[i + 1:]]
    pairs += [tuple(sorted((s, o))) for s in splits for o in others]
    grid = pd.DataFrame([(a, b, c) for a, b in pairs for c in CHECKS], columns=["a", "b", "check"])
    table = grid.merge(found, on=["a", "b", "check"], how="left")
    table["n"] = table["n"].fillna(0).astype(int)
    table["examples"] = table["examples"].apply(_example_list)
    return LeakageReport(selection, table[["a", "b", "check", "n", "examples"]])

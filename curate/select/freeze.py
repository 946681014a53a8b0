"""Freeze a selection spec into ``selections`` and ``selection_items``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import accumulate

import duckdb
import pandas as pd

from curate.catalog.columns import GROUPABLE
from curate.catalog.db import Catalog
from curate.errors import CurateError, UnavailableItemsError
from curate.select import sql
from curate.select.check import check_catalog_ids
from curate.select.spec import SelectionSpec


@dataclass(frozen=True)
class FrozenSelection:
    name: str
    spec_hash: str
    n_items: int
    splits: pd.DataFrame  # split, utterances, hours, bonafide, spoof


def selection_params(spec: SelectionSpec) -> dict:
    """The bound parameters of :func:`curate.select.sql.freeze_query` for ``spec``."""
    if spec.split.by == "subset":
        names = [split for _, split in spec.split.subsets]
        keys = [subset for subset, _ in spec.split.subsets]
        bounds = []
    else:
        names = [name for name, _ in spec.split.fractions]
        keys = []
        bounds = list(accumulate(value for _, value in spec.split.fractions))
        bounds[-1] = 1.0 + 1e-9  # every position lands in a split despite rounding
    flt, hold, quota = spec.filter, spec.holdout, spec.quota
    caps: dict[str, object] = {"cap_default": quota.cap if quota.cap is not None else
                               float("inf")}
    for i, column in enumerate(sorted({c for c, _, _ in quota.caps})):
        caps[f"capk_{i}"] = [v for c, v, _ in quota.caps if c == column]
        caps[f"capv_{i}"] = [limit for c, _, limit in quota.caps if c == column]
    return {
        **caps, "temperature": quota.temperature, "total_hours": quota.total_hours,
        "ratio": spec.balance.ratio,
        "status": flt.status, "corpora": list(flt.corpora), "languages": list(flt.languages),
        "labels": list(flt.labels), "generators": list(flt.generators),
        "subsets": list(flt.subsets), "min_duration_s": flt.min_duration_s,
        "max_duration_s": flt.max_duration_s, "h_generators": list(hold.generators),
        "h_languages": list(hold.languages), "h_corpora": list(hold.corpora),
        "holdout_policy": hold.policy, "seed": spec.seed, "split_names": names,
        "split_bounds": bounds, "subset_keys": keys,
    }


def compute_items(catalog: Catalog, spec: SelectionSpec) -> pd.DataFrame:
    """The (utt_id, split) rows ``spec`` selects from the catalog, without writing.

    Raises:
        CurateError: a corpus, generator, language or subset of the spec matches
            nothing in the catalog (:mod:`curate.select.check`), or the query fails.
    """
    check_catalog_ids(catalog, spec)
    query = sql.freeze_query(spec)
    try:
        return catalog.df(query, _bound(query, spec))
    except duckdb.Error as exc:
        detail = str(exc).strip().splitlines()[0]
        raise CurateError(f"selection {spec.name!r} failed in the catalog: {detail}") from None


def _bound(query: str, spec: SelectionSpec, **extra) -> dict:
    used = set(re.findall(r"\$([a-z_0-9]+)", query))
    params = {**selection_params(spec), **extra}
    return {k: v for k, v in params.items() if k in used}


def freeze(catalog: Catalog, spec: SelectionSpec) -> FrozenSelection:
    """Compute and store the selection (replacing one of the same name) atomically.

    The items go from the freeze query straight into ``selection_items`` inside
    DuckDB, so memory stays bounded by DuckDB's operators, not by a DataFrame.

    Raises:
        CurateError: an id of the spec matches nothing in the catalog
            (:mod:`curate.select.check`), the query fails, or it selects nothing.
    """
    check_catalog_ids(catalog, spec)
    query = sql.insert_items_query(spec)
    with catalog.transaction() as con:
        con.execute(sql.DELETE_SELECTION_ITEMS, [spec.name])
        con.execute(sql.DELETE_SELECTION, [spec.name])
        try:
            con.execute(query, _bound(query, spec, selection_name=spec.name))
        except duckdb.Error as exc:
            detail = str(exc).strip().splitlines()[0]
            raise CurateError(f"selection {spec.name!r} failed in the catalog: {detail}") from None
        n_items = con.execute(sql.COUNT_ITEMS, [spec.name]).fetchone()[0]
        if n_items == 0:
            raise CurateError(f"selection {spec.name!r} selects no utterances; loosen "
                              f"[filter] (note status defaults to 'ok': run `curate probe` "
                              f"first)")
        con.execute(sql.INSERT_SELECTION, [spec.name, spec.to_json(), spec.spec_hash,
                                           spec.seed, n_items])
    return FrozenSelection(spec.name, spec.spec_hash, n_items, split_summary(catalog, spec.name))


def split_summary(catalog: Catalog, name: str) -> pd.DataFrame:
    return catalog.df(sql.SELECTION_SPLITS, [name])


def unavailable_items(catalog: Catalog, name: str, split: str | None = None
                      ) -> dict[str, int]:
    """Items of selection ``name`` (one ``split`` or all) whose status is no longer
    ``ok``, counted by status (``removed``, ``missing``, ...; ``absent``: no row)."""
    return {status: int(n) for status, n in
            catalog.execute(sql.UNAVAILABLE_ITEMS, [name, split, split]).fetchall()}


def unavailable_message(name: str, split: str | None, counts: dict[str, int]) -> str:
    """One sentence: how many items of which selection cannot be read, and the fixes."""
    total = sum(counts.values())
    where = f"selection {name!r}" + (f" (split {split!r})" if split else "")
    detail = ", ".join(f"{n} {status}" for status, n in counts.items())
    items = f"{total} items that are" if total != 1 else "1 item that is"
    return (f"{where} has {items} no longer ok ({detail}); refreeze it with `curate select SPEC.toml`, or pass "
            f"--skip-unavailable to go on without them (the count is recorded)")


def check_available(catalog: Catalog, name: str, split: str | None = None, *,
                    skip_unavailable: bool = False) -> int:
    """How many items of the selection cannot be read (0 when all are ``ok``).

    Raises:
        UnavailableItemsError: when any cannot be read and ``skip_unavailable`` is
            False: a frozen selection is never shrunk silently.
    """
    counts = unavailable_items(catalog, name, split)
    if counts and not skip_unavailable:
        raise UnavailableItemsError(unavailable_message(name, split, counts))
    return sum(counts.values())


def selection_rows(catalog: Catalog, name: str, split: str | None = None, *,
                   skip_unavailable: bool = False) -> pd.DataFrame:
    """The items of a frozen selection joined with their utterance facts and paths.

    Every item must still be ``ok`` (see :func:`check_available`); with
    ``skip_unavailable`` the others are left out (count them with
    :func:`unavailable_items`).
    """
    if catalog.execute(sql.SELECTION_EXISTS, [name]).fetchone() is None:
        raise CurateError(f"no selection named {name!r} in {catalog.path}; freeze it with "
                          f"`curate select SPEC.toml`")
    check_available(catalog, name, split, skip_unavailable=skip_unavailable)
    return catalog.df(sql.SELECTION_ROWS, [name, split, split])


def list_selections(catalog: Catalog) -> pd.DataFrame:
    """Every frozen selection with counts and hours per split."""
    return catalog.df(sql.SELECTIONS_LIST)


STATS_COLUMNS = GROUPABLE + ("split",)


def selection_stats(catalog: Catalog, name: str, by: tuple[str, ...]) -> pd.DataFrame:
    """Counts and hours of one selection grouped by utterance columns and ``split``."""
    if catalog.execute(sql.SELECTION_EXISTS, [name]).fetchone() is None:
        raise CurateError(f"no selection named {name!r} in {catalog.path}")
    unknown = [c for c in by if c not in STATS_COLUMNS]
    if unknown or not by:
        raise CurateError(f"--by: unknown column(s) {', '.join(unknown) or '(none)'}; use any "
                          f"of {', '.join(STATS_COLUMNS)}")
    return catalog.df(sql.selection_stats_query(tuple(by)), [name])

"""Freeze a selection spec into ``selections`` and ``selection_items``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import accumulate

import duckdb
import pandas as pd

from curate.catalog.columns import GROUPABLE
from curate.catalog.db import Catalog
from curate.errors import CurateError
from curate.select import sql
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
    """The (utt_id, split) rows ``spec`` selects from the catalog, without writing."""
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
    """
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


def selection_rows(catalog: Catalog, name: str, split: str | None = None) -> pd.DataFrame:
    """The items of a frozen selection joined with their utterance facts and paths."""
    if catalog.execute(sql.SELECTION_EXISTS, [name]).fetchone() is None:
        raise CurateError(f"no selection named {name!r} in {catalog.path}; freeze it with "
                          f"`curate select SPEC.toml`")
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

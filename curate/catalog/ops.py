"""Small catalog operations the CLI exposes: stats, the hours table, relocation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.catalog import sql
from curate.catalog.columns import GROUPABLE
from curate.catalog.db import Catalog
from curate.errors import CurateError


def catalog_stats(catalog: Catalog, by: tuple[str, ...], *, corpus: str | None = None
                  ) -> pd.DataFrame:
    """Utterances, hours, ok and not-ok counts grouped by ``by`` columns.

    ``by`` names are checked against :data:`GROUPABLE` (identifiers cannot be
    bound parameters, so only known column names reach the SQL).
    """
    unknown = [c for c in by if c not in GROUPABLE]
    if unknown:
        raise CurateError(f"--by: unknown column(s) {', '.join(unknown)}; use any of "
                          f"{', '.join(GROUPABLE)}")
    return catalog.df(sql.stats_query(tuple(by)), [corpus, corpus])


def hours_table(catalog: Catalog, by: tuple[str, ...], *, corpus: str | None = None
                ) -> pd.DataFrame:
    """Hours of genuine and artifact speech per group, with the languages of each group:
    the data table of a paper (AntiDeepfake reports hours per corpus and label).

    ``label`` in ``by`` becomes columns rather than rows: one row per group of the other
    ``by`` columns with ``utterances_genuine``, ``utterances_artifact``, ``hours_genuine``,
    ``hours_artifact`` and ``hours``; ``languages`` (ISO 639-3, sorted, comma-separated)
    and ``n_languages`` unless ``language`` is itself a ``by`` column; a last row
    ``total`` sums every group (its languages: all of them). Hours count probed
    durations (unprobed rows count 0 hours); the per-group figures come from
    :func:`catalog_stats` (hours to 4 decimals).
    """
    keys = tuple(dict.fromkeys(c for c in by if c != "label"))
    if not keys:
        raise CurateError("--hours needs at least one --by column besides label, e.g. "
                          "--by corpus,label")
    detail = catalog_stats(catalog, tuple(dict.fromkeys(keys + ("label", "language"))),
                           corpus=corpus)
    with_languages = "language" not in keys
    out_columns = list(keys) + (["languages", "n_languages"] if with_languages else []) + [
        "utterances_genuine", "utterances_artifact", "hours_genuine", "hours_artifact", "hours"]
    if detail.empty:
        return pd.DataFrame(columns=out_columns)
    detail = detail.astype({c: "object" for c in keys})
    detail[list(keys)] = detail[list(keys)].where(detail[list(keys)].notna(), "-")

    def summarise(part: pd.DataFrame) -> dict:
        by_label = part.groupby("label")[["utterances", "hours"]].sum()
        row = {}
        if with_languages:
            languages = sorted(set(part["language"].dropna()))
            row["languages"] = ", ".join(languages)
            row["n_languages"] = len(languages)
        for label, kind in (("bonafide", "genuine"), ("spoof", "artifact")):
            row[f"utterances_{kind}"] = int(by_label["utterances"].get(label, 0))
        for label, kind in (("bonafide", "genuine"), ("spoof", "artifact")):
            row[f"hours_{kind}"] = round(float(by_label["hours"].get(label, 0.0)), 4)
        row["hours"] = round(row["hours_genuine"] + row["hours_artifact"], 4)
        return row

    rows = [{**dict(zip(keys, group if isinstance(group, tuple) else (group,))),
             **summarise(part)} for group, part in detail.groupby(list(keys), sort=True)]
    rows.append({**{k: "total" if i == 0 else "" for i, k in enumerate(keys)},
                 **summarise(detail)})
    return pd.DataFrame(rows, columns=out_columns)


def set_root(catalog: Catalog, corpus: str, root: Path | str) -> None:
    """Relocate ``corpus``: its rows keep their relative paths under the new root."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise CurateError(f"new root {root} is not a folder")
    if catalog.execute(sql.CORPUS_ROOT, [corpus]).fetchone() is None:
        raise CurateError(f"corpus {corpus!r} is not in catalog {catalog.path}")
    with catalog.transaction() as con:
        con.execute(sql.SET_CORPUS_ROOT, [str(root), corpus])

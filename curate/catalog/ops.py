"""Small catalog operations the CLI exposes: stats and relocation."""

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


def set_root(catalog: Catalog, corpus: str, root: Path | str) -> None:
    """Relocate ``corpus``: its rows keep their relative paths under the new root."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise CurateError(f"new root {root} is not a folder")
    if catalog.execute(sql.CORPUS_ROOT, [corpus]).fetchone() is None:
        raise CurateError(f"corpus {corpus!r} is not in catalog {catalog.path}")
    with catalog.transaction() as con:
        con.execute(sql.SET_CORPUS_ROOT, [str(root), corpus])

"""What every command module shares: the app, the consoles, the --db option, tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from curate.catalog.db import CatalogRef

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Curate, augment and train on corpora for speech deepfake detection.")
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

DbOption = typer.Option(None, "--db", help="Catalog file (default: $CURATE_DB, else "
                                            "manifests/catalog.duckdb).")
SkipUnavailableOption = typer.Option(
    False, "--skip-unavailable",
    help="Go on without selection items that are no longer ok (removed by a re-prepare, "
         "missing, ...) instead of stopping; the count is recorded.")


def table_of(frame, title: str | None = None) -> Table:
    """A rich table of a DataFrame; cells, headers and title are plain text (a value like
    ``[train.sam=True]`` is shown as it is, never read as rich markup)."""
    table = Table(title=None if title is None else Text(title), show_lines=False)
    for column in frame.columns:
        justify = "right" if frame[column].dtype.kind in "iuf" else "left"
        table.add_column(Text(str(column)), justify=justify, overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*[Text("" if v is None or v != v else
                             (f"{v:.4g}" if isinstance(v, float) else str(v))) for v in row])
    return table


def print_error(message: str) -> None:
    """One red line on stderr (a user error, never a traceback)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                      soft_wrap=True)


def catalog_ref(db) -> "CatalogRef":
    """The catalog of ``--db`` (default: ``$CURATE_DB``, else manifests/catalog.duckdb),
    to be opened in short sessions by long commands."""
    from pathlib import Path

    from curate.catalog.db import CatalogRef, default_db_path

    return CatalogRef(Path(db) if db is not None else default_db_path())

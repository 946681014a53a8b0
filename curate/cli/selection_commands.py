"""Commands over selections: select, selections, leakage, export."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from curate.cli.common import DbOption, SkipUnavailableOption, app, console, table_of


@app.command()
def select(
    spec: Path = typer.Argument(..., help="A selection spec TOML file."),
    db: Optional[Path] = DbOption,
    memory_limit: Optional[str] = typer.Option(
        None, envvar="CURATE_MEMORY_LIMIT",
        help="Cap DuckDB's memory, e.g. 3GB (it spills to disk beyond)."),
) -> None:
    """Freeze a selection (filter, dedup, quota, balance, holdout, split) into the catalog."""
    from curate.catalog.db import open_catalog
    from curate.select.freeze import freeze
    from curate.select.spec import load_selection

    parsed = load_selection(spec)
    with open_catalog(db) as catalog:
        catalog.set_memory_limit(memory_limit)
        frozen = freeze(catalog, parsed)
    console.print(table_of(frozen.splits, title=f"selection {frozen.name} "
                                             f"({frozen.n_items} items, {frozen.spec_hash[:12]})"))


@app.command()
def selections(db: Optional[Path] = DbOption,
               as_json: bool = typer.Option(False, "--json")) -> None:
    """List frozen selections with counts and hours per split."""
    from curate.catalog.db import open_catalog
    from curate.select.freeze import list_selections

    with open_catalog(db, read_only=True) as catalog:
        frame = list_selections(catalog)
    if as_json:
        print(frame.to_json(orient="records", date_format="iso"))
    else:
        console.print(table_of(frame, title="selections"))


@app.command()
def leakage(
    selection: str = typer.Argument(..., help="A frozen selection."),
    against: Optional[List[str]] = typer.Option(
        None, "--against", help="A selection or corpus to compare with (repeatable)."),
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Shared speakers, sources and audio across splits; exit 3 when leakage is found."""
    from curate.catalog.db import open_catalog
    from curate.select.leakage import leakage_report

    with open_catalog(db, read_only=True) as catalog:
        report = leakage_report(catalog, selection, against or [])
    if as_json:  # examples as a JSON list of strings per record
        print(report.table.to_json(orient="records"))
    else:
        shown = report.table.assign(examples=report.table["examples"].apply(", ".join))
        console.print(table_of(shown, title=f"leakage of {selection}"))
        console.print("clean" if report.clean else "leakage found")
    if not report.clean:
        raise typer.Exit(3)


@app.command()
def export(
    selection: str = typer.Argument(..., help="A frozen selection."),
    fmt: str = typer.Option(..., "--format", "-f", help="lhotse, nemo, hf, webdataset, kaldi, "
                                                        "asvspoof, antideepfake or parquet."),
    out: Path = typer.Option(..., "--out", help="Output folder (new or empty)."),
    path_root: Optional[Path] = typer.Option(None, "--path-root",
                                             help="Write paths relative to this folder."),
    copy_audio: bool = typer.Option(False, "--copy-audio",
                                    help="Copy the audio into OUT (hf: embed its bytes)."),
    sample_rate: Optional[int] = typer.Option(None, "--sample-rate",
                                              help="Transcode to this rate, 16-bit WAV "
                                                   "(implies --copy-audio)."),
    shard_size: int = typer.Option(1000, "--shard-size", min=1,
                                   help="Samples per webdataset shard / rows per hf file."),
    split: Optional[List[str]] = typer.Option(None, "--split",
                                              help="Only this split (repeatable; default all)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a previous export."),
    db: Optional[Path] = DbOption,
    skip_unavailable: bool = SkipUnavailableOption,
) -> None:
    """Write a frozen selection in a toolkit's format (see docs/exports.md)."""
    from curate.catalog.db import open_catalog
    from curate.export import export_selection
    from curate.progress import progress_bar

    with open_catalog(db, read_only=True) as catalog:
        with progress_bar(f"export {selection} ({fmt})") as bar:
            summary = export_selection(catalog, selection, fmt, out, path_root=path_root,
                                       copy_audio=copy_audio, sample_rate=sample_rate,
                                       shard_size=shard_size, splits=split or (),
                                       overwrite=overwrite, progress=bar,
                                       skip_unavailable=skip_unavailable)
    counts = ", ".join(f"{name} {n}" for name, n in summary.counts.items())
    skipped = ", ".join(f"{reason} {n}" for reason, n in summary.skipped.items())
    console.print(f"{summary.selection} -> {summary.out} ({summary.format}, "
                  f"{summary.spec_hash[:12]}): {counts}"
                  + (f"; skipped: {skipped}" if skipped else ""), highlight=False)

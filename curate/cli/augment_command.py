"""`curate augment`: offline augmentation of a folder or a selection."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from curate.cli.common import DbOption, SkipUnavailableOption, app, catalog_ref, console, err_console
from curate.errors import CurateError


@app.command()
def augment(
    chain: Path = typer.Argument(..., metavar="CHAIN.toml",
                                 help="An augmentation chain TOML file."),
    paths: List[Path] = typer.Argument(..., metavar="[IN] OUT",
                                       help="IN OUT (a folder of audio and the output "
                                            "folder), or only OUT with --selection."),
    selection: Optional[str] = typer.Option(None, "--selection",
                                            help="Augment this frozen selection instead of IN."),
    split: Optional[str] = typer.Option(None, "--split", help="Only this split of --selection."),
    db: Optional[Path] = DbOption,
    preview: Optional[int] = typer.Option(None, "--preview", min=1,
                                          help="Only the first N files, with before/after "
                                               "spectrogram PNGs in OUT/preview."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override the chain's seed."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Start over instead of resuming OUT/augment_log.jsonl."),
    skip_unavailable: bool = SkipUnavailableOption,
) -> None:
    """Augment a folder (or a selection) offline: mirrored paths, OUT/augment_log.jsonl.

    Exits 1 when any file failed (after the others are done and the summary printed).
    """
    from curate.augment.chain.parse import load_chain
    from curate.augment.offline import LOG_NAME, augment_folder, augment_selection
    from curate.progress import progress_bar

    parsed = load_chain(chain)
    if len(paths) != (1 if selection else 2):
        raise CurateError("give IN OUT, or OUT with --selection NAME (usage: curate augment "
                          "CHAIN.toml IN OUT | CHAIN.toml OUT --selection NAME)")
    for note in parsed.notes:
        err_console.print(f"note: {escape(note)}", highlight=False)
    options = dict(seed=seed, preview=preview, overwrite=overwrite)
    with progress_bar(f"augment ({chain.name})") as bar:
        if selection:
            summary = augment_selection(parsed, catalog_ref(db), selection, paths[0],
                                        split=split, progress=bar,
                                        skip_unavailable=skip_unavailable, **options)
        else:
            summary = augment_folder(parsed, paths[0], paths[1], progress=bar, **options)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.step_counts.items())) or "none"
    console.print(f"{summary.out}: {summary.written} written, {summary.skipped} already done, "
                  f"{summary.failed} failed; steps applied: {counts}", highlight=False)
    if summary.unavailable:
        err_console.print(f"note: left out {summary.unavailable} item(s) of {selection} that "
                          "are no longer ok (--skip-unavailable)", highlight=False)
    for rel, reason in summary.errors[:10]:
        err_console.print(f"failed: {escape(rel)}: {escape(reason)}", highlight=False)
    if len(summary.errors) > 10:
        err_console.print(f"... and {len(summary.errors) - 10} more", highlight=False)
    if summary.previews:
        console.print(f"previews: {summary.out / 'preview'}", highlight=False)
    if summary.failed:
        err_console.print(f"{summary.failed} file(s) failed; their reasons are in "
                          f"{escape(str(summary.out / LOG_NAME))} (status \"error\"); fix or "
                          "remove them and run again to retry only those", highlight=False)
        raise typer.Exit(1)

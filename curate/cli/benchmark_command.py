"""``curate benchmark``: score runs on a suite of public test sets, write a leaderboard."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from curate.cli.common import DbOption, app, catalog_ref, console, err_console, table_of


@app.command("benchmark")
def benchmark(
    runs: List[str] = typer.Argument(..., metavar="RUN...", help="Run ids (runs.run_id)."),
    suite: str = typer.Option(..., "--suite", metavar="FILE",
                              help="A suite .toml file, or a shipped suite: arena, "
                                   "sam_paper."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="DIR",
                                       help="Where the leaderboard goes (default: "
                                            "benchmark/<suite>)."),
    strict: bool = typer.Option(False, "--strict",
                                help="A set that is not prepared is an error."),
    refreeze: bool = typer.Option(False, "--refreeze",
                                  help="Freeze again a set whose stored selection came "
                                       "from another query."),
    device: Optional[str] = typer.Option(None, "--device",
                                         help="cpu, cuda, ... for scoring (default: the "
                                              "run's)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1),
    db: Optional[Path] = DbOption,
) -> None:
    """Score runs on each set of a suite (reusing stored scores); leaderboard md/html/json."""
    import pandas as pd

    from curate.benchmark.board import build_board
    from curate.benchmark.leaderboard import write_leaderboard
    from curate.benchmark.runner import load_suite_for, run_benchmark

    source = catalog_ref(db)
    spec = load_suite_for(source, suite)
    out_dir = out if out is not None else Path("benchmark") / spec.name
    outcome = run_benchmark(source, list(runs), spec, out_dir, strict=strict,
                            refreeze=refreeze, device=device, batch_size=batch_size,
                            progress=lambda line: err_console.print(line, highlight=False))
    board = build_board(outcome)
    paths = write_leaderboard(board, out_dir)
    table = pd.DataFrame([{"rank": r["rank"], "run": r["run_id"],
                           "avg_eer_%": None if r["average_eer"] is None
                           else 100 * r["average_eer"],
                           "pooled_eer_%": None if r["pooled_eer"] is None
                           else 100 * r["pooled_eer"],
                           "sets": r["n_sets"], "trials": r["n_trials"],
                           "skipped": r["n_skipped"]} for r in board["runs"]])
    console.print(table_of(table, title=f"benchmark {spec.name}"))
    absent = [s for s in board["sets"] if s["status"] != "ready"]
    for s in absent:
        console.print(f"not prepared: {s['name']}: {s['reason']}", highlight=False)
    console.print(f"{len(board['sets']) - len(absent)} of {len(board['sets'])} sets scored "
                  f"({outcome.scored} scored now, the rest from stored scores); "
                  f"leaderboard: {paths['leaderboard.md']}", highlight=False)

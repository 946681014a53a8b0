"""Commands over stored scores: calibrate (scores to LLRs) and fuse (several runs)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from curate.cli.common import DbOption, app, catalog_ref, console, table_of


@app.command("calibrate")
def calibrate(
    run: str = typer.Argument(..., metavar="RUN", help="A run id (runs.run_id)."),
    on: str = typer.Option(..., "--on", metavar="SET",
                           help="The run's eval set to fit the calibration on."),
    apply: Optional[List[str]] = typer.Option(None, "--apply", metavar="SET",
                                              help="Eval sets to apply it to (repeatable; "
                                                   "default: every other eval set)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Fit a score-to-LLR calibration on one eval set; actDCF and Cllr before and after."""
    from curate.train.calibration import calibrate_run

    table = calibrate_run(catalog_ref(db), run, on, apply or None)
    console.print(table_of(table, title=f"calibration of run {run} (fitted on {on})"))


@app.command("fuse")
def fuse(
    runs: List[str] = typer.Argument(..., metavar="RUN RUN ...", help="Two or more run ids."),
    on: str = typer.Option(..., "--on", metavar="SET", help="The eval set to fit the "
                                                             "fusion on."),
    name: Optional[str] = typer.Option(None, "--name", help="Name of the fused run "
                                                            "(default: fusion)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Logistic-regression fusion of several runs' scores, stored as a run of its own."""
    from curate.train.fusion import fuse_runs

    outcome = fuse_runs(catalog_ref(db), list(runs), on, name=name)
    console.print(f"fused run {outcome.run_id}: weights "
                  + ", ".join(f"{r} {w:.4g}" for r, w in outcome.weights.items())
                  + f", offset {outcome.offset:.4g}", highlight=False)
    wide = outcome.results[outcome.results["eval_group"] == "all"].pivot_table(
        index="eval_set", columns="metric", values="value", sort=False).reset_index()
    console.print(table_of(wide, title=f"results of run {outcome.run_id}"))

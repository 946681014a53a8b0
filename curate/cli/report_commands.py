"""Commands over stored results: ``curate runs`` (every run, or multi-seed summaries)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from curate.cli.common import DbOption, app, console, table_of


@app.command("runs")
def runs(
    seeds: bool = typer.Option(False, "--seeds",
                               help="Group runs that differ only in seed: mean ± std "
                                    "(best) per eval set and metric."),
    name: Optional[str] = typer.Option(None, "--name", metavar="PATTERN",
                                       help="Only runs whose name matches this glob, "
                                            "e.g. 'demo_ablation*'."),
    metric: Optional[List[str]] = typer.Option(None, "--metric", metavar="M",
                                               help="With --seeds: metrics to summarise "
                                                    "(repeatable; default eer, min_dcf)."),
    group: str = typer.Option("all", "--group", metavar="GROUP",
                              help="Eval group, e.g. all or generator=demo_la:A02."),
    db: Optional[Path] = DbOption,
) -> None:
    """List the catalog's runs with their EER per eval set, or summarise them over seeds."""
    from curate.ablate.seeds import runs_seed_summary, runs_table, shown_summary
    from curate.catalog.db import open_catalog

    with open_catalog(db, read_only=True) as catalog:
        if not seeds:
            table = runs_table(catalog, name=name, eval_group=group)
            console.print(table_of(table, title=f"{len(table)} runs"))
            return
        summary = runs_seed_summary(catalog, name=name, eval_group=group,
                                    metrics=tuple(metric or ("eer", "min_dcf")))
    groups = summary["group"].nunique()
    console.print(table_of(shown_summary(summary),
                           title=f"{groups} seed groups (group {group}): mean ± std (best)"))

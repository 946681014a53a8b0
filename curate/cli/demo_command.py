"""`curate demo`: the embedded default end to end."""

from __future__ import annotations

from pathlib import Path

import typer

from curate.cli.common import app, console, table_of


@app.command()
def demo(
    out: Path = typer.Option(Path("demo_out"), help="Output folder (corpus, catalog, report)."),
    quick: bool = typer.Option(False, help="Smaller corpus, fewer steps, one seed (minutes)."),
    seed: int = typer.Option(0, help="Seed of the corpus, selection and training."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Probe worker processes."),
) -> None:
    """The embedded default end to end: corpus, catalog, selection, ablation, report."""
    from curate.demo.run import run_demo
    from curate.progress import progress_bar

    outcome = run_demo(out, quick=quick, seed=seed, jobs=jobs, say=console.print,
                       progress_factory=progress_bar)
    console.print(table_of(outcome.results, title=f"{outcome.ablation}: test split (mean over "
                                                "seeds)"))
    console.print(f"catalog:  {outcome.db}\nablation: {outcome.out / 'ablation.toml'}\n"
                  f"report:   {outcome.report} (and report.html)")
